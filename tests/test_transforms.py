import numpy as np

from generator.model.quiet_keras import keras
from generator.optimisation import transforms

ops = keras.ops


def _apply(transform, images, generators):
    rows = transforms.draw_batch(transform, generators, images.shape[1], count=1)[0]
    warped = transforms.apply(ops.convert_to_tensor(images), ops.convert_to_tensor(rows))
    return np.asarray(ops.convert_to_numpy(warped))


def test_each_transform_keeps_shapes_and_differs_per_image():
    images = np.random.default_rng(0).random((4, 24, 24, 3), dtype=np.float32)
    for transform in (transforms.jitter(0.25), transforms.scale(0.8, 1.2), transforms.rotate(30),
                      transforms.robustness(0.125, 0.1, 10)):
        generators = [np.random.default_rng([1, index]) for index in range(4)]
        out = _apply(transform, np.repeat(images[:1], 4, axis=0), generators)
        assert out.shape == (4, 24, 24, 3), transform.name
        differences = [np.abs(out[0] - out[index]).max() for index in range(1, 4)]
        assert min(differences) > 1e-3, f"{transform.name} gave two images the same view"


def test_views_depend_only_on_the_images_own_generator():
    transform = transforms.robustness(0.125, 0.1, 10)
    alone = transforms.draw_batch(transform, [np.random.default_rng([5, 2])], 32, count=3)
    batch = transforms.draw_batch(transform, [np.random.default_rng([5, 1]), np.random.default_rng([5, 2])], 32, 3)
    np.testing.assert_allclose(alone[:, 0], batch[:, 1])


def test_jitter_shifts_by_whole_pixels_and_fills_with_grey():
    image = np.zeros((1, 8, 8, 3), np.float32)
    image[0, 3, 3] = 1.0
    shifted_right = 0
    for seed in range(12):
        rows = transforms.draw_batch(transforms.jitter(0.5), [np.random.default_rng(seed)], 8, count=1)[0]
        shift_x, shift_y = -rows[0, 2], -rows[0, 5]
        assert shift_x == int(shift_x) and shift_y == int(shift_y)  # whole pixels
        out = np.asarray(ops.convert_to_numpy(transforms.apply(ops.convert_to_tensor(image),
                                                               ops.convert_to_tensor(rows))))
        assert set(np.unique(out)) <= {0.0, transforms.FILL, 1.0}  # no interpolation between pixels
        inside = 0 <= 3 + shift_y < 8 and 0 <= 3 + shift_x < 8
        assert (out == 1.0).sum() == (3 if inside else 0)  # the bright pixel, moved by the shift, all 3 channels
        if inside:
            assert (out[0, 3 + int(shift_y), 3 + int(shift_x)] == 1.0).all()
        covered = np.arange(8) - shift_x  # the input column each output column reads
        grey_columns = np.flatnonzero((covered < 0) | (covered > 7))
        assert np.allclose(out[0][:, grey_columns], transforms.FILL)  # uncovered columns are grey
        shifted_right += shift_x > 0 and inside
    assert shifted_right >= 2  # the seeds cover the case of a visible shift to the right


def _fixed_shift(x: float) -> transforms.Transform:
    """A shift right by ``x`` pixels every time (what jitter draws, without the draw)."""

    def draw(generator, size, strengths):
        matrices = np.tile(np.eye(3), (len(strengths), 1, 1))
        matrices[:, 0, 2] = -x * strengths
        return matrices

    return transforms.Transform("shift", draw)


def test_compose_applies_in_order():
    """Zoom x2 about the centre (4, 4) of a 9-pixel image, then shift right by 2: the input's centre lands at x 6.
    In the other order it would land at 4 + 2 * 2 = 8."""
    image = np.zeros((1, 9, 9, 3), np.float32)
    image[0, 4, 4] = 1.0
    zoom_then_shift = transforms.compose(transforms.scale(2.0, 2.0), _fixed_shift(2))
    shift_then_zoom = transforms.compose(_fixed_shift(2), transforms.scale(2.0, 2.0))
    for transform, landing in ((zoom_then_shift, 6), (shift_then_zoom, 8)):
        matrix = transform.draw(np.random.default_rng(0), 9, np.ones(1))[0]
        np.testing.assert_allclose(matrix @ np.array([landing, 4.0, 1.0]), [4.0, 4.0, 1.0])  # output -> input
        out = _apply(transform, image, [np.random.default_rng(0)])
        assert out[0, 4, landing, 0] == 1.0 and out[0, 4, 4, 0] < 1.0


def test_crops_stay_inside_the_image_and_zoom_in():
    matrices = transforms.crop(0.5).draw(np.random.default_rng(0), 64, np.ones(200))
    corners = np.array([[0, 0, 1], [63, 0, 1], [0, 63, 1], [63, 63, 1]], float).T
    seen = matrices @ corners  # where each corner of the view comes from
    assert seen[:, :2].min() >= -1e-9 and seen[:, :2].max() <= 63 + 1e-9
    sides = matrices[:, 0, 0]
    assert 0.5 <= sides.min() < 0.55 and 0.95 < sides.max() <= 1.0


def test_view_noise_has_its_deviation_and_follows_the_view():
    transform = transforms.compose(transforms.crop(0.5), transforms.noise(0.1))
    assert transform.noise == 0.1
    grey = np.full((2, 48, 48, 3), 0.5, np.float32)
    rows = transforms.draw_batch(transform, [np.random.default_rng(seed) for seed in (1, 2)], 48)[0]
    noisy = np.asarray(ops.convert_to_numpy(transforms.apply(ops.convert_to_tensor(grey), ops.convert_to_tensor(rows),
                                                             transform.noise)))
    again = np.asarray(ops.convert_to_numpy(transforms.apply(ops.convert_to_tensor(grey), ops.convert_to_tensor(rows),
                                                             transform.noise)))
    noise = noisy - 0.5
    assert abs(noise.std() - 0.1) < 0.01 and abs(noise.mean()) < 0.01
    np.testing.assert_array_equal(noisy, again)  # a pure function of the view
    assert np.abs(noise[0] - noise[1]).mean() > 0.05  # each view its own noise
    assert np.abs(noise[0, ..., 0] - noise[0, ..., 1]).mean() > 0.05  # and each channel


def test_a_ramp_grows_the_views_from_none_to_the_full_ones():
    strengths = transforms.ramp(6, 4)
    np.testing.assert_allclose(strengths, [0, 0.25, 0.5, 0.75, 1, 1])
    np.testing.assert_array_equal(transforms.ramp(3, 0), [1, 1, 1])
    identity = np.array([1, 0, 0, 0, 1, 0, 0, 0], np.float32)
    for transform in (transforms.jitter(0.25), transforms.scale(0.8, 1.2), transforms.rotate(30),
                      transforms.crop(0.5), transforms.robustness(0.125, 0.1, 10)):
        ramped = transforms.draw_batch(transform, [np.random.default_rng(7)], 32, 6, strengths)[:, 0]
        full = transforms.draw_batch(transform, [np.random.default_rng(7)], 32, 6)[:, 0]
        np.testing.assert_allclose(ramped[0], identity, atol=1e-6, err_msg=transform.name)  # strength 0: no view
        np.testing.assert_array_equal(ramped[4:], full[4:], err_msg=transform.name)  # full strength: the same draws
        assert np.abs(ramped[2] - identity).max() < np.abs(full[2] - identity).max(), transform.name


def test_half_strength_is_half_the_shift_and_half_the_angle():
    half = np.full(5, 0.5)
    shifted = transforms.draw_batch(transforms.jitter(0.25), [np.random.default_rng(3)], 32, 5, half)[:, 0]
    shifted_full = transforms.draw_batch(transforms.jitter(0.25), [np.random.default_rng(3)], 32, 5)[:, 0]
    np.testing.assert_allclose(shifted[:, [2, 5]], shifted_full[:, [2, 5]] / 2)
    turned = transforms.rotate(30).draw(np.random.default_rng(4), 32, half)
    turned_full = transforms.rotate(30).draw(np.random.default_rng(4), 32, np.ones(5))
    angles = np.arctan2(turned[:, 0, 1], turned[:, 0, 0])
    np.testing.assert_allclose(angles, np.arctan2(turned_full[:, 0, 1], turned_full[:, 0, 0]) / 2)
