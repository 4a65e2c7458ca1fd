"""Quality of a built atlas, measured with the model it was built from.

Per layer:
- flat tiles: share of tiles (positive and negative) whose uint8 pixels have a standard deviation under 2;
- robust self-recognition: every filter's mean activation on K random views (pad, shift up to 1/8 of the size,
  scale 0.9-1.1, rotate +-10 degrees; fixed seed) of every positive image; the share of filters f whose own image
  excites f most among all the compared images (a random guess scores 1/|F|). The same on **wider** views (scale
  0.85-1.15, rotate +-15 degrees), which quality claims use: an image that only works as optimised scores less;
- negative check: share of filters whose negative image gives a lower activation than mid-grey does;
- silent filters: the filters the build found silent (silence.py: its own image does not make it fire and a flat
  image does better), or, for an atlas built before that check, those whose own image's mean activation over the
  views is <= 0; and self-recognition among the others, the firing filters (docs/quality.md#silent-filters).
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from generator.model import backends
from generator.model.extractors import build_extractor
from generator.model.models import load_model
from generator.model.preprocessing import Preprocessing, PreprocessingChoice
from generator.model.quiet_keras import keras, stderr_silenced
from generator.optimisation import transforms
from generator.optimisation.objectives import mean_of_every_filter
from generator.options import parse_filter_ids
from generator.site.pages import collect
from generator.store import atlas_records, directory, tiles

ops = keras.ops
NUM_VIEWS = 8
VIEWS = {"standard": (1 / 8, 0.10, 10.0), "wide": (1 / 8, 0.15, 15.0)}  # (shift fraction, scale range, degrees)
VIEW_SEED = 1234


@dataclass(frozen=True)
class LayerQuality:
    layer: str
    num_filters: int
    flat_tiles: float
    self_recognition: float
    negative_check: float
    chance: float
    num_silent: int = 0
    self_recognition_firing: float | None = None  # among the filters that are not silent
    self_recognition_wide: float = 0.0  # on the wider views (VIEWS["wide"])
    self_recognition_firing_wide: float | None = None


def _sign_tile(site: Path, record: dict, num_channels: int) -> np.ndarray:
    """A sign's image as the model reads it, (H, W, C) in [0, 1], from the file that holds every channel: the
    strip for bands, else the tile."""
    relative = record["channels"] if num_channels not in (1, 3) else record["image"]
    return tiles.read_tile(site, relative, num_channels).astype(np.float32) / 255.0


def all_filter_activations(extractor, preprocessing: Preprocessing, images: np.ndarray, num_views: int,
                           batch_size: int = 32, views: str = "standard") -> np.ndarray:
    """(N, C): each image's mean activation of every filter of the layer, averaged over ``num_views`` views
    (``views``: a key of VIEWS)."""
    size = images.shape[1]
    pad = size // 8
    padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)), constant_values=transforms.FILL)
    views = transforms.robustness(*VIEWS[views])
    generators = [np.random.default_rng([VIEW_SEED, index]) for index in range(len(images))]
    all_rows = transforms.draw_batch(views, generators, padded.shape[1], num_views) if num_views else None
    total = None
    for view in range(max(num_views, 1)):
        rows = all_rows[view] if num_views else None
        means = []
        for start in range(0, len(images), batch_size):
            batch = ops.convert_to_tensor(padded[start:start + batch_size])
            # The first run of the ops can print C++ notes that mean nothing to a user.
            with stderr_silenced() if view == 0 and start == 0 else contextlib.nullcontext():
                if rows is not None:
                    batch = transforms.apply(batch, ops.convert_to_tensor(rows[start:start + batch_size]))
                outputs = extractor(preprocessing(batch), training=False)
            means.append(ops.convert_to_numpy(mean_of_every_filter(outputs)))
        activations = np.concatenate(means)
        total = activations if total is None else total + activations
    return total / max(num_views, 1)


def self_recognition(activations: np.ndarray, filter_ids: list[int], among: np.ndarray | None = None) -> float:
    """Share of filters whose own image (row j for filter filter_ids[j]) gives its highest activation; with
    ``among`` (a mask over the filters), the share of those filters only (each still against every image)."""
    chosen = activations[:, filter_ids]  # (images, filters): image j belongs to filter j
    recognised = np.argmax(chosen, axis=0) == np.arange(len(filter_ids))
    return float(np.mean(recognised if among is None else recognised[among]))


def evaluate_layer(loaded, layer: dict, site: Path, target: str, filter_ids: list[int] | None) -> LayerQuality:
    entries = [entry for entry in layer["filters"] if filter_ids is None or entry["id"] in filter_ids]
    ids = [entry["id"] for entry in entries]
    extractor = build_extractor(loaded, layer["name"], target)
    channels = loaded.num_channels
    positives = np.stack([_sign_tile(site, entry["positive"], channels) for entry in entries])
    negatives = np.stack([_sign_tile(site, entry["negative"], channels) for entry in entries])
    flat = float(np.mean([(tile * 255).round().std() < tiles.FLAT_STD
                          for tile in np.concatenate([positives, negatives])]))
    positive_activations = all_filter_activations(extractor, loaded.preprocessing, positives, NUM_VIEWS)
    wide_activations = all_filter_activations(extractor, loaded.preprocessing, positives, NUM_VIEWS, views="wide")
    negative_activations = all_filter_activations(extractor, loaded.preprocessing, negatives, NUM_VIEWS)
    grey = all_filter_activations(extractor, loaded.preprocessing, np.full_like(positives[:1], 0.5), NUM_VIEWS)[0]
    own_negative = negative_activations[np.arange(len(ids)), ids]
    if all("status" in entry for entry in entries):  # the build's own check (silence.py)
        firing = np.array([entry["status"] != "silent" for entry in entries])
    else:
        firing = positive_activations[np.arange(len(ids)), ids] > 0
    return LayerQuality(
        layer=layer["name"], num_filters=len(ids), flat_tiles=flat,
        self_recognition=self_recognition(positive_activations, ids),
        negative_check=float(np.mean(own_negative < grey[ids])), chance=1 / len(ids),
        num_silent=int(np.sum(~firing)),
        self_recognition_firing=self_recognition(positive_activations, ids, firing) if firing.any() else None,
        self_recognition_wide=self_recognition(wide_activations, ids),
        self_recognition_firing_wide=self_recognition(wide_activations, ids, firing) if firing.any() else None)


def evaluate(site: Path, filters: str | None = None) -> list[LayerQuality]:
    record = collect(site)
    run = directory.read_run(site)
    model = run["model"]
    declared = model.get("preprocessing_declared")
    choice = PreprocessingChoice(**{key: tuple(value) if isinstance(value, list) else value
                                    for key, value in declared.items()}) if declared else None
    loaded = load_model(model.get("source", model["name"]), model.get("weights_option", "default"), choice,
                        model.get("unsafe_deserialization", False))
    results = []
    for layer in record["layers"]:
        if not layer["filters"]:
            continue
        ids = parse_filter_ids(filters, layer["num_filters"], layer["name"]) if filters else None
        results.append(evaluate_layer(loaded, layer, site, record["method"]["target"], ids))
    atlas_records.write_evaluation(site, {
        "backend": backends.BACKEND, "method": record["method"], "num_views": NUM_VIEWS,
        "layers": [asdict(result) for result in results]})
    return results


def table(results: list[LayerQuality]) -> str:
    lines = [f"{'layer':<24} {'filters':>7} {'flat tiles':>10} {'negative check':>15} {'chance':>7} {'silent':>7} "
             f"{'self-recognition: all':>22} {'firing':>7} {'wide: all':>10} {'firing':>7}"]
    for result in results:
        lines.append(f"{result.layer:<24} {result.num_filters:>7} {result.flat_tiles:>10.1%} "
                     f"{result.negative_check:>15.1%} {result.chance:>7.1%} {result.num_silent:>7} "
                     f"{result.self_recognition:>22.1%} {_share(result.self_recognition_firing):>7} "
                     f"{result.self_recognition_wide:>10.1%} {_share(result.self_recognition_firing_wide):>7}")
    return "\n".join(lines)


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"
