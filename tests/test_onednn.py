"""oneDNN: turned on only where TensorFlow leaves it off and the probe measured it faster with the same results;
a user's setting wins; the answer is cached; forced on and off, a build gives the same images."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from generator.model import onednn

OUTPUT = (1.0, -2.0, 0.5)
GRADIENT = (0.1, 0.2, -0.3)


def measured(on: bool, seconds: float, output=OUTPUT, gradient=GRADIENT) -> onednn.Measurement:
    return onednn.Measurement(on, seconds, tuple(output), tuple(gradient))


def test_tensorflows_own_choice_of_on_is_kept():
    choice = onednn.decide(measured(True, 1.0), None)
    assert choice.enabled is True and choice.default_on is True


def test_off_by_default_faster_and_the_same_goes_on():
    choice = onednn.decide(measured(False, 1.7), measured(True, 1.0))
    assert choice.enabled is True and choice.speedup == pytest.approx(1.7)
    assert "1.70x" in choice.line()


@pytest.mark.parametrize("on_seconds", [1.0, 1.2])  # as fast, or slower
def test_off_by_default_and_not_faster_stays_off(on_seconds):
    assert onednn.decide(measured(False, 1.05), measured(True, on_seconds)).enabled is False


def test_faster_but_with_other_results_stays_off():
    other = measured(True, 0.5, output=(1.0, -2.0, 0.6))
    choice = onednn.decide(measured(False, 1.0), other)
    assert choice.enabled is False and "differ" in choice.reason


def test_a_probe_that_could_not_run_leaves_tensorflow_to_decide():
    assert onednn.decide(None, None).enabled is None


class Probe:
    """A stand-in for the probe processes: TensorFlow's default off, on twice as fast."""

    def __init__(self):
        self.settings = []

    def __call__(self, setting):
        self.settings.append(setting)
        return measured(False, 2.0) if setting is None else measured(True, 1.0)


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """A process that has not loaded TensorFlow, with its own cache folder."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delitem(sys.modules, "tensorflow")
    return tmp_path


def test_the_probe_turns_it_on_once_and_the_cache_answers_after(fresh):
    probe, environment = Probe(), {}
    choice = onednn.choose("tensorflow", environment, probe)
    assert choice.enabled and environment == {onednn.VARIABLE: "1"} and probe.settings == [None, "1"]
    cached = json.loads((fresh / "filter-atlas" / "onednn.json").read_text())
    assert cached[onednn.machine_key()]["speedup"] == pytest.approx(2.0)
    again = {}
    assert onednn.choose("tensorflow", again, probe) == choice and again == {onednn.VARIABLE: "1"}
    assert probe.settings == [None, "1"]  # not probed again


def test_a_cache_of_another_shape_is_measured_again(fresh):
    path = fresh / "filter-atlas" / "onednn.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({onednn.machine_key(): {"on": "yes"}}))
    probe = Probe()
    assert onednn.choose("tensorflow", {}, probe).enabled and probe.settings == [None, "1"]
    path.write_text("[1, 2]")
    assert onednn.choose("tensorflow", {}, Probe()).enabled


@pytest.mark.parametrize("given, enabled", [("0", False), ("1", True)])
def test_the_users_setting_wins_and_nothing_is_measured(fresh, given, enabled):
    probe = Probe()
    choice = onednn.choose("tensorflow", {onednn.VARIABLE: given}, probe)
    assert choice.enabled is enabled and f"{onednn.VARIABLE}={given}" in choice.reason and probe.settings == []


def test_jax_has_nothing_to_choose(fresh):
    probe = Probe()
    assert onednn.choose("jax", {}, probe) is None and probe.settings == []


def test_once_tensorflow_is_loaded_the_choice_says_what_holds():
    import tensorflow  # noqa: F401

    probe = Probe()
    choice = onednn.choose("tensorflow", {}, probe)
    assert choice.enabled is not None and "loaded before" in choice.reason and probe.settings == []


@pytest.mark.backend_free
def test_the_probe_processes_measure_both_settings_and_agree():
    off, on = onednn.measure("0"), onednn.measure("1")
    assert off is not None and on is not None
    assert off.on is False and on.on is True
    assert off.seconds > 0 and on.seconds > 0
    assert onednn.largest_difference(off, on) < onednn.AGREE_TO


@pytest.mark.backend_free
def test_a_build_forced_on_and_off_gives_the_same_images_and_records_the_choice(tmp_path):
    tiles = {}
    for setting in ("0", "1"):
        out = tmp_path / f"onednn-{setting}"
        environment = {**os.environ, onednn.VARIABLE: setting, "KERAS_BACKEND": "tensorflow"}
        completed = subprocess.run(
            [sys.executable, "-m", "generator.cli", "build", "--model", "tiny-cnn", "--layers", "conv2,conv3",
             "--filters", "0:4", "--steps", "8", "--size", "24", "--examples", "none", "--profile", "full",
             "--facets", "0", "--precision", "float32", "--out", str(out)],
            capture_output=True, text=True, env=environment, timeout=300)
        assert completed.returncode == 0, completed.stderr
        assert f"oneDNN: {'on' if setting == '1' else 'off'} ({onednn.VARIABLE}={setting} is set)." in completed.stderr
        run = json.loads((out / "run.json").read_text())
        assert run["onednn"]["enabled"] is (setting == "1")
        tiles[setting] = {path.relative_to(out): np.asarray(Image.open(path), np.int16)
                          for path in sorted(Path(out, "tiles").rglob("*.png"))}
    assert tiles["0"].keys() == tiles["1"].keys() and len(tiles["0"]) == 16
    for name, image in tiles["0"].items():
        difference = np.abs(image - tiles["1"][name])
        assert difference.max() <= 2 and difference.mean() < 0.1, name
