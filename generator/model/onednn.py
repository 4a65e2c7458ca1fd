"""oneDNN on TensorFlow's CPU path, decided by the process before TensorFlow is imported.

TensorFlow turns its oneDNN kernels on by default only on some CPUs (those with AVX512-VNNI, AVX512-BF16 or AMX);
elsewhere they may still be faster (docs/performance.md#onednn). The rule:

- ``TF_ENABLE_ONEDNN_OPTS`` set by the user wins, and nothing is measured.
- Otherwise a probe asks a fresh process what TensorFlow chose by itself; where that is off, a second process
  with oneDNN on runs the same convolution step (forward and input gradient of two 3x3 convolutions, a VGG16
  block4 layer's channels). oneDNN goes on where it was at least ``FASTER_BY`` faster and its outputs agree with
  the default's to ``AGREE_TO`` (relative).
- The answer is kept per CPU, core count and TensorFlow version in the user's cache folder, so only the first
  build on a machine pays for the probe (two TensorFlow start-ups, a few seconds each).

No Keras here: this runs before TensorFlow is imported, which is when the setting is read.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from collections.abc import Callable, MutableMapping
from dataclasses import asdict, dataclass
from pathlib import Path

from generator.model.machine import cpu_name
from generator.store.files import read_json, write_json

VARIABLE = "TF_ENABLE_ONEDNN_OPTS"
FASTER_BY = 1.1  # on must take at most 1/1.1 of off's time
AGREE_TO = 1e-3  # largest difference of outputs and gradients, relative to their largest value
PROBE_SECONDS = 120.0  # one probe process, start-up included; a probe that hangs leaves TensorFlow's default

# One process's measurement: whether oneDNN is on, the best time of a convolution step, and samples of its
# output and input gradient to compare between the two settings.
PROBE = r"""
import json, os, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np
import tensorflow as tf
from tensorflow.python.util import _pywrap_util_port

generator = np.random.default_rng(0)
images = tf.constant(generator.normal(size=(2, 28, 28, 256)).astype("float32"))
kernel = tf.constant((generator.normal(size=(3, 3, 256, 256)) / 48).astype("float32"))

@tf.function(autograph=False)
def step(images):
    with tf.GradientTape() as tape:
        tape.watch(images)
        output = tf.nn.conv2d(tf.nn.relu(tf.nn.conv2d(images, kernel, 1, "SAME")), kernel, 1, "SAME")
        loss = tf.reduce_mean(tf.square(output))
    return output, tape.gradient(loss, images)

step(images)
seconds = []
for _ in range(5):
    started = time.perf_counter()
    output, gradient = step(images)
    gradient.numpy()
    seconds.append(time.perf_counter() - started)
print(json.dumps({"on": bool(_pywrap_util_port.IsMklEnabled()), "seconds": min(seconds),
                  "output": output.numpy()[:, ::4, ::4, ::16].ravel().tolist(),
                  "gradient": gradient.numpy()[:, ::4, ::4, ::16].ravel().tolist()}))
"""


@dataclass(frozen=True)
class Measurement:
    """One probe process: oneDNN's state in it, its step's best time, samples of its output and gradient."""

    on: bool
    seconds: float
    output: tuple[float, ...]
    gradient: tuple[float, ...]


@dataclass(frozen=True)
class Choice:
    """Whether oneDNN is on in this process, and why; ``enabled`` None: unknown, left to TensorFlow."""

    enabled: bool | None
    reason: str
    default_on: bool | None = None  # TensorFlow's own choice on this CPU, where it was measured
    speedup: float | None = None  # off's time over on's, where both were measured

    def line(self) -> str:
        state = {None: "as TensorFlow decides", True: "on", False: "off"}[self.enabled]
        return f"oneDNN: {state} ({self.reason})."

    def record(self) -> dict:
        """run.json's account of the choice."""
        return asdict(self)


def measure(setting: str | None) -> Measurement | None:
    """Run the probe in a fresh process with ``TF_ENABLE_ONEDNN_OPTS`` set to ``setting`` (None: unset, so
    TensorFlow decides); None where the process fails or hangs."""
    environment = {key: value for key, value in os.environ.items() if key != VARIABLE}
    if setting is not None:
        environment[VARIABLE] = setting
    try:
        completed = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=environment,
                                   timeout=PROBE_SECONDS)
        found = json.loads(completed.stdout.strip().splitlines()[-1])
        return Measurement(bool(found["on"]), float(found["seconds"]), tuple(found["output"]),
                           tuple(found["gradient"]))
    except (OSError, subprocess.SubprocessError, ValueError, IndexError, KeyError):
        return None


def largest_difference(first: Measurement, second: Measurement) -> float:
    """The two measurements' largest difference of output and gradient, each relative to its largest value."""
    differences = []
    for left, right in ((first.output, second.output), (first.gradient, second.gradient)):
        scale = max(max(abs(value) for value in left), 1e-12)
        differences.append(max(abs(a - b) for a, b in zip(left, right)) / scale)
    return max(differences)


def decide(default: Measurement | None, forced_on: Measurement | None) -> Choice:
    """The choice from TensorFlow's default (measured with the variable unset) and a run with oneDNN on."""
    if default is None:
        return Choice(None, "the probe could not run")
    if default.on:
        return Choice(True, "TensorFlow's default on this CPU", default_on=True)
    if forced_on is None or not forced_on.on:
        return Choice(False, "TensorFlow's default on this CPU; oneDNN could not be turned on", default_on=False)
    speedup = default.seconds / forced_on.seconds
    if largest_difference(default, forced_on) > AGREE_TO:
        return Choice(False, f"TensorFlow's default; on was {speedup:.2f}x as fast but its results differ",
                      default_on=False, speedup=round(speedup, 2))
    if speedup < FASTER_BY:
        return Choice(False, f"TensorFlow's default; on measured {speedup:.2f}x as fast, not worth it",
                      default_on=False, speedup=round(speedup, 2))
    return Choice(True, f"TensorFlow leaves it off on this CPU; measured {speedup:.2f}x as fast with the same "
                        f"results", default_on=False, speedup=round(speedup, 2))


def cache_file() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "filter-atlas" / "onednn.json"


def machine_key() -> str:
    """What the answer holds for: the CPU and the cores this process may use (``cpu_name``), TensorFlow's
    version."""
    try:
        version = importlib.metadata.version("tensorflow")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return f"{cpu_name()} | tensorflow {version}"


def choose(backend: str, environment: MutableMapping[str, str] = os.environ,
           probe: Callable[[str | None], Measurement | None] = measure,
           announce: Callable[[str], None] | None = None) -> Choice | None:
    """Decide, and set ``TF_ENABLE_ONEDNN_OPTS`` in ``environment`` where oneDNN goes on; None on a backend
    other than TensorFlow. Call it before TensorFlow is imported: TensorFlow reads the variable when it loads."""
    if backend != "tensorflow":
        return None
    if "tensorflow" in sys.modules:  # too late to choose (a library caller, the tests): say what holds
        from tensorflow.python.util import _pywrap_util_port

        return Choice(bool(_pywrap_util_port.IsMklEnabled()), "TensorFlow was loaded before the choice")
    if VARIABLE in environment:
        given = environment[VARIABLE]
        return Choice(given.strip() not in ("0", "false", "False", ""), f"{VARIABLE}={given} is set")
    path, key = cache_file(), machine_key()
    known = read_json(path)
    known = known if isinstance(known, dict) else {}
    try:
        choice = Choice(**known[key])
    except (KeyError, TypeError):  # not measured here yet, or kept by another version: measure again
        if announce is not None:
            announce("Measuring whether TensorFlow's oneDNN helps on this CPU (once per machine, a few seconds) ...")
        default = probe(None)
        choice = decide(default, probe("1") if default is not None and not default.on else None)
        if choice.enabled is not None:
            try:
                write_json(path, {**known, key: choice.record()})  # atomic: builds starting together agree
            except OSError:
                pass  # an unwritable cache costs the probe again next time, nothing else
    if choice.enabled and choice.default_on is False:
        environment[VARIABLE] = "1"
    return choice
