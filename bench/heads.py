"""What the own-filter heads (generator/model/filter_heads.py) buy: the optimiser's step with the target layer's head
and through the whole layer (picking the filter from its full output), alternating, in one process. Prints
milliseconds per image and step per layer and records the machine. Random weights: speed does not depend on them.

    python bench/heads.py                                           # CPU defaults
    KERAS_BACKEND=jax python bench/heads.py --batch-size 128        # on a GPU, Conv2D heads forced on to measure

On a GPU, Conv2D heads are off in the atlas (filter_heads.CONVOLUTION_HEADS_ON_GPU); this script turns them on to time
them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from throughput import machine  # noqa: E402

import generator  # noqa: E402,F401
from generator.model import filter_heads
from generator.model.extractors import build_extractor
from generator.model.models import load_model
from generator.model.precision import precision_policy
from generator.optimisation import optimizer as optimizer_module  # noqa: E402
from generator.optimisation.methods import METHODS

LAYERS = ("vgg16-hed:block1_conv2", "vgg16-hed:block3_conv3", "vgg16-hed:block5_conv3",
          "xception:block2_sepconv1", "xception:block14_sepconv1")


def milliseconds_per_image_step(extractor, method, batch_size: int, preprocessing: str,
                                with_head: bool) -> float | None:
    """None where the head is asked for but this machine cannot build it (filter_heads._supports)."""
    original = optimizer_module.build_own_filter_extractor
    if not with_head:
        optimizer_module.build_own_filter_extractor = lambda extractor: None
    try:
        optimizer = optimizer_module.Optimizer(extractor, method, batch_size, preprocessing)
    finally:
        optimizer_module.build_own_filter_extractor = original
    if with_head and optimizer.model is extractor:
        return None
    assert optimizer.model is extractor or with_head, "a head was built where none was asked for"
    ids = [index % extractor.output.shape[-1] for index in range(batch_size)]
    optimizer.run(ids, [1.0] * batch_size)  # compiles
    started = time.perf_counter()
    optimizer.run(ids, [1.0] * batch_size)
    return (time.perf_counter() - started) * 1000 / (batch_size * method.steps)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", default=",".join(LAYERS), help="model:layer, comma-separated")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--method", choices=("fourier", "classic"), default="fourier")
    parser.add_argument("--precision", choices=("float32", "mixed"), default="float32")
    parser.add_argument("--json", type=Path, default=None)
    options = parser.parse_args()
    filter_heads.CONVOLUTION_HEADS_ON_GPU = True  # measure them wherever this runs
    info = machine()
    method = dataclasses.replace(METHODS[options.method].profiles["full"].settings, size=options.size,
                                 steps=options.steps, precision=options.precision)
    print(f"# {info['device']} · {info['cpu']} ({info['cpu_cores']} cores) · {info['backend']} · {options.method}, "
          f"{options.size} px, batch {options.batch_size}, {options.precision}")
    print(f"{'model:layer':<28} {'whole layer':>12} {'head':>8} {'gain':>6}   (ms per image and step, best)")
    rows, models = [], {}
    with precision_policy(options.precision):
        for entry in options.layers.split(","):
            model_name, layer = entry.split(":")
            if model_name not in models:
                models[model_name] = load_model(model_name, "none")
            loaded = models[model_name]
            extractor = build_extractor(loaded, layer, method.target)
            times = {"whole layer": [], "head": []}
            for _ in range(options.repeats):
                for name in times:
                    times[name].append(milliseconds_per_image_step(extractor, method, options.batch_size,
                                                                   loaded.preprocessing, name == "head"))
            if None in times["head"]:
                rows.append({"model": model_name, "layer": layer, "milliseconds_per_image_step":
                             {"whole layer": times["whole layer"]}, "speedup": None,
                             "no_head": "this machine cannot differentiate the head (filter_heads._supports)"})
                print(f"{entry:<28} {min(times['whole layer']):>12.2f} {'none':>8} {'-':>6}   "
                      f"no head here: {rows[-1]['no_head']}", flush=True)
                continue
            best = {name: min(values) for name, values in times.items()}
            rows.append({"model": model_name, "layer": layer, "milliseconds_per_image_step": times,
                         "speedup": best["whole layer"] / best["head"]})
            print(f"{entry:<28} {best['whole layer']:>12.2f} {best['head']:>8.2f} {rows[-1]['speedup']:>5.2f}x",
                  flush=True)
    path = options.json or Path("bench/results") / f"heads-{info['backend']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"machine": info, "method": options.method, "size": options.size,
                                "batch_size": options.batch_size, "steps": options.steps,
                                "precision": options.precision, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
