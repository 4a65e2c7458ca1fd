"""Why self-recognition misses: for every filter whose own image is not the one that excites it most, compare
its image with a flat image of the colour the model's preprocessing maps to zero (ImageNet's mean colour for
VGG16), under the same random views as `atlas evaluate`.

    python bench/silent_filters.py SITE            # a site built with the fourier method (e.g. make bench-quality)

Some filters are inhibited by any structure at all (vgg16-hed's block2_conv2 has filters that fire nowhere in
scikit-image's photos): their best image is the absence of a pattern, a flat tile, which the optimiser
approaches but does not reach. This prints, per layer, the missed filters and for how many of them the flat
image beats every image of the layer, the filter's own included.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import generator  # noqa: E402,F401
from generator.build import evaluate
from generator.model.extractors import build_extractor
from generator.model.models import load_model  # noqa: E402
from generator.model.preprocessing import IMAGENET_MEAN_RGB
from generator.site.pages import collect  # noqa: E402
from generator.store import directory  # noqa: E402

ZERO_INPUT_RGB = {"caffe": np.array(IMAGENET_MEAN_RGB) / 255, "torch": np.array(IMAGENET_MEAN_RGB) / 255,
                  "tf": np.full(3, 0.5), "unit": np.zeros(3), "none": np.zeros(3)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("site", type=Path)
    options = parser.parse_args()
    record = collect(options.site)
    model = directory.read_run(options.site)["model"]
    loaded = load_model(model.get("source", model["name"]), model.get("weights_option", "default"))
    colour = ZERO_INPUT_RGB[loaded.preprocessing.name]
    print(f"flat image: RGB {np.round(colour, 3).tolist()} (the input that {loaded.preprocessing.name} preprocessing "
          f"maps to zero), {evaluate.NUM_VIEWS} views as in atlas evaluate")
    for layer in record["layers"]:
        entries = layer["filters"]
        ids = [entry["id"] for entry in entries]
        extractor = build_extractor(loaded, layer["name"], record["method"]["target"])
        images = np.stack([evaluate.load_tile(options.site / entry["positive"]["image"]) for entry in entries])
        flat = np.broadcast_to(colour.astype(np.float32), images[:1].shape).copy()
        activations = evaluate.all_filter_activations(extractor, loaded.preprocessing, images, evaluate.NUM_VIEWS)
        on_flat = evaluate.all_filter_activations(extractor, loaded.preprocessing, flat, evaluate.NUM_VIEWS)[0]
        chosen = activations[:, ids]
        winners = np.argmax(chosen, axis=0)
        missed = [j for j in range(len(ids)) if winners[j] != j]
        flat_wins = [j for j in missed if on_flat[ids[j]] > chosen[:, j].max()]
        beaten_by = sorted({ids[winners[j]] for j in missed})
        print(f"{layer['name']}: {len(missed)} of {len(ids)} filters missed; the flat image beats every image of "
              f"the layer for {len(flat_wins)} of them; their own images' mean activation "
              f"{np.mean([chosen[j, j] for j in missed]) if missed else float('nan'):.3f}, the flat image's "
              f"{np.mean([on_flat[ids[j]] for j in missed]) if missed else float('nan'):.3f}; "
              f"the winning images are those of filters {beaten_by[:12]}")


if __name__ == "__main__":
    main()
