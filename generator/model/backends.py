"""The only backend-specific code: calling a model with given weights, the input gradient, compilation, and what
the backend sees of the machine (GPU, bfloat16, the facts of the build's first lines).

Everything else is written in ``keras.ops`` and runs unchanged on TensorFlow and JAX
(``KERAS_BACKEND=tensorflow|jax``).
"""

from __future__ import annotations

import functools
import importlib.util
import os

import generator
from generator.model import machine
from generator.model.quiet_keras import keras

BACKEND = keras.backend.backend()


def model_weights(model):
    """What ``call_model`` needs besides the images: nothing on TensorFlow, the variables' values on JAX."""
    if BACKEND == "jax":
        return ([variable.value for variable in model.trainable_variables],
                [variable.value for variable in model.non_trainable_variables])
    return ()


def call_model(model, weights, images):
    """The model's output for ``images``, in inference mode."""
    if BACKEND == "jax":
        trainable, non_trainable = weights
        outputs, _ = model.stateless_call(trainable, non_trainable, images, training=False)
        return outputs
    return model(images, training=False)


def value_and_gradient(function):
    """``function(weights, params, *args) -> per-image values (B,)`` becomes
    ``(weights, params, *args) -> (values, d sum(values) / d params)``."""
    if BACKEND == "jax":
        import jax
        import jax.numpy as jnp

        def total(weights, params, *args):
            values = function(weights, params, *args)
            return jnp.sum(values), values

        gradient = jax.grad(total, argnums=1, has_aux=True)

        def jax_value_and_gradient(weights, params, *args):
            grads, values = gradient(weights, params, *args)
            return values, grads

        return jax_value_and_gradient
    if BACKEND == "tensorflow":
        import tensorflow as tf

        def tensorflow_value_and_gradient(weights, params, *args):
            with tf.GradientTape() as tape:
                tape.watch(params)
                values = function(weights, params, *args)
                total = tf.reduce_sum(values)
            return values, tape.gradient(total, params)

        return tensorflow_value_and_gradient
    raise NotImplementedError(f"Keras backend '{BACKEND}' is not supported; use tensorflow or jax.")


def grouped_convolution(inputs, kernel, strides, padding: str, dilation_rate):
    """2-D convolution of ``inputs`` (N, H, W, G*C) with ``kernel`` (kh, kw, C, G*F) in G groups. Keras routes
    grouped convolutions on TensorFlow through XLA, which is slower on CPUs (docs/performance.md#xla-on-the-cpu);
    ``tf.nn.convolution`` runs them directly (checked against the ungrouped layer in tests/test_filter_heads.py)."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        return tf.nn.convolution(inputs, kernel, strides=strides, padding=padding.upper(), dilations=dilation_rate)
    return keras.ops.conv(inputs, kernel, strides=strides, padding=padding, dilation_rate=dilation_rate)


@functools.cache
def grouped_convolution_gradients() -> bool:
    """Whether grouped convolutions have gradients here. TensorFlow's CPU kernel for their input gradient comes
    from oneDNN and is missing on some CPUs (those without AVX-512: docs/performance.md#conv2d-heads), where it
    fails only when first run; a one-pixel probe tells before any model uses one."""
    if BACKEND != "tensorflow":
        return True
    import tensorflow as tf

    inputs = tf.zeros((1, 3, 3, 2))
    try:
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            total = tf.reduce_sum(tf.nn.convolution(inputs, tf.ones((1, 1, 1, 2)), padding="SAME"))
        tape.gradient(total, inputs).numpy()
    except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError):
        return False
    return True


def compile_step(step, use_xla: bool = False):
    """Trace ``step`` once per input shape: ``tf.function`` (XLA optional) or ``jax.jit``."""
    if BACKEND == "jax":
        import jax

        return jax.jit(step)
    import tensorflow as tf

    return tf.function(step, jit_compile=use_xla, autograph=False)  # plain Python control flow only


def gpu_available() -> bool:
    if BACKEND == "jax":
        import jax

        return any(device.platform == "gpu" for device in jax.devices())
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def fast_bfloat16() -> bool:
    """Whether ``--precision auto`` should compute in bfloat16: where the hardware does it natively and it was
    measured faster: GPUs of compute capability 8.0 or more (A100, H100, H200, ...) on either backend; CPUs with
    AVX512-BF16 or AMX on TensorFlow with oneDNN; never JAX on a CPU (docs/performance.md#bfloat16-on-the-cpu)."""
    capability = gpu_compute_capability()
    if capability is not None:
        return capability >= (8, 0)
    if BACKEND != "tensorflow" or os.environ.get("TF_ENABLE_ONEDNN_OPTS") == "0":
        return False
    return bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})


def gpu_compute_capability() -> tuple[int, int] | None:
    """The first GPU's CUDA compute capability, (0, 0) for a GPU that does not say, None without a GPU."""
    if not gpu_available():
        return None
    if BACKEND == "jax":
        import jax

        text = str(getattr(jax.devices()[0], "compute_capability", "0.0"))
        major, _, minor = text.partition(".")
        return (int(major), int(minor or 0)) if major.isdigit() and minor.isdigit() else (0, 0)
    import tensorflow as tf

    details = tf.config.experimental.get_device_details(tf.config.list_physical_devices("GPU")[0])
    return tuple(details.get("compute_capability") or (0, 0))


def cpu_flags() -> set[str]:
    """The CPU's feature flags (Linux); empty where they cannot be read."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    return set(line.partition(":")[2].split())
    except OSError:
        pass
    return set()


def gpu_name() -> str | None:
    """The name of the GPU the backend computes on (``NVIDIA H200``); None where it computes on the CPU."""
    if not gpu_available():
        return None
    if BACKEND == "jax":
        import jax

        device = next(device for device in jax.devices() if device.platform == "gpu")
        return str(getattr(device, "device_kind", "GPU"))
    import tensorflow as tf

    details = tf.config.experimental.get_device_details(tf.config.list_physical_devices("GPU")[0])
    return str(details.get("device_name", "GPU"))


# The `cuda` extra's plugin for JAX (jax[cuda12]); a CUDA 13 plugin installed by hand counts too.
JAX_CUDA_PLUGINS = ("jax_cuda12_plugin", "jax_cuda13_plugin")


def cuda_plugin_installed() -> bool:
    """Whether JAX has a CUDA plugin installed (False on other backends)."""
    return BACKEND == "jax" and any(importlib.util.find_spec(name) is not None for name in JAX_CUDA_PLUGINS)


def machine_facts() -> machine.MachineFacts:
    """What the build's first lines are worded from (build.plan.first_lines): this backend's side and nvidia-smi's."""
    return machine.MachineFacts(backend=BACKEND, backend_given=generator.BACKEND_GIVEN, visible_gpu=gpu_name(),
                                listed_gpus=machine.listed_gpus(), cuda_plugin_installed=cuda_plugin_installed(),
                                cpu_name=machine.cpu_name())


def describe_device() -> str:
    if BACKEND == "jax":
        import jax

        device = jax.devices()[0]
        return f"{device.platform}:{getattr(device, 'device_kind', device)}"
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        return f"gpu:{details.get('device_name', gpus[0].name)}"
    return "cpu"
