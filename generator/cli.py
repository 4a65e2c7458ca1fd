"""Command line: parse options, hand off to the library, turn AtlasError into one line and an exit code."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Optional

import typer

from generator.errors import AtlasError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Synthetic images of every filter of a CNN, rendered as a static website.")
state = {"debug": False}


def fail(error: Exception) -> None:
    """One line on stderr and a non-zero exit; --debug re-raises for the traceback."""
    if state["debug"]:
        raise error
    if isinstance(error, AtlasError):
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(error.exit_code)
    first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
    typer.echo(f"error: unexpected {type(error).__name__}: {first_line} (run `atlas --debug ...` for the "
               f"traceback; finished units are kept)", err=True)
    raise typer.Exit(1)


@app.callback()
def main(debug: bool = typer.Option(False, "--debug", help="Show tracebacks instead of one-line errors.")):
    state["debug"] = debug


class RichProgress:
    """A progress bar per layer on stderr: filters done / total, filters per second, time left. Where stderr is
    not a terminal (a log file, a batch job), a plain line instead, at most every ``LINE_SECONDS`` per layer and
    when a layer ends."""

    LINE_SECONDS = 10.0

    def __init__(self, clock=time.monotonic):
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)

        self.console = Console(stderr=True)
        self.live = self.console.is_terminal
        self.bars = Progress(TextColumn("{task.description:<22}"), BarColumn(), MofNCompleteColumn(),
                             TextColumn("{task.fields[rate]}"),
                             TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn(), console=self.console)
        self.tasks: dict[str, int] = {}
        self.lines: dict[str, dict] = {}  # without a terminal: per layer, its counts and time spent on it
        self.clock = clock
        self.last_event = clock()  # units run one after another: a unit's time is since the last event

    def __enter__(self):
        if self.live:
            self.bars.start()
        return self

    def __exit__(self, *exc):
        if self.live:
            self.bars.stop()

    def start_layer(self, name: str, total: int, done: int, unit: str = "filters") -> None:
        if not self.live:
            self.lines[name] = dict(total=total, done=done, first=done, unit=unit, seconds=0.0, shown=0.0)
            self.last_event = self.clock()
            self._line(name, self.last_event, "already done" if done else "to do")
            return
        self.tasks[name] = self.bars.add_task(name, total=max(total, 1), completed=done, rate="", unit=unit)

    def advance(self, name: str, count: int) -> None:
        if not self.live:
            layer, now = self.lines[name], self.clock()
            layer["done"] += count
            layer["seconds"] += now - self.last_event
            self.last_event = now
            if layer["done"] >= layer["total"] or now - layer["shown"] >= self.LINE_SECONDS:
                self._line(name, now)
            return
        task = self.tasks[name]
        self.bars.advance(task, count)
        speed = self.bars.tasks[task].speed
        unit = self.bars.tasks[task].fields["unit"]
        self.bars.update(task, rate=f"{speed:6.2f} {unit}/s" if speed else "")

    def _line(self, name: str, now: float, state: str = "") -> None:
        layer = self.lines[name]
        layer["shown"] = now
        elapsed, made = layer["seconds"], layer["done"] - layer["first"]
        text = f"{name}: {layer['done']}/{layer['total']} {layer['unit']}"
        if state:
            text += f" {state}"
        elif made and elapsed > 0:
            rate = made / elapsed
            text += f", {rate:.2f} {layer['unit']}/s, {_duration(elapsed)} elapsed"
            if layer["done"] < layer["total"]:
                text += f", about {_duration((layer['total'] - layer['done']) / rate)} left"
        self.console.print(text, highlight=False, soft_wrap=True)

    def note(self, text: str) -> None:
        self.console.print(text)


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}"


def parse_shard(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise AtlasError(f"--shard must look like I/N (e.g. 0/4), got '{text}'.") from None
    if count < 1 or not 0 <= index < count:
        raise AtlasError(f"--shard {text}: I must be between 0 and N-1 and N at least 1.")
    return index, count


@app.command()
def build(
    model: Optional[str] = typer.Option(None, help="vgg16-hed (embedded, default), a keras.applications name "
                                                   "(xception, resnet50, ...), tiny-cnn, or a .keras file."),
    weights: Optional[str] = typer.Option(None, help="imagenet | none | PATH (keras.applications models)."),
    layers: Optional[str] = typer.Option(None, help="Comma-separated layer names or globs, e.g. 'block*_conv3'."),
    filters: Optional[str] = typer.Option(None, help="all (default), a range 0:16, or ids 3,7,9."),
    method: Optional[str] = typer.Option(None, help="fourier (default: Fourier image, transformation robustness, "
                                                    "Adam) or classic (the seed's pixel gradient ascent)."),
    steps: Optional[int] = typer.Option(None, help="Optimisation steps per image."),
    size: Optional[str] = typer.Option(None, help="Image size in pixels (square), or auto: from each layer's "
                                                  "receptive field."),
    learning_rate: Optional[float] = typer.Option(None, help="Step size."),
    batch_size: Optional[str] = typer.Option(None, help="Images per batch tensor: auto (default) or a number."),
    seed: Optional[int] = typer.Option(None, help="Random seed of the initial images."),
    out: Optional[str] = typer.Option(None, help="Output directory of the site (default site/)."),
    config: Optional[Path] = typer.Option(None, help="A TOML file with the same keys (learning_rate, ...)."),
    profile: Optional[str] = typer.Option(None, help="auto (default: full with a GPU, else preview) | preview | full."),
    precision: Optional[str] = typer.Option(
        None, help="auto (default: mixed where the device computes bfloat16 natively, else float32) | float32 | "
                   "mixed: bfloat16 compute, float32 loss."),
    shard: Optional[str] = typer.Option(None, help="I/N: build only shard I (0-based) of N, e.g. in an array job."),
    dask: Optional[str] = typer.Option(None, help="Run the units on a Dask cluster: a scheduler ADDRESS, or "
                                                  "local:N for N worker processes on this machine."),
    examples: Optional[str] = typer.Option(None, help="Dataset examples from a folder of images (recursive), "
                                                      "shipped (default: scikit-image's sample photos) or none."),
    num_examples: Optional[int] = typer.Option(None, help="Dataset examples per filter and sign (default 9)."),
):
    """Optimise an image per filter and sign, write tiles and manifests, and render the site."""
    from generator.config import AtlasConfig, load_toml, resolve, split_layers

    try:
        given = AtlasConfig(model=model, weights=weights, layers=split_layers(layers) if layers is not None else None,
                            filters=filters, method=method, steps=steps, size=size, learning_rate=learning_rate,
                            batch_size=batch_size, seed=seed, out=out, profile=profile, precision=precision,
                            examples=examples, num_examples=num_examples)
        base = load_toml(config) if config is not None else AtlasConfig()
        merged = base.merged_with(given)
        from generator import atlas, backends

        settings = resolve(merged, backends.gpu_available(), backends.fast_bfloat16())
        typer.echo(f"Profile: {settings.profile} ({settings.profile_reason}). Method {settings.method.name}, "
                   f"{settings.method.steps} steps, {settings.method.size or 'auto'} px, "
                   f"{settings.method.precision}; backend {backends.BACKEND}, "
                   f"device {backends.describe_device()}.", err=True)
        with RichProgress() as progress:
            report = atlas.build(settings, progress, shard=parse_shard(shard), dask=dask)
    except Exception as error:  # AtlasError or anything unexpected: one line either way
        fail(error)
        return
    built = f"Built {report.num_built} filters in {report.seconds:.0f} s"
    typer.echo(f"{built}. Open {report.out / 'index.html'}", err=True)
    if report.interrupted:
        typer.echo("Interrupted: finished batches are saved. Run the same command again to resume.", err=True)
        raise typer.Exit(130)
    if settings.profile == "preview" and report.num_built:
        from generator.atlas import estimate_full_seconds
        from generator.runs import read_run

        run = read_run(report.out)
        estimate = estimate_full_seconds(report, settings, run)
        total = sum(layer["num_filters"] for layer in run["layers"])
        typer.echo(f"The full atlas ({total} filters) would take about {estimate / 60:.0f} min "
                   f"on this machine: {atlas.full_command(settings)}", err=True)


@app.command("layers")
def list_layers(
    model: str = typer.Option("vgg16-hed", help="Model name or .keras file."),
    weights: str = typer.Option("none", help="Weights do not change the listing; none is fastest."),
    size: int = typer.Option(224, help="Input size used for the output sizes."),
    all_layers: bool = typer.Option(False, "--all", help="Also list pooling, activation and other 4-D layers."),
):
    """List the layers you can pick: name, filters, output size, receptive field."""
    from generator.models import SPATIAL_LAYER_TYPES, load_model, spatial_layers

    try:
        loaded = load_model(model, weights if model != "vgg16-hed" else "none")
        infos = spatial_layers(loaded, size)
    except AtlasError as error:
        fail(error)
        return
    shown = [info for info in infos if all_layers or info.kind in SPATIAL_LAYER_TYPES] or infos
    typer.echo(f"{'layer':<28} {'kind':<18} {'filters':>7} {'output':>9} {'receptive field':>16}")
    for info in shown:
        output = f"{info.output_size[0]}x{info.output_size[1]}"
        typer.echo(f"{info.name:<28} {info.kind:<18} {info.num_filters:>7} {output:>9} {info.receptive_field:>13} px")


@app.command()
def render(
    site: Path = typer.Argument(Path("site"), help="A directory written by `atlas build`."),
    merge: list[Path] = typer.Option([], "--merge", help="Another shard's output directory to merge in "
                                                        "(repeatable)."),
):
    """Re-render the pages and atlas.json from a built directory (no model, no optimisation), merging in the
    finished units of other shards' directories first."""
    from generator import runs
    from generator import site as site_module

    try:
        for other in merge:
            copied = runs.merge_units(other, site)
            with_examples = " and its dataset examples" if runs.copy_examples(other, site) else ""
            typer.echo(f"Merged {copied} units{with_examples} from {other}", err=True)
        record = site_module.render(site)
    except AtlasError as error:
        fail(error)
        return
    count = sum(len(layer["filters"]) for layer in record["layers"])
    typer.echo(f"Rendered {count} filters into {site / 'index.html'}", err=True)


@app.command()
def evaluate(
    site: Path = typer.Argument(Path("site"), help="A directory written by `atlas build`."),
    filters: Optional[str] = typer.Option(None, help="Measure a subset (e.g. 0:64); it is also the comparison set."),
):
    """Measure a built atlas: flat tiles, robust self-recognition and the negative check, per layer."""
    from generator import evaluate as evaluation

    try:
        results = evaluation.evaluate(site, filters)
    except AtlasError as error:
        fail(error)
        return
    typer.echo(evaluation.table(results))
    typer.echo(f"Written to {site / evaluation.EVALUATION_FILE}", err=True)


if __name__ == "__main__":
    sys.exit(app())
