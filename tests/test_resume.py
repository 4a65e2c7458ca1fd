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
from helpers import tiny_settings

from generator.build import pipeline
from generator.errors import AtlasError
from generator.model.preprocessing import PRESETS
from generator.store import tiles

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
        pipeline.build(settings)
    assert len(manifests(tmp_path)) == 2  # units 0-3 and 4-7 are done
    monkeypatch.setattr(tiles, "write_atomically", real_write)
    report = pipeline.build(settings)
    assert report.num_built == 8
    record = json.loads((tmp_path / "atlas.json").read_text())
    assert [entry["id"] for entry in record["layers"][0]["filters"]] == list(range(16))


def test_a_diverging_filter_is_marked_non_finite_and_the_others_finish():
    import numpy as np

    from generator.model.quiet_keras import keras
    from generator.optimisation.methods import MethodSettings
    from generator.optimisation.optimizer import Optimizer
    from generator.store.tiles import deprocess_standardised, status_of

    class ExplodingChannel(keras.layers.Layer):
        """Channel 1 is exp(30 x): its own ascent overflows to infinity within a few steps."""

        def call(self, inputs):
            ops = keras.ops
            mask = ops.reshape(ops.convert_to_tensor(np.array([0, 1, 0, 0], "float32")), (1, 1, 1, 4))
            return inputs * (1 - mask) + ops.exp(30.0 * inputs * mask) * mask

    inputs = keras.Input((16, 16, 3))
    conv = keras.layers.Conv2D(4, 3, padding="same")
    model = keras.Model(inputs, ExplodingChannel()(conv(inputs)))
    generator = np.random.default_rng(0)
    kernel = generator.normal(0, 0.3, (3, 3, 3, 4)).astype("float32")
    for other in (0, 2, 3):  # their ascent pushes channel 1 down, away from overflow
        kernel[..., other] = -kernel[..., 1] + 0.1 * kernel[..., other]
    conv.set_weights([kernel, np.zeros(4, "float32")])
    method = MethodSettings(name="classic", steps=10, learning_rate=10.0, size=16)
    result = Optimizer(model, method, batch_size=4, preprocessing=PRESETS["unit"]).run([0, 1, 2, 3], [1.0] * 4)
    statuses = [status_of(image, deprocess_standardised(image, 0), curve)
                for image, curve in zip(result.images, result.activations)]
    assert statuses[1] == "non-finite"
    assert [statuses[index] for index in (0, 2, 3)] == ["ok", "ok", "ok"]
    assert all(result.activations[index, -1] > result.activations[index, 0] for index in (0, 2, 3))


def test_ctrl_c_stops_after_the_batch_in_flight_and_says_how_to_resume(tmp_path):
    out = tmp_path / "site"
    process = subprocess.Popen([sys.executable, "-m", "generator.cli", *ARGUMENTS, "--out", str(out)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while len(manifests(out)) < 2 and time.time() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "Run the same command again to resume" in stderr and "Traceback" not in stderr
    done = len(manifests(out))
    assert 2 <= done < 12
    record = json.loads((out / "atlas.json").read_text())  # the site so far was rendered
    assert sum(len(layer["filters"]) for layer in record["layers"]) == 2 * done
    resumed = run_cli(out)
    assert f"Built {2 * (12 - done)} filters" in resumed.stderr


def test_a_failing_render_leaves_the_previous_site_intact(tmp_path, monkeypatch):
    from generator.site import pages

    pipeline.build(tiny_settings(tmp_path, layers=("conv1",), steps=2))
    before = {path: path.read_bytes() for path in tmp_path.rglob("*.html")}
    original = pages.environment

    def broken_environment():
        environment = original()
        environment.globals["curve_points"] = lambda curve: 1 / 0  # fails on the last kind of page
        return environment

    monkeypatch.setattr(pages, "environment", broken_environment)
    with pytest.raises(ZeroDivisionError):
        pages.render(tmp_path)
    assert {path: path.read_bytes() for path in tmp_path.rglob("*.html")} == before
