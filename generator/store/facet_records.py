"""The facets' records as the site reads them (no model, no Keras): a manifest per work unit,
``facets/<layer>/<unit>.json``, written after its tiles; each filter's facets attached to the atlas record.
facets.py computes and writes them."""

from __future__ import annotations

from pathlib import Path

from generator.store.files import copy_file, read_record

FORMAT = 1
FACETS_DIR = "facets"


def manifest_path(out: Path, slug: str, unit_name: str) -> Path:
    return out / FACETS_DIR / slug / f"{unit_name}.json"


def facet_tile_path(slug: str, filter_id: int, facet: int) -> str:
    return f"tiles/{slug}/{filter_id:04d}-facet-{facet}.png"


def read_facets(out: Path, slug: str, unit_name: str) -> dict | None:
    return read_record(manifest_path(out, slug, unit_name), FORMAT)


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
