"""How long the full profile would take on this machine, from a preview that ran here.

On a CPU a step's time grows with its images and pixels (docs/performance.md#estimates), so each layer's
preview time per filter is scaled to the full profile's filters, steps, pixels and facets. On a GPU it does not
until the device is full, so there the full profile's step is timed on one full batch of each layer instead.
"""

from __future__ import annotations

import math
from dataclasses import replace

from generator.build import workers
from generator.build.pipeline import BuildReport, LayerReport
from generator.build.plan import unit_size_for
from generator.config import RunSettings, auto_size
from generator.defaults import FACETS_IN_FULL
from generator.model import backends
from generator.optimisation.methods import METHODS, MethodSettings, with_layer_steps
from generator.store.directory import SIGNS

# A facet image's step costs this many main-image steps; measured from 1.14 to 2.6 by layer and machine
# (docs/performance.md#estimates).
FACET_STEP_COST = 1.3
# the full profile's facets: FACETS_IN_FULL more images per filter beside the two signs, each step of which also
# compares Gram matrices
FACETS_SHARE = FACETS_IN_FULL / len(SIGNS) * FACET_STEP_COST
# steps timed on a GPU: the first compiles, the rest give the time per step
TIMED_STEPS = 5


def estimate_full_seconds(report: BuildReport, settings: RunSettings, run: dict) -> float:
    """Seconds the full profile of ``run``'s layers (each its ``num_filters``) would take here, images and facets;
    ``report`` is the preview build of those layers that ran in this process."""
    full_profile = METHODS[settings.method.name].profiles["full"]
    on_gpu = backends.gpu_available()
    total = 0.0
    for layer_report, layer in zip(report.layers, run["layers"]):
        if not layer_report.num_built:
            continue
        full_size = full_profile.settings.size or auto_size(layer["receptive_field"], full_profile.max_auto_size)
        full_steps = dict(settings.full_steps).get(layer["name"], full_profile.settings.steps)
        full_method = with_layer_steps(replace(full_profile.settings, size=full_size,
                                               precision=settings.method.precision), full_steps)
        if on_gpu:
            total += timed_layer_seconds(settings, layer, full_method)
        else:
            total += scaled_layer_seconds(layer_report, settings.method, layer, full_method)
    return total


def scaled_layer_seconds(layer_report: LayerReport, preview: MethodSettings, layer: dict,
                         full: MethodSettings) -> float:
    """The preview's time per filter (compilation apart, counted once) times the full profile's filters, steps,
    pixels and facets."""
    scale = (full.steps / preview.steps) * (full.size / layer["image_size"]) ** 2
    compile_seconds = min(layer_report.compile_seconds, layer_report.seconds)
    per_filter = (layer_report.seconds - compile_seconds) / layer_report.num_built
    return compile_seconds + per_filter * layer["num_filters"] * scale * (1 + FACETS_SHARE)


def timed_layer_seconds(settings: RunSettings, layer: dict, full: MethodSettings) -> float:
    """One full batch of the layer's first unit, timed for a few steps (workers.time_steps), times the batches of
    every unit and the full profile's steps, and the facets; the compilation is counted once for the images and
    once for the facets."""
    num_filters = layer["num_filters"]
    unit_size = unit_size_for(num_filters, settings.batch_size, on_gpu=True)
    task = workers.UnitTask(settings.source, layer["name"], replace(full, steps=TIMED_STEPS), settings.batch_size,
                            tuple(range(unit_size)))
    timing = workers.time_steps(task)
    unit_sizes = [min(unit_size, num_filters - start) for start in range(0, num_filters, unit_size)]
    batches = sum(math.ceil(len(SIGNS) * size / timing.batch_size) for size in unit_sizes)
    per_batch = timing.batch_seconds + full.steps * timing.step_seconds
    return 2 * timing.compile_seconds + batches * per_batch * (1 + FACETS_SHARE)
