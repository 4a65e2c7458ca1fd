"""The only backend-specific code: calling a model with given weights, the input gradient, and compilation.

Everything else is written in ``keras.ops`` and runs unchanged on TensorFlow and JAX
(``KERAS_BACKEND=tensorflow|jax``).
"""

from __future__ import annotations

from generator.quiet import keras

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
    grouped convolutions on TensorFlow through XLA (on a 2-core CPU, XLA made this project's steps 5x slower);
    ``tf.nn.convolution`` runs them directly (checked against the ungrouped layer in tests/test_heads.py)."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        return tf.nn.convolution(inputs, kernel, strides=strides, padding=padding.upper(), dilations=dilation_rate)
    return keras.ops.conv(inputs, kernel, strides=strides, padding=padding, dilation_rate=dilation_rate)


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
