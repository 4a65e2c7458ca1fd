"""TensorFlow and JAX build the same images from the same seeds."""

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from generator.model import backends
from generator.model.extractors import build_extractor
from generator.model.preprocessing import PRESETS
from generator.optimisation.methods import MethodSettings

SCRIPT = """
import json, sys
import generator
from generator.optimisation.methods import MethodSettings
from generator.model.extractors import build_extractor
from generator.model.preprocessing import PRESETS
from generator.model.models import load_model
from generator.optimisation.optimizer import Optimizer
method = MethodSettings(**json.loads(sys.argv[1]))
extractor = build_extractor(load_model("tiny-cnn"), "conv3", method.target)
result = Optimizer(extractor, method, 4, PRESETS["unit"], layer_key=9).run([0, 5, 9], [1.0, -1.0, 1.0])
print(json.dumps({"images": result.images.tolist(), "activations": result.activations.tolist()}))
"""

METHODS = [MethodSettings(name="classic", steps=6, learning_rate=10.0, size=16),
           MethodSettings(name="fourier", steps=6, learning_rate=0.05, size=16, target="leaky", jitter=0.125,
                          scale=0.1, rotate=10.0)]


def other_backend() -> str:
    return "jax" if backends.BACKEND == "tensorflow" else "tensorflow"


@pytest.mark.skipif(importlib.util.find_spec("jax") is None or importlib.util.find_spec("tensorflow") is None,
                    reason="needs both TensorFlow and JAX installed")
@pytest.mark.backend_free  # it runs both backends itself
@pytest.mark.parametrize("method", METHODS, ids=lambda method: method.name)
def test_tensorflow_and_jax_agree(tiny, method):
    from dataclasses import asdict

    from generator.optimisation.optimizer import Optimizer

    extractor = build_extractor(tiny, "conv3", method.target)
    here = Optimizer(extractor, method, 4, PRESETS["unit"], layer_key=9).run([0, 5, 9], [1.0, -1.0, 1.0])
    environment = dict(os.environ, KERAS_BACKEND=other_backend())
    completed = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(asdict(method))], env=environment,
                               capture_output=True, text=True, check=True)
    there = json.loads(completed.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(here.images, np.array(there["images"]), rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(here.activations, np.array(there["activations"]), rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("backend, capability, flags, onednn, expected", [
    ("tensorflow", None, {"avx2", "avx512_bf16"}, None, True),  # Zen 4, Sapphire Rapids
    ("tensorflow", None, {"avx2", "amx_bf16"}, None, True),
    ("tensorflow", None, {"avx2", "avx512f"}, None, False),  # no native bfloat16
    ("tensorflow", None, {"avx512_bf16"}, "0", False),  # oneDNN switched off
    ("jax", None, {"avx512_bf16"}, None, False),  # XLA on CPU: measured slower (bench/variants.py --variant precision)
    ("jax", (9, 0), set(), None, True),  # H100/H200
    ("tensorflow", (7, 0), {"avx512_bf16"}, None, False),  # V100: the GPU decides, and it has no bfloat16
])
def test_fast_bfloat16_follows_the_hardware(monkeypatch, backend, capability, flags, onednn, expected):
    monkeypatch.setattr(backends, "BACKEND", backend)
    monkeypatch.setattr(backends, "gpu_compute_capability", lambda: capability)
    monkeypatch.setattr(backends, "cpu_flags", lambda: flags)
    if onednn is None:
        monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    else:
        monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", onednn)
    assert backends.fast_bfloat16() is expected


def test_cpu_flags_are_read_on_linux():
    if not os.path.exists("/proc/cpuinfo"):
        pytest.skip("no /proc/cpuinfo on this system")
    assert {"fpu"} <= backends.cpu_flags() or "aarch64" in os.uname().machine  # x86 CPUs all list fpu


@pytest.mark.skipif(backends.gpu_available(), reason="checks a GPU that the backend cannot see")
def test_machine_facts_are_this_backend_and_the_gpus_nvidia_smi_lists(tmp_path, monkeypatch):
    from helpers import path_without_nvidia_smi, write_nvidia_smi

    from generator.model.machine import GpuListing

    write_nvidia_smi(tmp_path)
    monkeypatch.setenv("PATH", path_without_nvidia_smi(tmp_path))
    facts = backends.machine_facts()
    assert facts.backend == backends.BACKEND and facts.visible_gpu is None
    assert facts.listed_gpus == (GpuListing("NVIDIA H200", 143771),)
    assert facts.cpu_name  # at least the number of cores


@pytest.mark.parametrize("backend, plugins, expected", [
    ("jax", ("json",), True),  # a module that is installed stands for the plugin
    ("jax", ("no_such_cuda_plugin",), False),
    ("tensorflow", ("json",), False),  # JAX's plugin does not help TensorFlow
])
def test_a_cuda_plugin_counts_for_jax_only(monkeypatch, backend, plugins, expected):
    monkeypatch.setattr(backends, "BACKEND", backend)
    monkeypatch.setattr(backends, "JAX_CUDA_PLUGINS", plugins)
    assert backends.cuda_plugin_installed() is expected
