"""Does the preview's "the full atlas would take about N min" hold? For each layer: a preview of a sample of
filters, the estimate it makes for the full profile of the same filters (estimates.estimate_full_seconds, the figure
the command line prints, scaled to the sample), then the full profile of those filters, timed by the build's own
phases (optimise and facets: what the estimate covers). Prints the ratio per layer; within 25% is the target.

    python bench/estimate.py                                   # the default layers, filters 0:16 (one unit each)
    python bench/estimate.py --layers block5_conv3 --filters 0:8
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import machine  # noqa: E402

import generator  # noqa: E402,F401
from generator.build import (
    estimates,  # noqa: E402
    pipeline,
)
from generator.config import AtlasConfig, load_toml, resolve  # noqa: E402
from generator.model import backends
from generator.store.directory import read_run  # noqa: E402
from generator.store.files import write_atomically  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_LAYERS = "block1_conv2,block2_conv2,block3_conv3,block4_conv3,block5_conv3"
TARGET = 0.25  # the estimate within 25% of the measured time


def built(config: AtlasConfig):
    settings = resolve(config, backends.gpu_available(), backends.fast_bfloat16())
    return settings, pipeline.build(settings)


def measure_layer(model: str, weights: str | None, layer: str, filters: str, root: Path, full_steps) -> dict:
    """The estimate from a preview of ``filters`` and the measured full build of the same filters (``full_steps``:
    the full profile's steps per layer, as a config gives them)."""
    common = dict(model=model, weights=weights, layers=(layer,), filters=filters, examples="none",
                  full_steps=full_steps)
    preview_out = root / f"{layer}-preview"
    preview_settings, preview_report = built(AtlasConfig(**common, profile="preview", out=str(preview_out)))
    run = read_run(preview_out)
    sample_run = {**run, "layers": [{**entry, "num_filters": len(entry["filter_ids"])} for entry in run["layers"]]}
    estimate = estimates.estimate_full_seconds(preview_report, preview_settings, sample_run)
    full_settings, full_report = built(AtlasConfig(**common, profile="full", out=str(root / f"{layer}-full")))
    phases = full_report.phase_seconds
    measured = phases.get("optimise", 0.0) + phases.get("facets", 0.0)
    return {"layer": layer, "filters": len(sample_run["layers"][0]["filter_ids"]),
            "preview_seconds": preview_report.layers[0].seconds, "estimate_seconds": estimate,
            "measured_seconds": measured, "measured_phases": phases, "ratio": estimate / measured,
            "full_steps": full_settings.steps_for(layer), "facets": full_settings.num_facets,
            "precision": full_settings.method.precision}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="vgg16-hed")
    parser.add_argument("--weights", default=None, help="none: random weights (the time does not depend on them)")
    parser.add_argument("--layers", default=DEFAULT_LAYERS)
    parser.add_argument("--filters", default="0:16")
    parser.add_argument("--record", default=None, help="also write the figures as JSON here")
    parser.add_argument("--config", default=str(ROOT / "atlas.toml"),
                        help="the full profile's per-layer steps (full_steps) come from this config")
    options = parser.parse_args()
    full_steps = load_toml(options.config).merged_with(AtlasConfig(model=options.model)).full_steps

    info = machine()
    print(f"machine: {info['cpu']} ({info['cpu_cores']} cores), {info['backend']}; {options.model}, "
          f"filters {options.filters}", flush=True)
    print(f"{'layer':<16} {'preview (s)':>11} {'estimate (s)':>12} {'measured (s)':>12} {'ratio':>6}", flush=True)
    rows = []
    root = Path(tempfile.mkdtemp(prefix="estimate-bench-"))
    try:
        for layer in options.layers.split(","):
            row = measure_layer(options.model, options.weights, layer, options.filters, root, full_steps)
            rows.append(row)
            mark = "" if abs(row["ratio"] - 1) <= TARGET else "   outside 25%"
            print(f"{layer:<16} {row['preview_seconds']:>11.1f} {row['estimate_seconds']:>12.1f} "
                  f"{row['measured_seconds']:>12.1f} {row['ratio']:>6.2f}{mark}", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    within = sum(abs(row["ratio"] - 1) <= TARGET for row in rows)
    print(f"{within} of {len(rows)} layers within {TARGET:.0%}")
    if options.record:
        write_atomically(Path(options.record), (json.dumps({"machine": info, "model": options.model,
                                                            "filters": options.filters, "rows": rows},
                                                           indent=2) + "\n").encode())


if __name__ == "__main__":
    main()
