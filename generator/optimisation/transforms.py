"""The random views each step sees, different for every image of a batch: jitter, scale and rotation
(transformation robustness), or random crops and noise (MaCo's views).

Each factory takes its setting and returns a ``Transform``: ``draw(generator, size, strengths)`` picks one random
3x3 matrix (output pixel -> input pixel) per entry of ``strengths`` for one image on the host, from that image's own
generator, so an image's views never depend on its batch. A strength scales the view's deviation from the identity
(0: none, 1: as set; ``ramp`` grows it over the steps) and never changes which random numbers are drawn, so full
strength gives the same views as before strengths existed. ``compose`` multiplies matrices, and ``apply`` warps the
whole batch in one bilinear interpolation, outside areas filled with mid-grey, and adds the transform's noise. A run
draws every step's matrices at its start, so the device never waits for the host."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from generator.model.quiet_keras import keras

FILL = 0.5  # mid-grey, the "padding" around a shifted or shrunk image

Matrices = np.ndarray  # (count, 3, 3): each maps output (x, y, 1) to input (x, y, 1)


@dataclass(frozen=True)
class Transform:
    name: str
    draw: Callable[[np.random.Generator, int, np.ndarray], Matrices]  # (generator, size, strengths) -> matrices
    noise: float = 0.0  # standard deviation of the noise added to each view (``apply``)


def _about_centre(linear: np.ndarray, size: int) -> Matrices:
    """(count, 2, 2) linear maps -> (count, 3, 3) maps about the image centre."""
    centre = (size - 1) / 2
    matrices = np.tile(np.eye(3), (len(linear), 1, 1))
    matrices[:, :2, :2] = linear
    matrices[:, :2, 2] = centre - linear @ np.array([centre, centre])
    return matrices


def jitter(fraction: float) -> Transform:
    """Shift by up to ``fraction`` of the size in x and y (uniform, whole pixels at full strength)."""

    def draw(generator, size, strengths):
        limit = int(round(fraction * size))
        shifts = generator.integers(-limit, limit + 1, size=(len(strengths), 2)) * strengths[:, None]
        matrices = np.tile(np.eye(3), (len(strengths), 1, 1))
        matrices[:, :2, 2] = -shifts
        return matrices

    return Transform("jitter", draw)


def scale(low: float, high: float) -> Transform:
    """Zoom by a factor drawn uniformly from [low, high], about the centre."""

    def draw(generator, size, strengths):
        factors = 1 + strengths * (generator.uniform(low, high, size=len(strengths)) - 1)
        return _about_centre(np.eye(2)[None] / factors[:, None, None], size)

    return Transform("scale", draw)


def crop(smallest: float) -> Transform:
    """A random square crop of side ``smallest``-1 times the size, anywhere inside the image, resized to the full
    size (MaCo's views: nothing outside the image is ever seen)."""

    def draw(generator, size, strengths):
        sides = 1 - strengths * (1 - generator.uniform(smallest, 1.0, size=len(strengths)))
        offsets = generator.uniform(0.0, 1.0, size=(len(strengths), 2)) * ((1.0 - sides) * (size - 1))[:, None]
        matrices = np.tile(np.eye(3), (len(strengths), 1, 1))
        matrices[:, 0, 0] = matrices[:, 1, 1] = sides
        matrices[:, :2, 2] = offsets
        return matrices

    return Transform("crop", draw)


def noise(deviation: float) -> Transform:
    """Noise of standard deviation ``deviation`` added to each view (the warp itself is the identity). The noise is
    part of the compiled step, so it keeps its deviation whatever the strength."""
    return Transform("noise", lambda generator, size, strengths: np.tile(np.eye(3), (len(strengths), 1, 1)),
                     deviation)


def rotate(degrees: float) -> Transform:
    """Rotate by an angle drawn uniformly from [-degrees, degrees], about the centre."""

    def draw(generator, size, strengths):
        angles = np.radians(generator.uniform(-degrees, degrees, size=len(strengths))) * strengths
        cosine, sine = np.cos(angles), np.sin(angles)
        linear = np.stack([np.stack([cosine, sine], -1), np.stack([-sine, cosine], -1)], -2)
        return _about_centre(linear, size)

    return Transform("rotate", draw)


def compose(*transforms: Transform) -> Transform:
    """All of them, the first applied to the image first."""

    def draw(generator, size, strengths):
        matrices = np.tile(np.eye(3), (len(strengths), 1, 1))
        for transform in transforms:
            matrices = matrices @ transform.draw(generator, size, strengths)
        return matrices

    return Transform("+".join(t.name for t in transforms), draw, max(t.noise for t in transforms))


def robustness(jitter_fraction: float, scale_range: float, degrees: float) -> Transform:
    """The optimisation's (and the evaluation's) views: jitter, scale and rotation."""
    return compose(jitter(jitter_fraction), scale(1 - scale_range, 1 + scale_range), rotate(degrees))


def ramp(count: int, ramp_steps: int) -> np.ndarray:
    """The strength of each of ``count`` steps' views: growing linearly from 0 at the first step to full strength
    at step ``ramp_steps``, full after it (``ramp_steps`` 0: full from the first step)."""
    if ramp_steps <= 0:
        return np.ones(count)
    return np.minimum(np.arange(count) / ramp_steps, 1.0)


def draw_batch(transform: Transform, generators: list[np.random.Generator], size: int, count: int = 1,
               strengths: np.ndarray | None = None) -> np.ndarray:
    """(count, B, 8) rows (a 3x3 matrix without its last entry): ``count`` views per image, each image's from its own
    generator (so an image's views never depend on its batch); ``strengths``: each view's (default: all full)."""
    strengths = np.ones(count) if strengths is None else np.asarray(strengths, np.float64)
    matrices = np.stack([transform.draw(generator, size, strengths) for generator in generators], axis=1)
    rows = matrices.reshape(count, len(generators), 9)[..., :8] / matrices[..., 2, 2, None]
    return rows.astype(np.float32)


def step_rows(transform: Transform | None, generators: list[np.random.Generator], size: int, steps: int,
              ramp_steps: int = 0) -> np.ndarray:
    """(steps, B, 8): every step's view of every image of an optimisation, their strength growing over
    ``ramp_steps`` (``ramp``); identity rows (no warp) without a transform."""
    if transform is None:
        return np.zeros((steps, len(generators), 8), np.float32)
    return draw_batch(transform, generators, size, steps, ramp(steps, ramp_steps))


def apply(images, rows, noise: float = 0.0):
    """Warp each image by its row (output pixel -> input pixel), bilinear, mid-grey outside; then, where ``noise``
    is given, add noise of that standard deviation (``view_noise``).

    Written with gathers in keras.ops rather than ``keras.ops.image.affine_transform``: TensorFlow's gradient of
    that op is an approximation (the inverse warp) while JAX differentiates it exactly, so the two backends
    would optimise different images. Gathers have an exact gradient on both.
    """
    ops = keras.ops
    batch, height, width, channels = images.shape
    ys, xs = np.meshgrid(np.arange(height, dtype=np.float32), np.arange(width, dtype=np.float32), indexing="ij")
    xs, ys = ops.convert_to_tensor(xs.reshape(1, -1)), ops.convert_to_tensor(ys.reshape(1, -1))
    source_x = rows[:, 0:1] * xs + rows[:, 1:2] * ys + rows[:, 2:3]  # (B, H*W)
    source_y = rows[:, 3:4] * xs + rows[:, 4:5] * ys + rows[:, 5:6]
    left, top = ops.floor(source_x), ops.floor(source_y)
    right_weight, bottom_weight = source_x - left, source_y - top
    flat = ops.reshape(images, (batch, height * width, channels))
    result = 0.0
    for dy, weight_y in ((0, 1.0 - bottom_weight), (1, bottom_weight)):
        for dx, weight_x in ((0, 1.0 - right_weight), (1, right_weight)):
            x, y = left + dx, top + dy
            inside = (x >= 0) & (x <= width - 1) & (y >= 0) & (y <= height - 1)
            index = ops.cast(ops.clip(y, 0, height - 1) * width + ops.clip(x, 0, width - 1), "int32")
            values = ops.take_along_axis(flat, index[..., None], axis=1)  # (B, H*W, 1) broadcast over channels
            values = ops.where(inside[..., None], values, FILL)
            result = result + (weight_x * weight_y)[..., None] * values
    if noise:
        result = result + view_noise(rows, xs, ys, channels, noise)
    return ops.reshape(result, (batch, height, width, channels))


def view_noise(rows, xs, ys, channels: int, deviation: float):
    """(B, H*W, C) uniform noise of standard deviation ``deviation``, a pure function of each image's row (its
    random view) and the pixel: a hash (fractional part of a large sine), so the compiled step needs no random
    state and both backends add the same noise."""
    ops = keras.ops
    seed = ops.sum(rows[:, :6] * ops.convert_to_tensor(np.array([3.1, 5.7, 0.37, 7.3, 2.9, 0.53], np.float32)),
                   axis=1, keepdims=True)  # (B, 1): the view's random draw
    channel = ops.convert_to_tensor(np.arange(channels, dtype=np.float32) * 1.731)
    phase = (xs * 12.9898 + ys * 78.233 + seed)[..., None] + channel  # (B, H*W, C)
    uniform = ops.sin(phase) * 43758.5453
    uniform = uniform - ops.floor(uniform) - 0.5  # in [-0.5, 0.5): standard deviation 1 / sqrt(12)
    return uniform * (deviation * float(np.sqrt(12.0)))
