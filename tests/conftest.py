"""Shared fixtures: the tiny named CNN. Shared helpers live in helpers.py."""

from __future__ import annotations

import pytest

import generator  # noqa: F401  (sets the backend and quiets TensorFlow before keras is imported)
from generator.models import load_model


@pytest.fixture(scope="session")
def tiny():
    """tiny-cnn: conv1 (8 filters, fused ReLU), conv2 (12, linear) + conv2_relu, pool, conv3 (16), dense."""
    return load_model("tiny-cnn")


# Modules whose tests exercise files, processes, pages and packaging, not the Keras backend's numbers: the JAX pass
# of `make test` skips them (-m "not backend_free"); they run on TensorFlow.
BACKEND_FREE_MODULES = {"test_browser", "test_packaging", "test_workflow", "test_lock", "test_resume"}


def pytest_collection_modifyitems(items):
    for item in items:
        if item.module.__name__ in BACKEND_FREE_MODULES:
            item.add_marker(pytest.mark.backend_free)
