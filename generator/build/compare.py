"""Two checkpoints of one model compared filter by filter, from what their two built atlases hold.

Each filter gets a change score with two parts, each from 0 (unchanged) up to 2 (reversed):

- ``responses``: one minus the correlation of its per-image maxima over the dataset images (the fingerprints that
  the neighbours use, ``examples/fingerprints.npz``): how differently it responds to the same images. Both sites
  must have scanned the same images; a filter whose response does not vary counts as unchanged if the other
  checkpoint's is the same, else as changed (1).
- ``weights``: one minus the cosine of its kernels in the two model files (compare_weights.py, the one part that
  loads the models; run.json names each site's model source, or the user gives it).

``change`` is the mean of the parts that are there. Two atlases of another architecture (other layer names or
filter counts) are refused in one line. compare_pages.py renders the result; nothing here imports Keras.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

from generator import __version__
from generator.analysis.neighbours import standardised
from generator.errors import AtlasError
from generator.site import compare_pages
from generator.store import atlas_records, directory, example_records
from generator.store.layout import COMPARE_FORMAT, filter_page_path

SIDES = ("a", "b")


class Side(NamedTuple):
    """One built atlas as the comparison reads it."""

    label: str
    site: Path
    run: dict  # run.json
    atlas: dict  # atlas.json: what its pages show
    scan: dict | None  # examples/examples.json
    fingerprints: dict[str, np.ndarray]  # layer name -> (images, filters)


class Scores(NamedTuple):
    """Per layer name, each filter's part of the change score (by filter id); a layer without it is absent."""

    responses: dict[str, np.ndarray]
    weights: dict[str, np.ndarray]
    notes: list[str]


def read_side(site: Path, label: str | None = None) -> Side:
    site = Path(site)
    run = directory.read_run(site)
    atlas = atlas_records.read_atlas(site)
    if atlas is None:
        raise AtlasError(f"'{site}' has no readable atlas.json: run `atlas render {site}` first.")
    scan = example_records.read_examples(site)
    fingerprints = example_records.read_fingerprints(site, scan["key"]) if scan else {}
    return Side(label or site.resolve().name, site, run, atlas, scan, fingerprints)


def architecture(side: Side) -> list[tuple[str, int]]:
    return [(layer["name"], int(layer["num_filters"])) for layer in side.run["layers"]]


def check_same_architecture(a: Side, b: Side) -> None:
    """One line unless both atlases have the same layers (names, in order) with the same filter counts."""
    found_a, found_b = architecture(a), architecture(b)
    if found_a != found_b:
        def describe(layers):
            return ", ".join(f"{name} ({count})" for name, count in layers) or "no layers"

        raise AtlasError(f"Cannot compare '{a.site}' and '{b.site}': two atlases of one architecture are needed (the "
                         f"same layers and filter counts), but the first has {describe(found_a)} and the second "
                         f"{describe(found_b)}; build both checkpoints with the same --layers.")


def response_changes(fingerprints_a: np.ndarray, fingerprints_b: np.ndarray) -> np.ndarray:
    """Per filter: 1 - the correlation of its per-image maxima in the two checkpoints (images x filters each)."""
    vectors_a, vectors_b = standardised(fingerprints_a), standardised(fingerprints_b)
    correlation = (vectors_a * vectors_b).sum(axis=1)
    flat_a, flat_b = ~vectors_a.any(axis=1), ~vectors_b.any(axis=1)
    same = np.all(np.isclose(np.nan_to_num(fingerprints_a), np.nan_to_num(fingerprints_b), rtol=1e-4, atol=1e-6),
                  axis=0)
    flat_change = np.where(flat_a & flat_b & same, 0.0, 1.0)  # a response that does not vary has no correlation
    return np.where(flat_a | flat_b, flat_change, 1.0 - np.clip(correlation, -1.0, 1.0))


def response_scores(a: Side, b: Side) -> tuple[dict[str, np.ndarray], list[str]]:
    if not a.fingerprints or not b.fingerprints:
        missing = [side.label for side in (a, b) if not side.fingerprints]
        return {}, [f"No response part: {' and '.join(missing)} {'have' if len(missing) > 1 else 'has'} no "
                    f"dataset-example scan (build with --examples)."]
    if (a.scan["source"], a.scan["num_images"]) != (b.scan["source"], b.scan["num_images"]):
        return {}, [f"No response part: the two sites scanned other images ({a.scan['source']}, "
                    f"{b.scan['source']}); build both with the same --examples."]
    scores = {}
    for name, _ in architecture(a):
        found_a, found_b = a.fingerprints.get(name), b.fingerprints.get(name)
        if found_a is not None and found_b is not None and found_a.shape == found_b.shape:
            scores[name] = response_changes(found_a, found_b)
    return scores, []


def model_source(side: Side, override: str | None, option: str):
    """The model to load for ``side``'s weights: the user's, else the one run.json names."""
    from generator.analysis.compare_weights import ModelSource

    model = side.run["model"]
    if override is not None:
        return ModelSource(override, "default", bool(model.get("unsafe_deserialization")))
    source = str(model.get("source") or model["name"])
    if source.endswith((".keras", ".h5")) and not Path(source).exists():
        raise AtlasError(f"The model file '{source}' that '{side.site}' was built from is not found from here: give "
                         f"it with {option} PATH, or compare by responses only with --no-weights.")
    return ModelSource(source, str(model.get("weights_option") or "default"), bool(model.get("unsafe_deserialization")))


def scores_of(a: Side, b: Side, weights: bool = True, models: tuple[str | None, str | None] = (None, None)
              ) -> Scores:
    responses, notes = response_scores(a, b)
    kernels = {}
    if weights:
        from generator.analysis.compare_weights import kernel_changes

        kernels = kernel_changes(model_source(a, models[0], "--model-a"), model_source(b, models[1], "--model-b"),
                                 architecture(a))
    else:
        notes.append("No weights part: --no-weights was given.")
    if not responses and not kernels:
        raise AtlasError(f"Nothing to compare '{a.site}' and '{b.site}' by: {' '.join(notes)}")
    return Scores(responses, kernels, notes)


def _number(value) -> float | None:
    return None if value is None or not np.isfinite(value) else float(f"{round(float(value), 6):.4g}")


def _side_entry(entry: dict, compared: dict[str, set[int]]) -> dict:
    """What a comparison page shows of one checkpoint's filter (its page's images, examples and circuit)."""
    shown = {sign: {key: entry[sign][key] for key in ("image", "thumbnail", "activation_after", "status")
                    if key in entry[sign]} for sign in directory.SIGN_NAMES}
    for key in ("status", "examples"):
        if key in entry:
            shown[key] = entry[key]
    if "circuit" in entry:  # linked filters lead to their comparison pages, where both checkpoints have them
        circuit = entry["circuit"]
        shown["circuit"] = {**circuit, **{sign: [{**item, "page": item["page"] if item["id"] in compared.get(
            circuit["layer"], ()) else None} for item in circuit[sign]] for sign in ("excite", "inhibit")}}
    return shown


def build_record(a: Side, b: Side, scores: Scores) -> dict:
    """compare.json: per layer its filters built in both atlases, most changed first, and the layers' change."""
    layers_a = {layer["name"]: layer for layer in a.atlas["layers"]}
    layers_b = {layer["name"]: layer for layer in b.atlas["layers"]}
    compared = {name: {entry["id"] for entry in layers_a[name]["filters"]} & {entry["id"] for entry in
                                                                              layers_b[name]["filters"]}
                for name, _ in architecture(a) if name in layers_a and name in layers_b}
    layers = []
    for name, num_filters in architecture(a):
        if name not in compared:
            continue
        built_a = {entry["id"]: entry for entry in layers_a[name]["filters"]}
        built_b = {entry["id"]: entry for entry in layers_b[name]["filters"]}
        filters = []
        for filter_id in sorted(compared[name]):
            parts = {part: _number(found[name][filter_id]) if name in found else None
                     for part, found in (("responses", scores.responses), ("weights", scores.weights))}
            present = [value for value in parts.values() if value is not None]
            filters.append({"id": filter_id, "page": filter_page_path(layers_a[name]["slug"], filter_id),
                            "change": _number(np.mean(present)) if present else None, **parts,
                            "a": _side_entry(built_a[filter_id], compared), "b": _side_entry(built_b[filter_id],
                                                                                             compared)})
        filters.sort(key=lambda item: (-(item["change"] if item["change"] is not None else -1.0), item["id"]))
        changes = [item["change"] for item in filters if item["change"] is not None]
        layer = layers_a[name]
        layers.append({
            **{key: layer[key] for key in ("name", "slug", "kind", "receptive_field") if key in layer},
            "num_filters": num_filters, "page": f"layers/{layer['slug']}/index.html",
            **({"labels": layer["labels"]} if "labels" in layer else {}),
            "change": _number(np.mean(changes)) if changes else None,
            "max_change": _number(max(changes)) if changes else None,
            "parts": [part for part, found in (("responses", scores.responses), ("weights", scores.weights))
                      if name in found],
            "a": {"image_size": layer["image_size"], "example_patch_size": layer["example_patch_size"]},
            "b": {"image_size": layers_b[name]["image_size"],
                  "example_patch_size": layers_b[name]["example_patch_size"]},
            "filters": filters,
        })
    return {
        "format": COMPARE_FORMAT,
        "generator": f"filter-atlas {__version__}",
        **{side_name: {"label": side.label, "site": str(side.site), "model": side.atlas["model"],
                       "method": side.atlas["method"], "profile": side.atlas["profile"],
                       "examples": side.atlas["examples"]} for side_name, side in zip(SIDES, (a, b))},
        "notes": scores.notes,
        "layers": layers,
    }


def compare(site_a: Path, site_b: Path, out: Path, *, weights: bool = True,
            models: tuple[str | None, str | None] = (None, None), labels: tuple[str | None, str | None] = (None, None)
            ) -> dict:
    """Compare two built atlases of one architecture and write the comparison's site into ``out``."""
    a, b = read_side(site_a, labels[0]), read_side(site_b, labels[1])
    check_same_architecture(a, b)
    record = build_record(a, b, scores_of(a, b, weights, models))
    compare_pages.write(out, record, {"a": a.site, "b": b.site})
    return record
