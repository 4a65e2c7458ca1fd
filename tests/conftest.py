"""Shared fixtures: the tiny named CNN. Shared helpers live in helpers.py."""

from __future__ import annotations

import os
import tempfile

import pytest

# The oneDNN probe's answer (model/onednn.py) is cached for the session's command-line processes, not in the
# user's home.
os.environ.setdefault("XDG_CACHE_HOME", tempfile.mkdtemp(prefix="atlas-tests-cache-"))

import generator  # noqa: F401  (sets the backend and quiets TensorFlow before keras is imported)
from generator.model.models import load_model


@pytest.fixture(scope="session")
def tiny():
    """tiny-cnn: conv1 (8 filters, fused ReLU), conv2 (12, linear) + conv2_relu, pool, conv3 (16), dense."""
    return load_model("tiny-cnn")


# A test is backend_free when what it checks does not depend on the Keras backend (files, processes, pages,
# packaging, the command line, a bench script's record) or when it runs both backends itself. The JAX pass of
# `make test` skips these (-m "not backend_free"), so each runs once, on TensorFlow; the backend's own numbers are
# checked on JAX by the other tests. Whole modules are listed here; single tests carry the mark themselves.
BACKEND_FREE_MODULES = {"test_browser", "test_packaging", "test_workflow", "test_lock", "test_resume", "test_cli",
                        "test_makefile", "test_machine"}


def pytest_collection_modifyitems(items):
    for item in items:
        if item.module.__name__ in BACKEND_FREE_MODULES:
            item.add_marker(pytest.mark.backend_free)
