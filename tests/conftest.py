"""Shared fixtures: the tiny named CNN. Shared helpers live in helpers.py."""

from __future__ import annotations

import pytest

import generator  # noqa: F401  (sets the backend and quiets TensorFlow before keras is imported)
from generator.models import load_model


@pytest.fixture(scope="session")
def tiny():
    """tiny-cnn: conv1 (8 filters, fused ReLU), conv2 (12, linear) + conv2_relu, pool, conv3 (16), dense."""
    return load_model("tiny-cnn")
