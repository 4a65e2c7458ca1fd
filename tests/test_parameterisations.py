import numpy as np
import pytest

from generator.model.quiet_keras import keras
from generator.optimisation.parameterisations import FourierParameterisation, PixelParameterisation, image_generator


def test_fourier_round_trips_a_known_image():
    parameterisation = FourierParameterisation(24)
    y, x = np.mgrid[0:24, 0:24] / 24
    image = np.stack([0.5 + 0.3 * np.sin(2 * np.pi * 3 * x), 0.2 + 0.6 * y, np.full_like(x, 0.7)], -1)[None]
    params = parameterisation.from_image(image.astype(np.float32))
    back = parameterisation.to_display(params)
    np.testing.assert_allclose(back, image, atol=1e-4)


def test_fourier_starts_near_grey_and_is_differentiable():
    parameterisation = FourierParameterisation(16)
    params = parameterisation.initial([image_generator(0, 0, 1), image_generator(0, 0, 2)])
    assert params.shape == (2, 2, 3, 16, 16)
    images = parameterisation.to_display(params)
    assert np.abs(images - 0.5).max() < 0.05 and not np.allclose(images[0], images[1])
    # Low frequencies move the image more than high ones (1/frequency scaling).
    assert parameterisation.scale[0, 1] > parameterisation.scale[8, 8]


def test_pixels_are_uniform_noise_per_image():
    parameterisation = PixelParameterisation(8)
    first = parameterisation.initial([image_generator(0, 1, 4)])
    again = parameterisation.initial([image_generator(0, 1, 4)])
    other = parameterisation.initial([image_generator(0, 1, 5)])
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other) and 0 <= first.min() and first.max() < 1
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(parameterisation.to_rgb(first)), first)


@pytest.mark.parametrize("num_channels", [1, 4])
def test_other_channel_counts_are_parameterised_without_colour_decorrelation(num_channels):
    parameterisation = FourierParameterisation(12, num_channels)
    params = parameterisation.initial([image_generator(0, 0, 1)])
    assert params.shape == (1, 2, num_channels, 12, 12)
    image = np.random.default_rng(2).uniform(0.1, 0.9, (1, 12, 12, num_channels)).astype(np.float32)
    np.testing.assert_allclose(parameterisation.to_display(parameterisation.from_image(image)), image, atol=1e-4)
    # Without decorrelation each channel's spectrum makes that channel alone.
    only_first = np.zeros_like(params)
    only_first[:, 0, 0, 0, 0] = 5.0
    shown = parameterisation.to_display(only_first)
    assert np.ptp(shown[..., 0]) == 0 and shown[..., 0].mean() > 0.5 and np.allclose(shown[..., 1:], 0.5)
    pixels = PixelParameterisation(8, num_channels).initial([image_generator(0, 0, 1)])
    assert pixels.shape == (1, 8, 8, num_channels)


def test_maco_keeps_a_natural_magnitude_whatever_the_phase():
    from generator.optimisation.parameterisations import MacoParameterisation, natural_magnitude

    magnitude = natural_magnitude(32)
    frequency = np.sqrt(np.fft.fftfreq(32)[:, None] ** 2 + np.fft.fftfreq(32)[None, :] ** 2)
    low, high = magnitude[:, (frequency > 0) & (frequency < 0.1)].mean(), magnitude[:, frequency > 0.4].mean()
    assert low > 10 * high  # photographs: most energy in the low frequencies
    maco = MacoParameterisation(32)
    params = maco.initial([np.random.default_rng(seed) for seed in range(3)])
    images = np.asarray(keras.ops.convert_to_numpy(maco.spatial(keras.ops.convert_to_tensor(params))))
    spectrum = np.abs(np.fft.fft2(np.moveaxis(images, -1, 1)))
    np.testing.assert_allclose(spectrum, np.broadcast_to(maco.magnitude, spectrum.shape), rtol=1e-3, atol=1e-3)
    assert np.abs(images[0] - images[1]).mean() > 0.1 * np.abs(images[0]).mean()  # other phases, other images
    standardised = (images - maco.mean) / maco.spread  # the constants to_rgb uses
    np.testing.assert_allclose(standardised.mean(axis=(1, 2, 3)), 0, atol=1e-3)
    np.testing.assert_allclose(standardised.std(axis=(1, 2, 3)), 1, rtol=1e-3)
    rgb = np.asarray(keras.ops.convert_to_numpy(maco.to_rgb(keras.ops.convert_to_tensor(params))))
    assert rgb.shape == (3, 32, 32, 3) and ((0 < rgb) & (rgb < 1)).all()


def test_fourier_with_a_contrast_starts_at_that_contrast_whatever_the_scale_of_its_parameters():
    from generator.optimisation.parameterisations import standardised

    contrasted = FourierParameterisation(16, contrast=2.0)
    params = contrasted.initial([image_generator(0, 0, 1), image_generator(0, 0, 2)])
    tensor = keras.ops.convert_to_tensor(params)
    logits = np.asarray(keras.ops.convert_to_numpy(standardised(contrasted.decorrelated(tensor)))) * 2.0
    np.testing.assert_allclose(logits.std(axis=(1, 2, 3)), [2.0, 2.0], rtol=1e-3)
    without_mean = params.copy()
    without_mean[:, :, :, 0, 0] = 0  # the zero-frequency term: each channel's mean
    small, large = contrasted.to_display(without_mean), contrasted.to_display(without_mean * 1000)
    np.testing.assert_allclose(small, large, atol=1e-4)  # only the pattern counts, not the spectrum's scale
    brighter = params.copy()
    brighter[:, 0, :, 0, 0] += 50.0  # every channel's mean raised (the colour correlation mixes them)
    raised = contrasted.to_display(brighter)
    assert (raised.mean(axis=(1, 2, 3)) > contrasted.to_display(params).mean(axis=(1, 2, 3)) + 0.05).all()
    free = FourierParameterisation(16).to_display(params)
    assert small.std() > 20 * free.std()  # without a contrast the start is near-grey


def test_a_lower_decay_power_gives_the_high_frequencies_more_of_the_image():
    """The same parameters through 1/frequency**p: with a lower p, fine detail (the upper half of the frequencies)
    holds a larger share of the decorrelated image's energy; the method setting reaches the parameterisation."""
    from generator.optimisation.methods import MethodSettings, fourier_spectrum

    def high_frequency_share(decay_power: float) -> float:
        settings = MethodSettings(name="fourier", steps=1, learning_rate=0.05, size=32, decay_power=decay_power)
        parameterisation = fourier_spectrum(settings, 3)
        params = np.random.default_rng(3).normal(size=(1, 2, 3, 32, 32)).astype(np.float32)
        image = keras.ops.convert_to_numpy(parameterisation.decorrelated(keras.ops.convert_to_tensor(params)))[0]
        power = np.abs(np.fft.fft2(image - image.mean(axis=(0, 1)), axes=(0, 1))) ** 2
        frequencies = np.sqrt(np.fft.fftfreq(32)[:, None] ** 2 + np.fft.fftfreq(32)[None, :] ** 2)
        return float(power[frequencies > 0.25].sum() / power.sum())

    shares = [high_frequency_share(power) for power in (1.5, 1.0, 0.5)]
    assert shares[0] < shares[1] < shares[2]
    assert shares[2] > 2 * shares[1]  # 0.54 against 0.20 here
