"""Command line: parse options, hand off to the library; every failure becomes one line and an exit code.

Options are declared once, as ``Annotated`` types; ``atlas build``'s options that are also config-file keys are
passed on by the names of ``AtlasConfig``'s fields.
"""


import dataclasses
import functools
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from generator.defaults import FACETS_IN_FULL, NUM_EXAMPLES, PREVIEW_CONTRAST
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


def command(*arguments, **keywords):
    """``app.command`` whose body's failures, expected (AtlasError) or not, end as one line (``fail``)."""

    def register(function):
        @functools.wraps(function)
        def guarded(*args, **kwargs):
            try:
                return function(*args, **kwargs)
            except (typer.Exit, typer.Abort):
                raise
            except Exception as error:  # AtlasError or anything unexpected: one line either way
                fail(error)

        return app.command(*arguments, **keywords)(guarded)

    return register


@app.callback()
def main(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks instead of one-line errors.")] = False):
    state["debug"] = debug


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


def _option(help_text: str, kind=str):
    return Annotated[kind | None, typer.Option(help=help_text)]


@command()
def build(
    model: _option("vgg16-hed (embedded, default), a keras.applications name (xception, resnet50, ...), tiny-cnn, "
                   "or a .keras file.") = None,
    weights: _option("imagenet | none | PATH (keras.applications models).") = None,
    layers: _option("Comma-separated layer names or globs, e.g. 'block*_conv3'.") = None,
    filters: _option("all (default), a range 0:16, or ids 3,7,9.") = None,
    method: _option("fourier (default: Fourier image, transformation robustness, Adam), classic (the "
                    "tutorial's pixel gradient ascent) or maco (the phase of a natural-image spectrum, random "
                    "crops and noise).") = None,
    steps: _option("Optimisation steps per image, for every layer.", int) = None,
    full_steps: _option("The full profile's steps per layer, LAYER=STEPS[,...] (atlas.toml: a table), from "
                        "measured convergence; layers not named take the method's.") = None,
    size: _option("Image size in pixels (square), or auto: from each layer's receptive field.") = None,
    learning_rate: _option("Step size.", float) = None,
    contrast: _option("fourier: each image's contrast (its spread before the sigmoid), fixed from the first step, "
                      f"so that a short run is vivid: 0 = free, growing with the steps (default {PREVIEW_CONTRAST} in "
                      f"a preview, 0 in full).", float) = None,
    batch_size: _option("Images per batch tensor: auto (default) or a number.") = None,
    seed: _option("Random seed of the initial images.", int) = None,
    out: _option("Output directory of the site (default site/).") = None,
    config: _option("A TOML file with the same keys (learning_rate, ...).", Path) = None,
    profile: _option("auto (default: full with a GPU, else preview) | preview | full.") = None,
    precision: _option("auto (default: mixed where the device computes bfloat16 natively, else float32) | "
                       "float32 | mixed: bfloat16 compute, float32 loss.") = None,
    shard: _option("I/N: build only shard I (0-based) of N, e.g. in an array job.") = None,
    dask: _option("Run the units on a Dask cluster: a scheduler ADDRESS, or local:N for N worker processes on "
                  "this machine.") = None,
    examples: _option("Dataset examples from a folder of images (recursive), shipped (default: scikit-image's "
                      "sample photos) or none.") = None,
    num_examples: _option(f"Dataset examples per filter and sign (default {NUM_EXAMPLES}).", int) = None,
    facets: _option(f"Facets per filter: that many images, made to differ from one another (default "
                    f"{FACETS_IN_FULL} in the full profile, 0 = off in a preview).", int) = None,
    objective: _option("channel (default: the filter's mean over its map) or neuron (the filter at the centre "
                       "position only).") = None,
    display_channels: _option("For models of other than 1 or 3 input channels: the three channels shown as red, "
                              "green and blue, 1-based (default 1,2,3), e.g. 3,2,1.") = None,
    preprocessing: _option("What the model expects, replacing its own: caffe | tf | torch | unit ([0, 1]) | none "
                           "(raw pixels in [0, 255]). Model files without it: detected.") = None,
    input_range: _option("LOW:HIGH: the pixel range the model reads, e.g. 0:255 or -1:1.") = None,
    mean: _option("Per-channel mean subtracted after the range, comma-separated, e.g. 0.485,0.456,0.406.") = None,
    std: _option("Per-channel std divided by after the mean, comma-separated.") = None,
    labels: _option("A text file of class names, one a line: the names of a Dense layer's units (--layers "
                    "logits builds one image per class).") = None,
    unsafe_deserialization: Annotated[bool | None, typer.Option(
        "--unsafe-deserialization", help="Load a model file's Lambda layers, which may run any code: only for files "
                                         "you trust.")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="If another build is writing --out, wait for it to "
                                                      "finish.")] = False,
    force: Annotated[bool, typer.Option("--force", help="If --out holds another model's atlas, move it aside to "
                                                        "OUT.old-TIME and build.")] = False,
):
    """Optimise an image per filter and sign, write tiles and manifests, and render the site."""
    from generator.model import onednn

    state["onednn"] = onednn.choose(os.environ["KERAS_BACKEND"],  # before anything imports TensorFlow
                                    announce=lambda line: typer.echo(line, err=True))
    from generator.config import CONFIG_KEYS, AtlasConfig, load_toml
    from generator.options import split_layers

    options = dict(locals(), layers=split_layers(layers) if layers is not None else None)
    given = AtlasConfig(**{key: options[key] for key in CONFIG_KEYS})
    from generator.build import zoo

    several = zoo.read_zoo(config) if config is not None else None
    if several is not None:  # [[models]] tables: each model into <out>/<slug>/, then the models index
        def build_model(model, model_config, model_shard):
            typer.echo(f"Model {model.name} -> {model_config.out}/", err=True)
            return build_one(model_config, model_shard, dask, wait, force)

        root = zoo.root_of(several, out)
        zoo.build(several, given, root, build_model, parse_shard(shard))
        typer.echo(f"Built {len(several.models)} models. Open {root / 'index.html'}", err=True)
        return
    merged = (load_toml(config) if config is not None else AtlasConfig()).merged_with(given)
    build_one(merged, parse_shard(shard), dask, wait, force, estimate=True)


def build_one(merged, shard, dask, wait, force, estimate: bool = False):
    """One model's build from its merged config: settings, progress, the report; a preview's estimate."""
    from generator.build import pipeline, plan
    from generator.config import resolve
    from generator.model import backends
    from generator.progress import RichProgress

    settings = dataclasses.replace(resolve(merged, backends.gpu_available(), backends.fast_bfloat16()),
                                   onednn=state.get("onednn"))
    for line in plan.first_lines(backends.machine_facts(), settings):
        typer.echo(line, err=True)
    with RichProgress() as progress:
        report = pipeline.build(settings, progress, shard=shard, dask=dask, wait=wait, force=force)
    typer.echo(f"Built {report.num_built} filters in {report.seconds:.0f} s. Open {report.out / 'index.html'}",
               err=True)
    if report.interrupted:
        typer.echo("Interrupted: finished batches are saved. Run the same command again to resume.", err=True)
        raise typer.Exit(130)
    if estimate and settings.profile == "preview" and report.num_built:
        from generator.build import estimates
        from generator.store.directory import read_run

        run = read_run(report.out)
        if backends.gpu_available():
            typer.echo("Timing a few steps of the full profile on this GPU for the estimate ...", err=True)
        seconds = estimates.estimate_full_seconds(report, settings, run)
        total = sum(layer["num_filters"] for layer in run["layers"])
        typer.echo(f"The full atlas ({total} filters) would take about {seconds / 60:.0f} min "
                   f"on this machine: {plan.full_command(settings)}", err=True)
    return report


@command("layers")
def list_layers(
    model: Annotated[str, typer.Option(help="Model name or .keras file.")] = "vgg16-hed",
    weights: Annotated[str, typer.Option(help="Weights do not change the listing; none is fastest.")] = "none",
    size: Annotated[int, typer.Option(help="Input size used for the output sizes.")] = 224,
    all_layers: Annotated[bool, typer.Option("--all", help="Also list pooling, activation and other 4-D "
                                                           "layers.")] = False,
    unsafe_deserialization: Annotated[bool, typer.Option(
        "--unsafe-deserialization", help="Load a model file's Lambda layers, which may run any code.")] = False,
):
    """List the layers you can pick: name, filters, output size, receptive field."""
    from generator.model.layers import CLASS_LAYER_TYPES, SPATIAL_LAYER_TYPES, spatial_layers
    from generator.model.models import UNSAFE_WARNING, load_model

    if unsafe_deserialization:
        typer.echo(f"warning: {UNSAFE_WARNING}", err=True)
    loaded = load_model(model, weights if model != "vgg16-hed" else "none", unsafe=unsafe_deserialization)
    infos = spatial_layers(loaded, size)
    shown = [info for info in infos if all_layers or info.kind in SPATIAL_LAYER_TYPES + CLASS_LAYER_TYPES] or infos
    width = max([28, *(len(info.name) for info in shown)])  # nested models' layers are "base/layer"
    typer.echo(f"{'layer':<{width}} {'kind':<18} {'filters':>7} {'output':>9} {'receptive field':>16}")
    for info in shown:
        output = f"{info.output_size[0]}x{info.output_size[1]}"
        typer.echo(f"{info.name:<{width}} {info.kind:<18} {info.num_filters:>7} {output:>9} "
                   f"{info.receptive_field:>13} px")


SiteArgument = Annotated[Path, typer.Argument(help="A directory written by `atlas build`.")]


@command()
def render(
    site: SiteArgument = Path("site"),
    merge: Annotated[list[Path], typer.Option("--merge", help="Another shard's output directory to merge in "
                                                              "(repeatable).")] = [],  # noqa: B006 (Typer reads it)
):
    """Re-render the pages and atlas.json from a built directory (no model, no optimisation), merging in the
    finished units of other shards' directories first."""
    from generator.site import pages as site_module
    from generator.site import zoo_pages
    from generator.store import compare_records, directory, example_records, zoo_records

    if compare_records.has_compare(site) and not directory.has_run(site) and not merge:
        from generator.site import compare_pages

        record = compare_pages.render(site)  # a comparison: its pages from compare.json
        typer.echo(f"Rendered the comparison of {len(record['layers'])} layers into {site / 'index.html'}", err=True)
        return
    if zoo_records.read_models(site) is not None or any(zoo_records.read_models(other) for other in merge):
        records = zoo_pages.render_all(site, merge)  # a multi-model site: every model, comparison and the index
        count = sum(len(layer["filters"]) for record in records for layer in record["layers"])
        typer.echo(f"Rendered {count} filters of {len(records)} models into {site / 'index.html'}", err=True)
        return
    for other in merge:
        copied = directory.merge_units(other, site)
        with_examples = " and its dataset examples" if example_records.copy_examples(other, site) else ""
        directory.merge_notices(other, site)
        typer.echo(f"Merged {copied} units{with_examples} from {other}", err=True)
    record = site_module.render(site)
    count = sum(len(layer["filters"]) for layer in record["layers"])
    typer.echo(f"Rendered {count} filters into {site / 'index.html'}", err=True)


@command()
def evaluate(
    site: SiteArgument = Path("site"),
    filters: _option("Measure a subset (e.g. 0:64); it is also the comparison set.") = None,
):
    """Measure a built atlas: flat tiles, robust self-recognition and the negative check, per layer."""
    from generator.build import evaluate as evaluation
    from generator.store import atlas_records

    results = evaluation.evaluate(site, filters)
    typer.echo(evaluation.table(results))
    typer.echo(f"Written to {atlas_records.evaluation_path(site)}", err=True)


@command("compare")
def compare_command(
    site_a: Annotated[Path | None, typer.Argument(help="The first checkpoint's atlas (from `atlas build`).")] = None,
    site_b: Annotated[Path | None, typer.Argument(help="The second checkpoint's atlas, of the same "
                                                       "architecture.")] = None,
    out: _option("Output directory of the comparison's site; with --config, the multi-model site.", Path) = None,
    config: _option("A config file whose [[compare]] tables name the pairs of its [[models]] (instead of SITE_A "
                    "SITE_B).", Path) = None,
    model_a: _option("The first checkpoint's model file, where the one run.json names is not found from here.") = None,
    model_b: _option("The second checkpoint's model file, likewise.") = None,
    no_weights: Annotated[bool, typer.Option("--no-weights", help="Compare by responses to the dataset images "
                                                                  "only (no model files needed).")] = False,
):
    """Compare two checkpoints filter by filter: a change score per filter, galleries most changed first."""
    from generator.build import compare, zoo

    if config is not None:
        for made in zoo.compare_all(config, out, weights=not no_weights):
            typer.echo(f"Compared {made} (open {made / 'index.html'})", err=True)
        return
    if site_a is None or site_b is None or out is None:
        raise AtlasError("atlas compare needs SITE_A SITE_B --out DIR (or --config FILE with [[compare]] tables).")
    record = compare.compare(site_a, site_b, out, weights=not no_weights, models=(model_a, model_b))
    count = sum(len(layer["filters"]) for layer in record["layers"])
    typer.echo(f"Compared {count} filters into {out / 'index.html'}", err=True)


if __name__ == "__main__":
    sys.exit(app())
