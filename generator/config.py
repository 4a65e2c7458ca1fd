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

from generator.errors import AtlasError
from generator.model.dataset_images import SHIPPED_EXAMPLES
from generator.model.preprocessing import PRESETS, PreprocessingChoice
from generator.optimisation.methods import DEFAULT_METHOD, METHODS, PROFILE_NAMES, MethodSettings
from generator.optimisation.objectives import DEFAULT_OBJECTIVE, OBJECTIVES

PROFILES = ("auto", *PROFILE_NAMES)
PRECISIONS = ("auto", "float32", "mixed")
MIN_SIZE = 8
# A fixed contrast is at most this: at 4, about 46% of the pixels are already within 5% of black or white.
MAX_CONTRAST = 4.0


def auto_size(receptive_field: int, largest: int = 224) -> int:
    """Twice the receptive field, in multiples of 16, within 64..``largest`` pixels: block1 filters that see 5
    pixels need no 200-pixel image."""
    return int(min(largest, max(64, -(-2 * receptive_field // 16) * 16)))


@dataclass(frozen=True)
class ExampleSettings:
    """Dataset examples: which images, how many per filter and sign, at what size they are scanned."""

    source: str = SHIPPED_EXAMPLES  # a folder, or "shipped"
    num_examples: int = 9  # top-k (and bottom-k) per filter
    image_size: int = 224  # images are resized (short side) and centre-cropped to this square
    batch_size: int = 16
    save_every: int = 256  # images between saves of the running state (resume)


@dataclass(frozen=True)
class AtlasConfig:
    """What the user asked for; ``None`` means "not given, use the default"."""

    model: str | None = None
    weights: str | None = None
    layers: tuple[str, ...] | None = None
    filters: str | None = None
    method: str | None = None
    steps: int | None = None
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
        return dataclasses.replace(self, **given)


# The config file's keys are AtlasConfig's fields, and each is read as its field's type says.
CONFIG_KEYS = tuple(field.name for field in dataclasses.fields(AtlasConfig))
_FIELD_TYPES = typing.get_type_hints(AtlasConfig)


@dataclass(frozen=True)
class RunSettings:
    """Every decision of a run, taken: the input of ``atlas.build``."""

    model: str
    weights: str
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
    preprocessing: PreprocessingChoice | None = None  # None: the model's own (registry or detected)
    unsafe_deserialization: bool = False
    labels: tuple[str, ...] | None = None  # class names of Dense layers' units, in unit order
    size_given: bool = False  # --size was given (a fixed-size model refuses another), not the method's default


def split_layers(value: str | list | tuple) -> tuple[str, ...]:
    """Accept ``"a,b"`` or ``["a", "b"]``; strip blanks."""
    items = value.split(",") if isinstance(value, str) else list(value)
    names = tuple(str(item).strip() for item in items if str(item).strip())
    if not names:
        raise AtlasError("No layers given: pass --layers NAME[,NAME...] (names or globs such as 'block*_conv1').")
    return names


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
    if kind == str | None:
        return value if isinstance(value, list) else str(value)  # lists: per-channel values (mean, std)
    return value


def _positive(name: str, value, kind=int):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0 or (
            kind is int and int(value) != value):
        expected = "a whole number" if kind is int else "a number"
        raise AtlasError(f"--{name.replace('_', '-')} must be {expected} above 0, got {value!r}.")
    return kind(value)


def parse_size(value: int | str) -> int:
    """Pixels, or "auto" (0): sized per layer from its receptive field."""
    if value == "auto" or value == 0 and not isinstance(value, bool):
        return 0
    if isinstance(value, str):
        try:
            value = int(value)
        except ValueError:
            raise AtlasError(f"--size must be 'auto' or a whole number of pixels, got '{value}'.") from None
    size = _positive("size", value)
    if size < MIN_SIZE:
        raise AtlasError(f"--size must be at least {MIN_SIZE} pixels, got {size}.")
    return size


def parse_batch_size(value: int | str | None) -> int | None:
    if value is None or value == "auto":
        return None
    if isinstance(value, str):
        try:
            value = int(value)
        except ValueError:
            raise AtlasError(f"--batch-size must be 'auto' or a whole number above 0, got '{value}'.") from None
    return _positive("batch_size", value)


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
        model=config.model or "vgg16-hed",
        weights=config.weights or "default",
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
        unsafe_deserialization=bool(config.unsafe_deserialization),
        labels=read_labels(config.labels) if config.labels is not None else None,
        preprocessing=parse_preprocessing(config),
    )


def resolve_contrast(contrast: float | None, method: str, default: float) -> float:
    """The fourier image's fixed contrast: as given (0: free, growing with the steps), else the profile's."""
    if contrast is None:
        return default
    if isinstance(contrast, bool) or not isinstance(contrast, (int, float)) or not 0 <= contrast <= MAX_CONTRAST:
        raise AtlasError(f"--contrast must be a number from 0 (free) to {MAX_CONTRAST}, got {contrast!r}.")
    if method != "fourier" and contrast:
        raise AtlasError(f"--contrast is a setting of the fourier method, not of '{method}'.")
    return float(contrast)


FACETS_IN_FULL = 4


def resolve_facets(facets: int | None, profile: str) -> int:
    """Facets per filter: as given (0 turns them off; one facet would be the main image again), else 4 in the
    full profile and none in a preview."""
    if facets is None:
        return FACETS_IN_FULL if profile == "full" else 0
    if isinstance(facets, bool) or not isinstance(facets, int) or facets < 0 or facets == 1:
        raise AtlasError(f"--facets must be 0 (off) or a whole number of 2 or more, got {facets!r}.")
    return facets


def read_labels(path: str) -> tuple[str, ...]:
    """A labels file: one class name a line, in unit order (blank lines at the end ignored)."""
    try:
        lines = Path(path).expanduser().read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise AtlasError(f"--labels file '{path}' cannot be read ({getattr(error, 'strerror', None) or error}): "
                         f"give a text file with one class name a line.") from None
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise AtlasError(f"--labels file '{path}' is empty: give one class name a line.")
    return tuple(line.strip() for line in lines)


def parse_preprocessing(config: AtlasConfig) -> PreprocessingChoice | None:
    """--preprocessing, --input-range LOW:HIGH, --mean and --std (comma-separated, or lists in the config file)."""
    if config.preprocessing is None and config.input_range is None and config.mean is None and config.std is None:
        return None
    if config.preprocessing is not None and config.preprocessing not in PRESETS:
        raise AtlasError(f"Unknown preprocessing '{config.preprocessing}'; choose one of: {', '.join(PRESETS)}.")
    input_range = None
    if config.input_range is not None:
        numbers = _numbers("input_range", config.input_range, ":")
        if len(numbers) != 2 or numbers[0] >= numbers[1]:
            raise AtlasError(f"--input-range must be LOW:HIGH with LOW < HIGH, e.g. 0:255; got '{config.input_range}'.")
        input_range = (numbers[0], numbers[1])
    mean = _numbers("mean", config.mean) if config.mean is not None else None
    std = _numbers("std", config.std) if config.std is not None else None
    if std is not None and min(std) <= 0:
        raise AtlasError(f"--std values must be above 0, got '{config.std}'.")
    return PreprocessingChoice(config.preprocessing, input_range, mean, std)


def _numbers(name: str, value, separator: str = ",") -> tuple[float, ...]:
    items = value if isinstance(value, (list, tuple)) else str(value).split(separator)
    try:
        numbers = tuple(float(item) for item in items)
    except (TypeError, ValueError):
        numbers = ()
    if not numbers:
        example = "0:255" if separator == ":" else "0.485,0.456,0.406"
        raise AtlasError(f"--{name.replace('_', '-')} must be numbers such as {example}, got '{value}'.")
    return numbers


def parse_display_channels(value: str | list | None) -> tuple[int, ...]:
    """``3,2,1`` (1-based, as bands are usually numbered) -> (2, 1, 0); the default is the first three."""
    if value is None:
        return (0, 1, 2)
    try:
        numbers = tuple(int(part) for part in (value if isinstance(value, list) else str(value).split(",")))
    except ValueError:
        numbers = ()
    if len(numbers) != 3 or min(numbers) < 1:
        raise AtlasError(f"--display-channels must be three channel numbers from 1 up, e.g. 3,2,1; got '{value}'.")
    return tuple(number - 1 for number in numbers)


def resolve_examples(source: str | None, num_examples: int | None) -> ExampleSettings | None:
    """``none`` turns dataset examples off; a folder must exist (its images are found when the scan starts)."""
    count = _positive("num_examples", num_examples) if num_examples is not None else ExampleSettings.num_examples
    source = SHIPPED_EXAMPLES if source is None else str(source).strip()
    if source.lower() == "none":
        return None
    if source != SHIPPED_EXAMPLES:
        folder = Path(source).expanduser()
        if not folder.is_dir():
            raise AtlasError(f"--examples '{source}' is not a folder: give a folder of JPEG/PNG/WebP images, "
                             f"'{SHIPPED_EXAMPLES}' (scikit-image's sample photos) or 'none'.")
        source = str(folder)
    return ExampleSettings(source=source, num_examples=count)


def parse_filter_ids(spec: str, num_filters: int, layer_name: str) -> list[int]:
    """``all``, ``0:16`` (a half-open range), ``3,7,9`` or a mix (``0:4,9``) -> sorted unique filter ids."""
    text = spec.strip()
    if text == "all":
        return list(range(num_filters))
    ids: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        try:
            if ":" in part:
                start_text, stop_text = part.split(":", 1)
                start = int(start_text) if start_text.strip() else 0
                stop = int(stop_text) if stop_text.strip() else num_filters
                if start >= stop or start < 0:
                    raise AtlasError(f"--filters range '{part}' is empty or negative: write START:STOP with "
                                     f"0 <= START < STOP, e.g. 0:16.")
                values = range(start, stop)
            else:
                values = [int(part)]
        except ValueError:
            raise AtlasError(f"--filters '{spec}' is not understood: use 'all', a range like 0:16, "
                             f"or ids like 3,7,9.") from None
        for value in values:
            if not 0 <= value < num_filters:
                raise AtlasError(f"Filter {value} is out of range for layer '{layer_name}', "
                                 f"which has {num_filters} filters (0 to {num_filters - 1}).")
            ids.add(value)
    return sorted(ids)
