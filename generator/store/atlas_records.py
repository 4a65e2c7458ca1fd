"""The records a rendered atlas keeps beside its pages (no model, no Keras): ``atlas.json``, what the pages show
(pages.py renders it from run.json and the manifests; comparisons and the models index read it), and
``evaluation.json``, the quality evaluate.py measured."""

from __future__ import annotations

import json
from pathlib import Path

from generator.store.files import read_json, write_atomically, write_json
from generator.store.layout import ATLAS_FILE, EVALUATION_FILE


def read_atlas(out: Path) -> dict | None:
    """``atlas.json`` of ``out`` as it is, or None where it is missing or unreadable (not rendered yet)."""
    return read_json(Path(out) / ATLAS_FILE)


def write_atlas(out: Path, record: dict) -> None:
    write_json(Path(out) / ATLAS_FILE, record)


def evaluation_path(out: Path) -> Path:
    return Path(out) / EVALUATION_FILE


def write_evaluation(out: Path, record: dict) -> None:
    write_atomically(evaluation_path(out), json.dumps(record, indent=1).encode())
