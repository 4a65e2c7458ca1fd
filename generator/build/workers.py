"""Where work units are optimised: in this process, or on the workers of a Dask cluster.

Both paths call ``optimise_unit``, which keeps one loaded model and one compiled optimiser per layer for the life
of the process, so a Dask worker loads its model once and traces each layer's step once. A unit's result carries
its images and curves and the statistics of the optimiser that made them, wherever that ran.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from generator.errors import AtlasError
from generator.model import backends
from generator.model.extractors import build_extractor
from generator.model.models import LoadedModel, ModelSource
from generator.model.precision import precision_policy
from generator.optimisation.batching import choose_batch_size, is_out_of_memory
from generator.optimisation.methods import MethodSettings
from generator.optimisation.optimizer import Optimizer
from generator.optimisation.silent_filters import Response, responses
from generator.store import directory
from generator.store.directory import SIGNS

_MODELS: dict[tuple, LoadedModel] = {}
_OPTIMIZERS: dict[tuple, Optimizer] = {}
_PRE_ACTIVATIONS: dict[tuple, object] = {}


@dataclass(frozen=True)
class UnitTask:
    """Everything needed to optimise one unit anywhere (it travels to Dask workers by pickle)."""

    source: ModelSource
    layer: str
    method: MethodSettings
    batch_size: int | None  # None: the largest that fits this worker's device
    filter_ids: tuple[int, ...]


@dataclass(frozen=True)
class SignResult:
    """One sign's images of a unit's filters, in filter order, and each image's activation curve."""

    images: np.ndarray  # (filters, H, W, C)
    activations: np.ndarray  # (filters, steps + 1)


@dataclass(frozen=True)
class UnitResult:
    """What optimising a unit gives: per sign name its images, and the statistics of the optimiser."""

    signs: dict[str, SignResult]
    batch_size: int
    num_traces: int  # the layer's step traced this often in the process that ran the unit
    compile_seconds: float  # time the layer's first compiled calls took in that process (counted once)
    responses: tuple[Response, ...] = ()  # per filter: the evidence whether it is silent (silence.py)


@dataclass(frozen=True)
class StepTiming:
    """A layer's optimiser timed on one full batch in this process."""

    compile_seconds: float  # its first compiled calls
    step_seconds: float  # each later step, waited for
    batch_seconds: float  # the rest of a batch's time: its start images, views, final measure and tiles' pixels
    batch_size: int


def model_key(source: ModelSource) -> tuple:
    """What names a loaded model in this process: its source and the dtype policy it was built under."""
    return source, keras_policy()


def remember_model(key: tuple, loaded: LoadedModel) -> None:
    """Let this process reuse a model it has already loaded (``key``: ``model_key``)."""
    _MODELS[key] = loaded


def keras_policy() -> str:
    from generator.model.quiet_keras import keras

    return keras.config.dtype_policy().name


def _loaded(task: UnitTask) -> LoadedModel:
    key = model_key(task.source)
    if key not in _MODELS:
        _MODELS[key] = task.source.load()
    return _MODELS[key]


def _optimizer_key(task: UnitTask) -> tuple:
    return task.source, task.layer, task.method.key(), task.batch_size


def layer_optimizer(task: UnitTask) -> Optimizer:
    """The layer's compiled optimiser in this process, made on first use."""
    key = _optimizer_key(task)
    if key not in _OPTIMIZERS:
        loaded = _loaded(task)
        extractor = build_extractor(loaded, task.layer, task.method.target)
        batch_size = task.batch_size or choose_batch_size(extractor, task.method.size,
                                                          len(SIGNS) * len(task.filter_ids),
                                                          backends.gpu_available())
        layer_key = directory.layer_key(loaded.name, task.layer, task.method.key(), task.method.size)
        _OPTIMIZERS[key] = Optimizer(extractor, task.method, batch_size, loaded.preprocessing, layer_key,
                                     loaded.num_channels)
    return _OPTIMIZERS[key]


def layer_pre_activation(task: UnitTask):
    """The layer's extractor before its fused activation (what silence.py reads), made on first use."""
    key = (*model_key(task.source), task.layer)
    if key not in _PRE_ACTIVATIONS:
        _PRE_ACTIVATIONS[key] = build_extractor(_loaded(task), task.layer, "pre_activation")
    return _PRE_ACTIVATIONS[key]


def both_signs(filter_ids) -> tuple[list[int], list[float]]:
    """Every filter once per sign, sign by sign (the order a unit's images are optimised in): ids and signs."""
    return list(filter_ids) * len(SIGNS), [sign for _, sign in SIGNS for _ in filter_ids]


def optimise_unit(task: UnitTask) -> UnitResult:
    """Positive and negative images of the unit's filters. An out-of-memory error halves the layer's batch and
    tries again."""
    with precision_policy(task.method.precision):
        while True:
            optimizer = layer_optimizer(task)
            try:
                ids, signs = both_signs(task.filter_ids)
                size = optimizer.batch_size
                parts = [optimizer.run(ids[start:start + size], signs[start:start + size])
                         for start in range(0, len(ids), size)]
                break
            except Exception as error:
                if not is_out_of_memory(error) or optimizer.batch_size == 1:
                    raise
                _OPTIMIZERS[_optimizer_key(task)] = Optimizer(optimizer.extractor, task.method,
                                                              optimizer.batch_size // 2, optimizer.preprocessing,
                                                              optimizer.layer_key, optimizer.num_channels)
    images = np.concatenate([part.images for part in parts])
    activations = np.concatenate([part.activations for part in parts])
    count = len(task.filter_ids)
    signs = {name: SignResult(images[index * count:(index + 1) * count], activations[index * count:(index + 1) * count])
             for index, (name, _) in enumerate(SIGNS)}
    with precision_policy(task.method.precision):
        found = responses(layer_pre_activation(task), optimizer.preprocessing, signs["positive"].images,
                          list(task.filter_ids), optimizer.batch_size)
    return UnitResult(signs, optimizer.batch_size, optimizer.num_traces, optimizer.compile_seconds, tuple(found))


def time_steps(task: UnitTask) -> StepTiming:
    """Run one full batch of the task's filters (both signs, repeated to fill it) for ``task.method.steps`` steps
    (at least 3) in this process, waiting for each step: the first compiles, the others are timed one by one."""
    from generator.model.quiet_keras import keras

    if task.method.steps < 3:
        raise ValueError(f"timing needs at least 3 steps (one compiles, two are timed), got {task.method.steps}")
    finished = []

    def step_done(step, values):
        keras.ops.convert_to_numpy(values)  # waits for the device
        finished.append(time.perf_counter())

    with precision_policy(task.method.precision):
        optimizer = layer_optimizer(task)
        compiled_before = optimizer.compile_seconds
        ids, signs = both_signs(task.filter_ids)
        repeats = -(-optimizer.batch_size // len(ids))  # enough to fill the batch
        started = time.perf_counter()
        optimizer.run((ids * repeats)[:optimizer.batch_size], (signs * repeats)[:optimizer.batch_size],
                      step_done=step_done)
        elapsed = time.perf_counter() - started
    compile_seconds = optimizer.compile_seconds - compiled_before
    step_seconds = (finished[-1] - finished[0]) / (len(finished) - 1)
    batch_seconds = max(0.0, elapsed - compile_seconds - (len(finished) - 1) * step_seconds)
    return StepTiming(compile_seconds, step_seconds, batch_seconds, optimizer.batch_size)


def run_here(tasks: list[UnitTask], stop) -> Iterator[tuple[int, UnitResult]]:
    """Optimise the tasks one after the other in this process; stop between units when asked."""
    for index, task in enumerate(tasks):
        if stop.requested:
            return
        yield index, optimise_unit(task)


def run_on_dask(address: str, tasks: list[UnitTask], stop) -> Iterator[tuple[int, UnitResult]]:
    """Optimise the tasks on a Dask cluster (``local:N`` starts N worker processes here), yielding results as
    they finish; the caller writes them, so a lost worker costs only its units in flight."""
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise AtlasError("--dask needs dask.distributed: `pip install 'dask[distributed]'`.") from None
    cluster = None
    if address.startswith("local:"):
        try:
            workers = int(address.split(":", 1)[1])
        except ValueError:
            raise AtlasError(f"--dask local:N needs a number of workers, got '{address}'.") from None
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
        address = cluster.scheduler_address
    try:
        client = Client(address, timeout="30s")
    except OSError as error:
        raise AtlasError(f"Cannot reach the Dask scheduler at '{address}': {error}.") from None
    try:
        futures = {client.submit(optimise_unit, task, key=f"unit-{index}-{task.layer}-{task.filter_ids[0]}",
                                 pure=False): index for index, task in enumerate(tasks)}
        for future in as_completed(futures):
            if stop.requested:
                for other in futures:
                    other.cancel()
                return
            yield futures[future], future.result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
