"""Which filters respond to no pattern found.

A filter is **silent** when its own image does not make it fire (its mean pre-activation, the layer's output
before a fused ReLU, on its positive image is <= 0) and a flat image, of the colour the model's preprocessing maps
to zero, excites it more than every positive image of its work unit, its own included. Such a filter is inhibited
by any structure: the optimiser can only approach the absence of a pattern, and its "image" says nothing about it
(docs/quality.md#silent-filters).

The check reads the optimised images as the optimiser made them (in [0, 1] image units, before a tile crops or
standardises them), through the model's preprocessing and the layer's pre-activation, with no random views: one
forward pass per unit, next to 2 x steps passes of optimisation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from generator.objectives import mean_of_every_filter
from generator.preprocessing import Preprocessing
from generator.quiet import keras

ops = keras.ops


@dataclass(frozen=True)
class Response:
    """The evidence for one filter: its mean pre-activation on its own image, its highest on any positive image
    of its unit, and on the flat image."""

    own: float
    best: float
    flat: float

    @property
    def silent(self) -> bool:
        return self.own <= 0 and self.flat > self.best


def flat_colour(preprocessing: Preprocessing, num_channels: int) -> np.ndarray:
    """The pixel, in [0, 1], that ``preprocessing`` maps to zero in every channel (clipped to [0, 1]): ImageNet's
    mean colour for caffe and torch, mid-grey for tf, black for unit."""
    mean = np.zeros(num_channels) if preprocessing.mean is None else np.asarray(preprocessing.mean, float)
    zero = (mean - preprocessing.offset) / preprocessing.scale  # dividing by std keeps zero at zero
    return np.clip(np.broadcast_to(zero, (num_channels,)), 0.0, 1.0).astype(np.float32)


def mean_activations(extractor, preprocessing: Preprocessing, images: np.ndarray, batch_size: int) -> np.ndarray:
    """(N, filters): each image's mean activation of every filter of the extractor's layer."""
    means = []
    for start in range(0, len(images), batch_size):
        outputs = extractor(preprocessing(ops.convert_to_tensor(images[start:start + batch_size])), training=False)
        means.append(ops.convert_to_numpy(ops.cast(mean_of_every_filter(outputs), "float32")))
    return np.concatenate(means)


def responses(extractor, preprocessing: Preprocessing, images: np.ndarray, filter_ids: list[int],
              batch_size: int) -> list[Response]:
    """One ``Response`` per filter of a unit; ``images`` (N, H, W, C) are its positive images in filter order."""
    images = np.asarray(images, np.float32)
    flat = np.broadcast_to(flat_colour(preprocessing, images.shape[-1]), images.shape[1:])[None]
    on_images = mean_activations(extractor, preprocessing, images, batch_size)[:, filter_ids]
    on_flat = mean_activations(extractor, preprocessing, np.ascontiguousarray(flat), 1)[0, filter_ids]
    return [Response(own=float(on_images[index, index]), best=float(on_images[:, index].max()),
                     flat=float(on_flat[index]))
            for index in range(len(filter_ids))]
