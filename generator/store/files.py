"""Writing the output directory's files: atomically, and with one-line errors.

Every file of a run is written whole or not at all (a temporary file beside it, then a rename), so a reader, a
resumed run or a crash never sees half a file.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from generator.errors import AtlasError


def write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file beside ``path``, then rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
        os.chmod(temporary, 0o644)  # mkstemp makes files private; a site is for reading
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def writing(what: str, advice: str = "Free some space or choose another --out; finished work is kept and a "
                                     "re-run resumes."):
    """Turn an ``OSError`` (disk full, no permission) raised inside into one line: what could not be written,
    why, and ``advice``."""
    try:
        yield
    except OSError as error:
        raise AtlasError(f"Cannot write {what}: {error.strerror or error}.{' ' + advice if advice else ''}") from None


def read_json(path: Path) -> dict | list | None:
    """A JSON file as it is, or None where it is missing or unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_json(path: Path, record: dict) -> None:
    """A record as compact JSON, written atomically."""
    write_atomically(path, json.dumps(record, separators=(",", ":")).encode())


def read_record(path: Path, format_version: int) -> dict | None:
    """A JSON record the run wrote, if it is there, readable and of ``format_version``; else None (it is redone)."""
    record = read_json(path)
    return record if isinstance(record, dict) and record.get("format") == format_version else None


def copy_file(source: Path, target: Path, relative: str | Path) -> None:
    """Copy one file of an output directory to the same place in another."""
    (target / relative).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source / relative, target / relative)
