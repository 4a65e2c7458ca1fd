"""Is bfloat16 faster on this device? The project's fourier step (vgg16-hed, random weights) in float32 and in
mixed precision, alternating, in one process: milliseconds per image and step, and the ratio that
`--precision auto` (backends.fast_bfloat16) relies on. Run it on each backend:

    python bench/precision.py                       # TensorFlow
    KERAS_BACKEND=jax python bench/precision.py
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
from generator.model import backends  # noqa: E402
from generator.model.extractors import build_extractor
from generator.model.models import load_model
from generator.model.precision import precision_policy
from generator.optimisation.methods import METHODS  # noqa: E402
from generator.optimisation.optimizer import Optimizer  # noqa: E402


def milliseconds_per_image_step(precision: str, layer: str, size: int, batch_size: int, steps: int) -> float:
    with precision_policy(precision):
        loaded = load_model("vgg16-hed", "none")
        method = dataclasses.replace(METHODS["fourier"].profiles["full"].settings, size=size, steps=steps,
                                     precision=precision)
        optimizer = Optimizer(build_extractor(loaded, layer, method.target), method, batch_size, loaded.preprocessing)
        ids = list(range(batch_size))
        optimizer.run(ids, [1.0] * batch_size)  # compiles
        started = time.perf_counter()
        optimizer.run(ids, [1.0] * batch_size)
        return (time.perf_counter() - started) * 1000 / (batch_size * steps)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layer", default="block4_conv3")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    options = parser.parse_args()
    info = machine()
    times = {"float32": [], "mixed": []}
    for _ in range(options.repeats):
        for precision in times:
            times[precision].append(milliseconds_per_image_step(precision, options.layer, options.size,
                                                                options.batch_size, options.steps))
    best = {precision: min(values) for precision, values in times.items()}
    ratio = best["float32"] / best["mixed"]
    print(f"# {info['device']} · {info['cpu']} ({info['cpu_cores']} cores) · {info['backend']}")
    print(f"vgg16-hed {options.layer}, fourier, {options.size} px, batch {options.batch_size}: "
          f"float32 {best['float32']:.1f} ms, mixed {best['mixed']:.1f} ms per image and step "
          f"(best of {options.repeats}); mixed is {ratio:.2f}x as fast. "
          f"--precision auto picks {'mixed' if backends.fast_bfloat16() else 'float32'} here.")
    path = options.json or Path("bench/results") / f"precision-{info['backend']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"machine": info, "layer": options.layer, "size": options.size,
                                "batch_size": options.batch_size, "milliseconds_per_image_step": times,
                                "mixed_speedup": ratio}, indent=1))


if __name__ == "__main__":
    main()
