"""Feature extractors: a model from the input to the layer being looked at, and no further."""

from __future__ import annotations

import re

from generator.folding import fold_batch_norms
from generator.layers import activation_name
from generator.models import LoadedModel
from generator.quiet import keras

LEAK = 0.1  # slope of the leaky ReLU that stands in for a fused ReLU with target="leaky"


class LeakyOutput(keras.layers.Layer):
    """max(x, 0.1 x): a leaky ReLU written so that TensorFlow's graph optimiser does not try (and noisily fail)
    to fuse it with the convolution's bias."""

    def call(self, inputs):
        return keras.ops.maximum(inputs, LEAK * inputs)


def build_extractor(loaded: LoadedModel, layer_name: str, target: str = "output"):
    """A model from the input to ``layer_name`` and no further.

    Where the layer fuses an activation (``Conv2D(activation="relu")``), ``target`` picks what it returns:
    ``output`` the layer's own output; ``pre_activation`` the output before the activation, where the gradient of
    a filter that starts inactive is not zero; ``leaky`` a leaky ReLU (slope 0.1) in place of a fused ReLU: it
    rewards what the layer passes on, like ``output``, and keeps a gradient, like ``pre_activation``.
    """
    layer = loaded.model.get_layer(layer_name)
    outputs = _target_tensor(layer, target)
    suffix = "" if outputs is layer.output else f"_{target}"
    extractor = keras.Model(loaded.model.inputs, outputs, name=f"extract_{safe_name(layer_name)}{suffix}")
    return fold_batch_norms(extractor)


def build_multi_extractor(loaded: LoadedModel, layer_names: list[str], target: str = "pre_activation"):
    """One model with an output per layer (in the order given): one forward pass serves them all."""
    layers = [loaded.model.get_layer(name) for name in layer_names]
    return keras.Model(loaded.model.inputs, [_target_tensor(layer, target) for layer in layers],
                       name="extract_" + "_".join(safe_name(name) for name in layer_names)[:200])


def _target_tensor(layer, target: str):
    """The symbolic tensor ``target`` names for ``layer`` (see ``build_extractor``)."""
    activation = activation_name(layer)
    if target == "output" or activation == "linear" or (target == "leaky" and activation != "relu"):
        return layer.output
    config = dict(layer.get_config(), activation="linear", name=f"{layer.name}_pre_activation")
    linear = type(layer).from_config(config)
    outputs = linear(layer.input)
    linear.set_weights(layer.get_weights())
    if target == "leaky":
        outputs = LeakyOutput(name=f"{layer.name}_leaky")(outputs)
    return outputs


def safe_name(name: str) -> str:
    """A layer name as Keras accepts it in a model or layer name."""
    return re.sub(r"[^A-Za-z0-9_]", "_", name)
