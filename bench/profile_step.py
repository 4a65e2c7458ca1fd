"""Where a batched step's time goes, by TensorFlow op type: one batch of the classic method (Xception, random
weights, 200x200, 10 steps) under TensorFlow's profiler, op durations summed over its threads. TensorFlow only.

    python bench/profile_step.py --layer block4_sepconv1 --batch-size 11
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import machine  # noqa: E402
from throughput import forward_flops, matmul_rate  # noqa: E402

import generator  # noqa: E402,F401
from generator.model import backends  # noqa: E402
from generator.model.extractors import build_extractor
from generator.model.models import load_model  # noqa: E402
from generator.optimisation.methods import MethodSettings  # noqa: E402
from generator.optimisation.optimizer import Optimizer  # noqa: E402

GROUPS = {"convolution": ("Conv2D", "Conv2DBackpropInput", "Conv2DWithBias", "FusedConv2D"),
          "depthwise convolution": ("DepthwiseConv2dNative", "DepthwiseConv2dNativeBackpropInput"),
          "pooling": ("MaxPool", "MaxPoolGrad", "AvgPool", "AvgPoolGrad"),
          "activation": ("Relu", "ReluGrad", "LeakyRelu", "LeakyReluGrad", "Sigmoid", "SigmoidGrad"),
          "own-filter head": ("Einsum",)}


NOT_OPS = {"Process", "ExecutorDoneCallback", "ParallelFor", "StartRegion", "Record"}  # the executor's own events


def group_of(op_type: str) -> str:
    bare = op_type.removeprefix("_MklNative").removeprefix("_Mkl")
    return next((group for group, types in GROUPS.items() if bare in types), "other")


def op_milliseconds(logdir: str) -> collections.Counter:
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    totals = collections.Counter()
    for path in Path(logdir).rglob("*.xplane.pb"):
        space = xplane_pb2.XSpace()
        space.ParseFromString(path.read_bytes())
        for plane in space.planes:
            names = {key: value.name for key, value in plane.event_metadata.items()}
            for line in plane.lines:
                if not line.name.startswith("tf_Compute"):  # the executor's threads: one event per op run
                    continue
                for event in line.events:
                    name = names.get(event.metadata_id, "").split(":")[-1]
                    if name and name not in NOT_OPS:
                        totals[name] += event.duration_ps / 1e9
    return totals


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layer", default="block4_sepconv1")
    parser.add_argument("--batch-size", type=int, default=11)
    parser.add_argument("--json", type=Path, default=None)
    options = parser.parse_args()
    if backends.BACKEND != "tensorflow":
        raise SystemExit("bench/profile_step.py reads TensorFlow's profiler; run it with KERAS_BACKEND=tensorflow")
    import tensorflow as tf

    info = machine()
    peak = matmul_rate(2048, "float32")
    loaded = load_model("xception", "none")
    method = MethodSettings(name="classic", steps=10, learning_rate=10.0, size=200, target="output")
    extractor = build_extractor(loaded, options.layer)
    optimizer = Optimizer(extractor, method, options.batch_size, loaded.preprocessing)
    ids = list(range(options.batch_size))
    optimizer.run(ids, [1.0] * options.batch_size)  # compiles
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        started = time.perf_counter()
        optimizer.run(ids, [1.0] * options.batch_size)
        wall = time.perf_counter() - started
        tf.profiler.experimental.stop()
        totals = op_milliseconds(logdir)
    groups = collections.Counter()
    for op_type, milliseconds in totals.items():
        groups[group_of(op_type)] += milliseconds
    flops = 2 * forward_flops(extractor, method.size, optimizer.model is not extractor) * method.steps
    flops *= options.batch_size
    total_ms = sum(groups.values())
    print(f"# {info['device']} · {info['cpu']} ({info['cpu_cores']} cores) · {info['backend']}")
    print(f"Xception {options.layer}, classic, batch {options.batch_size}: {wall * 1000:.0f} ms wall for "
          f"{method.steps} steps, {flops / wall / 1e12:.3f} TFLOP/s = {flops / wall / peak:.0%} of the float32 "
          f"matmul rate ({peak / 1e12:.3f} TFLOP/s)")
    print(f"{'op group':<24} {'ms':>8} {'share':>6}")
    for group, milliseconds in groups.most_common():
        print(f"{group:<24} {milliseconds:>8.0f} {milliseconds / total_ms:>6.0%}")
    print("(op time summed over the executor's threads)")
    path = options.json or Path("bench/results") / f"profile-step-{options.layer}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"machine": info, "layer": options.layer, "batch_size": options.batch_size,
                                "wall_seconds": wall, "flops": flops, "matmul_flops_per_second": peak,
                                "milliseconds_by_group": groups, "milliseconds_by_op": totals}, indent=1))


if __name__ == "__main__":
    main()
