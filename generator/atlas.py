"""build(settings): the whole pipeline, top to bottom.

load the model -> pick layers and filters -> plan work units -> for each layer: one extractor and one compiled
step -> for each unit not yet done: optimise positive and negative images -> write tiles and the unit's
manifest (in worker threads, while the next batch optimises) -> render the site from the manifests.
"""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from generator import backends, runs, site
from generator.config import DEFAULTS, MethodSettings, RunSettings, auto_size, parse_filter_ids
from generator.errors import AtlasError
from generator.models import (LayerInfo, LoadedModel, build_extractor, load_model, output_size_at, precision_policy,
                              select_layers)
from generator.optimize import Optimizer, choose_batch_size, is_out_of_memory
from generator.tiles import crop_for, deprocess_standardised, deprocess_unit, status_of, write_tile

SIGNS = (("positive", 1.0), ("negative", -1.0))
UNIT_SIZE_CPU, UNIT_SIZE_GPU = 16, 256


class Progress:
    """What the pipeline reports; the command line shows it as progress bars, tests ignore it."""

    def start_layer(self, name: str, total: int, done: int) -> None: ...

    def advance(self, count: int) -> None: ...

    def note(self, text: str) -> None: ...


@dataclass
class LayerReport:
    name: str
    num_filters: int
    num_built: int = 0
    seconds: float = 0.0
    batch_size: int = 0
    num_traces: int = 0


@dataclass
class BuildReport:
    out: Path
    layers: list[LayerReport] = field(default_factory=list)
    interrupted: bool = False
    seconds: float = 0.0

    @property
    def num_built(self) -> int:
        return sum(layer.num_built for layer in self.layers)


class StopRequest:
    """Ctrl-C asks the run to stop after the batch in flight; a second Ctrl-C stops at once."""

    def __init__(self):
        self.requested = False

    @contextlib.contextmanager
    def installed(self):
        if threading.current_thread() is not threading.main_thread():
            yield self
            return

        def handle(signum, frame):
            if self.requested:
                raise KeyboardInterrupt
            self.requested = True

        previous = signal.signal(signal.SIGINT, handle)
        try:
            yield self
        finally:
            signal.signal(signal.SIGINT, previous)


def prepare_output(out: Path) -> Path:
    if out.exists() and not out.is_dir():
        raise AtlasError(f"Output '{out}' is a file, not a directory: choose another --out.")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".write-test-"):
            pass
    except OSError as error:
        raise AtlasError(f"Output directory '{out}' is not writable ({error.strerror or error}): "
                         f"choose another --out or fix its permissions.") from None
    return out


@dataclass(frozen=True)
class LayerPlan:
    info: LayerInfo
    method: MethodSettings  # the run's method with this layer's image size
    filter_ids: list[int]
    units: list[runs.Unit]
    batch_size: int | None


def image_size_for(loaded: LoadedModel, size: int, receptive_field: int, largest: int) -> int:
    """The model's own input size where it fixes one, else the asked-for size, else sized from the layer."""
    fixed = loaded.fixed_size
    if fixed is None:
        return size or auto_size(receptive_field, largest)
    if fixed[0] != fixed[1]:
        raise AtlasError(f"Model {loaded.name} takes {fixed[0]}x{fixed[1]} inputs; only square inputs are supported.")
    return fixed[0]


def describe_run(settings: RunSettings, loaded: LoadedModel, plans: list[LayerPlan]) -> dict:
    """run.json: everything needed to render the site and to check finished units, without the model."""
    return runs.to_json_safe({
        "format": runs.FORMAT,
        "model": {"name": loaded.name, "weights": loaded.weights, "preprocessing": loaded.preprocessing,
                  "source": settings.model, "weights_option": settings.weights},
        "method": settings.method,
        "profile": settings.profile,
        "profile_reason": settings.profile_reason,
        "full_command": full_command(settings),
        "backend": backends.BACKEND,
        "layers": [{
            "name": plan.info.name, "slug": runs.layer_slug(plan.info.name), "kind": plan.info.kind,
            "num_filters": plan.info.num_filters, "output_size": list(plan.info.output_size),
            "receptive_field": plan.info.receptive_field, "filter_ids": plan.filter_ids,
            "image_size": plan.method.size,
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
    return f"atlas build --profile full --model {settings.model}{layers} --out {settings.out}"


def plan_layers(settings: RunSettings, loaded: LoadedModel) -> list[LayerPlan]:
    """Layers, their filters and their work units. A unit is one batch of filters (--batch-size) or, with an
    automatic batch size, 16 filters on a CPU (a short loss on interruption) and 256 on a GPU (full batches)."""
    fixed = loaded.fixed_size
    layers = select_layers(loaded, settings.layer_patterns, fixed[0] if fixed else settings.method.size or 224)
    on_gpu = backends.gpu_available()
    plans = []
    for info in layers:
        size = image_size_for(loaded, settings.method.size, info.receptive_field, settings.max_auto_size)
        method = replace(settings.method, size=size)
        info = replace(info, output_size=output_size_at(loaded, info.name, size))
        identity = {"model": loaded.name, "weights": loaded.weights, "method": method.key()}
        filter_ids = parse_filter_ids(settings.filters, info.num_filters, info.name)
        if settings.num_filters_limit is not None:
            filter_ids = filter_ids[:settings.num_filters_limit]
        unit_size = settings.batch_size or min(len(filter_ids), UNIT_SIZE_GPU if on_gpu else UNIT_SIZE_CPU)
        cost = float(method.size ** 2 * method.steps * info.receptive_field)
        units = runs.plan_layer_units(info.name, filter_ids, unit_size, runs.unit_key(identity, info.name), cost)
        plans.append(LayerPlan(info, method, filter_ids, units, settings.batch_size))
    return plans


def build(settings: RunSettings, progress: Progress | None = None, shard: tuple[int, int] | None = None,
          stop: StopRequest | None = None) -> BuildReport:
    """Optimise every planned unit that is not done yet, then render the site. Returns what was built."""
    progress = progress or Progress()
    stop = stop or StopRequest()
    started = time.perf_counter()
    out = prepare_output(settings.out)
    with precision_policy(settings.method.precision):
        loaded = load_model(settings.model, settings.weights)
        report = _build_loaded(settings, loaded, out, progress, shard, stop)
    site.render(out)
    report.seconds = time.perf_counter() - started
    return report


def _build_loaded(settings, loaded, out, progress, shard, stop) -> BuildReport:
    plans = plan_layers(settings, loaded)
    runs.write_run(out, describe_run(settings, loaded, plans))
    report = BuildReport(out=out)
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="tiles") as writers, stop.installed():
        pending: list[Future] = []
        mine = None if shard is None else set(runs.shard_units([u for p in plans for u in p.units], *shard))
        for plan in plans:
            units = [unit for unit in plan.units if mine is None or unit in mine]
            todo = [unit for unit in units if runs.read_manifest(unit, out) is None]
            layer_report = LayerReport(plan.info.name, len(plan.filter_ids))
            report.layers.append(layer_report)
            progress.start_layer(plan.info.name, total=sum(len(u.filter_ids) for u in units),
                                 done=sum(len(u.filter_ids) for u in units if u not in todo))
            if not todo or stop.requested:
                continue
            layer_started = time.perf_counter()
            _optimise_layer(loaded, plan, todo, out, writers, pending, progress, stop, layer_report)
            layer_report.seconds = time.perf_counter() - layer_started
        for future in pending:
            future.result()  # surface write errors (disk full) after every finished unit is on disk
    report.interrupted = stop.requested
    return report


def _optimise_layer(loaded, plan, todo, out, writers, pending, progress, stop, layer_report):
    method = plan.method
    extractor = build_extractor(loaded, plan.info.name, method.target)
    batch_size = plan.batch_size or choose_batch_size(extractor, method.size, len(SIGNS) * len(todo[0].filter_ids),
                                                      backends.gpu_available())
    layer_key = runs.layer_key(loaded.name, plan.info.name, method.key(), method.size)
    optimizer = Optimizer(extractor, method, batch_size, loaded.preprocessing, layer_key)
    for unit in todo:
        if stop.requested:
            break
        while True:
            try:
                results = _run_both_signs(optimizer, list(unit.filter_ids))
                break
            except Exception as error:  # halve the batch on out-of-memory, re-raise anything else
                if not is_out_of_memory(error) or optimizer.batch_size == 1:
                    raise
                progress.note(f"{plan.info.name}: out of memory at batch {optimizer.batch_size}, halving it")
                optimizer = Optimizer(extractor, method, optimizer.batch_size // 2, loaded.preprocessing, layer_key)
        for future in [future for future in pending if future.done()]:
            future.result()  # a failed write (disk full) stops the run here
            pending.remove(future)
        pending.append(writers.submit(write_unit, unit, results, method, out))
        layer_report.num_built += len(unit.filter_ids)
        progress.advance(len(unit.filter_ids))
    layer_report.batch_size = optimizer.batch_size
    layer_report.num_traces = optimizer.num_traces


def _run_both_signs(optimizer: Optimizer, filter_ids: list[int]) -> dict:
    """Positive and negative images of a unit's filters, packed into as few batches as fit:
    {"positive": (images, activations), "negative": (...)}."""
    ids = filter_ids * len(SIGNS)
    signs = [sign for _, sign in SIGNS for _ in filter_ids]
    size = optimizer.batch_size
    parts = [optimizer.run(ids[start:start + size], signs[start:start + size]) for start in range(0, len(ids), size)]
    images = np.concatenate([part.images for part in parts])
    activations = np.concatenate([part.activations for part in parts])
    count = len(filter_ids)
    return {name: (images[index * count:(index + 1) * count], activations[index * count:(index + 1) * count])
            for index, (name, _) in enumerate(SIGNS)}


def write_unit(unit: runs.Unit, results: dict, method, out: Path) -> None:
    """Tiles first (atomically), the manifest last: a unit with a manifest is complete."""
    records = {filter_id: {"id": filter_id, "page": runs.filter_page_path(unit.slug, filter_id)}
               for filter_id in unit.filter_ids}
    for sign_name, (images, activations) in results.items():
        for index, filter_id in enumerate(unit.filter_ids):
            raw = images[index]
            tile = (deprocess_standardised(raw, crop_for(method.size)) if method.name == "classic"
                    else deprocess_unit(raw))
            path = runs.tile_path(unit.slug, filter_id, sign_name)
            write_tile(out / path, tile)
            curve = activations[index]
            records[filter_id][sign_name] = {
                "image": path,
                "thumbnail": str(Path(path).with_suffix(".webp")),
                "activation_before": _finite_or_none(curve[0]),
                "activation_after": _finite_or_none(curve[-1]),
                "curve": [_finite_or_none(value) for value in curve],
                "status": status_of(raw, tile, curve),
            }
    runs.write_manifest(unit, out, [records[filter_id] for filter_id in unit.filter_ids],
                        {"written_by": f"pid {os.getpid()}"})


def _finite_or_none(value) -> float | None:
    value = float(value)
    return round(value, 6) if np.isfinite(value) else None


def estimate_full_seconds(report: BuildReport, settings: RunSettings, run: dict) -> float:
    """Seconds the full profile would take here, scaled from what this (preview) run measured."""
    full_profile = DEFAULTS[(settings.method.name, "full")]
    full = full_profile.method
    total = 0.0
    for layer_report, layer in zip(report.layers, run["layers"]):
        if layer_report.num_built:
            full_size = full.size or auto_size(layer["receptive_field"], full_profile.max_auto_size)
            scale = (full.steps / settings.method.steps) * (full_size / layer["image_size"]) ** 2
            total += layer_report.seconds / layer_report.num_built * layer["num_filters"] * scale
    return total
