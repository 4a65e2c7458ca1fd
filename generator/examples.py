"""Dataset examples: the real image patches that excite each filter most, and those that inhibit it most.

find the images (a folder, recursively, or the photographs scikit-image ships) -> decode, resize and centre-crop
each to a square in background threads -> one forward pass per batch through one extractor for all the layers,
which returns per image and filter only the largest and smallest pre-activation and where they are -> merge
into a running top-k and bottom-k per filter (memory: a few batches plus 2k entries per filter) -> save the
running state every few hundred images (a re-run resumes there) -> write each source image that some filter
shows once (WebP) and ``examples/examples.json``. The site draws a patch by cropping its source image to the
filter's receptive field around the position of the extreme.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import importlib.util
import io
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from generator import backends, runs
from generator.config import SHIPPED_EXAMPLES, ExampleSettings
from generator.errors import AtlasError
from generator.models import LayerInfo, LoadedModel, build_multi_extractor, preprocess
from generator.quiet import keras, stderr_silenced
from generator.tiles import encode_webp, write_atomically

FORMAT = runs.EXAMPLES_FORMAT
EXAMPLES_DIR, EXAMPLES_FILE = runs.EXAMPLES_DIR, runs.EXAMPLES_FILE
STATE_FILE = f"{EXAMPLES_DIR}/scan-state.npz"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
# The photographs among scikit-image's bundled sample data (skimage/data), not its synthetic test patterns.
SHIPPED_PHOTOS = ("astronaut.png", "brick.png", "camera.png", "cell.png", "chelsea.png", "clock_motion.png",
                  "coffee.png", "coins.png", "grass.png", "gravel.png", "hubble_deep_field.jpg", "ihc.png",
                  "moon.png", "motorcycle_left.png", "page.png", "retina.jpg", "rocket.jpg", "text.png")
SOURCE_IMAGE_QUALITY = 85


@dataclass(frozen=True)
class ImageSet:
    """The images to scan, in a fixed order, and how to name them on the pages."""

    description: str
    root: Path
    paths: tuple[Path, ...]

    def name_of(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()


def image_set(source: str) -> ImageSet:
    if source == SHIPPED_EXAMPLES:
        return shipped_photos()
    folder = Path(source)
    paths = find_images(folder)
    if not paths:
        raise AtlasError(f"No images in '{folder}': --examples needs a folder with .jpg, .jpeg, .png or .webp "
                         f"files (searched recursively).")
    return ImageSet(f"{len(paths)} images from the folder {folder.name or folder}", folder, tuple(paths))


def find_images(folder: Path) -> list[Path]:
    """Every image file under ``folder``, by suffix, in a stable (sorted) order."""
    if not folder.is_dir():
        raise AtlasError(f"--examples '{folder}' is not a folder.")
    return sorted(path for path in folder.rglob("*") if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file())


def shipped_photos() -> ImageSet:
    """scikit-image's sample photographs, read from the installed package's data folder (no download)."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or spec.origin is None:
        raise AtlasError("The default dataset examples are scikit-image's sample photos, but scikit-image is not "
                         "installed: run `make install`, or pass --examples DIR or --examples none.")
    folder = Path(spec.origin).parent / "data"
    paths = tuple(folder / name for name in SHIPPED_PHOTOS if (folder / name).is_file())
    if not paths:
        raise AtlasError(f"scikit-image's sample photos are missing from '{folder}': reinstall scikit-image, "
                         f"or pass --examples DIR or --examples none.")
    version = importlib.metadata.version("scikit-image")
    return ImageSet(f"{len(paths)} sample photographs shipped with scikit-image {version} (skimage.data)",
                    folder, paths)


def load_square(path: Path, size: int) -> np.ndarray | None:
    """The image as RGB uint8, its short side resized to ``size`` and centre-cropped to a square; None if it
    cannot be read."""
    try:
        with Image.open(path) as image:
            image.draft("RGB", (size, size))  # JPEGs decode at a reduced scale when they are much larger
            image = ImageOps.exif_transpose(image).convert("RGB")  # upright, as a camera's viewer shows it
            scale = size / min(image.size)
            width, height = max(size, round(image.width * scale)), max(size, round(image.height * scale))
            image = image.resize((width, height), Image.Resampling.BILINEAR, reducing_gap=3.0)
            left, top = (width - size) // 2, (height - size) // 2
            return np.asarray(image.crop((left, top, left + size, top + size)))
    except Exception:  # noqa: BLE001  (any unreadable file is skipped and counted, never fatal)
        return None


def batches(paths: tuple[Path, ...], start: int, size: int, batch_size: int
            ) -> Iterator[tuple[np.ndarray, np.ndarray, int]]:
    """(image indices, pixels, number skipped) per batch, from ``start`` on; the next batch decodes in threads
    while this one is used. Batches are padded to ``batch_size`` with index -1 (one compiled shape)."""
    starts = range(start, len(paths), batch_size)

    def decode(first: int):
        indices = list(range(first, min(first + batch_size, len(paths))))
        return indices, [load_square(paths[index], size) for index in indices]

    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="decode") as pool:
        pending = [pool.submit(decode, first) for first in starts[:2]]
        for position in range(len(starts)):
            indices, images = pending.pop(0).result()
            if position + 2 < len(starts):
                pending.append(pool.submit(decode, starts[position + 2]))
            kept = [(index, image) for index, image in zip(indices, images) if image is not None]
            ids = np.full(batch_size, -1, np.int64)
            pixels = np.zeros((batch_size, size, size, 3), np.uint8)
            for slot, (index, image) in enumerate(kept):
                ids[slot], pixels[slot] = index, image
            yield ids, pixels, len(indices) - len(kept)


class RunningExtremes:
    """Per filter, the k largest per-image maxima and the k smallest per-image minima seen so far, with the
    image and the position (flat index into the layer's output grid) of each. One image counts once per
    filter and sign; ties keep the earlier image, so the result does not depend on where a scan resumed."""

    def __init__(self, num_filters: int, k: int):
        self.top = _empty(num_filters, k, -np.inf)
        self.bottom = _empty(num_filters, k, np.inf)

    def add(self, image_ids: np.ndarray, maxima, argmax, minima, argmin) -> None:
        valid = image_ids >= 0
        self.top = _merge(self.top, image_ids[valid], maxima[valid], argmax[valid], largest=True)
        self.bottom = _merge(self.bottom, image_ids[valid], minima[valid], argmin[valid], largest=False)

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}{sign}_{name}": array for sign, triple in (("top", self.top), ("bottom", self.bottom))
                for name, array in zip(("values", "images", "positions"), triple)}

    @classmethod
    def from_arrays(cls, arrays, prefix: str) -> RunningExtremes:
        extremes = cls.__new__(cls)
        for sign in ("top", "bottom"):
            setattr(extremes, sign, tuple(np.asarray(arrays[f"{prefix}{sign}_{name}"])
                                          for name in ("values", "images", "positions")))
        return extremes


def _empty(num_filters: int, k: int, fill: float):
    return (np.full((num_filters, k), fill, np.float32), np.full((num_filters, k), -1, np.int64),
            np.zeros((num_filters, k), np.int64))


def _merge(current, image_ids, values, positions, largest: bool):
    """Keep the k best of the current entries and one new entry per (image, filter)."""
    old_values, old_images, old_positions = current
    k = old_values.shape[1]
    values = np.asarray(values, np.float32).T  # (filters, images)
    worst = -np.inf if largest else np.inf
    values = np.where(np.isfinite(values), values, worst)
    all_values = np.concatenate([old_values, values], axis=1)
    all_images = np.concatenate([old_images, np.broadcast_to(image_ids, values.shape)], axis=1)
    all_positions = np.concatenate([old_positions, np.asarray(positions, np.int64).T], axis=1)
    # Empty slots hold the worst value, and a stable sort puts them after every real entry.
    order = np.argsort(-all_values if largest else all_values, axis=1, kind="stable")[:, :k]
    return tuple(np.take_along_axis(array, order, axis=1) for array in (all_values, all_images, all_positions))


class Summariser:
    """One compiled forward pass: uint8 images -> per layer (max, argmax, min, argmin) over positions, (B, F)."""

    def __init__(self, loaded: LoadedModel, layer_names: list[str], image_size: int):
        self.extractor = build_multi_extractor(loaded, layer_names, target="pre_activation")
        specs = self.extractor.compute_output_spec(keras.KerasTensor((1, image_size, image_size, 3)))
        specs = specs if isinstance(specs, (list, tuple)) else [specs]
        self.output_sizes = [(int(spec.shape[1]), int(spec.shape[2])) for spec in specs]
        self.weights = backends.model_weights(self.extractor)
        preprocessing = loaded.preprocessing
        extractor = self.extractor

        def summarise(weights, pixels):
            ops = keras.ops
            images = preprocess(ops.cast(pixels, "float32") / 255.0, preprocessing)
            outputs = backends.call_model(extractor, weights, images)
            outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
            summaries = []
            for output in outputs:
                flat = ops.reshape(ops.cast(output, "float32"), (ops.shape(output)[0], -1, ops.shape(output)[-1]))
                summaries += [ops.max(flat, axis=1), ops.argmax(flat, axis=1),
                              ops.min(flat, axis=1), ops.argmin(flat, axis=1)]
            return summaries

        self.compiled = backends.compile_step(summarise)
        self.called = False

    def __call__(self, pixels: np.ndarray) -> list[tuple[np.ndarray, ...]]:
        with stderr_silenced() if not self.called else contextlib.nullcontext():  # compilation's C++ notes
            values = [np.asarray(value) for value in self.compiled(self.weights, pixels)]
        self.called = True
        return [tuple(values[index:index + 4]) for index in range(0, len(values), 4)]


def patch_box(position: int, output_size: tuple[int, int], image_size: int, receptive_field: int
              ) -> tuple[int, int, int]:
    """(x, y, side) of the square patch a filter sees at output position ``position`` (flat index), kept inside
    the image: the output cell's centre mapped back to input pixels, the receptive field around it."""
    height, width = output_size
    row, column = divmod(int(position), width)
    side = int(min(receptive_field, image_size))

    def corner(index: int, cells: int) -> int:
        centre = (index + 0.5) * image_size / cells - 0.5
        return int(np.clip(round(centre - (side - 1) / 2), 0, image_size - side))

    return corner(column, width), corner(row, height), side


def scan_key(loaded: LoadedModel, layers: list[LayerInfo], settings: ExampleSettings, images: ImageSet,
             image_size: int) -> str:
    """Changes whenever the scan's result would: model, layers, settings and every file's size and time."""
    files = []
    for path in images.paths:
        try:
            stat = path.stat()
            files.append((images.name_of(path), stat.st_size, stat.st_mtime_ns))
        except OSError:
            files.append((images.name_of(path), -1, -1))
    text = json.dumps({"format": FORMAT, "model": loaded.name, "weights": loaded.weights,
                       "layers": [layer.name for layer in layers], "k": settings.num_examples,
                       "size": image_size, "source": images.description, "files": files}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def scan(loaded: LoadedModel, layers: list[LayerInfo], settings: ExampleSettings, out: Path, progress,
         stop=None, images: ImageSet | None = None) -> dict | None:
    """Scan the image set and write ``examples/examples.json`` (and the images it names) into ``out``.

    Returns the record, or None when ``stop`` asked to stop first (the state so far is saved; the same call
    resumes). A finished scan with the same key is not repeated. ``images``: the set, if already found."""
    images = images or image_set(settings.source)
    fixed = loaded.fixed_size
    image_size = fixed[0] if fixed else settings.image_size
    key = scan_key(loaded, layers, settings, images, image_size)
    existing = runs.read_examples(out)
    if existing is not None and existing.get("key") == key:
        return existing
    summariser = Summariser(loaded, [layer.name for layer in layers], image_size)
    extremes, start, skipped = _resume(out, key, layers, settings.num_examples)
    total = len(images.paths)
    progress.start_layer("dataset examples", total=total, done=start, unit="images")
    position, since_save = start, 0
    for image_ids, pixels, num_skipped in batches(images.paths, start, image_size, settings.batch_size):
        for running, summary in zip(extremes, summariser(pixels)):
            running.add(image_ids, *summary)
        count = len(range(position, min(position + settings.batch_size, total)))
        position, skipped, since_save = position + count, skipped + num_skipped, since_save + count
        progress.advance("dataset examples", count)
        if stop is not None and stop.requested:
            _save_state(out, key, extremes, position, skipped)
            return None
        if since_save >= settings.save_every and position < total:
            _save_state(out, key, extremes, position, skipped)
            since_save = 0
    if skipped == total:
        raise AtlasError(f"None of the {total} files of {images.description} could be read as an image.")
    if skipped:
        progress.note(f"Dataset examples: skipped {skipped} unreadable file{'s' if skipped != 1 else ''}.")
    record = _record(key, loaded, images, layers, extremes, summariser.output_sizes, image_size, skipped, settings)
    _write_images(out, images, record, image_size)
    write_atomically(out / EXAMPLES_FILE, json.dumps(record, separators=(",", ":")).encode())
    (out / STATE_FILE).unlink(missing_ok=True)
    return record


def _resume(out: Path, key: str, layers: list[LayerInfo], k: int):
    try:
        with np.load(out / STATE_FILE) as state:
            if str(state["key"]) == key:
                extremes = [RunningExtremes.from_arrays(state, f"{index}_") for index in range(len(layers))]
                return extremes, int(state["position"]), int(state["skipped"])
    except (OSError, KeyError, ValueError):
        pass
    return [RunningExtremes(layer.num_filters, k) for layer in layers], 0, 0


def _save_state(out: Path, key: str, extremes: list[RunningExtremes], position: int, skipped: int) -> None:
    arrays = {name: array for index, running in enumerate(extremes)
              for name, array in running.arrays(f"{index}_").items()}
    buffer = io.BytesIO()
    np.savez(buffer, key=np.array(key), position=np.array(position), skipped=np.array(skipped), **arrays)
    try:
        write_atomically(out / STATE_FILE, buffer.getvalue())
    except OSError as error:
        raise AtlasError(f"Cannot save the dataset-example scan into '{out}': {error.strerror or error}.") from None


def _record(key, loaded, images: ImageSet, layers, extremes, output_sizes, image_size, skipped, settings) -> dict:
    referenced = sorted({int(index) for running in extremes for _, ids, _ in (running.top, running.bottom)
                         for index in ids.ravel() if index >= 0})
    slot = {index: position for position, index in enumerate(referenced)}
    layer_records = {}
    for layer, running, output_size in zip(layers, extremes, output_sizes):
        filters = []
        for filter_id in range(layer.num_filters):
            entry = {}
            for sign, (values, ids, positions) in (("positive", running.top), ("negative", running.bottom)):
                entry[sign] = [[slot[int(ids[filter_id, rank])], float(f"{values[filter_id, rank]:.5g}"),
                                *patch_box(positions[filter_id, rank], output_size, image_size,
                                           layer.receptive_field)[:2]]
                               for rank in range(ids.shape[1]) if ids[filter_id, rank] >= 0]
            filters.append(entry)
        layer_records[layer.name] = {"receptive_field": layer.receptive_field, "output_size": list(output_size),
                                     "patch_size": int(min(layer.receptive_field, image_size)), "filters": filters}
    return {
        "format": FORMAT, "key": key, "model": loaded.name, "weights": loaded.weights,
        "source": images.description, "num_images": len(images.paths) - skipped,
        "num_skipped": skipped, "image_size": image_size, "num_examples": settings.num_examples,
        "images": [{"name": images.name_of(images.paths[index]), "file": _image_file(images, index)}
                   for index in referenced],
        "layers": layer_records,
    }


def _image_file(images: ImageSet, index: int) -> str:
    digest = hashlib.sha1(images.name_of(images.paths[index]).encode()).hexdigest()[:16]
    return f"{EXAMPLES_DIR}/images/{digest}.webp"


def _write_images(out: Path, images: ImageSet, record: dict, image_size: int) -> None:
    """Each source image that some filter shows, once, at the size it was scanned (the site crops patches)."""
    for entry in record["images"]:
        pixels = load_square(images.root / entry["name"], image_size)
        if pixels is None:
            raise AtlasError(f"'{images.root / entry['name']}' could be read during the scan but not now: was it "
                             f"changed? Run the build again.")
        try:
            write_atomically(out / entry["file"], encode_webp(pixels, SOURCE_IMAGE_QUALITY))
        except OSError as error:
            raise AtlasError(f"Cannot write '{out / entry['file']}': {error.strerror or error}.") from None
