"""Nothing is lost: a killed run resumes where it stopped, and a full disk stops a run cleanly."""

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import tiny_settings
from generator import atlas, tiles
from generator.errors import AtlasError

ARGUMENTS = ["build", "--model", "tiny-cnn", "--layers", "conv1,conv3", "--size", "16", "--steps", "40",
             "--batch-size", "2", "--profile", "full", "--method", "fourier"]


def run_cli(out: Path, wait: bool = True):
    command = [sys.executable, "-m", "generator.cli", *ARGUMENTS, "--out", str(out)]
    if wait:
        return subprocess.run(command, capture_output=True, text=True, check=True)
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def manifests(out: Path) -> list[Path]:
    return sorted((out / "units").rglob("*.json")) if (out / "units").exists() else []


def test_sigkill_mid_layer_then_resume_gives_the_same_atlas(tmp_path):
    whole = tmp_path / "whole"
    run_cli(whole)
    total_units = len(manifests(whole))
    assert total_units == 12  # 8/2 + 16/2

    killed = tmp_path / "killed"
    process = run_cli(killed, wait=False)
    deadline = time.time() + 120
    while len(manifests(killed)) < 3 and time.time() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = len(manifests(killed))
    assert 3 <= done < total_units, "the run was not killed in the middle"

    resumed = run_cli(killed)
    remaining_filters = 2 * (total_units - done)
    assert f"Built {remaining_filters} filters" in resumed.stderr  # only the units that were not done
    assert (killed / "atlas.json").read_text() == (whole / "atlas.json").read_text()
    for tile in sorted((whole / "tiles").rglob("*.png")):
        assert (killed / tile.relative_to(whole)).read_bytes() == tile.read_bytes(), tile.name
    assert not list(killed.rglob("*.tmp")), "a temporary file was left behind"


def test_full_disk_stops_cleanly_and_resume_finishes(tmp_path, monkeypatch):
    settings = tiny_settings(tmp_path, layers=("conv3",), batch_size=4, steps=3)
    real_write = tiles.write_atomically

    def failing_write(path, data):  # the disk fills up when filter 8's tiles are written
        if path.suffix in (".png", ".webp") and int(path.name[:4]) >= 8:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real_write(path, data)

    monkeypatch.setattr(tiles, "write_atomically", failing_write)
    with pytest.raises(AtlasError, match="No space left on device"):
        atlas.build(settings)
    assert len(manifests(tmp_path)) == 2  # units 0-3 and 4-7 are done
    monkeypatch.setattr(tiles, "write_atomically", real_write)
    report = atlas.build(settings)
    assert report.num_built == 8
    record = json.loads((tmp_path / "atlas.json").read_text())
    assert [entry["id"] for entry in record["layers"][0]["filters"]] == list(range(16))


def test_a_non_finite_filter_is_marked_and_the_others_finish(tmp_path, tiny):
    from generator.models import build_tiny_cnn

    model = build_tiny_cnn()
    kernel, bias = model.get_layer("conv3").get_weights()
    kernel[..., 5] = float("nan")  # filter 5 of conv3 computes NaN whatever its input
    model.get_layer("conv3").set_weights([kernel, bias])
    path = tmp_path / "broken.keras"
    model.save(path)
    settings = tiny_settings(tmp_path / "site", model=str(path), layers=("conv3",), batch_size=16, steps=4)
    atlas.build(settings)
    filters = json.loads((tmp_path / "site/atlas.json").read_text())["layers"][0]["filters"]
    statuses = {entry["id"]: entry["positive"]["status"] for entry in filters}
    assert statuses[5] == "non-finite" and filters[5]["negative"]["status"] == "non-finite"
    others = [entry for entry in filters if entry["id"] != 5]
    assert all(entry["positive"]["status"] != "non-finite" for entry in others)
    rose = [entry["positive"]["activation_after"] > entry["positive"]["activation_before"] for entry in others]
    assert sum(rose) >= 0.8 * len(others)
