"""Import Keras (and its TensorFlow) without the pages of C++ start-up logs they print to stderr."""

import contextlib
import os
import sys


@contextlib.contextmanager
def stderr_silenced():
    """Point file descriptor 2 at /dev/null for the duration (C++ code writes there, bypassing sys.stderr)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


with stderr_silenced():
    import keras  # noqa: E402

    if keras.backend.backend() == "tensorflow":
        import tensorflow

        tensorflow.config.list_physical_devices()  # the first device probe prints CUDA errors on CPU machines
        tensorflow.constant(0.0) + 1.0  # so does the first operation, which starts the devices (cuInit)
        tensorflow.get_logger().setLevel("ERROR")  # one traced step per layer is by design, not a retracing bug
    else:
        import jax

        jax.devices()  # JAX says which platforms it tried (CUDA, TPU) when its backends start

__all__ = ["keras", "stderr_silenced"]
