"""Numeric precision of a run: float32, or mixed (bfloat16 compute, float32 variables and loss)."""

from __future__ import annotations

import contextlib

from generator.model.quiet_keras import keras


@contextlib.contextmanager
def precision_policy(precision: str):
    """Build models under Keras' mixed_bfloat16 policy (bfloat16 compute, float32 variables) when asked."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16" if precision == "mixed" else "float32")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
