"""Fold inference-mode batch normalisation into the convolution before it.

A ``BatchNormalization`` layer at inference is a per-channel affine map, ``y = x * scale + shift``. Where it
follows a convolution whose output nothing else reads, the map can move into the convolution's kernel and bias,
and the normalisation layer becomes an identity. The model computes the same function (to float rounding) with
two passes over every feature map fewer, forward and backward: Xception has a batch normalisation after each of
its 40 convolutions, and on a CPU those passes are memory-bound time that does no FLOPs.
"""

from __future__ import annotations

import numpy as np

from generator.model.layers import activation_name
from generator.model.quiet_keras import keras

FOLDABLE = (keras.layers.Conv2D, keras.layers.SeparableConv2D, keras.layers.DepthwiseConv2D)


class FoldedAway(keras.layers.Layer):
    """Stands where a folded batch normalisation was: passes its input through (and takes the same arguments)."""

    def call(self, inputs, training=None, mask=None):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape


def fold_batch_norms(model):
    """A copy of ``model`` with every foldable (convolution, batch normalisation) pair folded; ``model`` itself
    when there is none. The copy computes in the same dtype policy as the layers it replaces."""
    pairs = foldable_pairs(model)
    if not pairs:
        return model
    folded_convolutions = {id(convolution): _folded(convolution, normalisation)
                           for convolution, normalisation in pairs}
    identities = {id(normalisation) for _, normalisation in pairs}

    def clone(layer):
        if id(layer) in folded_convolutions:
            return folded_convolutions[id(layer)]
        if id(layer) in identities:
            return FoldedAway(name=layer.name)
        return layer  # everything else is shared, weights and all

    return keras.models.clone_model(model, clone_function=clone)


def foldable_pairs(model) -> list[tuple]:
    """(convolution, batch normalisation) pairs of ``model`` where the normalisation reads only the convolution,
    is its only reader inside the model, normalises the channel axis and both are used once."""
    inside = {id(layer) for layer in model.layers}
    pairs = []
    for layer in model.layers:
        if not isinstance(layer, keras.layers.BatchNormalization) or len(layer._inbound_nodes) != 1:
            continue
        parents = layer._inbound_nodes[0].parent_nodes
        if len(parents) != 1:
            continue
        convolution = parents[0].operation
        if (not isinstance(convolution, FOLDABLE) or id(convolution) not in inside
                or len(convolution._inbound_nodes) != 1 or activation_name(convolution) != "linear"
                or convolution.data_format != "channels_last" or layer.axis not in (-1, 3)):
            continue
        readers = [node.operation for node in convolution._outbound_nodes if id(node.operation) in inside]
        if readers == [layer]:
            pairs.append((convolution, layer))
    return pairs


def _weights_by_name(layer) -> dict[str, np.ndarray]:
    """The layer's variables in float64, by their own name (``kernel``, ``gamma``, ``moving_mean``, ...)."""
    return {_name(variable): np.asarray(variable.numpy(), np.float64) for variable in layer.weights}


def _name(variable) -> str:
    return variable.path.rsplit("/", 1)[-1]


def _scale_and_shift(normalisation) -> tuple[np.ndarray, np.ndarray]:
    weights = _weights_by_name(normalisation)
    mean, variance = weights["moving_mean"], weights["moving_variance"]
    gamma = weights.get("gamma", np.ones_like(mean))
    beta = weights.get("beta", np.zeros_like(mean))
    scale = gamma / np.sqrt(variance + normalisation.epsilon)
    return scale, beta - mean * scale


def _folded(convolution, normalisation):
    """A new convolution with the normalisation's scale in its kernel and its shift in a bias."""
    scale, shift = _scale_and_shift(normalisation)
    config = dict(convolution.get_config(), use_bias=True)
    depthwise = isinstance(convolution, keras.layers.DepthwiseConv2D)
    # the kernel whose last axes are the output channels: Keras names it "kernel" in Conv2D and DepthwiseConv2D
    output_kernel = "pointwise_kernel" if isinstance(convolution, keras.layers.SeparableConv2D) else "kernel"
    old = _weights_by_name(convolution)
    bias = old.get("bias", 0.0) * scale + shift
    layer = type(convolution).from_config(config)
    layer.build(convolution.input.shape)
    values = []
    for variable in layer.weights:
        name = _name(variable)
        if name == "bias":
            values.append(bias)
        elif name == output_kernel and depthwise:  # (height, width, in, multiplier): channel in * multiplier + m
            values.append(old[name] * scale.reshape(old[name].shape[2:]))
        elif name == output_kernel:
            values.append(old[name] * scale)
        else:
            values.append(old[name])
    layer.set_weights([value.astype("float32") for value in values])
    return layer
