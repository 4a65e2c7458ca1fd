"""build(settings): the whole pipeline, top to bottom.

load the model -> plan the layers, their filters and work units (``plan_layers``) -> write run.json -> find the
units not yet done (``units_to_do``) -> optimise them, here or on a Dask cluster (workers.py: one extractor and
one compiled step per layer), writing each unit's tiles and manifest in writer threads while the next optimises
(``optimise_and_write``) -> scan the dataset examples (dataset_examples.py) -> find the circuits (circuits.py) ->
with facets: render the site, then the facets (facets.py) -> render the site from the manifests and the records
(pages.py).
"""

from __future__ import annotations

import contextlib
import signal
import tempfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from generator.analysis import circuits, dataset_examples, facets
from generator.build import lock, workers
from generator.build.plan import LayerPlan, check_display_channels, describe_run, plan_layers
from generator.config import RunSettings
from generator.errors import AtlasError
from generator.model.dataset_images import image_set
from generator.model.models import UNSAFE_WARNING
from generator.model.precision import precision_policy
from generator.optimisation.methods import method_named
from generator.progress import Progress
from generator.site import pages
from generator.store import directory


@dataclass
class LayerReport:
    name: str
    num_filters: int
    num_built: int = 0
    seconds: float = 0.0
    batch_size: int = 0
    num_traces: int = 0
    compile_seconds: float = 0.0  # part of ``seconds``


@dataclass
class BuildReport:
    out: Path
    layers: list[LayerReport] = field(default_factory=list)
    interrupted: bool = False
    seconds: float = 0.0
    phase_seconds: dict[str, float] = field(default_factory=dict)  # optimise, facets, examples, circuits, render
    failures: list[PhaseFailure] = field(default_factory=list)  # late phases that failed (``late_phase``)

    @contextlib.contextmanager
    def phase(self, name: str):
        """Adds the time spent inside to ``phase_seconds[name]``."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.phase_seconds[name] = self.phase_seconds.get(name, 0.0) + time.perf_counter() - started

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


def build(settings: RunSettings, progress: Progress | None = None, *, shard: tuple[int, int] | None = None,
          stop: StopRequest | None = None, dask: str | None = None, wait: bool = False,
          force: bool = False) -> BuildReport:
    """Optimise every planned unit that is not done yet, then render the site. Returns what was built.

    One build writes ``settings.out`` at a time (lock.py): ``wait`` waits for another one instead of stopping;
    ``force`` moves another model's atlas aside instead of refusing to mix the two."""
    progress = progress or Progress()
    stop = stop or StopRequest()
    started = time.perf_counter()
    if settings.source.unsafe_deserialization:
        progress.note(f"warning: {UNSAFE_WARNING}")
    with precision_policy(settings.method.precision):  # a model the atlas cannot take fails before any writing
        loaded = settings.source.load()
        check_display_channels(loaded, settings.display_channels)
    progress.note(f"Preprocessing {loaded.preprocessing.description} ({loaded.preprocessing_reason}); change it "
                  f"with --preprocessing caffe|tf|torch|unit|none or --input-range LOW:HIGH, --mean and --std.")
    out = prepare_output(settings.out)
    with lock.output_lock(out, wait, shard, progress.note) as held:
        scans_examples = settings.examples is not None and (shard is None or shard[0] == 0)  # one shard scans
        images = image_set(settings.examples.source) if scans_examples else None  # a bad folder fails early
        with precision_policy(settings.method.precision):
            held.claim(loaded.name, loaded.provenance, force)
            plans = plan_layers(settings, loaded)
            directory.write_run(out, describe_run(settings, loaded, plans))
            report = BuildReport(out=out)
            mine = None if shard is None else set(directory.shard_units([u for p in plans for u in p.units], *shard))
            pending = units_to_do(plans, out, mine, report, progress)
            workers.remember_model(workers.model_key(settings.source), loaded)
            with report.phase("optimise"):
                optimise_and_write(settings, pending, out, report, progress, stop, dask)
            ran: set[str] = set()  # the late phases this build ran: their notices replace the last build's
            scan = None
            if scans_examples and not stop.requested:
                with stop.installed(), late_phase("examples", ran, report, progress):  # Ctrl-C saves the scan so far
                    scan = dataset_examples.scan(loaded, [plan.info for plan in plans], settings.examples, out,
                                                 progress, stop, images, settings.display_channels)
            if (shard is None or shard[0] == 0) and not stop.requested:  # one shard finds the circuits
                with late_phase("circuits", ran, report, progress):
                    circuits.build(loaded, circuits.pairs_of(plans), out, scan, images, progress)
            if settings.num_facets and not stop.requested:
                # The facets are most of a full build's work: the site is rendered before them, so a build
                # stopped or still running during the facets is already a complete atlas without them.
                render_site(out, held, report, ran, progress)
                progress.note("The site is rendered with every image; the facets come next.")
                with stop.installed(), late_phase("facets", ran, report, progress):  # Ctrl-C: after the unit
                    facets.build(loaded, plans, settings.num_facets, out, mine, progress, stop,
                                 settings.display_channels)
            report.interrupted = stop.requested
        record = render_site(out, held, report, ran, progress)
    report.failures += [PhaseFailure(notice["phase"], notice["text"]) for notice in record["notices"]
                        if notice["failed"] and notice["phase"] == "maps"]  # the maps are made while rendering
    report.seconds = time.perf_counter() - started
    if report.failures:
        first = report.failures[0]
        raise AtlasError(f"{first.text} The site in '{out}' is rendered without it. Run the same command again to "
                         f"redo only that phase (finished work is kept), or with --debug for the traceback.",
                         exit_code=1) from first.error
    return report


@dataclass(frozen=True)
class PhaseFailure:
    phase: str
    text: str  # one line: the phase and the error
    error: BaseException | None = None


@contextlib.contextmanager
def late_phase(name: str, ran: set[str], report: BuildReport, progress: Progress):
    """A phase after the optimisation (facets, examples, circuits): its time goes into ``report``, and an error
    in it becomes a failed notice and a ``report.failures`` entry instead of ending the build, so the site still
    renders from the finished units."""
    ran.add(name)
    with report.phase(name):
        try:
            yield
        except Exception as error:  # anything, expected or not: the finished images stay browsable
            detail = str(error) if isinstance(error, AtlasError) else \
                f"unexpected {type(error).__name__}: {(str(error).strip().splitlines() or [''])[0]}"
            text = f"{name.capitalize()} not built: {detail.rstrip('.')}."
            progress.notice(name, text, failed=True)
            report.failures.append(PhaseFailure(name, text, error))


def render_site(out: Path, held, report: BuildReport, ran: set[str], progress: Progress) -> dict:
    """Write the notices so far and render the site from what is on disk; shards render one after another."""
    with held.exclusive("render"), report.phase("render"):
        directory.update_notices(out, ran, [notice._asdict() for notice in progress.notices])
        return pages.render(out)


def units_to_do(plans: list[LayerPlan], out: Path, mine: set[directory.Unit] | None, report: BuildReport,
                progress: Progress) -> list[tuple[LayerPlan, directory.Unit]]:
    """The units of this shard (``mine``; all of them without shards) that have no finished manifest yet, in plan
    order; each layer is announced to ``progress`` and given its line in ``report``."""
    pending: list[tuple[LayerPlan, directory.Unit]] = []
    for plan in plans:
        units = [unit for unit in plan.units if mine is None or unit in mine]
        todo = [unit for unit in units if directory.read_manifest(unit, out) is None]
        report.layers.append(LayerReport(plan.info.name, len(plan.filter_ids)))
        progress.start_layer(plan.info.name, total=sum(len(u.filter_ids) for u in units),
                             done=sum(len(u.filter_ids) for u in units if u not in todo))
        pending += [(plan, unit) for unit in todo]
    return pending


def optimise_and_write(settings: RunSettings, pending: list[tuple[LayerPlan, directory.Unit]], out: Path,
                       report: BuildReport, progress: Progress, stop: StopRequest, dask: str | None) -> None:
    """Optimise the pending units (here, or on Dask) and write each one's tiles and manifest in writer threads
    while the next optimises; a layer's time and its optimiser's statistics go into its line of ``report``."""
    tasks = [workers.UnitTask(settings.source, plan.info.name, plan.method, plan.batch_size, unit.filter_ids)
             for plan, unit in pending]
    reports = {layer.name: layer for layer in report.layers}
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="tiles") as writers, stop.installed():
        results = workers.run_on_dask(dask, tasks, stop) if dask else workers.run_here(tasks, stop)
        writes: list[Future] = []
        last = time.perf_counter()
        for index, result in results:
            plan, unit = pending[index]
            for future in [future for future in writes if future.done()]:
                future.result()  # a failed write (disk full) stops the run here
                writes.remove(future)
            writes.append(writers.submit(directory.write_unit, unit, result, method_named(plan.method.name).tile,
                                         plan.method.size, out, settings.display_channels))
            layer_report = reports[plan.info.name]
            now = time.perf_counter()
            layer_report.seconds += now - last
            last = now
            layer_report.num_built += len(unit.filter_ids)
            layer_report.batch_size = result.batch_size
            layer_report.num_traces = result.num_traces
            layer_report.compile_seconds = result.compile_seconds
            progress.advance(plan.info.name, len(unit.filter_ids))
        for future in writes:
            future.result()  # surface write errors after every finished unit is on disk
