"""The preview's estimate of the full profile: scaled from the preview on a CPU, timed on a GPU."""

import math

import pytest
from helpers import tiny_settings

from generator.build import estimates, pipeline, workers
from generator.config import auto_size
from generator.defaults import FACETS_IN_FULL
from generator.model import backends
from generator.model.models import ModelSource
from generator.optimisation.methods import METHODS, MethodSettings


def test_on_a_cpu_the_estimate_scales_work_and_counts_compilation_once(tmp_path, monkeypatch):
    monkeypatch.setattr(backends, "gpu_available", lambda: False)
    settings = tiny_settings(tmp_path / "site", method="fourier", steps=8, size=16, profile="preview")
    report = pipeline.BuildReport(out=tmp_path, layers=[pipeline.LayerReport("conv3", 16, num_built=4, seconds=10.0,
                                                                       compile_seconds=6.0)])
    run = {"layers": [{"name": "conv3", "num_filters": 16, "receptive_field": 10, "image_size": 16}]}
    full = METHODS["fourier"].profiles["full"]
    full_size = auto_size(10, full.max_auto_size)
    scale = (full.settings.steps / 8) * (full_size / 16) ** 2
    # two images per filter, and the facets' images at their step's cost
    expected = 6.0 + (10.0 - 6.0) / 4 * 16 * scale * (1 + FACETS_IN_FULL / 2 * estimates.FACET_STEP_COST)
    assert estimates.estimate_full_seconds(report, settings, run) == pytest.approx(expected)


def test_on_a_gpu_the_estimate_times_the_full_step_and_counts_every_batch(tmp_path, monkeypatch):
    monkeypatch.setattr(backends, "gpu_available", lambda: True)
    timed = []

    def time_steps(task):
        timed.append(task)
        return workers.StepTiming(compile_seconds=3.0, step_seconds=0.01, batch_seconds=0.5, batch_size=200)

    monkeypatch.setattr(workers, "time_steps", time_steps)
    settings = tiny_settings(tmp_path / "site", method="fourier", steps=8, size=16, profile="preview")
    report = pipeline.BuildReport(out=tmp_path, layers=[pipeline.LayerReport("conv3", 600, num_built=4, seconds=99.0)])
    run = {"layers": [{"name": "conv3", "num_filters": 600, "receptive_field": 10, "image_size": 16}]}
    full = METHODS["fourier"].profiles["full"]
    # the full build's units on a GPU: 256, 256 and 88 filters; two signs each, in batches of 200 images
    batches = 2 * math.ceil(512 / 200) + math.ceil(176 / 200)
    per_batch = 0.5 + full.settings.steps * 0.01  # its fixed part and its steps
    expected = 2 * 3.0 + batches * per_batch * (1 + FACETS_IN_FULL / 2 * estimates.FACET_STEP_COST)
    assert estimates.estimate_full_seconds(report, settings, run) == pytest.approx(expected)
    # what was timed: the layer's first unit at the full profile's size, for a few steps
    (task,) = timed
    assert task.layer == "conv3" and task.filter_ids == tuple(range(256))
    assert task.method.size == auto_size(10, full.max_auto_size) and task.method.steps == estimates.TIMED_STEPS


def test_timing_steps_fills_one_batch_and_counts_compilation_once():
    method = MethodSettings(name="fourier", steps=4, learning_rate=0.05, size=16)
    task = workers.UnitTask(ModelSource("tiny-cnn"), "conv3", method, 8, (1, 2, 3))
    first = workers.time_steps(task)
    again = workers.time_steps(task)  # the same optimiser, already compiled
    assert first.batch_size == again.batch_size == 8
    assert first.compile_seconds > 0 and again.compile_seconds == 0
    assert first.step_seconds > 0 and again.step_seconds > 0 and again.batch_seconds >= 0


def test_timing_needs_two_steps_after_the_compiling_one():
    method = MethodSettings(name="fourier", steps=2, learning_rate=0.05, size=16)
    with pytest.raises(ValueError, match="at least 3 steps"):
        workers.time_steps(workers.UnitTask(ModelSource("tiny-cnn"), "conv3", method, 8, (1, 2, 3)))
