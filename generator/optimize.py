"""The batched objective and step: one image per (filter, sign), one compiled step per layer.

Batch entry ``b`` optimises filter ``filter_ids[b]`` with sign ``signs[b]`` (+1 ascent: the filter's pattern;
-1 descent: the pattern taken out). Filter ids, signs and the learning rate are tensors and the batch is padded
to a fixed size, so a layer traces its step once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from generator import backends
from generator.config import MethodSettings
from generator.param import image_seed, parameterisation_for
from generator.quiet import keras

ops = keras.ops
BORDER = 2  # the seed trims 2 activation pixels on each side to avoid border effects


def mean_activation(outputs, filter_ids):
    """Per image b: the mean of ``outputs[b, :, :, filter_ids[b]]``, border trimmed, picked by gather."""
    height, width = outputs.shape[1], outputs.shape[2]
    border = BORDER if min(height, width) > 2 * BORDER else 0
    trimmed = outputs[:, border:height - border, border:width - border, :]
    picked = ops.take_along_axis(trimmed, ops.reshape(filter_ids, (-1, 1, 1, 1)), axis=3)
    return ops.mean(ops.cast(picked, "float32"), axis=(1, 2, 3))


def normalised_gradient_step(params, grads, signs, learning_rate):
    """The seed's update, per image: ``params + sign * lr * g / ||g||`` (L2 norm over the image's pixels)."""
    squared = ops.sum(ops.square(grads), axis=(1, 2, 3), keepdims=True)
    normalised = grads / ops.sqrt(ops.maximum(squared, 1e-12))
    return params + learning_rate * ops.reshape(signs, (-1, 1, 1, 1)) * normalised


@dataclass(frozen=True)
class BatchResult:
    images: np.ndarray  # (N, H, W, 3) RGB, method-specific range (deprocessed by tiles.py)
    activations: np.ndarray  # (N, steps + 1): mean activation before each step, then after the last


class Optimizer:
    """Optimises batches of (filter, sign) images for one layer with one compiled step."""

    def __init__(self, extractor, method: MethodSettings, batch_size: int, preprocessing: str, layer_key: int = 0):
        self.method = method
        self.batch_size = batch_size
        self.layer_key = layer_key
        self.parameterisation = parameterisation_for(method.name, preprocessing)
        self.num_traces = 0
        parameterisation = self.parameterisation

        def per_image(weights, params, filter_ids):
            outputs = backends.call_model(extractor, weights, parameterisation.to_model_input(params))
            return mean_activation(outputs, filter_ids)

        value_and_gradient = backends.value_and_gradient(per_image)

        def step(weights, params, filter_ids, signs, learning_rate):
            self.num_traces += 1  # runs only while tracing
            values, grads = value_and_gradient(weights, params, filter_ids)
            return normalised_gradient_step(params, grads, signs, learning_rate), values

        self._weights = backends.model_weights(extractor)
        self._step = backends.compile_step(step)
        self._measure = backends.compile_step(per_image)

    def run(self, filter_ids: list[int], signs: list[float]) -> BatchResult:
        """Optimise ``len(filter_ids)`` images (at most ``batch_size``); the batch is padded to its fixed size."""
        count = len(filter_ids)
        if not 0 < count <= self.batch_size or len(signs) != count:
            raise ValueError(f"a batch holds 1 to {self.batch_size} images with one sign each, got {count}")
        padding = self.batch_size - count
        padded_ids = list(filter_ids) + [filter_ids[-1]] * padding
        padded_signs = list(signs) + [signs[-1]] * padding
        generators = [image_seed(self.method.seed, self.layer_key, filter_id) for filter_id in padded_ids]
        params = ops.convert_to_tensor(self.parameterisation.initial(generators, self.method.size))
        ids_tensor = ops.convert_to_tensor(np.asarray(padded_ids, dtype="int32"))
        signs_tensor = ops.convert_to_tensor(np.asarray(padded_signs, dtype="float32"))
        rate = ops.convert_to_tensor(np.float32(self.method.learning_rate))
        curve = []
        for _ in range(self.method.steps):
            params, values = self._step(self._weights, params, ids_tensor, signs_tensor, rate)
            curve.append(values)
        curve.append(self._measure(self._weights, params, ids_tensor))
        activations = np.stack([ops.convert_to_numpy(values) for values in curve], axis=1)
        images = self.parameterisation.to_display(ops.convert_to_numpy(params))
        return BatchResult(images=images[:count], activations=activations[:count])


def is_out_of_memory(error: Exception) -> bool:
    text = f"{type(error).__name__} {error}".lower()
    return any(marker in text for marker in ("resourceexhausted", "resource_exhausted", "out of memory", "oom"))


def bytes_per_image(extractor, size: int) -> int:
    """Activation memory of one image through the extractor (forward values kept for the backward pass)."""
    layers = [layer for layer in extractor.layers if type(layer).__name__ != "InputLayer"]
    probe = keras.Model(extractor.inputs, [layer.output for layer in layers])
    specs = probe.compute_output_spec(keras.KerasTensor((1, size, size, 3)))
    specs = specs if isinstance(specs, (list, tuple)) else [specs]
    elements = sum(int(np.prod(spec.shape[1:])) for spec in specs) + size * size * 3
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


def choose_batch_size(extractor, size: int, num_filters: int, on_gpu: bool) -> int:
    """The largest batch that fits the memory budget, capped by the unit's filters (and at 32 on a CPU,
    where larger batches only add memory: the CPU is compute-bound)."""
    fitting = max(1, device_memory_budget(on_gpu) // bytes_per_image(extractor, size))
    cap = 1024 if on_gpu else 32
    return int(max(1, min(fitting, cap, num_filters)))
