"""The multi-model site's record as every page reads it (no model, no Keras): ``models.json`` in the root lists
the models (each a standalone site in ``<root>/<slug>/``) and the comparisons; a site whose parent lists it links
back to the root's models index from every page. zoo.py builds the models and writes the record."""

from __future__ import annotations

import json
from pathlib import Path

from generator.store.files import read_record, write_atomically, writing
from generator.store.layout import MODELS_FILE, MODELS_FORMAT

MODELS_INDEX = "../index.html"  # from a model's (or comparison's) own root to the models index


def read_models(root: Path) -> dict | None:
    """``models.json`` of a multi-model site's root, or None where ``root`` is not one."""
    return read_record(Path(root) / MODELS_FILE, MODELS_FORMAT)


def write_models(root: Path, record: dict) -> None:
    with writing(f"the models' record into '{root}'"):
        write_atomically(Path(root) / MODELS_FILE, json.dumps({"format": MODELS_FORMAT, **record}, indent=1).encode())


def member(root: Path, slug: str) -> Path:
    """The folder of a model or comparison in a multi-model root: a standalone output directory."""
    return Path(root) / slug


def members(record: dict) -> list[str]:
    """The folders of the root that belong to it: every model's and every comparison's."""
    return [model["slug"] for model in record["models"]] + [compare["slug"] for compare in record.get("compare", [])]


def models_index_of(out: Path) -> str | None:
    """The link from ``out``'s own root to the models index when ``out`` is part of a multi-model site (its
    parent's ``models.json`` lists it), else None: a site on its own links nowhere outside itself."""
    out = Path(out).resolve()
    record = read_models(out.parent)
    return MODELS_INDEX if record is not None and out.name in members(record) else None
