"""The optimiser: faithful to the seed, raises the activation, and a batch equals its single filters."""

import numpy as np
import pytest

from generator.model.extractors import build_extractor
from generator.model.preprocessing import PRESETS
from generator.model.quiet_keras import keras
from generator.optimisation.batching import choose_batch_size
from generator.optimisation.methods import MethodSettings
from generator.optimisation.optimizer import Optimizer
from generator.optimisation.parameterisations import image_generator

METHOD = MethodSettings(name="classic", steps=10, learning_rate=10.0, size=16, target="output", seed=3)


def seed_algorithm(extractor, image, filter_index, steps, learning_rate):
    """The tutorial's code, one filter at a time (tf.GradientTape, l2_normalize over the whole gradient)."""
    import tensorflow as tf

    image_batch = tf.convert_to_tensor(image[None])
    for _ in range(steps):
        with tf.GradientTape() as tape:
            tape.watch(image_batch)
            activation = extractor(image_batch)
            loss = tf.reduce_mean(activation[:, 2:-2, 2:-2, filter_index])
        grads = tf.math.l2_normalize(tape.gradient(loss, image_batch))
        image_batch += learning_rate * grads
    return image_batch[0].numpy()


def test_classic_is_the_seed_algorithm(tiny):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("the tutorial's code is TensorFlow; test_backends compares JAX with TensorFlow")
    extractor = build_extractor(tiny, "conv2")
    optimizer = Optimizer(extractor, METHOD, batch_size=1, preprocessing=PRESETS["unit"], layer_key=5)
    result = optimizer.run([4], [1.0])
    start = image_generator(METHOD.seed, 5, 4).random((16, 16, 3), dtype=np.float32)
    expected = seed_algorithm(extractor, start, 4, METHOD.steps, METHOD.learning_rate)
    np.testing.assert_allclose(result.images[0], expected, rtol=1e-4, atol=1e-5)


def test_batch_equals_singles(tiny):
    extractor = build_extractor(tiny, "conv3")
    filter_ids = [0, 3, 5, 9, 15]
    batched = Optimizer(extractor, METHOD, batch_size=8, preprocessing=PRESETS["unit"]).run(filter_ids, [1.0] * 5)
    single = Optimizer(extractor, METHOD, batch_size=1, preprocessing=PRESETS["unit"])
    for index, filter_id in enumerate(filter_ids):
        alone = single.run([filter_id], [1.0])
        np.testing.assert_allclose(batched.images[index], alone.images[0], rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(batched.activations[index], alone.activations[0], rtol=1e-4, atol=1e-4)


def test_ascent_raises_and_descent_lowers_the_activation(tiny):
    extractor = build_extractor(tiny, "conv2")  # linear output: every filter has a gradient
    optimizer = Optimizer(extractor, METHOD, batch_size=12, preprocessing=PRESETS["unit"])
    up = optimizer.run(list(range(12)), [1.0] * 12)
    down = optimizer.run(list(range(12)), [-1.0] * 12)
    np.testing.assert_allclose(up.activations[:, 0], down.activations[:, 0])  # same start for both signs
    assert (up.activations[:, -1] > up.activations[:, 0]).all()
    assert (down.activations[:, -1] < down.activations[:, 0]).all()
    assert up.activations.shape == (12, METHOD.steps + 1)


def test_one_trace_per_layer_however_many_batches(tiny):
    extractor = build_extractor(tiny, "conv3")
    optimizer = Optimizer(extractor, METHOD, batch_size=4, preprocessing=PRESETS["unit"])
    for start in range(0, 16, 4):
        optimizer.run(list(range(start, start + 4)), [1.0] * 4)
    optimizer.run([1, 2], [-1.0, -1.0])  # a short last batch is padded, not retraced
    assert optimizer.num_traces == 1


def test_compile_time_is_counted_on_the_first_batch_only(tiny):
    optimizer = Optimizer(build_extractor(tiny, "conv3"), METHOD, batch_size=4, preprocessing=PRESETS["unit"])
    optimizer.run([0, 1, 2, 3], [1.0] * 4)
    first = optimizer.compile_seconds
    optimizer.run([4, 5, 6, 7], [1.0] * 4)
    assert first > 0 and optimizer.compile_seconds == first


def test_padding_does_not_change_results(tiny):
    extractor = build_extractor(tiny, "conv3")
    short = Optimizer(extractor, METHOD, batch_size=6, preprocessing=PRESETS["unit"]).run([2, 7], [1.0, 1.0])
    exact = Optimizer(extractor, METHOD, batch_size=2, preprocessing=PRESETS["unit"]).run([2, 7], [1.0, 1.0])
    assert short.images.shape == (2, 16, 16, 3)
    np.testing.assert_allclose(short.images, exact.images, rtol=1e-4, atol=1e-4)


def test_batch_size_fits_memory_and_splits_the_work_evenly(tiny, monkeypatch):
    from generator.optimisation import batching

    extractor = build_extractor(tiny, "conv3")
    assert choose_batch_size(extractor, 16, num_images=16, on_gpu=False) == 16
    assert choose_batch_size(extractor, 16, num_images=64, on_gpu=False) == 32  # the CPU cap
    assert choose_batch_size(extractor, 16, num_images=100, on_gpu=False) == 25  # 4 batches of 25, not 32+32+32+4
    assert choose_batch_size(extractor, 4000, num_images=100, on_gpu=False) < 32
    # Room for 25 images and a unit of 32: two batches of 16, not 25 and 7 padded to 25.
    monkeypatch.setattr(batching, "device_memory_budget", lambda on_gpu: 25 * batching.bytes_per_image(extractor, 16))
    assert choose_batch_size(extractor, 16, num_images=32, on_gpu=False) == 16
    assert choose_batch_size(extractor, 16, num_images=25, on_gpu=False) == 25
    assert choose_batch_size(extractor, 16, num_images=51, on_gpu=False) == 17


FOURIER = MethodSettings(name="fourier", steps=8, learning_rate=0.05, size=16, target="leaky", seed=3,
                         jitter=0.125, scale=0.1, rotate=10.0)


def assert_batch_equals_singles(extractor, settings: MethodSettings):
    batched = Optimizer(extractor, settings, batch_size=4, preprocessing=PRESETS["unit"]).run([1, 6, 11],
                                                                                              [1.0, -1.0, 1.0])
    single = Optimizer(extractor, settings, batch_size=1, preprocessing=PRESETS["unit"])
    for index, (filter_id, sign) in enumerate([(1, 1.0), (6, -1.0), (11, 1.0)]):
        alone = single.run([filter_id], [sign])
        np.testing.assert_allclose(batched.images[index], alone.images[0], rtol=1e-4, atol=1e-4)


def assert_moves_both_ways(optimizer: Optimizer, num_filters: int = 16):
    """Ascent and descent of the first ``num_filters`` filters; >= 90% of each move their way. Returns both."""
    up = optimizer.run(list(range(num_filters)), [1.0] * num_filters)
    down = optimizer.run(list(range(num_filters)), [-1.0] * num_filters)
    assert (up.activations[:, -1] > up.activations[:, 0]).mean() >= 0.9
    assert (down.activations[:, -1] < down.activations[:, 0]).mean() >= 0.9
    return up, down


def test_fourier_batch_equals_singles_with_random_views(tiny):
    assert_batch_equals_singles(build_extractor(tiny, "conv3", "leaky"), FOURIER)


def test_fourier_moves_the_activation_both_ways(tiny):
    extractor = build_extractor(tiny, "conv3", "leaky")
    optimizer = Optimizer(extractor, FOURIER, batch_size=16, preprocessing=PRESETS["unit"])
    up, _ = assert_moves_both_ways(optimizer)
    assert ((0 <= up.images) & (up.images <= 1)).all()  # sigmoid images


def test_fourier_with_a_contrast_is_vivid_after_a_few_steps_and_still_moves_the_activation_both_ways(tiny):
    import dataclasses

    extractor = build_extractor(tiny, "conv3", "leaky")
    contrasted = dataclasses.replace(FOURIER, contrast=1.25)
    assert_batch_equals_singles(extractor, contrasted)
    optimizer = Optimizer(extractor, contrasted, batch_size=16, preprocessing=PRESETS["unit"])
    up, _ = assert_moves_both_ways(optimizer)
    free = Optimizer(extractor, FOURIER, batch_size=16, preprocessing=PRESETS["unit"]).run(list(range(16)),
                                                                                           [1.0] * 16)
    assert up.images.std(axis=(1, 2, 3)).mean() > 3 * free.images.std(axis=(1, 2, 3)).mean()


def test_a_snapshot_is_the_image_a_run_of_that_many_steps_ends_with(tiny):
    # Without random views (classic), a shorter run is the same optimisation cut short. (With views, a run draws
    # its views for all its steps at once, so a shorter run sees other views.)
    import dataclasses

    extractor = build_extractor(tiny, "conv3", "output")
    long_run = Optimizer(extractor, METHOD, batch_size=2, preprocessing=PRESETS["unit"]).run(
        [1, 6], [1.0, -1.0], snapshot_steps=(3, METHOD.steps))
    short = dataclasses.replace(METHOD, steps=3)
    short_run = Optimizer(extractor, short, batch_size=2, preprocessing=PRESETS["unit"]).run([1, 6], [1.0, -1.0])
    assert sorted(long_run.snapshots) == [3, METHOD.steps]
    np.testing.assert_allclose(long_run.snapshots[3], short_run.images, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(long_run.snapshots[METHOD.steps], long_run.images)


MACO = MethodSettings(name="maco", steps=8, learning_rate=0.1, size=16, target="leaky", seed=3, crop=0.5, noise=0.05)


def test_maco_batch_equals_singles_and_moves_the_activation_both_ways(tiny):
    extractor = build_extractor(tiny, "conv3", "leaky")
    assert_batch_equals_singles(extractor, MACO)
    optimizer = Optimizer(extractor, MACO, batch_size=16, preprocessing=PRESETS["unit"])
    assert_moves_both_ways(optimizer)


def test_views_that_grow_over_the_steps_keep_the_batch_equal_to_the_singles_and_change_the_images(tiny):
    import dataclasses

    extractor = build_extractor(tiny, "conv3", "leaky")
    ramped = dataclasses.replace(FOURIER, views_ramp=FOURIER.steps // 2)
    assert_batch_equals_singles(extractor, ramped)
    up, _ = assert_moves_both_ways(Optimizer(extractor, ramped, batch_size=16, preprocessing=PRESETS["unit"]))
    full = Optimizer(extractor, FOURIER, batch_size=16, preprocessing=PRESETS["unit"]).run(list(range(16)), [1.0] * 16)
    assert np.abs(up.images - full.images).max() > 1e-3  # the first steps saw weaker views
