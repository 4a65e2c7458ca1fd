"""Shared fixtures: the tiny named CNN and quick settings for it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import generator  # noqa: F401  (sets the backend and quiets TensorFlow before keras is imported)
from generator.config import AtlasConfig, resolve
from generator.models import load_model


@pytest.fixture(scope="session")
def tiny():
    """tiny-cnn: conv1 (8 filters, fused ReLU), conv2 (12, linear) + conv2_relu, pool, conv3 (16), dense."""
    return load_model("tiny-cnn")


def tiny_settings(out: Path, **given):
    """Settings of a small full run of tiny-cnn at 16x16 (the classic method unless ``method`` is given)."""
    config = AtlasConfig(model="tiny-cnn", method="classic", size=16, profile="full", out=str(out))
    return resolve(dataclasses.replace(config, **given), has_gpu=False)
