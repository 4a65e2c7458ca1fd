"""The facets' records (no model, no Keras): a manifest per work unit, ``facets/<layer>/<unit>.json``, written
after its tiles; reading and writing them, and each filter's facets attached to the atlas record. facets.py
computes them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from generator.store.files import copy_file, read_record, write_atomically, writing
from generator.store.layout import FACETS_DIR, FACETS_FORMAT, facet_manifest_file, facet_tile_path
from generator.store.tiles import write_tile


def manifest_path(out: Path, slug: str, unit_name: str) -> Path:
    return out / facet_manifest_file(slug, unit_name)


def read_facets(out: Path, slug: str, unit_name: str) -> dict | None:
    return read_record(manifest_path(out, slug, unit_name), FACETS_FORMAT)


def write_facet_tile(out: Path, slug: str, filter_id: int, facet: int, tile: np.ndarray) -> str:
    """One facet's tile and its thumbnail; returns the tile's site-relative path."""
    path = facet_tile_path(slug, filter_id, facet)
    write_tile(out / path, tile)
    return path


def write_facets(out: Path, slug: str, unit_name: str, manifest: dict) -> None:
    """A unit's facet manifest, after its tiles: its facets are done once it is there."""
    with writing(f"the facets of '{manifest['layer']}' into '{out}'"):
        write_atomically(manifest_path(out, slug, unit_name), json.dumps(manifest, separators=(",", ":")).encode())


def for_site(out: Path, layers: list[dict]) -> None:
    """Give each built filter its ``facets`` (image, thumbnail, activation per facet) where a facet manifest of
    its layer lists it and its tiles exist."""
    for layer in layers:
        built = {entry["id"]: entry for entry in layer["filters"]}
        for path in sorted((out / FACETS_DIR / layer["slug"]).glob("*.json")):
            record = read_facets(out, layer["slug"], path.stem)
            for found in (record or {}).get("filters", []):
                entry = built.get(found["id"])
                if entry is not None and all((out / facet["image"]).is_file() for facet in found["facets"]):
                    entry["facets"] = found["facets"]
        layer["has_facets"] = any("facets" in entry for entry in layer["filters"])


def copy_facets(source: Path, target: Path) -> None:
    """Copy another shard's facet manifests that ``target`` lacks, each after the tiles it names."""
    for path in sorted((source / FACETS_DIR).glob("*/*.json")):
        relative = path.relative_to(source)
        record = read_facets(source, path.parent.name, path.stem)
        if record is None or (target / relative).exists():
            continue
        for found in record["filters"]:
            for facet in found["facets"]:
                for key in ("image", "thumbnail"):
                    copy_file(source, target, facet[key])
        copy_file(source, target, relative)
