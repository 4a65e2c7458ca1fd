"""PCA or t-SNE for the layer maps? For each layer of a built site with dataset examples: how many of each filter's
6 most similar filters (the filter page's neighbours, by the correlation of their fingerprints) are among its 6
nearest on the map, for the map's PCA layout and for t-SNE (scikit-learn, perplexity 5-30, 3 seeds each), and how
far t-SNE's layouts move between seeds; and for the map the atlas draws (neighbours.layout).

    python bench/map_layout.py SITE
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from throughput import machine  # noqa: E402

from generator.analysis import neighbours  # noqa: E402
from generator.store.directory import read_examples  # noqa: E402

K = neighbours.NUM_NEIGHBOURS


def nearest_sets(points: np.ndarray) -> list[set[int]]:
    distances = np.linalg.norm(points[:, None] - points[None], axis=-1)
    np.fill_diagonal(distances, np.inf)
    return [set(np.argsort(row, kind="stable")[:K]) for row in distances]


def similar_sets(fingerprints: np.ndarray) -> list[set[int]]:
    matrix = neighbours.similarities(fingerprints).copy()
    np.fill_diagonal(matrix, -np.inf)
    return [set(np.argsort(-row, kind="stable")[:K]) for row in matrix]


def kept(layout: np.ndarray, truth: list[set[int]]) -> float:
    """The mean share of each filter's K most similar filters that the layout puts among its K nearest."""
    return float(np.mean([len(found & true) / K for found, true in zip(nearest_sets(layout), truth)]))


def main():
    from sklearn.manifold import TSNE

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("site", type=Path)
    parser.add_argument("--json", type=Path, default=None)
    options = parser.parse_args()
    found = neighbours.read_fingerprints(options.site, read_examples(options.site)["key"])
    record = json.loads((options.site / "atlas.json").read_text())
    rows = []
    for layer in record["layers"]:
        if layer["name"] not in found or len(layer["filters"]) < 2 * K:
            continue
        ids = [entry["id"] for entry in layer["filters"]]
        fingerprints = found[layer["name"]][:, ids]
        truth = similar_sets(fingerprints)
        vectors = neighbours.standardised(fingerprints)
        row = {"layer": layer["name"], "filters": len(ids), "images": fingerprints.shape[0],
               "pca": kept(neighbours.principal_components(fingerprints), truth),
               "map": kept(neighbours.layout(fingerprints), truth), "tsne": {}}
        for perplexity in (5, 15, 30):
            if perplexity >= len(ids):
                continue
            layouts = [TSNE(perplexity=perplexity, random_state=seed, init="pca", metric="cosine").fit_transform(
                vectors) for seed in range(3)]
            agreement = np.mean([kept(layouts[0], nearest_sets(other)) for other in layouts[1:]])
            row["tsne"][perplexity] = {"kept": [kept(layout, truth) for layout in layouts],
                                       "seed_agreement": float(agreement)}
        rows.append(row)
    info = machine()
    print(f"# of each filter's {K} most similar filters, the share among its {K} nearest on the map ({info['cpu']})")
    for row in rows:
        tsne = ", ".join(f"perplexity {p}: {np.mean(v['kept']):.0%} (seeds agree {v['seed_agreement']:.0%})"
                         for p, v in row["tsne"].items())
        print(f"{row['layer']} ({row['filters']} filters, {row['images']} images): PCA {row['pca']:.0%}; "
              f"the atlas's map {row['map']:.0%}; t-SNE {tsne}")
    if options.json:
        options.json.write_text(json.dumps({"machine": info, "site": str(options.site), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
