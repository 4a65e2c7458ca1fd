"""Filter atlas: synthetic images of every filter of a CNN, rendered as a static website."""

import os

# TensorFlow prints pages of C++ start-up logs; keep them out of the user's terminal unless asked for.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Whether the backend was chosen (KERAS_BACKEND) or is this package's default: the build's first line says which.
BACKEND_GIVEN = "KERAS_BACKEND" in os.environ
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# On JAX, Keras draws every new layer's weights with jax.random. XLA's CPU compiler takes seconds for some weight
# shapes with the partitionable threefry generator and a fraction of a second with the classic one
# (docs/testing.md). No image depends on those bits: images start from numpy generators, models bring their weights.
os.environ.setdefault("JAX_THREEFRY_PARTITIONABLE", "0")

__version__ = "0.1.0"
