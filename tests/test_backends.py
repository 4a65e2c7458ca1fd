"""TensorFlow and JAX build the same images from the same seeds."""

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from generator import backends
from generator.config import MethodSettings
from generator.models import build_extractor

SCRIPT = """
import json, sys
import generator
from generator.config import MethodSettings
from generator.models import build_extractor, load_model
from generator.optimize import Optimizer
method = MethodSettings(**json.loads(sys.argv[1]))
extractor = build_extractor(load_model("tiny-cnn"), "conv3", method.target)
result = Optimizer(extractor, method, 4, "unit", layer_key=9).run([0, 5, 9], [1.0, -1.0, 1.0])
print(json.dumps({"images": result.images.tolist(), "activations": result.activations.tolist()}))
"""

METHODS = [MethodSettings(name="classic", steps=6, learning_rate=10.0, size=16),
           MethodSettings(name="fourier", steps=6, learning_rate=0.05, size=16, target="leaky", jitter=0.125,
                          scale=0.1, rotate=10.0)]


def other_backend() -> str:
    return "jax" if backends.BACKEND == "tensorflow" else "tensorflow"


@pytest.mark.skipif(importlib.util.find_spec("jax") is None or importlib.util.find_spec("tensorflow") is None,
                    reason="needs both TensorFlow and JAX installed")
@pytest.mark.parametrize("method", METHODS, ids=lambda method: method.name)
def test_tensorflow_and_jax_agree(tiny, method):
    from dataclasses import asdict

    from generator.optimize import Optimizer

    extractor = build_extractor(tiny, "conv3", method.target)
    here = Optimizer(extractor, method, 4, "unit", layer_key=9).run([0, 5, 9], [1.0, -1.0, 1.0])
    environment = dict(os.environ, KERAS_BACKEND=other_backend())
    completed = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(asdict(method))], env=environment,
                               capture_output=True, text=True, check=True)
    there = json.loads(completed.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(here.images, np.array(there["images"]), rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(here.activations, np.array(there["activations"]), rtol=1e-3, atol=1e-3)
