"""The objectives, each a named function of a filter's (B, H, W) maps: ``channel``, the filter's mean activation
over its map, border trimmed (the tutorial trims 2 pixels a side); ``neuron``, the filter at the centre position
of its map only (one unit: what one position of the filter sees, its receptive field).

Batched, image ``b`` is scored on its own filter ``filter_ids[b]``, picked by a gather rather than by a one-hot
mask over all filters. The evaluation scores images with the trimmed mean.
"""

from __future__ import annotations

from generator.model.quiet_keras import keras

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


def centre_of_maps(maps):
    """Per image: its (H, W) map's value at the centre position (row H // 2, column W // 2)."""
    return ops.cast(maps[:, maps.shape[1] // 2, maps.shape[2] // 2], "float32")


OBJECTIVES = {"channel": mean_of_maps, "neuron": centre_of_maps}  # --objective: name -> (B, H, W) maps -> (B,)
DEFAULT_OBJECTIVE = "channel"


def mean_activation(outputs, filter_ids, of_maps=mean_of_maps):
    """Per image b: ``of_maps`` (the trimmed mean unless given) of ``outputs[b, :, :, filter_ids[b]]``, picked
    by gather; for a Dense layer's (B, units) output, unit ``filter_ids[b]``'s value."""
    if len(outputs.shape) == 2:
        return ops.cast(ops.take_along_axis(outputs, ops.reshape(filter_ids, (-1, 1)), axis=1)[:, 0], "float32")
    picked = ops.take_along_axis(outputs, ops.reshape(filter_ids, (-1, 1, 1, 1)), axis=3)
    return of_maps(picked[..., 0])


def mean_of_every_filter(outputs):
    """Per image: the trimmed mean of every filter's map, (B, C); a Dense layer's units as they are."""
    if len(outputs.shape) == 2:
        return ops.cast(outputs, "float32")
    return ops.mean(ops.cast(trimmed(outputs), "float32"), axis=(1, 2))
