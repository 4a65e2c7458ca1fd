"""What the network map costs: circuits, neighbours and the layer maps against the rest of a `full` build.

Builds the default layers of vgg16-hed with the `full` profile (facets and dataset examples included) on a sample
of filters per layer, with the build's own phase timer, then renders the site twice: with the neighbours and the
maps, and without them. Circuits are the build's `circuits` phase (each layer pair's attribution timed apart);
neighbours and maps are the render's difference. The same run projects both sides to every filter of the layers:
optimisation and facets per filter of each layer, circuits per filter of each pair's later layer, the dataset
scan as it is (it reads every filter of every image in any case), the render per filter.

    python bench/network_map.py                         # 8 filters per layer
    python bench/network_map.py --filters 0:16 --out build/network-map
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import machine  # noqa: E402

import generator  # noqa: E402,F401
from generator.analysis import circuits, neighbours
from generator.build import pipeline
from generator.config import AtlasConfig, resolve  # noqa: E402
from generator.model import backends
from generator.site import pages  # noqa: E402
from generator.store.files import write_atomically  # noqa: E402

DEFAULT_LAYERS = "block1_conv2,block2_conv2,block3_conv3,block4_conv3,block5_conv3"


def timed_attribution(seconds_by_pair: dict[str, float]):
    """Wraps circuits.Attribution.strengths so that each layer pair's attribution time is recorded."""
    original = circuits.Attribution.strengths

    def strengths(self, pixels, examples, num_later):
        started = time.perf_counter()
        try:
            return original(self, pixels, examples, num_later)
        finally:
            name = f"{self.earlier}->{self.later}"
            seconds_by_pair[name] = seconds_by_pair.get(name, 0.0) + time.perf_counter() - started

    circuits.Attribution.strengths = strengths
    return original


def render_seconds(out: Path, with_map: bool, repeats: int) -> float:
    """Median seconds of pages.render(out), with or without the neighbours and the layer maps."""
    originals = neighbours.for_site, neighbours.map_pages
    if not with_map:
        neighbours.for_site = lambda *arguments: None
        neighbours.map_pages = lambda *arguments: {}
    try:
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            pages.render(out)
            times.append(time.perf_counter() - started)
        return statistics.median(times)
    finally:
        neighbours.for_site, neighbours.map_pages = originals


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--filters", default="0:8", help="the sample of filters of every layer")
    parser.add_argument("--layers", default=DEFAULT_LAYERS)
    parser.add_argument("--weights", default=None)
    parser.add_argument("--out", default="build/network-map-bench")
    parser.add_argument("--repeats", type=int, default=3, help="renders timed each way (the median is kept)")
    parser.add_argument("--record", default=None, help="also write the figures as JSON here")
    options = parser.parse_args()

    out = Path(options.out)
    config = AtlasConfig(model="vgg16-hed", weights=options.weights, filters=options.filters, profile="full",
                         layers=tuple(options.layers.split(",")), out=str(out))
    settings = resolve(config, backends.gpu_available(), backends.fast_bfloat16())
    attribution_by_pair: dict[str, float] = {}
    timed_attribution(attribution_by_pair)
    report = pipeline.build(settings)
    if sum(layer.num_built for layer in report.layers) == 0:
        sys.exit(f"{out} was already built: give a new --out, so that the build's phases are timed.")
    run = json.loads((out / "run.json").read_text())
    render_with = render_seconds(out, True, options.repeats)
    render_without = render_seconds(out, False, options.repeats)
    pages.render(out)  # leave the site as it was built

    phases = dict(report.phase_seconds)
    sampled = {layer["name"]: len(layer["filter_ids"]) for layer in run["layers"]}
    full = {layer["name"]: layer["num_filters"] for layer in run["layers"]}
    optimise = {layer.name: layer.seconds for layer in report.layers}
    circuits_measured = phases.get("circuits", 0.0)
    attribution_total = sum(attribution_by_pair.values())

    def scaled_optimise() -> float:
        return sum(optimise[name] / sampled[name] * full[name] for name in optimise)

    optimise_scale = scaled_optimise() / max(sum(optimise.values()), 1e-9)
    scale_filters = sum(full.values()) / sum(sampled.values())
    # Circuits: attribution per later filter of each pair, the rest of the phase (records, weights) as it is.
    circuits_projected = (circuits_measured - attribution_total) + sum(
        seconds / sampled[pair.split("->")[1]] * full[pair.split("->")[1]]
        for pair, seconds in attribution_by_pair.items())
    map_measured = max(render_with - render_without, 0.0)
    figures = {
        "sample": {"filters_per_layer": sampled, "phases": phases, "render_with_map": render_with,
                   "render_without_map": render_without, "attribution_by_pair": attribution_by_pair},
    }
    rows = []
    for name, scale_optimise, scale_circuits, scale_render in (
            ("sample (measured)", 1.0, None, 1.0), ("every filter (projected)", optimise_scale, "pairs",
                                                     scale_filters)):
        base = (phases.get("optimise", 0.0) + phases.get("facets", 0.0)) * scale_optimise \
            + phases.get("examples", 0.0) + render_without * scale_render
        added = (circuits_projected if scale_circuits else circuits_measured) + map_measured * scale_render
        rows.append({"what": name, "without_seconds": base, "added_seconds": added, "overhead": added / base})
    figures["rows"] = rows
    figures["machine"] = machine()
    figures["settings"] = {"method": settings.method.name, "steps": settings.method.steps,
                           "precision": settings.method.precision, "facets": settings.num_facets,
                           "examples": settings.examples.num_examples if settings.examples else 0}

    print(f"machine: {figures['machine']['cpu']} ({figures['machine']['cpu_cores']} cores), "
          f"{figures['machine']['backend']}; {settings.method.name}, {settings.method.steps} steps, "
          f"{settings.method.precision}, {settings.num_facets} facets")
    print("phases of the sample's build (s): " + ", ".join(f"{key} {value:.1f}" for key, value in phases.items()))
    print(f"render: {render_with:.2f} s with neighbours and maps, {render_without:.2f} s without "
          f"(median of {options.repeats})")
    print(f"{'build':<26} {'without (s)':>12} {'added (s)':>10} {'overhead':>9}")
    for row in rows:
        print(f"{row['what']:<26} {row['without_seconds']:>12.1f} {row['added_seconds']:>10.1f} "
              f"{row['overhead']:>9.1%}")
    if options.record:
        write_atomically(Path(options.record), (json.dumps(figures, indent=2) + "\n").encode())


if __name__ == "__main__":
    main()
