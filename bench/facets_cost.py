"""What facets cost against the main images, and how good they are, with two facet settings side by side.

For the first filters of each layer (vgg16-hed, the full profile's method at the layer's own size, the precision
`auto` picks), in one process: the main images (both signs, as a build makes them), then the facets with the
main images' settings ("before": the full profile's 128 free steps, or ``--main-steps`` and ``--main-contrast``),
then with other settings (``--variants``).
Per layer it prints seconds, facets' cost as a share of the main images', each facet's activation as a share of
its filter's main positive image (among filters that image excites), and the mean pairwise cosine similarity of
the facets' Gram matrices at the style layer (lower: more diverse).

    python bench/facets_cost.py                                  # block4_conv3 and block5_conv3, 4 filters each
    python bench/facets_cost.py --layers block3_conv3 --filters 8 --json docs/measurements/facets-cost.json
    python bench/facets_cost.py --main-steps 48 --main-contrast 1.25 --variants before  # the default atlas's
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import machine, machine_line  # noqa: E402

from generator.analysis import facets  # noqa: E402
from generator.build.plan import plan_layers  # noqa: E402
from generator.config import AtlasConfig, resolve  # noqa: E402
from generator.model import backends  # noqa: E402
from generator.model.extractors import build_extractor  # noqa: E402
from generator.model.precision import precision_policy  # noqa: E402
from generator.model.quiet_keras import keras  # noqa: E402
from generator.optimisation.methods import METHODS  # noqa: E402
from generator.optimisation.optimizer import Optimizer  # noqa: E402
from generator.store import directory  # noqa: E402


def gram_similarity(loaded, style_layer: str, images: np.ndarray) -> float:
    """Mean over filters of the mean pairwise cosine similarity of the facets' centred Gram matrices."""
    features = build_extractor(loaded, style_layer, "output")
    flat = images.reshape((-1,) + images.shape[2:])
    values = features(loaded.preprocessing(keras.ops.convert_to_tensor(flat.astype("float32"))))
    similarity = keras.ops.convert_to_numpy(facets.gram_similarities(values, images.shape[1]))
    return float(np.mean(similarity))


def short_contrast(method, steps: int):
    """The preview's fixed contrast (fourier) over ``steps`` steps, at the main images' size."""
    preview = METHODS[method.name].profiles["preview"].settings
    return dataclasses.replace(method, steps=steps, contrast=method.contrast or preview.contrast)


def started_from(optimizer, main_images: np.ndarray, noise: float, num_facets: int) -> np.ndarray:
    """Each facet's first parameters: its filter's main positive image plus Gaussian ``noise`` (in the parameters'
    units), one draw per facet."""
    shown = np.clip(np.repeat(main_images, num_facets, axis=0), 1e-3, 1 - 1e-3)
    start = optimizer.core.parameterisation.from_image(shown)
    generator = np.random.default_rng(17)
    return (start + generator.normal(0, noise, start.shape)).astype(np.float32)


def timed(function):
    started = time.perf_counter()
    result = function()
    return result, time.perf_counter() - started


def measure_layer(loaded, plan, num_filters: int, num_facets: int, chosen: list[str], short_steps: int,
                  noise: float, weight: float, main_steps: int | None, main_contrast: float | None) -> dict:
    ids = list(plan.filter_ids[:num_filters])
    method = dataclasses.replace(plan.method, steps=main_steps or plan.method.steps,
                                 contrast=plan.method.contrast if main_contrast is None else main_contrast)
    layer_key = directory.layer_key(loaded.name, plan.info.name, method.key(), method.size)
    main = Optimizer(build_extractor(loaded, plan.info.name, method.target), method, 2 * len(ids),
                     loaded.preprocessing, layer_key)
    main_result, main_seconds = timed(lambda: main.run(ids + ids, [1.0] * len(ids) + [-1.0] * len(ids)))
    positive = main_result.activations[:len(ids), -1]
    firing = positive > 0
    style = facets.style_layer_for(loaded.model, plan.info.name)
    record = {"layer": plan.info.name, "size": method.size, "filters": ids, "main_seconds": round(main_seconds, 1),
              "main_steps": method.steps, "firing": int(firing.sum())}
    main_images = main_result.images[:len(ids)]
    variants = {"before": (method, None),  # the full profile's own settings, from random images
                "short_free": (dataclasses.replace(method, steps=short_steps), None),
                "short_contrast": (short_contrast(method, short_steps), None),
                "from_main": (dataclasses.replace(method, steps=short_steps), main_images)}
    for name in chosen:
        settings, start = variants[name]
        optimizer = facets.FacetOptimizer(loaded, plan.info.name, style, settings, num_facets, len(ids), layer_key,
                                          weight=facets.DIVERSITY_WEIGHT if name == "before" else weight)
        first = None if start is None else started_from(optimizer, start, noise, num_facets)
        result, seconds = timed(lambda: optimizer.run(ids, first))  # noqa: B023 (called at once)
        shares = result.activations[firing] / positive[firing, None]
        record[name] = {"steps": settings.steps, "contrast": settings.contrast, "from_main": start is not None,
                        "noise": noise if start is not None else None,
                        "diversity_weight": facets.DIVERSITY_WEIGHT if name == "before" else weight,
                        "seconds": round(seconds, 1),
                        "cost_vs_main": round(seconds / main_seconds, 2),
                        "share_of_main_min": round(float(shares.min()), 3) if shares.size else None,
                        "share_of_main_median": round(float(np.median(shares)), 3) if shares.size else None,
                        "facets_at_least_80_percent": f"{int((shares >= 0.8).sum())} of {shares.size}",
                        "gram_similarity": round(gram_similarity(loaded, style, result.images), 3)}
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", default="block4_conv3,block5_conv3")
    parser.add_argument("--filters", type=int, default=4)
    parser.add_argument("--facets", type=int, default=4)
    parser.add_argument("--variants", default="before,short_contrast,from_main",
                        help="before: the full profile's settings; short_contrast: --short-steps steps with the "
                             "preview's fixed contrast; from_main: --short-steps free steps from the main positive "
                             "image plus --noise; short_free: --short-steps steps of the full profile's settings "
                             "from random images")
    parser.add_argument("--short-steps", type=int, default=32)
    parser.add_argument("--main-steps", type=int, default=None, help="the main images' and before's steps "
                                                                     "(default: the full profile's)")
    parser.add_argument("--main-contrast", type=float, default=None, help="the main images' and before's fixed "
                                                                          "contrast (default: the full profile's)")
    parser.add_argument("--noise", type=float, default=0.3)
    parser.add_argument("--weight", type=float, default=None, help="the variants' diversity weight (default: the "
                                                                 "build's, facets.DIVERSITY_WEIGHT)")
    parser.add_argument("--json", help="also write the record to this file")
    arguments = parser.parse_args()
    info = machine()
    config = AtlasConfig(model="vgg16-hed", layers=tuple(arguments.layers.split(",")), profile="full",
                         examples="none", out="/tmp/unused")
    settings = resolve(config, has_gpu=False, fast_bfloat16=backends.fast_bfloat16())
    rows = []
    with precision_policy(settings.method.precision):
        loaded = settings.source.load()
        for plan in plan_layers(settings, loaded):
            rows.append(measure_layer(loaded, plan, arguments.filters, arguments.facets,
                                      arguments.variants.split(","), arguments.short_steps, arguments.noise,
                                      arguments.weight or facets.DIVERSITY_WEIGHT, arguments.main_steps,
                                      arguments.main_contrast))
            print(json.dumps(rows[-1]), flush=True)
    print(machine_line(info) + f" · precision {settings.method.precision}")
    for row in rows:
        for name in arguments.variants.split(","):
            part = row[name]
            print(f"{row['layer']:<13} {name:<14} {part['steps']:>3} steps, contrast {part['contrast']}: "
                  f"{part['seconds']:6.1f} s = {part['cost_vs_main']:.2f}x the main images' {row['main_seconds']} s; "
                  f"facet/main activation min {part['share_of_main_min']}, median {part['share_of_main_median']}, "
                  f">= 80%: {part['facets_at_least_80_percent']}; Gram similarity {part['gram_similarity']}")
    record = {"machine": info, "precision": settings.method.precision, "layers": rows}
    if arguments.json:
        Path(arguments.json).write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
