"""The plan of a build: which layers, at what image size, which filters, in which work units, and ``run.json``,
the record that describes them for rendering and for checking finished units."""

from __future__ import annotations

from dataclasses import dataclass, replace

from generator.config import RunSettings, auto_size
from generator.errors import AtlasError
from generator.model import backends, machine
from generator.model.layers import CLASS_LAYER_TYPES, LayerInfo, output_size_at, select_layers
from generator.model.models import LoadedModel
from generator.optimisation.methods import MethodSettings
from generator.options import parse_filter_ids
from generator.store import directory, layout

UNIT_SIZE_CPU, UNIT_SIZE_GPU = 16, 256


@dataclass(frozen=True)
class LayerPlan:
    info: LayerInfo
    method: MethodSettings  # the run's method with this layer's image size
    filter_ids: list[int]
    units: list[directory.Unit]
    batch_size: int | None


def image_size_for(loaded: LoadedModel, size: int, receptive_field: int, largest: int, size_given: bool = False
                   ) -> int:
    """The model's own input size where it fixes one (another size given explicitly is an error), else the
    asked-for size, else sized from the layer."""
    fixed = loaded.fixed_size
    if fixed is None:
        return size or auto_size(receptive_field, largest)
    if fixed[0] != fixed[1]:
        raise AtlasError(f"Model {loaded.name} takes {fixed[0]}x{fixed[1]} inputs; only square inputs are supported.")
    if size_given and size != fixed[0]:
        raise AtlasError(f"Model {loaded.name} takes only {fixed[0]}x{fixed[1]} inputs, so --size {size} cannot be "
                         f"used: give --size auto or --size {fixed[0]}.")
    return fixed[0]


def check_full_steps(loaded: LoadedModel, full_steps: tuple[tuple[str, int], ...]) -> None:
    """Every layer the per-layer steps name is one of the model's (a misspelt name would silently do nothing)."""
    names = {loaded.display_name(layer) for layer in loaded.model.layers}
    unknown = [name for name, _ in full_steps if name not in names]
    if unknown:
        raise AtlasError(f"full_steps names {', '.join(repr(name) for name in unknown)}, not a layer of "
                         f"{loaded.name}; `atlas layers` lists its layers.")


def check_display_channels(loaded: LoadedModel, display_channels: tuple[int, ...]) -> None:
    """The shown channels exist in the model's input (only images of other than 1 or 3 channels use them)."""
    channels = loaded.num_channels
    if channels not in (1, 3) and max(display_channels) >= channels:
        shown = ",".join(str(index + 1) for index in display_channels)
        raise AtlasError(f"--display-channels {shown} names a channel the model's input lacks: it has {channels} "
                         f"channels (1 to {channels}).")


def describe_run(settings: RunSettings, loaded: LoadedModel, plans: list[LayerPlan]) -> dict:
    """run.json: everything needed to render the site and to check finished units, without the model."""
    source = settings.source
    return directory.to_json_safe({
        "format": layout.RUN_FORMAT,
        "model": {"name": loaded.name, "weights": loaded.provenance, "preprocessing": loaded.preprocessing.name,
                  "source": source.model, "weights_option": source.weights,
                  **({"preprocessing_declared": directory.to_json_safe(source.preprocessing)}
                     if source.preprocessing is not None else {}),
                  **({"unsafe_deserialization": True} if source.unsafe_deserialization else {})},
        "method": settings.method,
        "profile": settings.profile,
        "profile_reason": settings.profile_reason,
        "full_command": full_command(settings),
        "backend": backends.BACKEND,
        **({"onednn": settings.onednn.record()} if settings.onednn else {}),
        "layers": [{
            "name": plan.info.name, "slug": layout.layer_slug(plan.info.name), "kind": plan.info.kind,
            "num_filters": plan.info.num_filters, "output_size": list(plan.info.output_size),
            "receptive_field": plan.info.receptive_field, "filter_ids": plan.filter_ids,
            **({"labels": list(settings.labels)} if settings.labels and plan.info.kind in CLASS_LAYER_TYPES else {}),
            "image_size": plan.method.size, "steps": plan.method.steps, "contrast": plan.method.contrast,
            "unit_size": len(plan.units[0].filter_ids) if plan.units else 1,
            "key": plan.units[0].key if plan.units else "", "cost_per_filter": plan.units[0].cost / max(
                1, len(plan.units[0].filter_ids)) if plan.units else 0.0,
        } for plan in plans],
    })


def full_command(settings: RunSettings) -> str:
    """The command that builds every filter of the same layers (shown on preview pages)."""
    if settings.profile != "preview":
        return ""
    layers = f" --layers '{','.join(settings.layer_patterns)}'" if settings.layer_patterns else ""
    steps = ",".join(f"{name}={steps}" for name, steps in settings.full_steps)
    steps = f" --full-steps '{steps}'" if steps else ""  # what the estimate counted
    return f"atlas build --profile full --model {settings.source.model}{layers}{steps} --out {settings.out}"


def unit_size_for(num_filters: int, batch_size: int | None, on_gpu: bool) -> int:
    """Filters per work unit: one batch (--batch-size) or, with an automatic batch size, 16 filters on a CPU (a
    short loss on interruption) and 256 on a GPU (full batches)."""
    return batch_size or min(num_filters, UNIT_SIZE_GPU if on_gpu else UNIT_SIZE_CPU)


def plan_layers(settings: RunSettings, loaded: LoadedModel) -> list[LayerPlan]:
    """Layers, their filters and their work units (``unit_size_for``)."""
    fixed = loaded.fixed_size
    layers = select_layers(loaded, settings.layer_patterns, fixed[0] if fixed else settings.method.size or 224)
    check_full_steps(loaded, settings.full_steps)
    on_gpu = backends.gpu_available()
    plans = []
    for info in layers:
        size = image_size_for(loaded, settings.method.size, info.receptive_field, settings.max_auto_size,
                              settings.size_given)
        method = settings.method_for(info.name, size)
        info = replace(info, output_size=output_size_at(loaded, info.name, size))
        identity = {"model": loaded.name, "weights": loaded.provenance, "method": method.key()}
        if loaded.preprocessing_declared:  # only a declaration that changes the model's own redoes the work
            identity["preprocessing"] = directory.to_json_safe(loaded.preprocessing)
        if loaded.num_channels not in (1, 3):  # only these tiles depend on the shown channels
            identity["display_channels"] = list(settings.display_channels)
        if settings.labels and info.kind in CLASS_LAYER_TYPES and len(settings.labels) != info.num_filters:
            raise AtlasError(f"--labels names {len(settings.labels)} classes, but layer '{info.name}' has "
                             f"{info.num_filters} units: give a file with one name per unit.")
        filter_ids = parse_filter_ids(settings.filters, info.num_filters, info.name)
        if settings.num_filters_limit is not None:
            filter_ids = filter_ids[:settings.num_filters_limit]
        unit_size = unit_size_for(len(filter_ids), settings.batch_size, on_gpu)
        cost = float(method.size ** 2 * method.steps * info.receptive_field)
        key = directory.unit_key(identity, info.name)
        units = directory.plan_layer_units(info.name, filter_ids, unit_size, key, cost)
        plans.append(LayerPlan(info, method, filter_ids, units, settings.batch_size))
    return plans


def precision_line(settings: RunSettings) -> str:
    meaning = "bfloat16 compute, float32 variables and loss" if settings.method.precision == "mixed" else ""
    why = "; ".join(part for part in (meaning, settings.precision_reason) if part)
    return f"Precision: {settings.method.precision}" + (f" ({why})." if why else ".")


def profile_line(settings: RunSettings) -> str:
    method = settings.method
    return (f"Profile: {settings.profile} ({settings.profile_reason}). Method {method.name}, {steps_text(settings)}, "
            f"{method.size or 'auto'} px.")


def steps_text(settings: RunSettings) -> str:
    """"128 steps", or with per-layer steps "128 steps (block4_conv3 48, block5_conv3 48; fewer steps, fixed
    contrast 1.25)"."""
    text = f"{settings.method.steps} steps"
    if settings.profile != "full" or settings.steps_given or not settings.full_steps:
        return text
    layers = ", ".join(f"{name} {steps}" for name, steps in settings.full_steps)
    fixed = {settings.method_for(name, 0).contrast for name, steps in settings.full_steps
             if steps < settings.method.steps} - {settings.method.contrast}
    return text + f" ({layers}" + "".join(f"; fewer steps, fixed contrast {value:g}" for value in fixed) + ")"


def first_lines(facts: machine.MachineFacts, settings: RunSettings) -> list[str]:
    """What runs and why, in the order a reader asks: backend, device (and what is wrong with it), oneDNN on
    TensorFlow, precision, profile."""
    warning = machine.invisible_gpu_warning(facts)
    return [machine.backend_line(facts), machine.device_line(facts), *([warning] if warning else []),
            *([settings.onednn.line()] if settings.onednn else []), precision_line(settings), profile_line(settings)]
