"""files.py: files written whole or not at all, an OSError turned into one line naming what could not be written,
and the run's JSON records read back only when whole and of the right format."""

import errno
import json
import stat

import pytest

from generator.errors import AtlasError
from generator.store.files import read_record, write_atomically, writing

pytestmark = pytest.mark.backend_free  # files only: the Keras backend plays no part


def test_write_atomically_makes_folders_replaces_content_and_leaves_nothing_beside(tmp_path):
    path = tmp_path / "layers" / "conv1" / "manifest.json"
    write_atomically(path, b"first")
    write_atomically(path, b"second, longer than the first")
    assert path.read_bytes() == b"second, longer than the first"
    assert sorted(item.name for item in path.parent.iterdir()) == ["manifest.json"]  # no temporary file left
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # readable by a web server, not private as mkstemp makes it


def test_a_failed_write_keeps_the_old_file_and_leaves_no_partial_one(tmp_path):
    path = tmp_path / "tile.png"
    write_atomically(path, b"old tile")
    with pytest.raises(TypeError):
        write_atomically(path, "text, not bytes")  # fails inside the write, after the temporary file exists
    assert path.read_bytes() == b"old tile"
    assert [item.name for item in tmp_path.iterdir()] == ["tile.png"]


def test_writing_turns_an_oserror_into_an_atlas_error_naming_what_was_written(tmp_path):
    with pytest.raises(AtlasError) as raised:
        with writing("tiles/conv1/0003.png"):
            raise OSError(errno.ENOSPC, "No space left on device")
    assert str(raised.value) == ("Cannot write tiles/conv1/0003.png: No space left on device. Free some space or "
                                 "choose another --out; finished work is kept and a re-run resumes.")
    assert raised.value.__cause__ is None and raised.value.exit_code == 2

    blocker = tmp_path / "site"
    blocker.write_text("a file where a folder should be")
    target = blocker / "index.html"
    with pytest.raises(AtlasError, match=rf"^Cannot write {target}: File exists\.$"):
        with writing(str(target), advice=""):
            write_atomically(target, b"<html>")  # a real OSError: the folder cannot be made

    with pytest.raises(ValueError, match="not an OSError"):  # any other error passes through as it is
        with writing("anything"):
            raise ValueError("not an OSError")


def test_read_record_returns_only_whole_records_of_the_format_asked(tmp_path):
    path = tmp_path / "unit.json"
    write_atomically(path, json.dumps({"format": 3, "filters": [0, 1]}).encode())
    assert read_record(path, 3) == {"format": 3, "filters": [0, 1]}
    assert read_record(path, 4) is None  # an older format: redone
    assert read_record(tmp_path / "missing.json", 3) is None
    path.write_text('{"format": 3, "filters": [0,')  # cut off mid-write by an older version
    assert read_record(path, 3) is None
    path.write_text("[3]")  # JSON, but not a record
    assert read_record(path, 3) is None
