"""How an image is represented while it is optimised.

A parameterisation turns per-image generators into initial parameters, parameters into RGB images in [0, 1]
(in ``keras.ops``, so gradients flow) and final parameters into images for display.

- ``pixels`` (the classic method): the pixels themselves, as the tutorial does.
- ``fourier``: a spectrum per colour channel, scaled by 1/frequency so that every frequency is equally easy to
  change, mapped through ImageNet's colour correlation and a sigmoid (Olah et al., Distill 2017); with a
  ``contrast``, each image's deviation before the sigmoid is fixed to that value (its mean is kept: a filter that
  wants a bright or a coloured image still gets one), so its contrast is set from the first step and the steps
  only shape its pattern.
- ``maco``: only the phase of the spectrum; its magnitude is fixed to the mean magnitude of natural photographs
  (scikit-image's, which the package ships), so every image keeps a natural image's energy per frequency
  (Fel et al., NeurIPS 2023, "Unlocking Feature Visualization for Deeper Networks with MAgnitude Constrained
  Optimization").

Both take the model's number of input channels. Only three channels are taken as RGB and colour-decorrelated;
any other count (grayscale, multispectral bands) has no known correlation, so its channels stay independent.
"""

from __future__ import annotations

import functools

import numpy as np
from einops import rearrange

from generator.model import dataset_images
from generator.model.quiet_keras import keras

ops = keras.ops

# Square root of the covariance of ImageNet's RGB pixels (its principal colour axes, scaled), as published with
# the Distill feature-visualisation article; columns normalised so the largest has unit length.
COLOUR_CORRELATION = np.array([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], np.float32)
COLOUR_CORRELATION = COLOUR_CORRELATION / np.max(np.linalg.norm(COLOUR_CORRELATION, axis=0))


def standardised(images):
    """Each image of (B, H, W, C) shifted to mean 0 and scaled to standard deviation 1 over all its values."""
    mean = ops.mean(images, axis=(1, 2, 3), keepdims=True)
    deviation = ops.sqrt(ops.mean(ops.square(images - mean), axis=(1, 2, 3), keepdims=True) + 1e-8)
    return (images - mean) / deviation


def image_generator(seed: int, layer_key: int, filter_id: int) -> np.random.Generator:
    """One generator per (run seed, layer, filter): an image's randomness never depends on its batch."""
    return np.random.default_rng([seed, layer_key, filter_id])


class PixelParameterisation:
    """The tutorial's method: the pixels themselves, RGB started from uniform noise in [0, 1).

    The model's preprocessing is part of the graph, so a step of the learning rate is measured in [0, 1] image
    units whatever the model expects. For a model that takes [0, 1] images as they are (``unit``), this is the
    tutorial's computation exactly.
    """

    def __init__(self, size: int, num_channels: int = 3):
        self.size = size
        self.num_channels = num_channels

    def initial(self, generators: list[np.random.Generator]) -> np.ndarray:
        shape = (self.size, self.size, self.num_channels)
        return np.stack([generator.random(shape, dtype=np.float32) for generator in generators])

    def to_rgb(self, params):
        return params

    def to_display(self, params: np.ndarray) -> np.ndarray:
        return params


class FourierParameterisation:
    """A complex spectrum per channel (real and imaginary parts as parameters), 1/frequency scaled, inverse
    FFT, colour decorrelation (three channels only), sigmoid. Parameters: (B, 2, C, H, W).

    ``contrast`` 0: the sigmoid of the decorrelated image as it is (its contrast grows with the steps). Above 0:
    each image's deviation around its mean, over its pixels and channels, is first scaled to that value; its mean
    (brightness and colour) stays free, moved ``mean_gain`` times as fast as the spectrum's other terms."""

    def __init__(self, size: int, num_channels: int = 3, decay_power: float = 1.0, initial_std: float = 0.01,
                 contrast: float = 0.0, mean_gain: float = 1.0):
        self.size = size
        self.num_channels = num_channels
        self.contrast = contrast
        self.mean_gain = mean_gain
        # Three channels are RGB and decorrelated as ImageNet's colours; other counts are left as they are.
        self.correlation = COLOUR_CORRELATION if num_channels == 3 else np.eye(num_channels, dtype=np.float32)
        self.initial_std = initial_std
        frequencies = np.sqrt(np.fft.fftfreq(size)[:, None] ** 2 + np.fft.fftfreq(size)[None, :] ** 2)
        scale = 1.0 / np.maximum(frequencies, 1.0 / size) ** decay_power
        # Normalised so that unit-variance parameters give roughly unit-variance pixels.
        self.scale = (scale / np.sqrt(np.mean(scale ** 2)) * size).astype(np.float32)

    def initial(self, generators: list[np.random.Generator]) -> np.ndarray:
        shape = (2, self.num_channels, self.size, self.size)
        return np.stack([generator.normal(0, self.initial_std, shape).astype(np.float32) for generator in generators])

    def decorrelated(self, params):
        """The image before the sigmoid, (B, H, W, C)."""
        scale = ops.convert_to_tensor(self.scale)
        real, _ = ops.ifft2((params[:, 0] * scale, params[:, 1] * scale))
        channels_last = ops.transpose(real, (0, 2, 3, 1))
        if self.num_channels != 3:
            return channels_last
        return ops.matmul(channels_last, ops.convert_to_tensor(COLOUR_CORRELATION.T))

    def to_rgb(self, params):
        image = self.decorrelated(params)
        if self.contrast:
            mean = ops.mean(image, axis=(1, 2, 3), keepdims=True)
            image = mean * self.mean_gain + standardised(image) * self.contrast
        return ops.sigmoid(image)

    def to_display(self, params: np.ndarray) -> np.ndarray:
        return ops.convert_to_numpy(self.to_rgb(ops.convert_to_tensor(params)))

    def from_image(self, images: np.ndarray) -> np.ndarray:
        """Parameters that give ``images`` (in (0, 1), C channels): the inverse of ``to_rgb`` without a contrast
        (with one, ``to_rgb`` gives the images standardised)."""
        logits = np.log(images) - np.log1p(-images)
        correlated = logits @ np.linalg.inv(self.correlation.T)
        spectrum = np.fft.fft2(rearrange(correlated, "b h w c -> b c h w")) / self.scale
        return np.stack([spectrum.real, spectrum.imag], axis=1).astype(np.float32)


@functools.lru_cache(maxsize=16)
def natural_magnitude(size: int, num_channels: int = 3) -> np.ndarray:
    """(C, H, W): the mean Fourier magnitude of the shipped photographs at ``size`` pixels, per channel (RGB for
    three channels; the grayscale photographs' for any other count), each photograph's mean taken out first."""
    photos = dataset_images.shipped_photos().paths
    mode = 3 if num_channels == 3 else 1
    squares = [square for square in (dataset_images.load_square(path, size, mode) for path in photos)
               if square is not None]
    images = np.stack(squares).astype(np.float64) / 255.0
    images -= images.mean(axis=(1, 2), keepdims=True)
    magnitude = np.abs(np.fft.fft2(rearrange(images, "n h w c -> n c h w"))).mean(axis=0)
    return np.broadcast_to(magnitude, (num_channels, size, size)).astype(np.float32)


class MacoParameterisation:
    """The phase of a spectrum per channel, its magnitude fixed to ``natural_magnitude``: inverse FFT
    (``spatial``), the image standardised, colour decorrelation (three channels only), sigmoid. Parameters:
    (B, C, H, W), in radians."""

    def __init__(self, size: int, num_channels: int = 3):
        self.size = size
        self.num_channels = num_channels
        self.magnitude = natural_magnitude(size, num_channels)
        self.negative_frequency = (-np.arange(size)) % size  # index of -k for each k, along one axis
        # With the magnitude fixed and the spectrum Hermitian, every image has the same mean (the zero frequency
        # over the pixel count) and the same mean square (Parseval): its standardisation is two constants.
        pixels = float(size * size)
        self.mean = float(self.magnitude[:, 0, 0].mean()) / pixels
        mean_square = float(np.mean(np.sum(self.magnitude.astype(np.float64) ** 2, axis=(1, 2)))) / pixels ** 2
        self.spread = float(np.sqrt(max(mean_square - self.mean ** 2, 1e-12)))

    def initial(self, generators: list[np.random.Generator]) -> np.ndarray:
        shape = (self.num_channels, self.size, self.size)
        return np.stack([generator.uniform(-np.pi, np.pi, shape).astype(np.float32) for generator in generators])

    def spatial(self, params):
        """The real image whose spectrum has the fixed magnitude and the parameters' phase, (B, H, W, C): the
        phase is made odd (phi(-k) = -phi(k)), as a real image's is, so the inverse FFT is real and the magnitude
        stays exactly ``natural_magnitude``."""
        negative = ops.convert_to_tensor(self.negative_frequency)
        mirrored = ops.take(ops.take(params, negative, axis=2), negative, axis=3)
        phase = (params - mirrored) / 2
        magnitude = ops.convert_to_tensor(self.magnitude)
        real, _ = ops.ifft2((magnitude * ops.cos(phase), magnitude * ops.sin(phase)))
        return ops.transpose(real, (0, 2, 3, 1))

    def to_rgb(self, params):
        image = (self.spatial(params) - self.mean) / self.spread
        if self.num_channels == 3:
            image = ops.matmul(image, ops.convert_to_tensor(COLOUR_CORRELATION.T))
        return ops.sigmoid(image)

    def to_display(self, params: np.ndarray) -> np.ndarray:
        return ops.convert_to_numpy(self.to_rgb(ops.convert_to_tensor(params)))
