"""Transformation robustness: random jitter, scale and rotation, different for every image of a batch.

Each factory takes its setting and returns a ``Transform``: ``draw(generator, size)`` picks one image's random
3x3 matrix (output pixel -> input pixel) on the host, from that image's own generator, so an image's views never
depend on its batch; ``compose`` multiplies matrices, and ``apply`` warps the whole batch in one interpolation
(``keras.ops.image.affine_transform``), outside areas filled with mid-grey.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from generator.quiet import keras

FILL = 0.5  # mid-grey, the "padding" around a shifted or shrunk image

Matrix = np.ndarray  # (3, 3), maps output (x, y, 1) to input (x, y, 1)


@dataclass(frozen=True)
class Transform:
    name: str
    draw: Callable[[np.random.Generator, int], Matrix]


def _about_centre(linear: np.ndarray, size: int) -> Matrix:
    centre = (size - 1) / 2
    to_centre = np.array([[1, 0, -centre], [0, 1, -centre], [0, 0, 1]], np.float64)
    back = np.array([[1, 0, centre], [0, 1, centre], [0, 0, 1]], np.float64)
    matrix = np.eye(3)
    matrix[:2, :2] = linear
    return back @ matrix @ to_centre


def jitter(fraction: float) -> Transform:
    """Shift by up to ``fraction`` of the size in x and y (uniform, whole pixels)."""

    def draw(generator, size):
        limit = int(round(fraction * size))
        dx, dy = generator.integers(-limit, limit + 1, size=2) if limit else (0, 0)
        return np.array([[1, 0, -dx], [0, 1, -dy], [0, 0, 1]], np.float64)

    return Transform("jitter", draw)


def scale(low: float, high: float) -> Transform:
    """Zoom by a factor drawn uniformly from [low, high], about the centre."""

    def draw(generator, size):
        factor = generator.uniform(low, high)
        return _about_centre(np.eye(2) / factor, size)

    return Transform("scale", draw)


def rotate(degrees: float) -> Transform:
    """Rotate by an angle drawn uniformly from [-degrees, degrees], about the centre."""

    def draw(generator, size):
        angle = math.radians(generator.uniform(-degrees, degrees))
        cosine, sine = math.cos(angle), math.sin(angle)
        return _about_centre(np.array([[cosine, sine], [-sine, cosine]]), size)

    return Transform("rotate", draw)


def compose(*transforms: Transform) -> Transform:
    """All of them, the first applied to the image first."""

    def draw(generator, size):
        matrix = np.eye(3)
        for transform in transforms:
            matrix = matrix @ transform.draw(generator, size)
        return matrix

    return Transform("+".join(t.name for t in transforms), draw)


def robustness(jitter_fraction: float, scale_range: float, degrees: float) -> Transform:
    """The optimisation's (and the evaluation's) views: jitter, scale and rotation."""
    return compose(jitter(jitter_fraction), scale(1 - scale_range, 1 + scale_range), rotate(degrees))


def draw_batch(transform: Transform, generators: list[np.random.Generator], size: int) -> np.ndarray:
    """(B, 8) rows for ``affine_transform``, one per image, each from the image's own generator."""
    rows = []
    for generator in generators:
        matrix = transform.draw(generator, size)
        rows.append(matrix.reshape(-1)[:8] / matrix[2, 2])
    return np.asarray(rows, np.float32)


def apply(images, rows):
    """Warp each image by its row (output pixel -> input pixel), bilinear, grey outside."""
    return keras.ops.image.affine_transform(images, rows, interpolation="bilinear", fill_mode="constant",
                                            fill_value=FILL)
