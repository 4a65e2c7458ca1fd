"""Two variants of the optimiser's step, alternating in one process, best of the repeats; one table per layer and
a JSON record with the machine. Random weights: speed does not depend on them.

    python bench/variants.py --variant folding     # Xception with and without batch normalisation folded into
                                                   # its convolutions (generator/model/folding.py): classic,
                                                   # 200 px, 10 steps; filters per second
    python bench/variants.py --variant heads       # the step with the target layer's own-filter head and through
                                                   # the whole layer (generator/model/filter_heads.py); ms per
                                                   # image and step
    python bench/variants.py --variant precision   # vgg16-hed's fourier step in float32 and in mixed precision:
                                                   # the ratio `--precision auto` (backends.fast_bfloat16) relies on
    KERAS_BACKEND=jax python bench/variants.py --variant heads --batch-size 128 --precision mixed   # on a GPU

On a GPU, Conv2D heads are off in the atlas (filter_heads.CONVOLUTION_HEADS_ON_GPU); `--variant heads` turns them on
to time them. Options a variant does not use are refused; the defaults are each variant's own.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import machine, machine_line  # noqa: E402
from throughput import SEED_LAYERS, optimiser_rate  # noqa: E402

import generator  # noqa: E402,F401
from generator.model import backends, filter_heads  # noqa: E402
from generator.model.extractors import build_extractor  # noqa: E402
from generator.model.models import load_model  # noqa: E402
from generator.model.precision import precision_policy  # noqa: E402
from generator.model.quiet_keras import keras  # noqa: E402
from generator.optimisation import optimizer as optimizer_module  # noqa: E402
from generator.optimisation.methods import METHODS, MethodSettings  # noqa: E402

HEADS_LAYERS = ("vgg16-hed:block1_conv2", "vgg16-hed:block3_conv3", "vgg16-hed:block5_conv3",
                "xception:block2_sepconv1", "xception:block14_sepconv1")

# Each variant's defaults; an option missing here is one the variant does not take.
DEFAULTS = {
    "folding": {"layers": ",".join(SEED_LAYERS), "batch_size": 16, "repeats": 2},
    "heads": {"layers": ",".join(HEADS_LAYERS), "size": 64, "batch_size": 16, "steps": 8, "repeats": 2,
              "method": "fourier", "precision": "float32"},
    "precision": {"layers": "block4_conv3", "size": 128, "batch_size": 8, "steps": 8, "repeats": 2},
}


def alternate(measures: dict[str, Callable[[], float | None]], repeats: int) -> dict[str, list]:
    """Each variant's measurement in turn, `repeats` times, so that both see the same state of the machine."""
    figures = {name: [] for name in measures}
    for _ in range(repeats):
        for name, measure in measures.items():
            figures[name].append(measure())
    return figures


def best(figures: dict[str, list], higher_is_better: bool) -> dict[str, float]:
    return {name: (max if higher_is_better else min)(values) for name, values in figures.items()}


def milliseconds_per_image_step(optimizer, num_filters: int, batch_size: int, steps: int) -> float:
    """One batch's step time, after a first batch that compiles; the batch cycles over the layer's filters."""
    ids = [index % num_filters for index in range(batch_size)]
    optimizer.run(ids, [1.0] * batch_size)  # compiles
    started = time.perf_counter()
    optimizer.run(ids, [1.0] * batch_size)
    return (time.perf_counter() - started) * 1000 / (batch_size * steps)


def filters_per_second(extractor, method, batch_size: int, preprocessing: str) -> float:
    """One batch after a first that compiles (throughput.optimiser_rate)."""
    return optimiser_rate(extractor, method, batch_size, 1, preprocessing)["filters_per_second"]


def folding(options, info: dict) -> dict:
    loaded = load_model("xception", "none")
    method = MethodSettings(name="classic", steps=10, learning_rate=10.0, size=200, target="output")
    rows = []
    print(f"{'layer':<18} {'unfolded':>9} {'folded':>9} {'gain':>6}   (filters per second, batch {options.batch_size})")
    for layer in options.layers.split(","):
        extractors = {"unfolded": keras.Model(loaded.model.inputs, loaded.model.get_layer(layer).output),
                      "folded": build_extractor(loaded, layer)}
        rates = alternate({name: partial(filters_per_second, extractor, method, options.batch_size,
                                         loaded.preprocessing) for name, extractor in extractors.items()},
                          options.repeats)
        top = best(rates, higher_is_better=True)
        rows.append({"layer": layer, "batch_size": options.batch_size, "filters_per_second": rates,
                     "gain": top["folded"] / top["unfolded"]})
        print(f"{layer:<18} {top['unfolded']:>9.2f} {top['folded']:>9.2f} {rows[-1]['gain'] - 1:>+6.0%}")
    print("(best of the repeats)")
    return {"machine": info, "rows": rows}


def step_with_or_without_head(extractor, method, options, preprocessing: str, with_head: bool) -> float | None:
    """None where the head is asked for but this machine cannot build it (filter_heads._supports)."""
    original = optimizer_module.build_own_filter_extractor
    if not with_head:
        optimizer_module.build_own_filter_extractor = lambda extractor: None
    try:
        optimizer = optimizer_module.Optimizer(extractor, method, options.batch_size, preprocessing)
    finally:
        optimizer_module.build_own_filter_extractor = original
    if with_head and optimizer.model is extractor:
        return None
    assert optimizer.model is extractor or with_head, "a head was built where none was asked for"
    return milliseconds_per_image_step(optimizer, extractor.output.shape[-1], options.batch_size, method.steps)


def heads(options, info: dict) -> dict:
    filter_heads.CONVOLUTION_HEADS_ON_GPU = True  # measure them wherever this runs
    method = dataclasses.replace(METHODS[options.method].profiles["full"].settings, size=options.size,
                                 steps=options.steps, precision=options.precision)
    print(f"{options.method}, {options.size} px, batch {options.batch_size}, {options.precision}")
    print(f"{'model:layer':<28} {'whole layer':>12} {'head':>8} {'gain':>6}   (ms per image and step, best)")
    rows, models = [], {}
    with precision_policy(options.precision):
        for entry in options.layers.split(","):
            model_name, layer = entry.split(":")
            if model_name not in models:
                models[model_name] = load_model(model_name, "none")
            loaded = models[model_name]
            extractor = build_extractor(loaded, layer, method.target)
            times = alternate({name: partial(step_with_or_without_head, extractor, method, options,
                                             loaded.preprocessing, name == "head") for name in ("whole layer", "head")},
                              options.repeats)
            if None in times["head"]:
                rows.append({"model": model_name, "layer": layer, "milliseconds_per_image_step":
                             {"whole layer": times["whole layer"]}, "speedup": None,
                             "no_head": "this machine cannot differentiate the head (filter_heads._supports)"})
                print(f"{entry:<28} {min(times['whole layer']):>12.2f} {'none':>8} {'-':>6}   "
                      f"no head here: {rows[-1]['no_head']}", flush=True)
                continue
            top = best(times, higher_is_better=False)
            rows.append({"model": model_name, "layer": layer, "milliseconds_per_image_step": times,
                         "speedup": top["whole layer"] / top["head"]})
            print(f"{entry:<28} {top['whole layer']:>12.2f} {top['head']:>8.2f} {rows[-1]['speedup']:>5.2f}x",
                  flush=True)
    return {"machine": info, "method": options.method, "size": options.size, "batch_size": options.batch_size,
            "steps": options.steps, "precision": options.precision, "rows": rows}


def precision_step(precision: str, options) -> float:
    with precision_policy(precision):
        loaded = load_model("vgg16-hed", "none")
        method = dataclasses.replace(METHODS["fourier"].profiles["full"].settings, size=options.size,
                                     steps=options.steps, precision=precision)
        extractor = build_extractor(loaded, options.layers, method.target)
        optimizer = optimizer_module.Optimizer(extractor, method, options.batch_size, loaded.preprocessing)
        return milliseconds_per_image_step(optimizer, extractor.output.shape[-1], options.batch_size, options.steps)


def precision(options, info: dict) -> dict:
    if "," in options.layers:
        raise SystemExit(f"--variant precision times one layer; got --layers {options.layers}")
    times = alternate({name: partial(precision_step, name, options) for name in ("float32", "mixed")},
                      options.repeats)
    top = best(times, higher_is_better=False)
    ratio = top["float32"] / top["mixed"]
    print(f"vgg16-hed {options.layers}, fourier, {options.size} px, batch {options.batch_size}: "
          f"float32 {top['float32']:.1f} ms, mixed {top['mixed']:.1f} ms per image and step "
          f"(best of {options.repeats}); mixed is {ratio:.2f}x as fast. "
          f"--precision auto picks {'mixed' if backends.fast_bfloat16() else 'float32'} here.")
    return {"machine": info, "layer": options.layers, "size": options.size, "batch_size": options.batch_size,
            "milliseconds_per_image_step": times, "mixed_speedup": ratio}


VARIANTS = {"folding": folding, "heads": heads, "precision": precision}


def parse_options(arguments=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", choices=tuple(VARIANTS), required=True)
    parser.add_argument("--layers", help="comma-separated; heads: model:layer; precision: one vgg16-hed layer")
    parser.add_argument("--size", type=int, help="heads, precision")
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--steps", type=int, help="heads, precision")
    parser.add_argument("--repeats", type=int, help="alternations of the two variants per layer")
    parser.add_argument("--method", choices=("fourier", "classic"), help="heads")
    parser.add_argument("--precision", choices=("float32", "mixed"), help="heads")
    parser.add_argument("--json", type=Path, default=None)
    options = parser.parse_args(arguments)
    defaults = DEFAULTS[options.variant]
    refused = [name for name in ("size", "steps", "method", "precision")
               if getattr(options, name) is not None and name not in defaults]
    if refused:
        parser.error(f"--variant {options.variant} takes no {', '.join('--' + name for name in refused)} "
                     f"(it takes --{', --'.join(name.replace('_', '-') for name in defaults)})")
    for name, value in defaults.items():
        if getattr(options, name) is None:
            setattr(options, name, value)
    return options


def main():
    options = parse_options()
    info = machine()
    print(machine_line(info))
    record = VARIANTS[options.variant](options, info)
    path = options.json or Path("bench/results") / (
        "folding.json" if options.variant == "folding" else f"{options.variant}-{info['backend']}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
