"""How far each filter's weights moved between two checkpoints: one minus the cosine of its kernels.

The only part of a comparison that needs the models (compare.py reads everything else from the two sites). A
filter's kernel is every weight of its layer that feeds that filter alone (a Conv2D's ``kernel[..., f]``, a
SeparableConv2D's pointwise column, a Dense layer's column, a DepthwiseConv2D's channel), biases left out: they
shift a response, they do not change what it looks for. A chosen layer without weights of its own (an activation,
a batch normalisation) is measured at the layer with weights that it reads through elementwise layers.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from generator.errors import AtlasError
from generator.model.models import load_model
from generator.model.quiet_keras import keras


class ModelSource(NamedTuple):
    """What `atlas build` was given to load a checkpoint (run.json's model record), or a user's override."""

    model: str
    weights: str = "default"
    unsafe_deserialization: bool = False


def kernel_changes(source_a: ModelSource, source_b: ModelSource, layers: list[tuple[str, int]]
                   ) -> dict[str, np.ndarray]:
    """Per (layer name, number of filters): each filter's 1 - cosine of its kernels in the two checkpoints."""
    loaded_a, loaded_b = (load_model(source.model, source.weights, unsafe=source.unsafe_deserialization)
                          for source in (source_a, source_b))
    changes = {}
    for name, num_filters in layers:
        kernels_a = filter_kernels(loaded_a, name, num_filters)
        kernels_b = filter_kernels(loaded_b, name, num_filters)
        if kernels_a is None or kernels_b is None or kernels_a.shape != kernels_b.shape:
            continue
        changes[name] = one_minus_cosine(kernels_a, kernels_b)
    return changes


def one_minus_cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per column of two (weights, filters) matrices: 1 - their cosine; 0 where both are zero, 1 where one is."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    norms = np.linalg.norm(a, axis=0) * np.linalg.norm(b, axis=0)
    both_zero = (np.linalg.norm(a, axis=0) == 0) & (np.linalg.norm(b, axis=0) == 0)
    cosine = np.where(norms > 0, (a * b).sum(axis=0) / np.maximum(norms, 1e-300), 0.0)
    return np.where(both_zero, 0.0, 1.0 - np.clip(cosine, -1.0, 1.0))


def filter_kernels(loaded, name: str, num_filters: int) -> np.ndarray | None:
    """(weights, filters): each filter's kernel as a column, or None where no layer with weights is found."""
    try:
        layer = loaded.get_layer(name)
    except ValueError:
        raise AtlasError(f"Layer '{name}' is not in model {loaded.name}: compare two checkpoints of one model "
                         f"(the sites name the model files they were built from).") from None
    for _ in range(16):  # through elementwise layers to the layer whose weights make the filters
        columns = _columns(layer, num_filters)
        if columns is not None:
            return columns
        parents = layer._inbound_nodes[0].parent_nodes if layer._inbound_nodes else []
        if len(parents) != 1:
            return None
        layer = parents[0].operation
    return None


def _columns(layer, num_filters: int) -> np.ndarray | None:
    weights = [np.asarray(variable.numpy(), np.float64) for variable in layer.trainable_weights
               if len(variable.shape) >= 2]
    if isinstance(layer, keras.layers.SeparableConv2D):  # its depthwise kernel is shared by every filter
        weights = [np.asarray(layer.pointwise_kernel.numpy(), np.float64)]
    elif isinstance(layer, keras.layers.DepthwiseConv2D):
        weights = [weight.reshape(-1, weight.shape[-2] * weight.shape[-1]) for weight in weights]
    columns = [weight.reshape(-1, num_filters) for weight in weights if weight.shape[-1] == num_filters]
    return np.concatenate(columns, axis=0) if columns else None
