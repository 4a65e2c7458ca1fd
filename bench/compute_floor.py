"""The least time the full default atlas can take on this machine, whatever the code: the convolutions'
FLOPs of every image step (forward and input gradient, only each image's own filter at the target layer) for every
filter, sign, facet and step of the full profile, plus the dataset-example scan, divided by the machine's own dense
matmul rate, as if every FLOP ran at that rate. Only less work (fewer steps, pixels or images per filter) goes
below it. Prints per layer the work and its floor, the total against a target, and how many steps per image
would fit the target at the same rate.

    python bench/compute_floor.py --json docs/measurements/compute-floor-cpu-tensorflow.json
    python bench/compute_floor.py --quick      # tiny-cnn: checks the script
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import machine  # noqa: E402
from throughput import forward_flops, matmul_rate  # noqa: E402

import generator  # noqa: E402,F401
from generator.analysis.dataset_examples import ExampleSettings  # noqa: E402
from generator.build.plan import image_size_for  # noqa: E402
from generator.config import AtlasConfig, load_toml  # noqa: E402
from generator.defaults import FACETS_IN_FULL  # noqa: E402
from generator.model.dataset_images import SHIPPED_PHOTOS  # noqa: E402
from generator.model.extractors import build_extractor  # noqa: E402
from generator.model.layers import select_layers  # noqa: E402
from generator.model.models import load_model  # noqa: E402
from generator.optimisation.methods import METHODS  # noqa: E402
from generator.options import parse_full_steps  # noqa: E402
from generator.store.directory import SIGNS  # noqa: E402
from generator.store.files import write_atomically  # noqa: E402

TARGET_SECONDS = 20 * 60  # the target for the full default atlas on the 2-core CPU


def layer_work(loaded, info, method_name: str, full_steps: dict[str, int]) -> dict:
    """One layer's work in the full profile (``full_steps``: its steps per layer, where a config names them): FLOPs
    per image step and image steps in all."""
    profile = METHODS[method_name].profiles["full"]
    method = replace(profile.settings, steps=full_steps.get(info.name, profile.settings.steps))
    size = image_size_for(loaded, method.size, info.receptive_field, profile.max_auto_size)
    extractor = build_extractor(loaded, info.name, method.target)
    flops_per_image_step = 2 * forward_flops(extractor, size, own_filter=True)  # forward + input gradient
    images = info.num_filters * (len(SIGNS) + FACETS_IN_FULL)
    return {"layer": info.name, "filters": info.num_filters, "size": size, "steps": method.steps,
            "images": images, "flops_per_image_step": flops_per_image_step,
            "flops": flops_per_image_step * images * method.steps}


def scan_flops(loaded, deepest: str, settings: ExampleSettings = ExampleSettings()) -> float:
    """The dataset-example scan: one forward pass of each shipped photograph to the deepest layer."""
    extractor = build_extractor(loaded, deepest, "pre_activation")
    return forward_flops(extractor, settings.image_size) * len(SHIPPED_PHOTOS)


def floor(rows: list[dict], scan: float, rate: float, target_seconds: float) -> dict:
    """Seconds at ``rate`` for all the work, and the steps per image that the target leaves room for."""
    total = sum(row["flops"] for row in rows) + scan
    step_flops = sum(row["flops_per_image_step"] * row["images"] for row in rows)  # one step of every image
    return {"flops": total, "seconds": total / rate,
            "steps_that_fit": max(0.0, (target_seconds * rate - scan) / step_flops)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="vgg16-hed")
    parser.add_argument("--method", default="fourier")
    parser.add_argument("--quick", action="store_true", help="tiny-cnn, a small matmul: a check of the script")
    parser.add_argument("--target-minutes", type=float, default=TARGET_SECONDS / 60)
    parser.add_argument("--json", default=None)
    parser.add_argument("--config", default=None, help="count the per-layer steps (full_steps) of this config "
                                                        "(default: atlas.toml's; with --quick, none)")
    options = parser.parse_args()
    config = options.config or (None if options.quick else Path(__file__).resolve().parent.parent / "atlas.toml")
    model = "tiny-cnn" if options.quick else options.model
    given = load_toml(config).merged_with(AtlasConfig(model=model, method=options.method)) if config else AtlasConfig()
    full_steps = dict(parse_full_steps(given.full_steps))

    loaded = load_model(model, "none")
    layers = select_layers(loaded, None)
    info = machine()
    matmul_size = 256 if options.quick else 2048
    rates = {dtype: matmul_rate(matmul_size, dtype) for dtype in ("float32", "bfloat16")}
    rate = max(rates.values())
    rows = [layer_work(loaded, layer, options.method, full_steps) for layer in layers]
    scan = scan_flops(loaded, layers[-1].name)
    result = floor(rows, scan, rate, options.target_minutes * 60)

    print(f"machine: {info['cpu']} ({info['cpu_cores']} cores), {info['backend']}; matmul "
          + ", ".join(f"{dtype} {value / 1e12:.3f} TFLOP/s" for dtype, value in rates.items()))
    print(f"{model}, {options.method}, full profile: both signs and {FACETS_IN_FULL} facets per filter")
    print(f"{'layer':<16} {'filters':>7} {'size':>5} {'steps':>5} {'GFLOP/image step':>16} {'PFLOP':>7} "
          f"{'floor (min)':>11}")
    for row in rows:
        print(f"{row['layer']:<16} {row['filters']:>7} {row['size']:>5} {row['steps']:>5} "
              f"{row['flops_per_image_step'] / 1e9:>16.2f} {row['flops'] / 1e15:>7.3f} "
              f"{row['flops'] / rate / 60:>11.1f}")
    print(f"{'example scan':<16} {len(SHIPPED_PHOTOS):>7} {'':>5} {'':>5} {'':>16} {scan / 1e15:>7.3f} "
          f"{scan / rate / 60:>11.1f}")
    print(f"floor: {result['seconds'] / 60:.1f} min at {rate / 1e12:.3f} TFLOP/s, against a target of "
          f"{options.target_minutes:g} min; at that rate the target fits {result['steps_that_fit']:.1f} steps "
          f"per image")
    if options.json:
        record = {"machine": info, "model": model, "method": options.method, "matmul_flops_per_second": rates,
                  "rate": rate, "facets_per_filter": FACETS_IN_FULL, "full_steps": full_steps, "rows": rows,
                  "scan_flops": scan,
                  "target_seconds": options.target_minutes * 60, **{f"floor_{key}": value
                                                                   for key, value in result.items()}}
        write_atomically(Path(options.json), (json.dumps(record, indent=2) + "\n").encode())


if __name__ == "__main__":
    main()
