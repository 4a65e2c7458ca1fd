"""The layers of a model that have filters: listing, selection by name or glob, sizes and receptive fields."""

from __future__ import annotations

import difflib
import fnmatch
from dataclasses import dataclass

from generator.errors import AtlasError
from generator.model.models import LoadedModel
from generator.model.quiet_keras import keras

SPATIAL_LAYER_TYPES = ("Conv2D", "SeparableConv2D", "DepthwiseConv2D", "Conv2DTranspose")
# A Dense layer's units (a classifier's classes) are filters without a map: one value each, over the whole image.
CLASS_LAYER_TYPES = ("Dense",)
# The default atlas of the embedded model: the last conv of each block. Other models default to every conv layer.
DEFAULT_LAYERS = {"vgg16-hed": ("block1_conv2", "block2_conv2", "block3_conv3", "block4_conv3", "block5_conv3")}


@dataclass(frozen=True)
class LayerInfo:
    name: str
    kind: str
    num_filters: int
    output_size: tuple[int, int]
    receptive_field: int
    fused_activation: str


def activation_name(layer) -> str:
    """The name of the activation a layer fuses (``relu``, ...), ``linear`` where it has none."""
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", "linear") if activation is not None else "linear"


def _inbound_layers(layer) -> list:
    nodes = getattr(layer, "_inbound_nodes", [])
    if not nodes:
        return []
    return [tensor._keras_history.operation for tensor in nodes[0].input_tensors]


def receptive_fields(model) -> dict[str, int]:
    """Receptive field in input pixels of every layer (largest over all paths), from kernels and strides."""
    fields: dict[str, tuple[int, int]] = {}  # name -> (receptive field, jump = product of strides)
    for layer in model.layers:
        parents = [fields[parent.name] for parent in _inbound_layers(layer) if parent.name in fields]
        field, jump = (max(f for f, _ in parents), max(j for _, j in parents)) if parents else (1, 1)
        kernel = getattr(layer, "kernel_size", None) or getattr(layer, "pool_size", None)
        if kernel is not None:
            strides = getattr(layer, "strides", None) or kernel
            dilation = getattr(layer, "dilation_rate", (1, 1)) or (1, 1)
            field += (int(kernel[0]) - 1) * int(dilation[0]) * jump
            jump *= int(strides[0])
        fields[layer.name] = (field, jump)
    return {name: field for name, (field, _) in fields.items()}


def spatial_layers(loaded: LoadedModel, size: int = 224) -> list[LayerInfo]:
    """Every conv-like layer (4-D output: height, width, filters) and every Dense layer (its units: output size
    1x1, the whole image its receptive field), with its output size at ``size`` pixels."""
    model = loaded.model
    size_hw = loaded.fixed_size or (size, size)
    candidates = [layer for layer in model.layers if type(layer).__name__ != "InputLayer" and hasattr(layer, "output")
                  and (len(layer.output.shape) == 4 or (type(layer).__name__ in CLASS_LAYER_TYPES
                                                        and len(layer.output.shape) == 2))]
    if not candidates:
        return []
    shapes = output_shapes(model, [layer.output for layer in candidates], size_hw)
    fields = receptive_fields(model)
    return [
        LayerInfo(name=loaded.display_name(layer), kind=type(layer).__name__, num_filters=int(shape[-1]),
                  output_size=(int(shape[1]), int(shape[2])) if len(shape) == 4 else (1, 1),
                  receptive_field=fields.get(layer.name, 1) if len(shape) == 4 else max(size_hw),
                  fused_activation=activation_name(layer))
        for layer, shape in zip(candidates, shapes)
    ]


def output_size_at(loaded: LoadedModel, layer_name: str, size: int) -> tuple[int, int]:
    """(height, width) of a layer's output for a size x size input."""
    shape = output_shapes(loaded.model, [loaded.get_layer(layer_name).output], (size, size))[0]
    return (int(shape[1]), int(shape[2])) if len(shape) == 4 else (1, 1)


def select_layers(loaded: LoadedModel, patterns: tuple[str, ...] | None, size: int = 224) -> list[LayerInfo]:
    """Layers matching names or globs, in model order; an unknown name lists close matches.

    Without patterns: the model's default layers, else every conv layer."""
    spatial = spatial_layers(loaded, size)
    if patterns is None:
        patterns = DEFAULT_LAYERS.get(loaded.name) or tuple(_conv_names(spatial))
    by_name = {info.name: info for info in spatial}
    all_names = [loaded.display_name(layer) for layer in loaded.model.layers]
    chosen: list[str] = []
    for pattern in patterns:
        if any(character in pattern for character in "*?["):
            matches = [name for name in by_name if fnmatch.fnmatchcase(name, pattern)]
            if not matches:
                raise AtlasError(f"No conv layer of {loaded.name} matches '{pattern}'. "
                                 f"Conv layers: {_short_list(_conv_names(spatial))}.")
        elif pattern in by_name:
            matches = [pattern]
        elif pattern in all_names:
            raise AtlasError(f"Layer '{pattern}' of {loaded.name} has no spatial filters (its output is not "
                             f"height x width x filters). Conv layers: {_short_list(_conv_names(spatial))}.")
        else:
            close = difflib.get_close_matches(pattern, list(by_name), n=5, cutoff=0.5)
            hint = f" Close matches: {', '.join(close)}." if close else ""
            raise AtlasError(f"Layer '{pattern}' not found in {loaded.name}.{hint} "
                             f"Conv layers: {_short_list(_conv_names(spatial))}. `atlas layers` lists them all.")
        chosen += [name for name in matches if name not in chosen]
    order = {info.name: index for index, info in enumerate(spatial)}
    return [by_name[name] for name in sorted(chosen, key=order.__getitem__)]


def _conv_names(spatial: list[LayerInfo]) -> list[str]:
    names = [info.name for info in spatial if info.kind in SPATIAL_LAYER_TYPES]
    return names or [info.name for info in spatial]


def _short_list(names: list[str], limit: int = 12) -> str:
    return ", ".join(names[:limit]) + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def layer_calls(model, kinds: tuple[str, ...] | None = None) -> list:
    """The model's own layer calls (Keras nodes), inputs first, optionally only those of layers of ``kinds``
    (class names). Each node knows its layer (``node.operation``) and its tensors in this graph, which a layer's
    ``.input``/``.output`` do not once the layer is shared with another model (folding.py shares layers)."""
    depths = sorted(model._nodes_by_depth, reverse=True)
    nodes = [node for depth in depths for node in model._nodes_by_depth[depth]
             if type(node.operation).__name__ != "InputLayer"]
    return [node for node in nodes if kinds is None or type(node.operation).__name__ in kinds]


def output_shapes(model, tensors: list, size_hw: tuple[int, int]) -> list[tuple]:
    """The shapes of ``tensors`` (symbolic tensors of ``model``'s graph) for one image of ``size_hw`` pixels."""
    if not tensors:
        return []
    probe = keras.Model(model.inputs, tensors)
    specs = probe.compute_output_spec(keras.KerasTensor((1, *size_hw, model.inputs[0].shape[-1])))
    return [tuple(spec.shape) for spec in (specs if isinstance(specs, (list, tuple)) else [specs])]
