"""batching.py: an image's activation memory, the memory budget, how a unit's images are split into batches, and
which errors mean the device ran out of memory."""

import numpy as np

from generator.model.extractors import build_extractor
from generator.model.models import LoadedModel
from generator.model.preprocessing import PRESETS
from generator.model.quiet_keras import keras
from generator.optimisation import batching


def test_bytes_per_image_counts_every_activation_three_times_in_float32(tiny):
    # conv1 at 16x16: its 16*16*8 outputs and the 16*16*3 input, 4 bytes each, kept 3 times.
    assert batching.bytes_per_image(build_extractor(tiny, "conv1"), 16) == (16 * 16 * 8 + 16 * 16 * 3) * 4 * 3
    # conv3: conv1, conv2 and conv2_relu at full size, pool and conv3 at half size, and the input.
    elements = 16 * 16 * (8 + 12 + 12) + 8 * 8 * (12 + 16) + 16 * 16 * 3
    assert batching.bytes_per_image(build_extractor(tiny, "conv3"), 16) == elements * 4 * 3


def test_a_folded_batch_normalisation_takes_no_memory():
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="norm")(x)
    loaded = LoadedModel("bn", "test", keras.Model(inputs, x), PRESETS["unit"])
    extractor = build_extractor(loaded, "norm")  # the normalisation is folded into the convolution
    assert batching.bytes_per_image(extractor, 8) == (8 * 8 * 4 + 8 * 8 * 3) * 4 * 3


def test_images_are_split_evenly_into_as_few_batches_as_fit(monkeypatch):
    assert batching.device_memory_budget(on_gpu=False) == 1_500_000_000  # a CPU's host-memory budget
    monkeypatch.setattr(batching, "bytes_per_image", lambda extractor, size: 150_000_000)  # 10 images fit
    sizes = {count: batching.choose_batch_size(None, 16, count, on_gpu=False) for count in (0, 1, 10, 11, 25, 31)}
    assert sizes == {0: 1, 1: 1, 10: 10, 11: 6, 25: 9, 31: 8}  # 11 = 6 + 5, 25 = 9 + 9 + 7, 31 = 4 batches of 8
    for count in range(1, 200):
        size = batching.choose_batch_size(None, 16, count, on_gpu=False)
        batches = -(-count // size)
        assert size <= 10 and batches == -(-count // 10), count  # within the budget, and no batch more than needed
        assert batches * size - count < batches, count  # every image in a batch, under one padding slot per batch
    monkeypatch.setattr(batching, "bytes_per_image", lambda extractor, size: 10**12)
    assert batching.choose_batch_size(None, 16, 50, on_gpu=False) == 1  # not even one fits: one at a time


def test_out_of_memory_errors_are_told_from_others():
    class ResourceExhaustedError(Exception):
        pass

    assert batching.is_out_of_memory(ResourceExhaustedError("OOM when allocating tensor"))
    assert batching.is_out_of_memory(RuntimeError("RESOURCE_EXHAUSTED: Out of memory allocating 123 bytes"))
    assert batching.is_out_of_memory(MemoryError("CUDA out of memory"))
    assert not batching.is_out_of_memory(ValueError("Incompatible shapes: [2,8] vs. [2,4]"))
    assert not batching.is_out_of_memory(np.linalg.LinAlgError("Singular matrix"))
    assert not batching.is_out_of_memory(ValueError("no room for the zoom level in the config"))
