"""Where the default preview's time goes: the build's own phase timer (optimise, examples, circuits, render), each
as a share of the whole build, and each circuit pair's attribution apart.

Builds atlas.toml's model and layers with the preview profile as `make atlas` does on a machine without a GPU
(precision auto), into a fresh directory, and prints one table and one JSON record with the machine.

    python bench/preview_phases.py                                  # into a temporary directory
    python bench/preview_phases.py --json docs/measurements/preview-phases-cpu-tensorflow.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import machine, machine_line  # noqa: E402

from generator.analysis import circuits  # noqa: E402
from generator.build import pipeline  # noqa: E402
from generator.config import load_toml, resolve  # noqa: E402
from generator.model import backends  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# recorded where set: what makes this machine compute like another (oneDNN's instruction set, on or off)
ENVIRONMENT = ("ONEDNN_MAX_CPU_ISA", "TF_ENABLE_ONEDNN_OPTS")


def timed_pairs(seconds_by_pair: dict[str, float]) -> None:
    """Record each layer pair's attribution time (circuits.Attribution.strengths) into ``seconds_by_pair``."""
    original = circuits.Attribution.strengths

    def strengths(self, *arguments, **keywords):
        started = time.perf_counter()
        try:
            return original(self, *arguments, **keywords)
        finally:
            name = f"{self.earlier}->{self.later}"
            seconds_by_pair[name] = seconds_by_pair.get(name, 0.0) + time.perf_counter() - started

    circuits.Attribution.strengths = strengths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", help="output directory (default: a temporary one, removed afterwards)")
    parser.add_argument("--json", help="also write the record to this file")
    parser.add_argument("--precision", default=None, help="float32 or mixed (default: auto, as `make atlas`)")
    arguments = parser.parse_args()
    info = machine()
    pairs: dict[str, float] = {}
    timed_pairs(pairs)
    with tempfile.TemporaryDirectory() as temporary:
        out = Path(arguments.out or temporary)
        config = dataclasses.replace(load_toml(ROOT / "atlas.toml"), out=str(out), profile="preview",
                                     precision=arguments.precision)
        settings = resolve(config, has_gpu=False, fast_bfloat16=backends.fast_bfloat16())
        report = pipeline.build(settings)
    phases = {name: round(seconds, 1) for name, seconds in report.phase_seconds.items()}
    record = {"machine": info, "precision": settings.method.precision,
              "environment": {name: os.environ[name] for name in ENVIRONMENT if name in os.environ},
              "build_seconds": round(report.seconds, 1),
              "phase_seconds": phases, "phase_share": {name: round(seconds / report.seconds, 3)
                                                      for name, seconds in report.phase_seconds.items()},
              "attribution_seconds_by_pair": {name: round(seconds, 1) for name, seconds in pairs.items()},
              "filters_built": report.num_built}
    print(machine_line(info))
    print(f"preview build: {report.seconds:.1f} s, {report.num_built} filters, precision {settings.method.precision}")
    for name, seconds in report.phase_seconds.items():
        print(f"  {name:<10} {seconds:7.1f} s  {seconds / report.seconds:6.1%}")
    for name, seconds in pairs.items():
        print(f"  attribution {name}: {seconds:.1f} s")
    print(json.dumps(record))
    if arguments.json:
        Path(arguments.json).write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
