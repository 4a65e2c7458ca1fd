"""The objective: a filter's mean activation over its map, border trimmed (the tutorial trims 2 pixels a side).

Batched, image ``b`` is scored on its own filter ``filter_ids[b]``, picked by a gather rather than by a one-hot
mask over all filters. The evaluation scores images with the same trimmed mean.
"""

from __future__ import annotations

from generator.quiet import keras

ops = keras.ops
BORDER = 2  # activation pixels trimmed on each side, where the map is larger than twice this


def trimmed(maps):
    """(B, H, W, ...) maps without their ``BORDER``-pixel edges, where they are large enough to lose them."""
    height, width = maps.shape[1], maps.shape[2]
    border = BORDER if min(height, width) > 2 * BORDER else 0
    return maps[:, border:height - border, border:width - border]


def mean_of_maps(maps):
    """Per image: the mean of its (H, W) activation map, border trimmed."""
    return ops.mean(ops.cast(trimmed(maps), "float32"), axis=(1, 2))


def mean_activation(outputs, filter_ids):
    """Per image b: the mean of ``outputs[b, :, :, filter_ids[b]]``, border trimmed, picked by gather; for a Dense
    layer's (B, units) output, unit ``filter_ids[b]``'s value."""
    if len(outputs.shape) == 2:
        return ops.cast(ops.take_along_axis(outputs, ops.reshape(filter_ids, (-1, 1)), axis=1)[:, 0], "float32")
    picked = ops.take_along_axis(outputs, ops.reshape(filter_ids, (-1, 1, 1, 1)), axis=3)
    return mean_of_maps(picked[..., 0])


def mean_of_every_filter(outputs):
    """Per image: the trimmed mean of every filter's map, (B, C); a Dense layer's units as they are."""
    if len(outputs.shape) == 2:
        return ops.cast(outputs, "float32")
    return ops.mean(ops.cast(trimmed(outputs), "float32"), axis=(1, 2))
