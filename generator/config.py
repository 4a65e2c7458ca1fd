"""Settings of a run: frozen dataclasses, read from TOML and overridden by command-line options.

``AtlasConfig`` holds what the user asked for (``None`` = not given). ``resolve`` turns it into a
``RunSettings`` with every value decided: the profile's defaults filled in, explicit options winning.
"""

from __future__ import annotations

import dataclasses
import tomllib
import typing
from dataclasses import dataclass
from pathlib import Path

from generator.analysis.dataset_examples import ExampleSettings
from generator.defaults import DEFAULT_MODEL
from generator.errors import AtlasError
from generator.model import onednn
from generator.model.models import ModelSource
from generator.optimisation.methods import DEFAULT_METHOD, METHODS, PROFILE_NAMES, MethodSettings, with_layer_steps
from generator.optimisation.objectives import DEFAULT_OBJECTIVE, OBJECTIVES
from generator.options import (
    _positive,
    parse_batch_size,
    parse_display_channels,
    parse_full_steps,
    parse_preprocessing,
    parse_size,
    read_labels,
    resolve_contrast,
    resolve_examples,
    resolve_facets,
    split_layers,
)

PROFILES = ("auto", *PROFILE_NAMES)
PRECISIONS = ("auto", "float32", "mixed")


def auto_size(receptive_field: int, largest: int = 224) -> int:
    """Twice the receptive field, in multiples of 16, within 64..``largest`` pixels: block1 filters that see 5
    pixels need no 200-pixel image."""
    return int(min(largest, max(64, -(-2 * receptive_field // 16) * 16)))


@dataclass(frozen=True)
class AtlasConfig:
    """What the user asked for; ``None`` means "not given, use the default"."""

    model: str | None = None
    weights: str | None = None
    layers: tuple[str, ...] | None = None
    filters: str | None = None
    method: str | None = None
    steps: int | None = None
    full_steps: str | dict | None = None  # "layer=steps,...": the full profile's steps per layer, from convergence
    size: int | str | None = None
    learning_rate: float | None = None
    contrast: float | None = None  # fourier: each image's spread before the sigmoid, fixed; 0: free
    batch_size: int | str | None = None
    seed: int | None = None
    out: str | None = None
    profile: str | None = None
    precision: str | None = None
    examples: str | None = None  # a folder, "shipped" (default) or "none"
    num_examples: int | None = None
    objective: str | None = None  # channel (default) | neuron
    facets: int | None = None  # images per filter with a diversity term: 4 in full, 0 (off) in preview
    display_channels: str | None = None  # "3,2,1": the bands shown as RGB (1-based) for images of other than 1 or 3
    preprocessing: str | None = None  # caffe | tf | torch | unit | none: replaces the model's own
    input_range: str | None = None  # "LOW:HIGH": the pixel range the model reads
    mean: str | None = None  # "m1,m2,m3": per channel, in the input range's units
    std: str | None = None
    unsafe_deserialization: bool | None = None  # load a model file's Lambda layers (they may run any code)
    labels: str | None = None  # a text file, one class name a line: the names of a Dense layer's units

    def merged_with(self, overrides: AtlasConfig) -> AtlasConfig:
        """This config with every value that ``overrides`` gives replaced."""
        given = {key: value for key, value in dataclasses.asdict(overrides).items() if value is not None}
        other_model = overrides.model not in (None, self.model or DEFAULT_MODEL)
        other_method = overrides.method not in (None, self.method or DEFAULT_METHOD)
        if (other_model or other_method) and overrides.full_steps is None:
            given["full_steps"] = None  # per-layer steps are measured for one model and method: not for others
        return dataclasses.replace(self, **given)


# The config file's keys are AtlasConfig's fields, and each is read as its field's type says.
CONFIG_KEYS = tuple(field.name for field in dataclasses.fields(AtlasConfig))
_FIELD_TYPES = typing.get_type_hints(AtlasConfig)


@dataclass(frozen=True)
class RunSettings:
    """Every decision of a run, taken: the input of ``atlas.build``."""

    source: ModelSource
    layer_patterns: tuple[str, ...] | None  # None: the model's default layers
    filters: str
    num_filters_limit: int | None
    method: MethodSettings
    max_auto_size: int
    batch_size: int | None  # None: decided per layer from its size
    out: Path
    profile: str
    profile_reason: str = ""
    precision_reason: str = ""
    examples: ExampleSettings | None = ExampleSettings()  # None: no dataset examples
    num_facets: int = 0  # facets per filter (facets.py); 0: none
    display_channels: tuple[int, ...] = (0, 1, 2)  # 0-based; checked against the model's channels when it loads
    labels: tuple[str, ...] | None = None  # class names of Dense layers' units, in unit order
    size_given: bool = False  # --size was given (a fixed-size model refuses another), not the method's default
    onednn: onednn.Choice | None = None  # TensorFlow's oneDNN, as the command decided it before loading TensorFlow
    full_steps: tuple[tuple[str, int], ...] = ()  # the full profile's steps per layer (layers not named: the method's)
    steps_given: bool = False  # --steps was given: it holds for every layer
    contrast_given: bool = False  # --contrast was given: it holds for every layer

    def steps_for(self, layer: str) -> int:
        """A layer's steps: the full profile's per-layer steps where the table names it and --steps was not
        given, else the run's."""
        if self.profile == "full" and not self.steps_given:
            return dict(self.full_steps).get(layer, self.method.steps)
        return self.method.steps

    def method_for(self, layer: str, size: int) -> MethodSettings:
        """The run's method at a layer's image size and steps (``methods.with_layer_steps``: fewer steps than the
        full profile's fix a free contrast)."""
        method = dataclasses.replace(self.method, size=size)
        steps = self.steps_for(layer)
        return method if steps == method.steps else with_layer_steps(method, steps, self.contrast_given)


def load_toml(path: str | Path) -> AtlasConfig:
    """Read a config file whose keys are the ``atlas build`` options (``learning_rate``, ``batch_size``, ...)."""
    return config_from_table(read_toml(path), f"Config file '{path}'")


def read_toml(path: str | Path) -> dict:
    """A TOML file as a dict, or one line saying why it cannot be read."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AtlasError(f"Config file '{path}' not found.") from None
    except (OSError, UnicodeDecodeError) as error:
        raise AtlasError(f"Config file '{path}' cannot be read: {error}.") from None
    except tomllib.TOMLDecodeError as error:
        raise AtlasError(f"Config file '{path}' is not valid TOML: {error}.") from None


def config_from_table(data: dict, where: str) -> AtlasConfig:
    """A table of ``atlas build`` keys (a whole file, or one ``[[models]]`` table: ``where`` names it) as an
    AtlasConfig; unknown keys are refused."""
    unknown = sorted(set(data) - set(CONFIG_KEYS))
    if unknown:
        raise AtlasError(f"{where} has unknown keys {', '.join(unknown)}; known keys: {', '.join(CONFIG_KEYS)}.")
    return AtlasConfig(**{key: _from_toml(key, value) for key, value in data.items()})


def _from_toml(key: str, value):
    """A TOML value as the AtlasConfig field wants it: layer lists split, text fields as text; numbers are
    checked when the settings are resolved."""
    kind = _FIELD_TYPES[key]
    if kind == tuple[str, ...] | None:
        return split_layers(value)
    if kind == str | dict | None:
        return value
    if kind == str | None:
        return value if isinstance(value, list) else str(value)  # lists: per-channel values (mean, std)
    return value


def resolve(config: AtlasConfig, has_gpu: bool, fast_bfloat16: bool = False) -> RunSettings:
    """Fill in defaults: the method's, then the profile's, then the explicitly given options.

    ``fast_bfloat16``: the device computes bfloat16 natively (``backends.fast_bfloat16``), so ``--precision auto``
    (the default) means ``mixed``; otherwise ``float32``."""
    method = config.method or DEFAULT_METHOD
    if method not in METHODS:
        raise AtlasError(f"Unknown method '{method}'; choose one of: {', '.join(METHODS)}.")
    profile = config.profile or "auto"
    if profile not in PROFILES:
        raise AtlasError(f"Unknown profile '{profile}'; choose one of: {', '.join(PROFILES)}.")
    reason = f"--profile {profile} was asked for"
    if profile == "auto":
        profile = "full" if has_gpu else "preview"
        reason = "a GPU is visible" if has_gpu else "no GPU is visible, so a full atlas would be slow"
    defaults = METHODS[method].profiles[profile]
    steps = _positive("steps", config.steps) if config.steps is not None else defaults.settings.steps
    size = parse_size(config.size) if config.size is not None else defaults.settings.size
    learning_rate = (_positive("learning_rate", config.learning_rate, float) if config.learning_rate is not None
                     else defaults.settings.learning_rate)
    contrast = resolve_contrast(config.contrast, method, defaults.settings.contrast)
    seed = config.seed if config.seed is not None else 0
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise AtlasError(f"--seed must be a whole number of 0 or more, got {seed!r}.")
    precision = config.precision or "auto"
    if precision not in PRECISIONS:
        raise AtlasError(f"Unknown precision '{precision}'; choose one of: {', '.join(PRECISIONS)}.")
    precision_reason = f"--precision {precision} was asked for"
    if precision == "auto":
        precision = "mixed" if fast_bfloat16 else "float32"
        precision_reason = ("the device computes bfloat16 natively" if fast_bfloat16
                            else "the device has no bfloat16 measured faster than float32")
    objective = config.objective or DEFAULT_OBJECTIVE
    if objective not in OBJECTIVES:
        raise AtlasError(f"Unknown objective '{objective}'; choose one of: {', '.join(OBJECTIVES)}.")
    return RunSettings(
        source=ModelSource(config.model or DEFAULT_MODEL, config.weights or "default", parse_preprocessing(config),
                           bool(config.unsafe_deserialization)),
        layer_patterns=config.layers,
        filters=config.filters or "all",
        num_filters_limit=None if config.filters is not None else defaults.num_filters,
        max_auto_size=defaults.max_auto_size,
        method=dataclasses.replace(defaults.settings, steps=steps, learning_rate=learning_rate, size=size, seed=seed,
                                   precision=precision, objective=objective, contrast=contrast),
        batch_size=parse_batch_size(config.batch_size),
        out=Path(config.out or "site"),
        profile=profile,
        profile_reason=reason,
        precision_reason=precision_reason,
        examples=resolve_examples(config.examples, config.num_examples),
        num_facets=resolve_facets(config.facets, profile),
        display_channels=parse_display_channels(config.display_channels),
        size_given=config.size is not None and size != 0,
        labels=read_labels(config.labels) if config.labels is not None else None,
        full_steps=parse_full_steps(config.full_steps),
        steps_given=config.steps is not None,
        contrast_given=config.contrast is not None,
    )


