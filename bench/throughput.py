"""Throughput: the tutorial's one-filter loop against the batched path, the default atlas end to end, and the
device's matmul rate, all in one process on one machine. Prints a table and writes JSON.

    python bench/throughput.py                 # full figures (make bench)
    python bench/throughput.py --quick         # tiny model, a few filters: what CI runs so this cannot rot
    KERAS_BACKEND=jax python bench/throughput.py --precision mixed   # on a GPU host without TensorFlow
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import machine  # noqa: E402

import generator  # noqa: E402,F401
from generator.model import backends  # noqa: E402
from generator.model.extractors import build_extractor
from generator.model.filter_heads import build_own_filter_extractor  # noqa: E402
from generator.model.layers import layer_calls, output_shapes
from generator.model.models import load_model
from generator.model.precision import precision_policy
from generator.model.quiet_keras import keras  # noqa: E402
from generator.optimisation.batching import choose_batch_size
from generator.optimisation.methods import MethodSettings  # noqa: E402
from generator.optimisation.optimizer import Optimizer

ops = keras.ops
SEED_LAYERS = ("block2_sepconv1", "block4_sepconv1", "block12_sepconv1", "block14_sepconv1")


def synchronise(value):
    return ops.convert_to_numpy(value)


def matmul_rate(size: int, dtype: str, repeats: int = 5) -> float:
    """FLOP/s of a dense (size x size) @ (size x size) product."""
    generator_ = np.random.default_rng(0)
    a = ops.cast(ops.convert_to_tensor(generator_.random((size, size), dtype=np.float32)), dtype)
    b = ops.cast(ops.convert_to_tensor(generator_.random((size, size), dtype=np.float32)), dtype)
    product = backends.compile_step(lambda x, y: ops.sum(ops.cast(ops.matmul(x, y), "float32")))
    synchronise(product(a, b))
    started = time.perf_counter()
    for _ in range(repeats):
        synchronise(product(a, b))
    return 2 * size ** 3 * repeats / (time.perf_counter() - started)


def forward_flops(extractor, size: int, own_filter: bool = False) -> float:
    """Multiply-adds x 2 of the extractor's conv layers for one image; with ``own_filter``, the last layer's
    filters counted as one (the optimiser computes only each image's own filter there: model/filter_heads.py). The
    last layer is the last conv call, whatever elementwise layers follow it (a leaky target's LeakyOutput)."""
    nodes = layer_calls(extractor, ("Conv2D", "SeparableConv2D", "DepthwiseConv2D"))
    last = nodes[-1].operation
    total = 0.0
    for node, shape in zip(nodes, output_shapes(extractor, [node.output_tensors[0] for node in nodes], (size, size))):
        layer, kind = node.operation, type(node.operation).__name__
        height, width, out_channels = shape[1], shape[2], shape[3]
        if own_filter and layer is last:
            out_channels = 1
        in_channels = node.input_tensors[0].shape[-1]
        kernel = layer.kernel_size[0] * layer.kernel_size[1]
        if kind == "Conv2D":
            total += 2 * height * width * kernel * in_channels * out_channels
        elif kind == "DepthwiseConv2D":
            total += 2 * height * width * kernel * in_channels * layer.depth_multiplier
        else:
            middle = in_channels * layer.depth_multiplier
            total += 2 * height * width * (kernel * middle + middle * out_channels)
    return total


def seed_loop(extractor, filter_ids: list[int], method: MethodSettings) -> float:
    """The tutorial's loop exactly: one filter per call, the filter index a Python int (TensorFlow retraces
    for each filter; on JAX the index is a static argument, so it recompiles likewise). Seconds per filter."""
    size, steps, rate = method.size, method.steps, method.learning_rate
    if backends.BACKEND == "tensorflow":
        import tensorflow as tf

        @tf.function
        def gradient_ascent_step(image_batch, feature_extractor, filter_index, learning_rate):
            with tf.GradientTape() as tape:
                tape.watch(image_batch)
                activation = feature_extractor(image_batch)
                loss = tf.reduce_mean(activation[:, 2:-2, 2:-2, filter_index])
            grads = tf.math.l2_normalize(tape.gradient(loss, image_batch))
            return image_batch + learning_rate * grads

        started = time.perf_counter()
        for filter_index in filter_ids:
            image_batch = tf.random.uniform((1, size, size, 3))
            for _ in range(steps):
                image_batch = gradient_ascent_step(image_batch, extractor, filter_index, rate)
            image_batch[0].numpy()
        return (time.perf_counter() - started) / len(filter_ids)
    import jax
    import jax.numpy as jnp

    weights = backends.model_weights(extractor)

    def step(weights_, image_batch, filter_index, learning_rate):
        def loss(image):
            activation = backends.call_model(extractor, weights_, image)
            return jnp.mean(activation[:, 2:-2, 2:-2, filter_index])

        grads = jax.grad(loss)(image_batch)
        return image_batch + learning_rate * grads / jnp.sqrt(jnp.maximum(jnp.sum(grads ** 2), 1e-12))

    jitted = jax.jit(step, static_argnums=2)
    started = time.perf_counter()
    for filter_index in filter_ids:
        image_batch = jax.random.uniform(jax.random.PRNGKey(filter_index), (1, size, size, 3))
        for _ in range(steps):
            image_batch = jitted(weights, image_batch, filter_index, rate)
        np.asarray(image_batch)
    return (time.perf_counter() - started) / len(filter_ids)


def optimiser_rate(extractor, method, batch_size: int, num_batches: int, preprocessing: str) -> dict:
    """Seconds per filter of the project's path (positive sign), first call (with compilation) apart."""
    optimizer = Optimizer(extractor, method, batch_size, preprocessing)
    ids = [index % extractor.output.shape[-1] for index in range(batch_size)]
    started = time.perf_counter()
    optimizer.run(ids, [1.0] * batch_size)
    first = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(num_batches):
        optimizer.run(ids, [1.0] * batch_size)
    seconds = (time.perf_counter() - started) / (num_batches * batch_size)
    return {"batch_size": batch_size, "seconds_per_filter": seconds, "filters_per_second": 1 / seconds,
            "first_batch_seconds": first, "traces": optimizer.num_traces}


def seed_comparison(model_name: str, layers, size: int, num_seed_filters: int, batch_size: int | None,
                    num_batches: int, peaks: dict, on_gpu: bool, precisions=("float32",)) -> list[dict]:
    """Per layer: the tutorial loop in float32 (as the tutorial runs), then the project's path, one filter at a time and
    batched, in each precision. One row per (layer, precision)."""
    with precision_policy("float32"):
        seed_model = load_model(model_name, "none")
    models = {}
    for precision in precisions:
        with precision_policy(precision):
            models[precision] = load_model(model_name, "none")
    rows = []
    for layer in layers:
        method = MethodSettings(name="classic", steps=10, learning_rate=10.0, size=size, target="output")
        # the tutorial's own feature extractor: the model up to the layer as Keras has it (no folding, no head)
        seed_extractor = keras.Model(seed_model.model.inputs, seed_model.model.get_layer(layer).output)
        seed = seed_loop(seed_extractor, list(range(num_seed_filters)), method)
        for precision in precisions:
            with precision_policy(precision):
                rows.append(_project_row(models[precision], layer, dataclasses.replace(method, precision=precision),
                                         seed, num_seed_filters, batch_size, num_batches, peaks, on_gpu))
    return rows


def _project_row(loaded, layer, method, seed, num_seed_filters, batch_size, num_batches, peaks, on_gpu):
    extractor = build_extractor(loaded, layer, "output")
    own_filter = build_own_filter_extractor(extractor) is not None
    flops = 2 * forward_flops(extractor, method.size, own_filter) * method.steps  # forward + input gradient
    single = optimiser_rate(extractor, method, 1, max(num_seed_filters, 2), loaded.preprocessing)
    chosen = batch_size or choose_batch_size(extractor, method.size, extractor.output.shape[-1], on_gpu)
    batched = optimiser_rate(extractor, method, chosen, num_batches, loaded.preprocessing)
    achieved = flops / batched["seconds_per_filter"]
    reference = "bfloat16" if method.precision == "mixed" else "float32"
    return {"layer": layer, "size": method.size, "steps": method.steps, "precision": method.precision,
            "own_filter": own_filter, "seed_loop_filters_per_second": 1 / seed,
            "single_filters_per_second": single["filters_per_second"], "batched": batched,
            "speedup_vs_seed_loop": seed / batched["seconds_per_filter"],
            "speedup_vs_single": single["seconds_per_filter"] / batched["seconds_per_filter"],
            "step_flop_rate": achieved, "matmul_reference": reference,
            "share_of_matmul_rate": achieved / peaks[reference]}


def parse_precisions(text: str) -> tuple[str, ...]:
    if text == "auto":
        return ("float32", "mixed") if backends.fast_bfloat16() else ("float32",)
    precisions = tuple(part.strip() for part in text.split(","))
    if not precisions or any(part not in ("float32", "mixed") for part in precisions):
        raise SystemExit(f"--precision: float32, mixed, both separated by a comma, or auto; got {text!r}")
    return precisions


def end_to_end(arguments: list[str]) -> dict:
    """`atlas build` in a child process: wall time with model load and compilation, and its peak memory."""
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "generator.cli", "build", *arguments, "--out", out]
        started = time.perf_counter()
        completed = subprocess.run(command, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if completed.returncode != 0:
            raise SystemExit(f"atlas build failed:\n{completed.stderr[-3000:]}")
        record = json.loads((Path(out) / "atlas.json").read_text())
        num_filters = sum(len(layer["filters"]) for layer in record["layers"])
        peak_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
        return {"arguments": arguments, "seconds": seconds, "num_filters": num_filters,
                "images": 2 * num_filters, "filters_per_second": num_filters / seconds,
                "peak_host_rss_bytes": peak_rss, "method": record["method"],
                "log_tail": completed.stderr.strip().splitlines()[-3:]}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny model and few filters (CI)")
    parser.add_argument("--atlas", choices=("auto", "preview", "full", "none"), default="auto",
                        help="profile of the end-to-end run (auto: full on a GPU, preview on a CPU)")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--seed-filters", type=int, default=None, help="filters timed in the tutorial loop")
    parser.add_argument("--layers", default=",".join(SEED_LAYERS))
    parser.add_argument("--precision", default="auto",
                        help="float32, mixed or both (float32,mixed) for the project's path; auto: float32, and "
                             "mixed too where the device computes bfloat16 natively. The tutorial loop is float32.")
    parser.add_argument("--weights", default=None, help="vgg16-hed weights file for the end-to-end run")
    parser.add_argument("--examples", default=None, help="--examples of the end-to-end run (default: shipped)")
    parser.add_argument("--json", type=Path, default=None)
    options = parser.parse_args()

    on_gpu = backends.gpu_available()
    info = machine()
    print(f"# {info['device']} · {info['cpu']} ({info['cpu_cores']} cores) · {info['backend']} · "
          f"{', '.join(f'{k} {v}' for k, v in info['versions'].items())}")
    peak32 = matmul_rate(1024 if options.quick else (8192 if on_gpu else 2048), "float32")
    precisions = parse_precisions(options.precision)
    rates = {"float32": peak32}
    if on_gpu or "mixed" in precisions:
        rates["bfloat16"] = matmul_rate(1024 if options.quick else (8192 if on_gpu else 2048), "bfloat16")
    print("dense matmul: " + ", ".join(f"{k} {v / 1e12:.2f} TFLOP/s" for k, v in rates.items()))

    if options.quick:
        rows = seed_comparison("tiny-cnn", ("conv3",), 32, options.seed_filters or 2, options.batch_size or 8, 2,
                               rates, on_gpu, precisions)
    else:
        rows = seed_comparison("xception", options.layers.split(","), 200,
                               options.seed_filters or (16 if on_gpu else 3), options.batch_size,
                               4 if on_gpu else 1, rates, on_gpu, precisions)
    print(f"\n{'layer':<18} {'precision':>9} {'tutorial loop':>13} {'one at a time':>14} {'batched':>10} {'batch':>6} "
          f"{'vs tutorial':>11} {'vs single':>10} {'step FLOP/s':>12} {'of matmul':>10}")
    for row in rows:
        print(f"{row['layer']:<18} {row['precision']:>9} {row['seed_loop_filters_per_second']:>13.2f} "
              f"{row['single_filters_per_second']:>14.2f} "
              f"{row['batched']['filters_per_second']:>10.2f} {row['batched']['batch_size']:>6} "
              f"{row['speedup_vs_seed_loop']:>10.1f}x {row['speedup_vs_single']:>9.1f}x "
              f"{row['step_flop_rate'] / 1e12:>9.3f} T {row['share_of_matmul_rate']:>9.0%}")
    print(f"(filters per second; classic method, 10 steps, {rows[0]['size']}x{rows[0]['size']}, random weights; "
          "the tutorial loop in float32; "
          "FLOP shares of the matmul rate in the row's precision)")

    atlas_profile = options.atlas if options.atlas != "auto" else ("full" if on_gpu else "preview")
    atlas_run = None
    if atlas_profile != "none":
        arguments = (["--model", "tiny-cnn", "--size", "32", "--steps", "8", "--profile", "full"] if options.quick
                     else ["--config", "atlas.toml", "--profile", atlas_profile,
                           "--precision", options.precision if options.precision in ("float32", "mixed") else "auto",
                           *(["--weights", options.weights] if options.weights else []),
                           *(["--examples", options.examples] if options.examples else [])])
        atlas_run = end_to_end(arguments)
        print(f"\ndefault atlas ({' '.join(arguments)}): {atlas_run['num_filters']} filters "
              f"({atlas_run['images']} images) in {atlas_run['seconds']:.1f} s = "
              f"{atlas_run['filters_per_second']:.1f} filters/s, "
              f"peak RSS {atlas_run['peak_host_rss_bytes'] / 2**30:.2f} GiB")

    result = {"machine": info, "matmul_flops_per_second": rates, "seed_comparison": rows, "atlas": atlas_run,
              "quick": options.quick, "date": time.strftime("%Y-%m-%d %H:%M")}
    path = options.json or Path("bench/results") / f"throughput-{info['backend']}-{'gpu' if on_gpu else 'cpu'}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1, default=float))
    print(f"\nwritten to {path}")


if __name__ == "__main__":
    main()
