"""How many images a batch holds: as many as the device's memory allows, split evenly over a unit's work."""

from __future__ import annotations

import re

import numpy as np

from generator.model import backends
from generator.model.folding import FoldedAway
from generator.model.layers import layer_calls, output_shapes


def is_out_of_memory(error: Exception) -> bool:
    """An error that says the device ran out of memory (TensorFlow's ResourceExhausted, XLA's and CUDA's texts);
    "oom" counts only as a word of its own ("room" and "zoom" do not)."""
    text = f"{type(error).__name__} {error}".lower()
    return (any(marker in text for marker in ("resourceexhausted", "resource_exhausted", "out of memory"))
            or re.search(r"\boom\b", text) is not None)


def bytes_per_image(extractor, size: int) -> int:
    """Activation memory of one image through the extractor (forward values kept for the backward pass)."""
    nodes = [node for node in layer_calls(extractor) if not isinstance(node.operation, FoldedAway)]
    shapes = output_shapes(extractor, [node.output_tensors[0] for node in nodes], (size, size))
    elements = sum(int(np.prod(shape[1:])) for shape in shapes) + size * size * int(extractor.inputs[0].shape[-1])
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
    them: a full batch and a remainder would waste the remainder's padding
    (docs/performance.md#batch-size-and-the-automatic-split)."""
    fitting = max(1, device_memory_budget(on_gpu) // bytes_per_image(extractor, size))
    largest, num_images = max(1, min(fitting, 1024 if on_gpu else 32)), max(1, num_images)
    num_batches = -(-num_images // largest)
    return int(-(-num_images // num_batches))
