"""Neighbours: filters that respond to the same images, and a map of each layer laid out by that likeness.

A filter's fingerprint is its response over the dataset-example images: per image, the largest value of its
pre-activation anywhere (the scan computes it anyway). The scan keeps the matrix (images x filters) per layer
and saves it with its state and, when finished, as ``examples/fingerprints.npz``.

Fingerprints are standardised per filter (over the images: mean 0, length 1), so the cosine similarity of two
filters is the correlation of their responses: a filter that fires on every image by a different amount is not
alike every other. A filter whose response does not vary has no neighbours. Each filter page lists the
NUM_NEIGHBOURS most similar built filters; the map places every filter by t-SNE of its standardised fingerprint
(scikit-learn), started from the principal components and seeded: on vgg16-hed's block1_conv2 and block2_conv2 it
kept 69% and 57% of each filter's 6 most similar filters among its 6 nearest on the map, PCA 46% and 39%
(bench/map_layout.py), and identical fingerprints still get identical positions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from generator.store import example_records
from generator.store.tiles import contact_sheet, encode_webp, sheet_columns

NUM_NEIGHBOURS = 6
MAP_THUMBNAIL = 48  # pixels of a filter's thumbnail on the map (zoom spreads the filters, not the thumbnails)
PERPLEXITY = 15.0  # t-SNE's: the map kept 57-69% of the pages' neighbours on vgg16-hed, PCA 39-46% (docs/site.md)
MIN_TSNE = 8  # fewer filters than this are placed by their principal components
MAP_SIZE = 960  # pixels of the map's square at zoom 1
# The map draws its thumbnails from one sprite per layer, every filter at MAP_THUMBNAIL px in the points' order:
# one request instead of one per filter, and a 512-filter map under 2 MB (docs/site.md#the-network-map).
SPRITE_QUALITY = 80


class Fingerprints:
    """Per layer, each image's largest value per filter, filled in as the scan goes (rows of unread or not yet
    scanned images are NaN)."""

    def __init__(self, num_images: int, filter_counts: list[int]):
        self.maxima = [np.full((num_images, count), np.nan, np.float32) for count in filter_counts]

    def add(self, image_ids: np.ndarray, maxima: list[np.ndarray]) -> None:
        valid = image_ids >= 0
        for matrix, values in zip(self.maxima, maxima):
            matrix[image_ids[valid]] = np.asarray(values, np.float32)[valid]

    def arrays(self) -> dict[str, np.ndarray]:
        return {f"{index}_maxima": matrix for index, matrix in enumerate(self.maxima)}

    @classmethod
    def from_arrays(cls, arrays, num_layers: int) -> Fingerprints:
        fingerprints = cls.__new__(cls)
        fingerprints.maxima = [np.asarray(arrays[f"{index}_maxima"]) for index in range(num_layers)]
        return fingerprints

    def write(self, out: Path, key: str, layer_names: list[str]) -> None:
        """``examples/fingerprints.npz``: the scan's key, the layers' names and per layer the matrix of the
        images that were read (images x filters); the store writes it (example_records.write_fingerprints)."""
        read = ~np.isnan(self.maxima[0]).all(axis=1) if self.maxima else np.zeros(0, bool)
        example_records.write_fingerprints(out, key, layer_names, [matrix[read] for matrix in self.maxima])


def standardised(fingerprints: np.ndarray) -> np.ndarray:
    """(filters, images): each filter's responses with mean 0 and length 1 (zero where they do not vary)."""
    fingerprints = np.nan_to_num(np.asarray(fingerprints, np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    centred = (fingerprints - fingerprints.mean(axis=0, keepdims=True)).T
    lengths = np.linalg.norm(centred, axis=1, keepdims=True)
    return np.where(lengths > 1e-6 * max(1.0, float(np.abs(fingerprints).max(initial=0.0))),
                    centred / np.maximum(lengths, 1e-30), 0.0)


def similarities(fingerprints: np.ndarray) -> np.ndarray:
    """(filters, filters): the cosine similarity of the standardised fingerprints (their correlation)."""
    vectors = standardised(fingerprints)
    return vectors @ vectors.T


def nearest(fingerprints: np.ndarray, candidates: list[int]) -> dict[int, list[dict]]:
    """Per candidate filter, the NUM_NEIGHBOURS most similar other candidates with positive similarity, as
    ``{"id": filter, "similarity": value}`` records; a filter whose response does not vary has none."""
    matrix = similarities(fingerprints)
    result = {}
    for filter_id in candidates:
        row = matrix[filter_id, candidates]
        order = np.argsort(-row, kind="stable")
        result[filter_id] = [{"id": int(candidates[index]), "similarity": float(f"{row[index]:.4g}")}
                             for index in order if candidates[index] != filter_id and row[index] > 1e-6
                             ][:NUM_NEIGHBOURS]
    return result


def principal_components(fingerprints: np.ndarray) -> np.ndarray:
    """(filters, 2): the first two principal components of the standardised fingerprints, signs fixed so the
    largest coordinate of each is positive (the same in every build); zeros where nothing varies."""
    vectors = standardised(fingerprints)
    centred = vectors - vectors.mean(axis=0, keepdims=True)
    if centred.shape[1] == 0 or not np.any(centred):
        return np.zeros((len(vectors), 2))
    left, values, _ = np.linalg.svd(centred, full_matrices=False)
    components = left[:, :2] * values[:2]
    if components.shape[1] < 2:
        components = np.concatenate([components, np.zeros((len(components), 1))], axis=1)
    for axis in range(2):
        column = components[:, axis]
        if column[np.argmax(np.abs(column))] < 0:
            components[:, axis] = -column
    return components


def layout(fingerprints: np.ndarray) -> np.ndarray:
    """(filters, 2) in [0, 1]: t-SNE of the standardised fingerprints (Euclidean, which on these unit vectors
    orders pairs as their correlation does; perplexity up to 15), started from their principal components and
    seeded, so a build's map is the same every time; the principal components themselves below MIN_TSNE filters.
    Each axis is scaled to the unit interval, the larger spread kept larger."""
    points = principal_components(fingerprints)
    if len(points) >= MIN_TSNE and np.any(points):
        from sklearn.manifold import TSNE

        start = points / max(float(np.std(points[:, 0])), 1e-12) * 1e-4  # t-SNE's own PCA start is this small
        points = TSNE(n_components=2, perplexity=min(PERPLEXITY, (len(points) - 1) / 3), init=start,
                      random_state=0).fit_transform(standardised(fingerprints))
    low, high = points.min(axis=0), points.max(axis=0)
    span = float((high - low).max())
    if span < 1e-12:
        return np.full((len(points), 2), 0.5)
    return (points - low) / span * 0.9 + 0.05


def for_site(out: Path, layers: list[dict], scan_key: str | None) -> None:
    """Give each built filter its ``neighbours`` (NUM_NEIGHBOURS most similar built filters, each with page and
    thumbnail) and each layer with fingerprints its ``map``: the page and every built filter's position."""
    found = example_records.read_fingerprints(out, scan_key) if scan_key else {}
    for layer in layers:
        fingerprints = found.get(layer["name"])
        if fingerprints is None or fingerprints.shape[1] != layer["num_filters"] or not layer["filters"]:
            continue
        built = {entry["id"]: entry for entry in layer["filters"]}
        for filter_id, items in nearest(fingerprints, sorted(built)).items():
            built[filter_id]["neighbours"] = [{**item, "page": built[item["id"]]["page"],
                                               "thumbnail": built[item["id"]]["positive"]["thumbnail"]}
                                              for item in items]
        positions = layout(fingerprints)
        columns = sheet_columns(len(built))
        layer["map"] = {"page": f"layers/{layer['slug']}/map.html",
                        "sprite": f"layers/{layer['slug']}/map-sprite.webp", "sprite_columns": columns,
                        "points": [{"id": filter_id, "x": round(float(positions[filter_id, 0]), 4),
                                    "y": round(float(positions[filter_id, 1]), 4),
                                    "sprite_x": index % columns * MAP_THUMBNAIL,
                                    "sprite_y": index // columns * MAP_THUMBNAIL}
                                   for index, filter_id in enumerate(sorted(built))]}


def map_sprite(tiles_by_id: dict[int, np.ndarray], layer_map: dict) -> bytes:
    """The map's sprite: every point's positive tile at MAP_THUMBNAIL px, in the points' order, as WebP."""
    tiles = [tiles_by_id[point["id"]] for point in layer_map["points"]]
    return encode_webp(contact_sheet(tiles, tile_size=MAP_THUMBNAIL, gap=0), quality=SPRITE_QUALITY)


def map_pages(env, record: dict) -> dict[str, str]:
    """The map page of each layer that has one."""
    pages = {}
    for layer in record["layers"]:
        if layer.get("map"):
            built = {entry["id"]: entry for entry in layer["filters"]}
            points = [{**point, "page": built[point["id"]]["page"]} for point in layer["map"]["points"]]
            pages[layer["map"]["page"]] = env.get_template("map.html").render(
                atlas=record, layer=layer, points=points, root="../../", map_size=MAP_SIZE,
                thumbnail=MAP_THUMBNAIL)
    return pages
