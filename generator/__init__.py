"""Filter atlas: synthetic images of every filter of a CNN, rendered as a static website."""

import os

# TensorFlow prints pages of C++ start-up logs; keep them out of the user's terminal unless asked for.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

__version__ = "0.1.0"
