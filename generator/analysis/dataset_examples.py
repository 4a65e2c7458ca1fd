"""Dataset examples: the real image patches that excite each filter most, and those that inhibit it most.

find the images and decode them in background threads (example_images.py) -> one forward pass per batch
through one extractor for all the layers, which returns per image and filter only the largest and smallest
pre-activation and where they are -> merge into a running top-k and bottom-k per filter (memory: a few batches
plus 2k entries per filter) -> save the running state every few hundred images (a re-run resumes there) -> write
each source image that some filter shows once (WebP) and ``examples/examples.json``. The site draws a patch by
cropping its source image to the filter's receptive field around the position of the extreme.
Each example travels as a named record, ``{"image": slot, "activation": value, "x": left, "y": top}``, with
``slot`` indexing the record's ``images``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from generator.analysis import neighbours
from generator.defaults import NUM_EXAMPLES
from generator.errors import AtlasError
from generator.model import backends
from generator.model.dataset_images import SHIPPED_EXAMPLES, ImageSet, batches, image_set, load_square
from generator.model.extractors import build_multi_extractor
from generator.model.layers import LayerInfo
from generator.model.models import LoadedModel
from generator.model.quiet_keras import keras, stderr_silenced
from generator.store import directory, example_records
from generator.store.layout import EXAMPLES_FORMAT, example_image_file
from generator.store.tiles import displayed

SOURCE_IMAGE_QUALITY = 85


@dataclass(frozen=True)
class ExampleSettings:
    """Dataset examples: which images, how many per filter and sign, at what size they are scanned."""

    source: str = SHIPPED_EXAMPLES  # a folder, or "shipped"
    num_examples: int = NUM_EXAMPLES  # top-k (and bottom-k) per filter
    image_size: int = 224  # images are resized (short side) and centre-cropped to this square
    batch_size: int = 16
    save_every: int = 256  # images between saves of the running state (resume)



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

    def __init__(self, loaded: LoadedModel, layer_names: list[str], image_size: int, num_channels: int = 3):
        self.extractor = build_multi_extractor(loaded, layer_names, target="pre_activation")
        specs = self.extractor.compute_output_spec(keras.KerasTensor((1, image_size, image_size, num_channels)))
        specs = specs if isinstance(specs, (list, tuple)) else [specs]
        # A class layer's (B, units) output is one position: its receptive field is the whole image.
        self.output_sizes = [(int(spec.shape[1]), int(spec.shape[2])) if len(spec.shape) == 4 else (1, 1)
                             for spec in specs]
        self.weights = backends.model_weights(self.extractor)
        preprocess = loaded.preprocessing
        extractor = self.extractor

        def summarise(weights, pixels):
            ops = keras.ops
            images = preprocess(ops.cast(pixels, "float32") / 255.0)
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
    text = json.dumps({"format": EXAMPLES_FORMAT, "model": loaded.name, "weights": loaded.provenance,
                       "layers": [layer.name for layer in layers], "k": settings.num_examples,
                       "size": image_size, "source": images.description, "files": files}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def scan(loaded: LoadedModel, layers: list[LayerInfo], settings: ExampleSettings, out: Path, progress,
         stop=None, images: ImageSet | None = None, display_channels: tuple[int, ...] = (0, 1, 2)) -> dict | None:
    """Scan the image set and write ``examples/examples.json`` (and the images it names) into ``out``.

    Returns the record, or None when ``stop`` asked to stop first (the state so far is saved; the same call
    resumes), or when the model's channels cannot read the shipped photographs (a note says so). A finished scan
    with the same key is not repeated. ``images``: the set, if already found. ``display_channels``: the bands a
    source image of other than 1 or 3 channels shows as RGB."""
    images = (images or image_set(settings.source)).for_channels(loaded.num_channels)
    if images is None:
        progress.notice("examples", f"Dataset examples skipped: the shipped photographs are RGB and the model "
                                    f"reads {loaded.num_channels} channels; give --examples FOLDER of .npy or .tif "
                                    f"arrays.")
        return None
    fixed = loaded.fixed_size
    image_size = fixed[0] if fixed else settings.image_size
    key = scan_key(loaded, layers, settings, images, image_size)
    existing = example_records.read_examples(out)
    if existing is not None and existing.get("key") == key and example_records.read_fingerprints(out, key):
        return existing
    summariser = Summariser(loaded, [layer.name for layer in layers], image_size, loaded.num_channels)
    extremes, fingerprints, start, skipped = _resume(out, key, layers, settings.num_examples, len(images.paths))
    total = len(images.paths)
    progress.start_layer("dataset examples", total=total, done=start, unit="images")
    position, since_save = start, 0
    for image_ids, pixels, num_skipped in batches(images.paths, start, image_size, settings.batch_size,
                                                         loaded.num_channels):
        summaries = summariser(pixels)
        for running, summary in zip(extremes, summaries):
            running.add(image_ids, *summary)
        fingerprints.add(image_ids, [summary[0] for summary in summaries])  # per image, each filter's maximum
        count = len(range(position, min(position + settings.batch_size, total)))
        position, skipped, since_save = position + count, skipped + num_skipped, since_save + count
        progress.advance("dataset examples", count)
        if stop is not None and stop.requested:
            _save_state(out, key, extremes, fingerprints, position, skipped)
            return None
        if since_save >= settings.save_every and position < total:
            _save_state(out, key, extremes, fingerprints, position, skipped)
            since_save = 0
    if skipped == total:
        raise AtlasError(f"None of the {total} files of {images.description} could be read as an image.")
    if skipped:
        progress.note(f"Dataset examples: skipped {skipped} unreadable file{'s' if skipped != 1 else ''}.")
    record = _record(key, loaded, images, layers, extremes, summariser.output_sizes, image_size, skipped, settings)
    _write_images(out, images, record, image_size, loaded.num_channels, display_channels)
    fingerprints.write(out, key, [layer.name for layer in layers])
    example_records.write_examples(out, record)  # last: the scan is done once its record is there
    return record


def _resume(out: Path, key: str, layers: list[LayerInfo], k: int, num_images: int):
    state = example_records.read_scan_state(out, key)
    try:
        if state is not None:
            extremes = [RunningExtremes.from_arrays(state, f"{index}_") for index in range(len(layers))]
            fingerprints = neighbours.Fingerprints.from_arrays(state, len(layers))
            return extremes, fingerprints, int(state["position"]), int(state["skipped"])
    except (KeyError, ValueError):
        pass
    return ([RunningExtremes(layer.num_filters, k) for layer in layers],
            neighbours.Fingerprints(num_images, [layer.num_filters for layer in layers]), 0, 0)


def _save_state(out: Path, key: str, extremes: list[RunningExtremes], fingerprints, position: int,
                skipped: int) -> None:
    arrays = {name: array for index, running in enumerate(extremes)
              for name, array in running.arrays(f"{index}_").items()}
    arrays.update(fingerprints.arrays())
    example_records.write_scan_state(out, key, position, skipped, arrays)


def _record(key, loaded, images: ImageSet, layers, extremes, output_sizes, image_size, skipped, settings) -> dict:
    referenced = sorted({int(index) for running in extremes for _, ids, _ in (running.top, running.bottom)
                         for index in ids.ravel() if index >= 0})
    slot = {index: position for position, index in enumerate(referenced)}
    layer_records = {}
    for layer, running, output_size in zip(layers, extremes, output_sizes):
        filters = []
        for filter_id in range(layer.num_filters):
            entry = {}
            for sign, (values, ids, positions) in zip(directory.SIGN_NAMES, (running.top, running.bottom)):
                entry[sign] = [_example(slot[int(ids[filter_id, rank])], values[filter_id, rank],
                                        patch_box(positions[filter_id, rank], output_size, image_size,
                                                  layer.receptive_field))
                               for rank in range(ids.shape[1]) if ids[filter_id, rank] >= 0]
            filters.append(entry)
        layer_records[layer.name] = {"receptive_field": layer.receptive_field, "output_size": list(output_size),
                                     "patch_size": int(min(layer.receptive_field, image_size)), "filters": filters}
    return {
        "format": EXAMPLES_FORMAT, "key": key, "model": loaded.name, "weights": loaded.provenance,
        "source": images.description, "num_images": len(images.paths) - skipped,
        "num_skipped": skipped, "image_size": image_size, "num_examples": settings.num_examples,
        "images": [{"name": images.name_of(images.paths[index]),
                    "file": example_image_file(images.name_of(images.paths[index]))} for index in referenced],
        "layers": layer_records,
    }


def _example(slot: int, value: float, box: tuple[int, int, int]) -> dict:
    """One dataset example as the record stores it: the image's slot, the value there, the patch's corner."""
    x, y, _ = box
    return {"image": slot, "activation": float(f"{value:.5g}"), "x": x, "y": y}


def _write_images(out: Path, images: ImageSet, record: dict, image_size: int, num_channels: int,
                  display_channels: tuple[int, ...]) -> None:
    """Each source image that some filter shows, once, at the size it was scanned (the site crops patches), as
    its tiles show it (grayscale, RGB, or the display channels)."""
    for entry in record["images"]:
        pixels = load_square(images.root / entry["name"], image_size, num_channels)
        if pixels is None:
            raise AtlasError(f"'{images.root / entry['name']}' could be read during the scan but not now: was it "
                             f"changed? Run the build again.")
        example_records.write_source_image(out, entry["file"], displayed(pixels, display_channels),
                                           SOURCE_IMAGE_QUALITY)
