"""Which filters respond to no pattern found.

A filter is **silent** when its own image does not make it fire (its pre-activation, the layer's output before a
fused ReLU, stays at or below zero at every position of its map, border trimmed, on its positive image) and a flat
image, of the colour the model's preprocessing maps to zero, excites it more, on the mean over the map, than every
positive image of its work unit, its own included. Such a filter is inhibited by any structure: the optimiser can
only approach the absence of a pattern, and its "image" says nothing about it (docs/quality.md#silent-filters).

The check reads the optimised images as the optimiser made them (in [0, 1] image units, before a tile crops or
standardises them), through the model's preprocessing and the layer's pre-activation, with no random views: one
forward pass per unit, next to 2 x steps passes of optimisation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from generator.model.preprocessing import Preprocessing
from generator.model.quiet_keras import keras
from generator.optimisation.objectives import mean_of_every_filter, trimmed

ops = keras.ops


@dataclass(frozen=True)
class Response:
    """The evidence for one filter: its highest pre-activation on its own image (``peak``), and its mean
    pre-activation on its own image, the highest mean on any positive image of its unit, and on the flat image."""

    peak: float
    own: float
    best: float
    flat: float

    @property
    def silent(self) -> bool:
        return self.peak <= 0 and self.flat > self.best


def flat_colour(preprocessing: Preprocessing, num_channels: int) -> np.ndarray:
    """The pixel, in [0, 1], that ``preprocessing`` maps to zero in every channel (clipped to [0, 1]): ImageNet's
    mean colour for caffe and torch, mid-grey for tf, black for unit."""
    mean = np.zeros(num_channels) if preprocessing.mean is None else np.asarray(preprocessing.mean, float)
    zero = (mean - preprocessing.offset) / preprocessing.scale  # dividing by std keeps zero at zero
    return np.clip(np.broadcast_to(zero, (num_channels,)), 0.0, 1.0).astype(np.float32)


def means_and_peaks(extractor, preprocessing: Preprocessing, images: np.ndarray,
                    batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, filters) twice: each image's mean and highest activation of every filter of the extractor's layer,
    border trimmed (a Dense layer's units: their value, twice)."""
    means, peaks = [], []
    for start in range(0, len(images), batch_size):
        outputs = extractor(preprocessing(ops.convert_to_tensor(images[start:start + batch_size])), training=False)
        means.append(ops.convert_to_numpy(mean_of_every_filter(outputs)))
        peak = outputs if len(outputs.shape) == 2 else ops.max(trimmed(outputs), axis=(1, 2))
        peaks.append(ops.convert_to_numpy(ops.cast(peak, "float32")))
    return np.concatenate(means), np.concatenate(peaks)


def responses(extractor, preprocessing: Preprocessing, images: np.ndarray, filter_ids: list[int],
              batch_size: int) -> list[Response]:
    """One ``Response`` per filter of a unit; ``images`` (N, H, W, C) are its positive images in filter order."""
    images = np.asarray(images, np.float32)
    flat = np.broadcast_to(flat_colour(preprocessing, images.shape[-1]), images.shape[1:])[None]
    means, peaks = means_and_peaks(extractor, preprocessing, images, batch_size)
    on_images, on_own = means[:, filter_ids], peaks[:, filter_ids]
    on_flat = means_and_peaks(extractor, preprocessing, np.ascontiguousarray(flat), 1)[0][0, filter_ids]
    return [Response(peak=float(on_own[index, index]), own=float(on_images[index, index]),
                     best=float(on_images[:, index].max()), flat=float(on_flat[index]))
            for index in range(len(filter_ids))]
