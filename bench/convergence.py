"""Convergence: how much of a filter's image the first steps already buy. For each default layer of vgg16-hed and
its first filters, one optimisation of SNAPSHOTS[-1] steps with snapshots of the same images after 8, 16, ... steps;
at each snapshot, per layer: the median activation reached as a fraction of the last snapshot's, and robust
self-recognition (the evaluation's 8 random views: is a filter's own image its top exciter among the layer's
images?). Prints the table, writes it with the machine as JSON and draws it as an SVG plot.

    python bench/convergence.py --json docs/measurements/convergence-cpu.json --plot docs/convergence.svg
    python bench/convergence.py --contrast 0 --snapshots 32,128,512   # another rule: the free contrast
    python bench/convergence.py --quick            # tiny-cnn, a few steps: checks the script, measures nothing

Each row also records the median activation itself, so runs of different step rules compare in absolute terms.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import machine

import generator  # noqa: F401
from generator.build import evaluate
from generator.config import AtlasConfig, auto_size, resolve
from generator.model import backends
from generator.model.extractors import build_extractor
from generator.model.layers import DEFAULT_LAYERS, select_layers
from generator.model.models import load_model
from generator.model.precision import precision_policy
from generator.optimisation.batching import choose_batch_size
from generator.optimisation.methods import METHODS
from generator.optimisation.optimizer import Optimizer
from generator.store.directory import layer_key

SNAPSHOTS = (8, 16, 32, 64, 128, 256, 512)


def layer_rows(loaded, layer, settings, filter_ids: list[int], snapshots: tuple[int, ...]) -> list[dict]:
    """One row per snapshot for one layer: activation fraction (median over filters) and self-recognition."""
    extractor = build_extractor(loaded, layer.name, settings.target)
    batch_size = choose_batch_size(extractor, settings.size, len(filter_ids), backends.gpu_available())
    optimizer = Optimizer(extractor, settings, batch_size, loaded.preprocessing,
                          layer_key(loaded.name, layer.name, settings.key(), settings.size))
    started = time.perf_counter()
    images = {step: [] for step in snapshots}
    for start in range(0, len(filter_ids), batch_size):
        ids = filter_ids[start:start + batch_size]
        result = optimizer.run(ids, [1.0] * len(ids), snapshot_steps=snapshots)
        for step in snapshots:
            images[step].append(result.snapshots[step])
    seconds = time.perf_counter() - started
    activations, recognition = {}, {}
    for step in snapshots:
        stacked = np.concatenate(images[step]).astype(np.float32)
        own = evaluate.all_filter_activations(extractor, loaded.preprocessing, stacked, 0)
        activations[step] = own[np.arange(len(filter_ids)), filter_ids]
        viewed = evaluate.all_filter_activations(extractor, loaded.preprocessing, stacked, evaluate.NUM_VIEWS)
        recognition[step] = evaluate.self_recognition(viewed, filter_ids)
    last = activations[snapshots[-1]]
    rows = []
    for step in snapshots:
        # Filters whose last image does not fire are left out of the fraction: it has no meaningful scale there.
        firing = last > 0
        fraction = float(np.median(activations[step][firing] / last[firing])) if firing.any() else float("nan")
        rows.append({"layer": layer.name, "steps": step, "image_size": settings.size,
                     "activation_fraction_median": fraction, "num_firing": int(firing.sum()),
                     "activation_median": float(np.median(activations[step])),
                     "self_recognition": recognition[step], "num_filters": len(filter_ids),
                     "seconds_for_all_steps": seconds})
    return rows


def svg_plot(rows: list[dict], snapshots: tuple[int, ...]) -> str:
    """Two panels (activation fraction, self-recognition) against steps on a log axis, a line per layer."""
    width, height, margin = 360, 220, 40
    colours = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02"]
    layers = list(dict.fromkeys(row["layer"] for row in rows))
    positions = {step: margin + index * (width - 2 * margin) / (len(snapshots) - 1)
                 for index, step in enumerate(snapshots)}
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * width}" height="{height + 30}" '
             f'font-family="sans-serif" font-size="11">']
    for panel, (key, title) in enumerate((("activation_fraction_median", "activation / final (median)"),
                                          ("self_recognition", "robust self-recognition"))):
        left = panel * width
        parts.append(f'<text x="{left + margin}" y="14">{title}</text>')
        for value in (0, 0.5, 1):
            y = height - margin - value * (height - 2 * margin)
            parts.append(f'<line x1="{left + margin}" x2="{left + width - margin}" y1="{y:.1f}" y2="{y:.1f}" '
                         f'stroke="#ddd"/><text x="{left + 4}" y="{y + 4:.1f}">{value:g}</text>')
        for step, x in positions.items():
            parts.append(f'<text x="{left + x - 8:.1f}" y="{height - margin + 16}">{step}</text>')
        for index, layer in enumerate(layers):
            points = " ".join(
                f"{left + positions[row['steps']]:.1f},"
                f"{height - margin - min(max(row[key], 0), 1.1) * (height - 2 * margin):.1f}"
                for row in rows if row["layer"] == layer and np.isfinite(row[key]))
            parts.append(f'<polyline points="{points}" fill="none" stroke="{colours[index % len(colours)]}" '
                         f'stroke-width="2"/>')
    for index, layer in enumerate(layers):
        parts.append(f'<text x="{margin + index * 130}" y="{height + 22}" '
                     f'fill="{colours[index % len(colours)]}">{layer}</text>')
    parts.append(f'<text x="{width - 20}" y="{height - 4}">steps</text>')
    return "\n".join(parts + ["</svg>"])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--filters", type=int, default=32, help="the first N filters of each layer")
    parser.add_argument("--layers", default=None, help="comma-separated; default: vgg16-hed's default layers")
    parser.add_argument("--quick", action="store_true", help="tiny-cnn and 2, 4, 8 steps: a check of the script")
    parser.add_argument("--snapshots", default=None, help="comma-separated step counts; default: 8 to 512")
    parser.add_argument("--learning-rate", type=float, default=None, help="default: the full profile's")
    parser.add_argument("--warmup", type=int, default=None, help="Adam's warm-up steps; default: the full profile's")
    parser.add_argument("--decay-after", type=int, default=None, help="default: the full profile's")
    parser.add_argument("--contrast", type=float, default=None, help="fourier's contrast (0: free); default: the "
                        "full profile's")
    parser.add_argument("--decay-power", type=float, default=None, help="fourier's 1/frequency power; default: "
                        "the full profile's")
    parser.add_argument("--views-strength", type=float, default=None, help="the full profile's jitter, scale and "
                        "rotation times this (0: no random views); default 1")
    parser.add_argument("--views-ramp", type=int, default=None, help="steps over which the random views grow from "
                        "none to full strength; default: the full profile's (0: full from the first step)")
    parser.add_argument("--after", type=Path, default=None, help="an earlier run's JSON (same snapshots): its rows "
                        "come first in the table, the JSON and the plot, e.g. deep layers measured on fewer filters")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--plot", type=Path, default=None)
    options = parser.parse_args()
    model = "tiny-cnn" if options.quick else "vgg16-hed"
    snapshots = (2, 4, 8) if options.quick else SNAPSHOTS
    if options.snapshots:
        snapshots = tuple(sorted(int(step) for step in options.snapshots.split(",")))
    # The full profile's fourier settings, as `atlas build --profile full` resolves them here.
    run = resolve(AtlasConfig(model=model, profile="full", steps=snapshots[-1], examples="none",
                              learning_rate=options.learning_rate), backends.gpu_available(), backends.fast_bfloat16())
    overrides = {name: value for name, value in (("warmup", options.warmup), ("decay_after", options.decay_after),
                                                 ("contrast", options.contrast),
                                                 ("decay_power", options.decay_power),
                                                 ("views_ramp", options.views_ramp)) if value is not None}
    if options.views_strength is not None:
        overrides.update({name: getattr(run.method, name) * options.views_strength
                          for name in ("jitter", "scale", "rotate")})
    run = dataclasses.replace(run, method=dataclasses.replace(run.method, **overrides))
    rows = json.loads(options.after.read_text())["rows"] if options.after else []
    with precision_policy(run.method.precision):
        loaded = load_model(model, "default")
        patterns = tuple(options.layers.split(",")) if options.layers else DEFAULT_LAYERS.get(model)
        for layer in select_layers(loaded, patterns):
            size = run.method.size or auto_size(layer.receptive_field, METHODS["fourier"].profiles["full"]
                                                .max_auto_size)
            if options.quick:
                size = 16
            settings = dataclasses.replace(run.method, size=size)
            filter_ids = list(range(min(options.filters, layer.num_filters)))
            rows += layer_rows(loaded, layer, settings, filter_ids, snapshots)
            print(f"{layer.name}: done in {rows[-1]['seconds_for_all_steps']:.0f} s", file=sys.stderr, flush=True)
    print(f"{'layer':<16} {'filters':>7} {'steps':>6} {'activation/final':>17} {'activation':>11} "
          f"{'self-recognition':>17}")
    for row in rows:
        print(f"{row['layer']:<16} {row['num_filters']:>7} {row['steps']:>6} "
              f"{row['activation_fraction_median']:>17.1%} {row['activation_median']:>11.3g} "
              f"{row['self_recognition']:>17.1%}")
    method = run.method
    print(f"({model}, fourier, full profile settings but {snapshots[-1]} steps: learning rate {method.learning_rate}, "
          f"warm-up {method.warmup}, decay after {method.decay_after or 'never'}, "
          f"contrast {method.contrast or 'free'}, decay power {method.decay_power:g}, jitter {method.jitter:g}, "
          f"scale {method.scale:g}, rotation {method.rotate:g}, views ramp {method.views_ramp or 'none'}; "
          f"precision {method.precision}, "
          f"the first filters of each layer, positive images; backend {backends.BACKEND})")
    if options.json:
        options.json.parent.mkdir(parents=True, exist_ok=True)
        options.json.write_text(json.dumps({"machine": machine(), "model": model, "method": dataclasses.asdict(
            run.method), "snapshots": list(snapshots), "rows": rows}, indent=1))
    if options.plot:
        options.plot.write_text(svg_plot(rows, snapshots))


if __name__ == "__main__":
    main()
