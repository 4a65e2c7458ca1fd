"""What every bench script shares: the record of the machine a measurement ran on.

    from common import machine, machine_line   # a script in bench/ finds this module beside it
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from generator.model import backends  # noqa: E402
from generator.model.quiet_keras import keras  # noqa: E402


def machine() -> dict:
    """The backend, device, CPU model and core count, and the versions of what computed the figures."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {"python": platform.python_version(), "keras": keras.__version__, "numpy": np.__version__}
    if backends.BACKEND == "jax":
        import jax

        versions["jax"] = jax.__version__
    else:
        import tensorflow as tf

        versions["tensorflow"] = tf.__version__
    return {"backend": backends.BACKEND, "device": backends.describe_device(), "cpu": cpu,
            "cpu_cores": os.cpu_count(), "versions": versions}


def machine_line(info: dict) -> str:
    """The first line of a script's table: `# device · cpu (cores) · backend`."""
    return f"# {info['device']} · {info['cpu']} ({info['cpu_cores']} cores) · {info['backend']}"
