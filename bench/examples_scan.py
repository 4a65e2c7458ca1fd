"""The dataset-example scan: images per second, and peak memory as the folder grows (1,000 then 5,000 photos).

    python bench/examples_scan.py            # make bench-examples: the figures for the README
    python bench/examples_scan.py --quick    # a few images, tiny model: what CI runs so this cannot rot

Photos are generated (224x224 JPEGs of smooth random colour fields with shapes), so nothing is downloaded. Each
scan runs in a fresh child process that reports its own peak RSS; the memory runs use tiny-cnn so that they
measure the pipeline (decoding, batches, running top-k) rather than the model, and the speed run uses the default
atlas's model and layers.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def generate_photos(folder: Path, start: int, stop: int, size: int = 224) -> None:
    """Photos number ``start`` to ``stop - 1``: a blurred random colour field with a few random shapes."""
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(start, stop):
        generator = np.random.default_rng(index)
        field = generator.integers(0, 256, (6, 6, 3), dtype=np.uint8)
        image = Image.fromarray(field).resize((size, size), Image.Resampling.BICUBIC)
        draw = ImageDraw.Draw(image)
        for _ in range(4):
            x, y = generator.integers(0, size - 40, 2)
            w, h = generator.integers(10, 60, 2)
            colour = tuple(int(value) for value in generator.integers(0, 256, 3))
            shape = draw.ellipse if generator.random() < 0.5 else draw.rectangle
            shape((int(x), int(y), int(x + w), int(y + h)), fill=colour)
        image.save(folder / f"photo-{index:05d}.jpg", quality=90)


def child(options) -> None:
    """One scan in this process; prints a JSON line with its figures."""
    import generator  # noqa: F401
    from generator.analysis import dataset_examples
    from generator.analysis.dataset_examples import ExampleSettings
    from generator.model.layers import select_layers
    from generator.model.models import load_model
    from generator.progress import Progress

    loaded = load_model(options.model)
    layers = select_layers(loaded, tuple(options.layers.split(",")) if options.layers else None, 224)
    settings = ExampleSettings(source=options.child, batch_size=options.batch_size)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        record = dataset_examples.scan(loaded, layers, settings, Path(out), Progress())
        seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"model": options.model, "layers": [layer.name for layer in layers],
                      "images": record["num_images"], "seconds": seconds,
                      "images_per_second": record["num_images"] / seconds, "batch_size": options.batch_size,
                      "peak_rss_bytes": peak, "rss_before_scan_bytes": before}))


def scan_in_child(folder: Path, model: str, layers: str, batch_size: int) -> dict:
    command = [sys.executable, __file__, "--child", str(folder), "--model", model, "--layers", layers,
               "--batch-size", str(batch_size)]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise SystemExit(f"scan failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a few images, tiny model (CI)")
    parser.add_argument("--sizes", default="1000,5000", help="folder sizes of the memory runs")
    parser.add_argument("--speed-images", type=int, default=256, help="images in the speed run")
    parser.add_argument("--model", default="vgg16-hed", help="model of the speed run")
    parser.add_argument("--layers", default="", help="layers of the speed run (default: the model's defaults)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        child(options)
        return

    from common import machine

    sizes = [20, 60] if options.quick else [int(size) for size in options.sizes.split(",")]
    speed_images = 8 if options.quick else options.speed_images
    speed_model = "tiny-cnn" if options.quick else options.model
    info = machine()
    print(f"# {info['device']} · {info['cpu']} ({info['cpu_cores']} cores) · {info['backend']}")
    with tempfile.TemporaryDirectory() as temporary:
        photos = Path(temporary) / "photos"
        generate_photos(photos, 0, speed_images)
        speed = scan_in_child(photos, speed_model, options.layers, options.batch_size)
        print(f"speed: {speed['images']} photos through {speed_model} ({', '.join(speed['layers'])}) in "
              f"{speed['seconds']:.1f} s = {speed['images_per_second']:.1f} images/s, "
              f"peak RSS {speed['peak_rss_bytes'] / 2**20:.0f} MiB")
        memory = []
        done = speed_images
        for size in sizes:  # the same folder, grown
            generate_photos(photos, done, size)
            done = max(done, size)
            row = scan_in_child(photos, "tiny-cnn", "", options.batch_size)
            memory.append(row)
            print(f"memory: {row['images']:>6} photos, peak RSS {row['peak_rss_bytes'] / 2**20:.0f} MiB "
                  f"({row['rss_before_scan_bytes'] / 2**20:.0f} MiB before the scan), "
                  f"{row['images_per_second']:.0f} images/s")
    growth = memory[-1]["peak_rss_bytes"] - memory[0]["peak_rss_bytes"]
    print(f"peak RSS grew by {growth / 2**20:.1f} MiB from {memory[0]['images']} to {memory[-1]['images']} photos")
    result = {"machine": info, "speed": speed, "memory": memory, "peak_rss_growth_bytes": growth,
              "quick": options.quick, "date": time.strftime("%Y-%m-%d %H:%M")}
    path = options.json or ROOT / "bench/results" / f"examples-{info['backend']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
