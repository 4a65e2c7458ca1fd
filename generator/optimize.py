"""The batched objective and step: one image per (filter, sign), one compiled step per layer.

Batch entry ``b`` optimises filter ``filter_ids[b]`` with sign ``signs[b]`` (+1 ascent: the filter's pattern;
-1 descent: the pattern taken out). Filter ids, signs, the learning rate and the per-image transforms are
tensors and the batch is padded to a fixed size, so a layer traces its step once.

A method is three choices: a parameterisation (param.py), the views each step sees (transforms.py) and an update
rule (here): ``classic`` = pixels, no transforms, the seed's L2-normalised gradient step; ``fourier`` = Fourier
spectrum, jitter/scale/rotation, Adam.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

import numpy as np

from generator import backends, transforms
from generator.config import MethodSettings
from generator.folding import FoldedAway
from generator.heads import build_own_filter_extractor
from generator.models import layer_calls, output_shapes, preprocess
from generator.param import image_seed, parameterisation_for
from generator.quiet import keras, stderr_silenced

ops = keras.ops
BORDER = 2  # the seed trims 2 activation pixels on each side to avoid border effects
ADAM_BETAS = (0.9, 0.999)


def mean_activation(outputs, filter_ids):
    """Per image b: the mean of ``outputs[b, :, :, filter_ids[b]]``, border trimmed, picked by gather."""
    picked = ops.take_along_axis(outputs, ops.reshape(filter_ids, (-1, 1, 1, 1)), axis=3)
    return mean_of_maps(picked[..., 0])


def mean_of_maps(maps):
    """Per image: the mean of its (H, W) activation map, border trimmed."""
    height, width = maps.shape[1], maps.shape[2]
    border = BORDER if min(height, width) > 2 * BORDER else 0
    return ops.mean(ops.cast(maps[:, border:height - border, border:width - border], "float32"), axis=(1, 2))


def _per_image(tensor, values):
    return ops.reshape(values, (-1,) + (1,) * (len(tensor.shape) - 1))


class NormalisedGradientStep:
    """The seed's update, per image: ``params + sign * lr * g / ||g||`` (L2 norm over the image's pixels)."""

    def initial_state(self, params):
        return ()

    def __call__(self, params, grads, state, signs, learning_rate):
        axes = tuple(range(1, len(grads.shape)))
        squared = ops.sum(ops.square(grads), axis=axes, keepdims=True)
        normalised = grads / ops.sqrt(ops.maximum(squared, 1e-12))
        return params + learning_rate * _per_image(params, signs) * normalised, state


class Adam:
    """Adam ascent on ``sign * objective``, written in keras.ops (state: step count, first and second moments).

    Each image's gradient is first divided by its root mean square, so one learning rate suits every layer
    whatever its activation scale, and ``epsilon`` is relative to that: coefficients whose gradient is rounding
    noise (a millionth of the typical one) take no step, instead of a full step in a random direction.
    Adam's first steps move every coefficient by the full learning rate, a burst of random texture that raises
    any contrast-loving filter's activation whatever the sign; a linear warm-up over the first 8 steps keeps short
    runs going the right way (measured on VGG16 block1_conv1, 10 steps: 45 of 64 negative images lowered their
    activation without it, 61 with it) at no cost to long ones.
    """

    epsilon = 1e-3
    warmup_steps = 8  # the learning rate ramps up over these steps (see below)

    def initial_state(self, params):
        zeros = ops.zeros_like(params)
        return (ops.zeros((), "float32"), zeros, zeros)

    def __call__(self, params, grads, state, signs, learning_rate):
        count, first, second = state
        beta1, beta2 = ADAM_BETAS
        axes = tuple(range(1, len(grads.shape)))
        root_mean_square = ops.sqrt(ops.mean(ops.square(grads), axis=axes, keepdims=True))
        grads = grads / ops.maximum(root_mean_square, 1e-30) * _per_image(grads, signs)
        count = count + 1.0
        first = beta1 * first + (1 - beta1) * grads
        second = beta2 * second + (1 - beta2) * ops.square(grads)
        corrected = (first / (1 - beta1 ** count)) / (ops.sqrt(second / (1 - beta2 ** count)) + self.epsilon)
        warmup = ops.minimum(1.0, count / self.warmup_steps)
        return params + learning_rate * warmup * corrected, (count, first, second)


def update_for(method: MethodSettings):
    return NormalisedGradientStep() if method.name == "classic" else Adam()


def views_for(method: MethodSettings) -> transforms.Transform | None:
    if method.jitter == 0 and method.scale == 0 and method.rotate == 0:
        return None
    return transforms.robustness(method.jitter, method.scale, method.rotate)


@dataclass(frozen=True)
class BatchResult:
    images: np.ndarray  # (N, H, W, 3) RGB: pixels for classic (deprocessed by tiles.py), [0, 1] for fourier
    activations: np.ndarray  # (N, steps + 1): mean activation before each step, then after the last


class Optimizer:
    """Optimises batches of (filter, sign) images for one layer with one compiled step."""

    def __init__(self, extractor, method: MethodSettings, batch_size: int, preprocessing: str, layer_key: int = 0):
        self.extractor = extractor
        self.method = method
        self.batch_size = batch_size
        self.preprocessing = preprocessing
        self.layer_key = layer_key
        self.parameterisation = parameterisation_for(method.name, method.size)
        self.views = views_for(method)
        self.update = update_for(method)
        self.num_traces = 0
        self.compile_seconds = 0.0  # the first calls of the compiled step and measure (see _compiling)
        self._runs = 0
        parameterisation, views = self.parameterisation, self.views
        # Only each image's own filter where the layer has a head (heads.py), else all of its filters.
        own_filter = build_own_filter_extractor(extractor)
        self.model = own_filter or extractor

        def activations(weights, images, filter_ids):
            inputs = preprocess(images, preprocessing)
            if own_filter is not None:
                return mean_of_maps(backends.call_model(own_filter, weights, [inputs, filter_ids]))
            return mean_activation(backends.call_model(extractor, weights, inputs), filter_ids)

        def per_image(weights, params, filter_ids, view_rows):
            images = parameterisation.to_rgb(params)
            if views is not None:
                images = transforms.apply(images, view_rows)
            return activations(weights, images, filter_ids)

        value_and_gradient = backends.value_and_gradient(per_image)

        def step(weights, params, state, filter_ids, signs, learning_rate, view_rows):
            self.num_traces += 1  # runs only while tracing
            values, grads = value_and_gradient(weights, params, filter_ids, view_rows)
            params, state = self.update(params, grads, state, signs, learning_rate)
            return params, state, values

        def measure(weights, params, filter_ids):
            return activations(weights, parameterisation.to_rgb(params), filter_ids)

        self._weights = backends.model_weights(self.model)
        self._step = backends.compile_step(step)
        self._measure = backends.compile_step(measure)

    @contextlib.contextmanager
    def _compiling(self, first_call: bool):
        """Around a compiled function's first call: stderr silenced, and the call's time added to
        ``compile_seconds`` (it compiles, then runs once; later calls only run)."""
        if not first_call:
            yield
            return
        started = time.perf_counter()
        with stderr_silenced():
            yield
        self.compile_seconds += time.perf_counter() - started

    def _view_rows(self, generators):
        """Every step's view of every image, (steps, B, 8), on the device in one transfer."""
        if self.views is None:
            rows = np.zeros((self.method.steps, len(generators), 8), np.float32)
        else:
            rows = transforms.draw_batch(self.views, generators, self.method.size, self.method.steps)
        return ops.convert_to_tensor(rows)

    def run(self, filter_ids: list[int], signs: list[float]) -> BatchResult:
        """Optimise ``len(filter_ids)`` images (at most ``batch_size``); the batch is padded to its fixed size."""
        count = len(filter_ids)
        if not 0 < count <= self.batch_size or len(signs) != count:
            raise ValueError(f"a batch holds 1 to {self.batch_size} images with one sign each, got {count}")
        padding = self.batch_size - count
        padded_ids = list(filter_ids) + [filter_ids[-1]] * padding
        padded_signs = list(signs) + [signs[-1]] * padding
        generators = [image_seed(self.method.seed, self.layer_key, filter_id) for filter_id in padded_ids]
        params = ops.convert_to_tensor(self.parameterisation.initial(generators))
        state = self.update.initial_state(params)
        ids_tensor = ops.convert_to_tensor(np.asarray(padded_ids, dtype="int32"))
        signs_tensor = ops.convert_to_tensor(np.asarray(padded_signs, dtype="float32"))
        rate = ops.convert_to_tensor(np.float32(self.method.learning_rate))
        rows = self._view_rows(generators)
        # The curve: the start image's activation without a random view, each step's value (its view of the image
        # after the previous update), and the final image's. Without views, step 0 measures the start image itself.
        # Compilation can print C++ messages that mean nothing to a user (TensorFlow's graph optimiser reports
        # rewrites it skipped): the first call of each compiled function runs with stderr silenced.
        first_run = self._runs == 0
        with self._compiling(first_run):
            curve = [] if self.views is None else [self._measure(self._weights, params, ids_tensor)]
        for step in range(self.method.steps):
            with self._compiling(first_run and step == 0):
                params, state, values = self._step(self._weights, params, state, ids_tensor, signs_tensor, rate,
                                                   rows[step])
            if step or self.views is None:
                curve.append(values)
        with self._compiling(first_run):
            curve.append(self._measure(self._weights, params, ids_tensor))
        self._runs += 1
        activations = np.stack([ops.convert_to_numpy(values) for values in curve], axis=1)
        images = self.parameterisation.to_display(ops.convert_to_numpy(params))
        return BatchResult(images=images[:count], activations=activations[:count])


def is_out_of_memory(error: Exception) -> bool:
    text = f"{type(error).__name__} {error}".lower()
    return any(marker in text for marker in ("resourceexhausted", "resource_exhausted", "out of memory", "oom"))


def bytes_per_image(extractor, size: int) -> int:
    """Activation memory of one image through the extractor (forward values kept for the backward pass)."""
    nodes = [node for node in layer_calls(extractor) if not isinstance(node.operation, FoldedAway)]
    shapes = output_shapes(extractor, [node.output_tensors[0] for node in nodes], (size, size))
    elements = sum(int(np.prod(shape[1:])) for shape in shapes) + size * size * 3
    return elements * 4 * 3  # float32; values, gradients and a working copy


def device_memory_budget(on_gpu: bool) -> int:
    """Bytes one batch may take: 40% of the GPU's memory where the backend reports it (else 16 GB), or 1.5 GB
    of host memory on a CPU."""
    if on_gpu and backends.BACKEND == "jax":
        import jax

        stats = jax.devices()[0].memory_stats() or {}
        if "bytes_limit" in stats:
            return int(stats["bytes_limit"] * 0.4)
    return int(16e9) if on_gpu else int(1.5e9)


def choose_batch_size(extractor, size: int, num_images: int, on_gpu: bool) -> int:
    """The batch for work of ``num_images`` images: as few batches as fit the memory budget (capped at 32 images on
    a CPU, where larger batches only add memory: the CPU is compute-bound), with the images split evenly between
    them. A full batch and a remainder would waste the remainder's padding: a unit of 32 images with room for 25
    would run 25 and 7 padded to 25, 50 images' work, where 2 batches of 16 do 32."""
    fitting = max(1, device_memory_budget(on_gpu) // bytes_per_image(extractor, size))
    largest, num_images = max(1, min(fitting, 1024 if on_gpu else 32)), max(1, num_images)
    num_batches = -(-num_images // largest)
    return int(-(-num_images // num_batches))
