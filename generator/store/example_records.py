"""The dataset-example scan's records (no model, no Keras): ``examples/examples.json`` (the finished scan),
``examples/scan-state.npz`` (an unfinished scan's running state, to resume from), ``examples/fingerprints.npz``
(each filter's maximum per scanned image) and the source images the record names. dataset_examples.py and
neighbours.py compute them; they are read, written and copied here."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from generator.store.circuit_records import copy_circuits
from generator.store.files import copy_file, read_record, write_atomically, write_json, writing
from generator.store.layout import EXAMPLES_FILE, EXAMPLES_FORMAT, FINGERPRINTS_FILE, SCAN_STATE_FILE
from generator.store.tiles import encode_webp


def read_examples(out: Path) -> dict | None:
    """The finished scan's record in ``out``, or None."""
    return read_record(out / EXAMPLES_FILE, EXAMPLES_FORMAT)


def write_examples(out: Path, record: dict) -> None:
    """The finished scan's record, after the images it names; the scan's saved state goes."""
    write_json(out / EXAMPLES_FILE, record)
    (out / SCAN_STATE_FILE).unlink(missing_ok=True)


def write_source_image(out: Path, file: str, pixels: np.ndarray, quality: int) -> None:
    """A scanned source image, as the record names it (``layout.example_image_file``), in WebP."""
    with writing(f"'{out / file}'"):
        write_atomically(out / file, encode_webp(pixels, quality))


def read_scan_state(out: Path, key: str) -> dict[str, np.ndarray] | None:
    """The arrays of an unfinished scan's saved state (``key``, ``position``, ``skipped`` and the scan's own),
    or None where there is none, it cannot be read or it belongs to another scan (another key)."""
    try:
        with np.load(out / SCAN_STATE_FILE) as state:
            if str(state["key"]) != key:
                return None
            return {name: np.asarray(state[name]) for name in state.files}
    except (OSError, KeyError, ValueError):
        return None


def write_scan_state(out: Path, key: str, position: int, skipped: int, arrays: dict[str, np.ndarray]) -> None:
    """An unfinished scan's state: its key, the images done and skipped, and its running arrays."""
    buffer = io.BytesIO()
    np.savez(buffer, key=np.array(key), position=np.array(position), skipped=np.array(skipped), **arrays)
    with writing(f"the dataset-example scan's state into '{out}'"):
        write_atomically(out / SCAN_STATE_FILE, buffer.getvalue())


def write_fingerprints(out: Path, key: str, layer_names: list[str], matrices: list[np.ndarray]) -> None:
    """``examples/fingerprints.npz``: the scan's key, the layers' names and per layer its matrix (images x
    filters)."""
    buffer = io.BytesIO()
    np.savez(buffer, key=np.array(key), layers=np.array(layer_names),
             **{f"{index}_maxima": matrix for index, matrix in enumerate(matrices)})
    with writing(f"the filters' fingerprints into '{out}'"):
        write_atomically(out / FINGERPRINTS_FILE, buffer.getvalue())


def read_fingerprints(out: Path, key: str | None = None) -> dict[str, np.ndarray]:
    """Layer name -> (images, filters) from ``examples/fingerprints.npz``; empty when there is none, or when
    ``key`` is given and the file belongs to another scan."""
    try:
        with np.load(out / FINGERPRINTS_FILE) as saved:
            if key is not None and str(saved["key"]) != key:
                return {}
            return {str(name): np.asarray(saved[f"{index}_maxima"]) for index, name in enumerate(saved["layers"])}
    except (OSError, KeyError, ValueError):
        return {}


def copy_examples(source: Path, target: Path) -> bool:
    """Copy another output directory's finished scan (when ``target`` has none): for merging shards, of which
    only the first scans, and so also finds the circuits, which are copied first."""
    copy_circuits(source, target)
    record = read_examples(source)
    if record is None or read_examples(target) is not None:
        return False
    for entry in record["images"]:
        copy_file(source, target, entry["file"])
    if (source / FINGERPRINTS_FILE).is_file():
        copy_file(source, target, FINGERPRINTS_FILE)
    copy_file(source, target, EXAMPLES_FILE)
    return True
