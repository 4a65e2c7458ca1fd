"""A comparison's record (no model, no Keras): ``compare.json`` in the comparison's own directory (compare.py
computes it, compare_pages.py renders its pages, the models index reads it), and the files of both compared
atlases that its pages show, copied into ``a/`` and ``b/`` under their site-relative paths."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from generator.store.files import copy_file, read_json, write_json
from generator.store.layout import COMPARE_FILE


def has_compare(out: Path) -> bool:
    """Whether ``out`` holds a comparison (its compare.json)."""
    return (Path(out) / COMPARE_FILE).is_file()


def read_compare(out: Path) -> dict | None:
    """``compare.json`` of ``out`` as it is, or None where it is missing or unreadable."""
    return read_json(Path(out) / COMPARE_FILE)


def write_compare(out: Path, record: dict) -> None:
    write_json(Path(out) / COMPARE_FILE, record)


def copy_side(source: Path, out: Path, side: str, paths: Iterable[str]) -> None:
    """Copy the files ``paths`` (site-relative) of the atlas ``source`` into the comparison's folder ``side``."""
    for path in sorted(paths):
        copy_file(Path(source), Path(out) / side, path)
