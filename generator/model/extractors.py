"""Feature extractors: a model from the input to the layer being looked at, and no further."""

from __future__ import annotations

import re

from generator.model.folding import fold_batch_norms
from generator.model.layers import CLASS_LAYER_TYPES, activation_name
from generator.model.models import LoadedModel
from generator.model.quiet_keras import keras

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
    layer = loaded.get_layer(layer_name)
    outputs = target_tensor(layer, target)
    suffix = "" if outputs is layer.output else f"_{target}"
    extractor = keras.Model(loaded.model.inputs, outputs, name=f"extract_{safe_name(layer_name)}{suffix}")
    return with_scope_names(fold_batch_norms(extractor))


def build_multi_extractor(loaded: LoadedModel, layer_names: list[str], target: str = "pre_activation"):
    """One model with an output per layer (in the order given): one forward pass serves them all."""
    layers = [loaded.get_layer(name) for name in layer_names]
    return with_scope_names(keras.Model(loaded.model.inputs, [target_tensor(layer, target) for layer in layers],
                                        name="extract_" + "_".join(safe_name(name) for name in layer_names)[:200]))


def target_tensor(layer, target: str):
    """The symbolic tensor ``target`` names for ``layer`` (see ``build_extractor``)."""
    activation = activation_name(layer)
    if activation == "softmax" and type(layer).__name__ in CLASS_LAYER_TYPES:
        target = "pre_activation"  # a class's value before the softmax: the softmax couples every class
    if target == "output" or activation == "linear" or (target == "leaky" and activation != "relu"):
        return layer.output
    config = dict(layer.get_config(), activation="linear", name=f"{safe_name(layer.name)}_pre_activation")
    linear = type(layer).from_config(config)
    outputs = linear(layer.input)
    linear.set_weights(layer.get_weights())
    if target == "leaky":
        outputs = LeakyOutput(name=f"{safe_name(layer.name)}_leaky")(outputs)
    return outputs


def safe_name(name: str) -> str:
    """A layer name as Keras accepts it in a model or layer name."""
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


# TensorFlow opens a name scope per layer call, and a scope name must match this; JAX takes any name.
SCOPE_NAME = re.compile(r"[A-Za-z0-9_.\\/>-]*")


def with_scope_names(model):
    """``model`` itself where every layer's name is a valid TensorFlow scope name, else a copy in which the others
    are renamed (``safe_name`` plus their position, so two never clash), weights and all. Names such as ``a b``,
    ``<x>`` or ``Schicht_ü`` are fine in a model file; only the extractor's layers are renamed, never the pages."""
    renamed = {id(layer): f"{safe_name(layer.name)}_{index}" for index, layer in enumerate(model.layers)
               if not SCOPE_NAME.fullmatch(layer.name) and type(layer).__name__ != "InputLayer"}
    if not renamed:
        return model
    copies = []

    def clone(layer):
        if id(layer) not in renamed:
            return layer  # shared, weights and all
        copy = type(layer).from_config(dict(layer.get_config(), name=renamed[id(layer)]))
        copies.append((layer, copy))
        return copy

    cloned = keras.models.clone_model(model, clone_function=clone)
    for original, copy in copies:
        copy.set_weights(original.get_weights())
    return cloned
