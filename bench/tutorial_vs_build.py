"""The tutorial's notebook loop against `atlas build`, each as a whole process (interpreter start, TensorFlow import,
model build, work, images written), on the same filters: by default the first 24 filters of Xception's
block14_sepconv1, random weights, the classic method (10 steps, learning rate 10, 200 x 200), the build's full
profile without facets. The tutorial makes one image per filter; the build makes both signs and, unless
``--examples none``, scans the dataset examples and renders the site. Runs alternate (tutorial, then each build
variant) ``--repeats`` times; the ratio is the tutorial's median wall time over each variant's.

    python bench/tutorial_vs_build.py --json docs/measurements/tutorial-vs-build-cpu-tensorflow.json
    python bench/tutorial_vs_build.py --quick          # tiny-cnn, 2 filters: checks the script
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import machine, machine_line  # noqa: E402


def tutorial(model_name: str, layer_name: str, num_filters: int, size: int, out: Path) -> None:
    """The notebook's algorithm as it runs there: one filter per call, 10 steps of a normalised gradient ascent
    from uniform noise, then its deprocessing (centre, scale to std 64, crop 25 px a side), one PNG per filter."""
    import keras
    import numpy as np
    import tensorflow as tf
    from einops import rearrange
    from PIL import Image

    if model_name == "xception":
        model = keras.applications.xception.Xception(weights=None, include_top=False)
    else:
        from generator.model.models import build_tiny_cnn

        model = build_tiny_cnn()
    feature_extractor = keras.Model(inputs=model.input, outputs=model.get_layer(layer_name).output)

    def compute_loss(image_batch, extractor, filter_index):
        activation = extractor(image_batch)
        return tf.reduce_mean(activation[:, 2:-2, 2:-2, filter_index])

    @tf.function
    def gradient_ascent_step(image_batch, extractor, filter_index, learning_rate):
        with tf.GradientTape() as tape:
            tape.watch(image_batch)
            loss = compute_loss(image_batch, extractor, filter_index)
        grads = tf.math.l2_normalize(tape.gradient(loss, image_batch))
        return image_batch + learning_rate * grads

    def deprocess_image(image):
        image = (image - image.mean()) / image.std() * 64 + 128
        crop = 25 if image.shape[0] > 100 else 2
        return np.clip(image, 0, 255).astype("uint8")[crop:-crop, crop:-crop, :]

    for filter_index in range(num_filters):
        image_batch = rearrange(tf.random.uniform((size, size, 3)), "h w c -> 1 h w c")
        for _ in range(10):
            image_batch = gradient_ascent_step(image_batch, feature_extractor, filter_index, 10.0)
        Image.fromarray(deprocess_image(image_batch[0].numpy())).save(out / f"filter-{filter_index}.png")


def timed_process(command: list[str]) -> float:
    """Wall seconds of a child process, which must succeed."""
    environment = dict(os.environ, KERAS_BACKEND="tensorflow")
    started = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True, env=environment, cwd=ROOT)
    seconds = time.perf_counter() - started
    if completed.returncode != 0:
        raise SystemExit(f"{' '.join(command[:4])} ... failed:\n{completed.stderr[-3000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny-cnn, 2 filters, one repeat: a check of the script")
    parser.add_argument("--filters", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--variants", default="float32,mixed,float32-no-examples",
                        help="build variants: PRECISION[-no-examples], comma-separated")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--child-tutorial", type=Path, default=None, help=argparse.SUPPRESS)
    options = parser.parse_args()
    model, layer, size = ("tiny-cnn", "conv3", 32) if options.quick else ("xception", "block14_sepconv1", 200)
    filters = 2 if options.quick else options.filters
    if options.child_tutorial is not None:
        tutorial(model, layer, filters, size, options.child_tutorial)
        return
    repeats = 1 if options.quick else options.repeats
    info = machine()
    seconds: dict[str, list[float]] = {"tutorial": []}
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as out:
            quick = ["--quick"] if options.quick else []
            seconds["tutorial"].append(timed_process([sys.executable, __file__, *quick, "--filters", str(filters),
                                                      "--child-tutorial", out]))
        for variant in options.variants.split(","):
            precision, _, rest = variant.partition("-")
            with tempfile.TemporaryDirectory() as out:
                command = [sys.executable, "-m", "generator.cli", "build", "--model", model, "--weights", "none",
                           "--layers", layer, "--filters", f"0:{filters}", "--method", "classic", "--size",
                           str(size), "--profile", "full", "--facets", "0", "--precision", precision, "--out", out,
                           *(["--examples", "none"] if rest == "no-examples" else [])]
                seconds.setdefault(variant, []).append(timed_process(command))
        print(json.dumps({name: [round(value, 1) for value in values] for name, values in seconds.items()}),
              flush=True)
    tutorial_seconds = statistics.median(seconds["tutorial"])
    rows = [{"variant": name, "seconds": values, "median_seconds": statistics.median(values),
             "tutorial_over_build": tutorial_seconds / statistics.median(values)}
            for name, values in seconds.items() if name != "tutorial"]
    print(machine_line(info))
    print(f"{model} {layer}, {filters} filters, classic 10 steps at {size} px, random weights; "
          f"tutorial {tutorial_seconds:.1f} s (median of {len(seconds['tutorial'])})")
    for row in rows:
        print(f"  atlas build, {row['variant']:<22} {row['median_seconds']:7.1f} s   tutorial / build "
              f"{row['tutorial_over_build']:.2f}x")
    if options.json:
        record = {"machine": info, "model": model, "layer": layer, "filters": filters, "size": size,
                  "tutorial_seconds": seconds["tutorial"], "builds": rows}
        options.json.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
