"""Facets: K images per filter that each excite it and differ from one another.

A filter that responds to several things (a dog's face from the front and from the side) shows one of them in
its main image. Facets optimise K images of the filter together, each started from its own random image, with
a diversity term (Olah et al., Distill 2017, "Feature Visualization", diversity): per image, its activation minus
``weight`` times the mean cosine similarity of its Gram matrix (the style of the image, channel correlations)
to the other K - 1 images' Gram matrices at an earlier layer, scaled by its activation's size so that ``weight``
has no unit. All K x filters images are one batch tensor; the K images of a filter are consecutive in it. The
method's parameterisation, random views and update rule are the ones the main images use (methods.py).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from generator.model import backends
from generator.model.extractors import build_extractor, build_multi_extractor
from generator.model.models import LoadedModel
from generator.model.quiet_keras import keras
from generator.optimisation.batching import choose_batch_size
from generator.optimisation.methods import METHODS, MethodSettings
from generator.optimisation.objectives import OBJECTIVES, mean_activation
from generator.optimisation.optimizer import StepCore
from generator.store import directory
from generator.store.facet_records import read_facets, write_facet_tile, write_facets
from generator.store.layout import FACETS_FORMAT
from generator.store.tiles import displayed

ops = keras.ops
FACET_STREAM = 17  # facets' random generators: [seed, layer, filter, FACET_STREAM, k], apart from the main image's
DIVERSITY_WEIGHT = 1.5  # on tiny-cnn conv3, 128 steps: Grams further apart, every facet >= 80% of the main image


@dataclass(frozen=True)
class FacetResult:
    images: np.ndarray  # (filters, K, H, W, 3) as the method's parameterisation shows them
    activations: np.ndarray  # (filters, K): each image's objective at the end, without the diversity term


def facet_generator(seed: int, layer_key: int, filter_id: int, facet: int) -> np.random.Generator:
    return np.random.default_rng([seed, layer_key, filter_id, FACET_STREAM, facet])


def gram_similarities(features, num_facets: int):
    """Per image, the mean cosine similarity of its Gram matrix (channels x channels, over positions, of the
    centred features) to those of
    the other images of its group of ``num_facets`` consecutive images. (B, h, w, c) -> (B,)."""
    features = ops.cast(features, "float32")
    batch, channels = ops.shape(features)[0], ops.shape(features)[-1]
    flat = ops.reshape(features, (batch, -1, channels))
    flat = flat - ops.mean(flat, axis=1, keepdims=True)  # centred: the mean response alone makes Grams all alike
    grams = ops.reshape(ops.matmul(ops.transpose(flat, (0, 2, 1)), flat), (batch, -1))
    grams = grams / (ops.norm(grams, axis=1, keepdims=True) + 1e-8)
    groups = ops.reshape(grams, (-1, num_facets, ops.shape(grams)[-1]))
    similarity = ops.matmul(groups, ops.transpose(groups, (0, 2, 1)))  # (groups, K, K)
    others = ops.sum(similarity, axis=2) - ops.diagonal(similarity, axis1=1, axis2=2)
    return ops.reshape(others, (-1,)) / max(num_facets - 1, 1)


class FacetOptimizer:
    """Optimises the facets of ``filters_per_batch`` filters at a time: the main images' loop (``StepCore``) with
    the diversity term in the objective and ``num_facets`` images per filter."""

    def __init__(self, loaded: LoadedModel, layer: str, style_layer: str, settings: MethodSettings,
                 num_facets: int, filters_per_batch: int, layer_key: int = 0, weight: float = DIVERSITY_WEIGHT):
        self.settings, self.num_facets, self.filters_per_batch = settings, num_facets, filters_per_batch
        self.layer_key = layer_key
        preprocessing = loaded.preprocessing
        # One output when the style layer is the layer itself (the first convolution): a model's names are unique.
        extractor = build_multi_extractor(loaded, [layer] if style_layer == layer else [style_layer, layer],
                                          target=settings.target)
        of_maps = OBJECTIVES[settings.objective]

        def style_and_outputs(weights, images):
            outputs = backends.call_model(extractor, weights, preprocessing(images))
            outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
            return outputs[0], outputs[-1]

        def diverse(weights, images, filter_ids):
            style, outputs = style_and_outputs(weights, images)
            values = mean_activation(outputs, filter_ids, of_maps)
            similarity = gram_similarities(style, num_facets)
            return values - weight * similarity * ops.stop_gradient(ops.abs(values) + 1e-6)

        def measured(weights, images, filter_ids):  # the final image itself, as the main images are measured
            return mean_activation(style_and_outputs(weights, images)[1], filter_ids, of_maps)

        self.core = StepCore(settings, loaded.num_channels, extractor, diverse, measured)

    def run(self, filter_ids: list[int], start: np.ndarray | None = None) -> FacetResult:
        """The facets of ``filter_ids`` (at most ``filters_per_batch``); the batch is padded to its fixed size.
        ``start``: the padded batch's first parameters (``StepCore.run``), instead of random ones."""
        count, settings = len(filter_ids), self.settings
        padded = list(filter_ids) + [filter_ids[-1]] * (self.filters_per_batch - count)
        generators = [facet_generator(settings.seed, self.layer_key, filter_id, facet)
                      for filter_id in padded for facet in range(self.num_facets)]
        ids = list(np.repeat(np.asarray(padded, np.int32), self.num_facets))
        images, curve, _ = self.core.run(generators, ids, [1.0] * len(generators), curve=False, start=start)
        values = ops.convert_to_numpy(curve[-1])
        shape = (self.filters_per_batch, self.num_facets)
        return FacetResult(images.reshape(shape + images.shape[1:])[:count], values.reshape(shape)[:count])


def style_layer_for(model, layer: str) -> str:
    """The layer whose Gram matrices the diversity compares: the last convolution before ``layer`` (the layer
    itself where there is none)."""
    previous = layer
    for candidate in model.layers:
        if candidate.name == layer:
            return previous
        if hasattr(candidate, "kernel_size"):
            previous = candidate.name
    return layer


def facets_key(unit: directory.Unit, num_facets: int) -> str:
    text = json.dumps({"format": FACETS_FORMAT, "unit": unit.key, "facets": num_facets, "weight": DIVERSITY_WEIGHT},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def build(loaded: LoadedModel, plans, num_facets: int, out: Path, units=None, progress=None, stop=None,
          display_channels: tuple[int, ...] = (0, 1, 2)) -> int:
    """The facets of every unit of ``plans`` (or of ``units``, a shard's) without a current facet manifest:
    tiles ``tiles/<layer>/<id>-facet-<k>.png`` (and WebP thumbnails), then the manifest. Returns the filters
    done. Runs in this process, after the main images."""
    done = 0
    for plan in plans:
        todo = [unit for unit in plan.units if (units is None or unit in units)
                and (read_facets(out, unit.slug, unit.name) or {}).get("key") != facets_key(unit, num_facets)]
        if not todo:
            continue
        if progress is not None:
            progress.note(f"Facets: {sum(len(unit.filter_ids) for unit in todo)} filters of {plan.info.name}.")
        images_per_batch = choose_batch_size(build_extractor(loaded, plan.info.name, plan.method.target),
                                             plan.method.size, num_facets * len(todo[0].filter_ids),
                                             backends.gpu_available())
        filters_per_batch = max(1, min(len(todo[0].filter_ids), images_per_batch // num_facets))
        layer_key = directory.layer_key(loaded.name, plan.info.name, plan.method.key(), plan.method.size)
        optimizer = FacetOptimizer(loaded, plan.info.name, style_layer_for(loaded.model, plan.info.name),
                                   plan.method, num_facets, filters_per_batch, layer_key)
        tile = METHODS[plan.method.name].tile
        for unit in todo:
            if stop is not None and stop.requested:
                return done
            records = []
            for start in range(0, len(unit.filter_ids), filters_per_batch):
                ids = list(unit.filter_ids[start:start + filters_per_batch])
                result = optimizer.run(ids)
                for index, filter_id in enumerate(ids):
                    facets = []
                    for facet in range(num_facets):
                        path = write_facet_tile(out, unit.slug, filter_id, facet, displayed(
                            tile(result.images[index, facet], plan.method.size), display_channels))
                        value = float(result.activations[index, facet])
                        facets.append({"image": path, "thumbnail": str(Path(path).with_suffix(".webp")),
                                       "activation": float(f"{value:.5g}") if np.isfinite(value) else None})
                    records.append({"id": filter_id, "facets": facets})
            manifest = {"format": FACETS_FORMAT, "key": facets_key(unit, num_facets), "layer": unit.layer,
                        "filters": records}
            write_facets(out, unit.slug, unit.name, manifest)
            done += len(unit.filter_ids)
    return done
