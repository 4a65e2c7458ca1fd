"""What each option's text means: filter ids, sizes, batch sizes, labels, preprocessing, display channels, and
the profile-dependent choices (contrast, facets, dataset examples) that ``config.resolve`` takes from them. Every
bad value is one AtlasError saying what was expected."""

from __future__ import annotations

from pathlib import Path

from generator.analysis.dataset_examples import ExampleSettings
from generator.defaults import FACETS_IN_FULL
from generator.errors import AtlasError
from generator.model.dataset_images import SHIPPED_EXAMPLES
from generator.model.preprocessing import PRESETS, PreprocessingChoice

MIN_SIZE = 8
# A fixed contrast is at most this: at 4, about 46% of the pixels are already within 5% of black or white.
MAX_CONTRAST = 4.0


def split_layers(value: str | list | tuple) -> tuple[str, ...]:
    """Accept ``"a,b"`` or ``["a", "b"]``; strip blanks."""
    items = value.split(",") if isinstance(value, str) else list(value)
    names = tuple(str(item).strip() for item in items if str(item).strip())
    if not names:
        raise AtlasError("No layers given: pass --layers NAME[,NAME...] (names or globs such as 'block*_conv1').")
    return names

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

def resolve_contrast(contrast: float | None, method: str, default: float) -> float:
    """The fourier image's fixed contrast: as given (0: free, growing with the steps), else the profile's."""
    if contrast is None:
        return default
    if isinstance(contrast, bool) or not isinstance(contrast, (int, float)) or not 0 <= contrast <= MAX_CONTRAST:
        raise AtlasError(f"--contrast must be a number from 0 (free) to {MAX_CONTRAST}, got {contrast!r}.")
    if method != "fourier" and contrast:
        raise AtlasError(f"--contrast is a setting of the fourier method, not of '{method}'.")
    return float(contrast)

def parse_full_steps(value: str | dict | None) -> tuple[tuple[str, int], ...]:
    """The full profile's steps per layer: ``"block4_conv3=64,block5_conv3=64"`` or a TOML table
    ``{block4_conv3 = 64}``; layers not named take the method's full steps."""
    if value is None:
        return ()
    if isinstance(value, str):
        pairs = []
        for item in (part.strip() for part in value.split(",") if part.strip()):
            name, equals, steps = item.partition("=")
            if not equals or not name.strip():
                raise AtlasError(f"--full-steps must look like LAYER=STEPS[,LAYER=STEPS...], got '{value}'.")
            try:
                pairs.append((name.strip(), int(steps)))
            except ValueError:
                raise AtlasError(f"--full-steps: the steps of '{name.strip()}' must be a whole number, "
                                 f"got '{steps.strip()}'.") from None
    elif isinstance(value, dict):
        pairs = list(value.items())
    else:
        raise AtlasError(f"full_steps must be a table of layer = steps, got {value!r}.")
    return tuple((str(name), _positive("full_steps", steps)) for name, steps in pairs)

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

def parse_preprocessing(config) -> PreprocessingChoice | None:
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
