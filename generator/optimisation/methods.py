"""The methods: how a filter's image is found, each one record in one registry.

A method is its parameterisation (how an image is represented while optimised), its random views (what each step
sees), its update rule (how a step moves the parameters), how a finished image becomes a tile, and its settings
per profile. The optimiser takes the record; a new method is one new entry in ``METHODS``.

- ``classic``: the tutorial's algorithm: pixels, no views, the L2-normalised gradient step, the tutorial's
  standardise-and-crop deprocessing.
- ``fourier``: a Fourier-parameterised, colour-decorrelated image, random jitter/scale/rotation, Adam
  (Olah et al., Distill 2017).
- ``maco``: the phase of a spectrum whose magnitude is a natural photograph's, random crops and noise, Adam
  (Fel et al., NeurIPS 2023).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from generator.defaults import PREVIEW_CONTRAST, PREVIEW_FILTERS
from generator.optimisation import transforms
from generator.optimisation.parameterisations import (
    FourierParameterisation,
    MacoParameterisation,
    PixelParameterisation,
)
from generator.optimisation.updates import Adam, NormalisedGradientStep
from generator.store.tiles import crop_for, deprocess_standardised, deprocess_unit

PROFILE_NAMES = ("preview", "full")


@dataclass(frozen=True)
class MethodSettings:
    """How one filter image is optimised. Everything here changes the images, so all of it is hashed."""

    name: str
    steps: int
    learning_rate: float
    size: int  # pixels; 0 = "auto": a small multiple of each layer's receptive field
    target: str = "output"  # output | pre_activation | leaky, where the layer fuses an activation (extractors.py)
    seed: int = 0
    jitter: float = 0.0  # random shift per step, as a fraction of the size
    scale: float = 0.0  # random zoom per step in [1 - scale, 1 + scale]
    rotate: float = 0.0  # random rotation per step in [-rotate, rotate] degrees
    precision: str = "float32"  # or "mixed": bfloat16 compute, float32 variables and loss
    objective: str = "channel"  # channel: the mean over the map | neuron: the centre position (objectives.py)
    crop: float = 0.0  # random crops per step, of side [crop, 1] times the size (0: none)
    noise: float = 0.0  # standard deviation of the noise added to each view
    warmup: int = 8  # Adam: steps over which the learning rate ramps up (updates.py)
    decay_after: int = 0  # Adam: steps after which the learning rate falls as 1/step (0: constant)
    contrast: float = 0.0  # fourier: each image's deviation around its mean before the sigmoid (0: free, grows)
    decay_power: float = 1.0  # fourier: the spectrum is scaled by 1/frequency**decay_power (lower: finer detail)
    views_ramp: int = 0  # steps over which the random views grow from none to full strength (0: full from the start)

    def key(self) -> str:
        """A short stable hash of the settings, used to tell whether finished work still matches. A field added
        after the first atlases were built is left out of it at its default, so those atlases keep their keys."""
        fields = dataclasses.asdict(self)
        for name, default in LATER_FIELDS.items():
            if fields[name] == default:
                del fields[name]
        if self.contrast:  # a fixed contrast keeps each image's mean: images made before that rule are redone
            fields["contrast_rule"] = "mean kept, moving as in the full profile"
        text = json.dumps(fields, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


# The fields declared after ``precision`` came after the first atlases were built: field -> its default.
_FIELDS = [field.name for field in dataclasses.fields(MethodSettings)]
LATER_FIELDS = {field.name: field.default for field in dataclasses.fields(MethodSettings)
                if _FIELDS.index(field.name) > _FIELDS.index("precision")}


@dataclass(frozen=True)
class ProfileDefaults:
    """A method's settings in one profile, and how much of each layer that profile builds."""

    settings: MethodSettings
    num_filters: int | None  # None: every filter
    max_auto_size: int = 224  # --size auto never goes above this


@dataclass(frozen=True)
class Method:
    name: str
    parameterisation: Callable[[MethodSettings, int], object]  # (settings, channels) -> parameterisations.py's
    views: Callable[[MethodSettings], transforms.Transform | None]  # the random views each step sees, if any
    update: Callable[[MethodSettings], object]  # settings -> a fresh update rule (updates.py)
    tile: Callable[[np.ndarray, int], np.ndarray]  # (the optimised image, its size) -> uint8 tile
    profiles: dict[str, ProfileDefaults]  # by profile name: preview, full


def robust_views(settings: MethodSettings) -> transforms.Transform | None:
    """Jitter, scale and rotation as the settings give them; none when all three are 0."""
    if settings.jitter == 0 and settings.scale == 0 and settings.rotate == 0:
        return None
    return transforms.robustness(settings.jitter, settings.scale, settings.rotate)


def crop_views(settings: MethodSettings) -> transforms.Transform:
    """Random crops and noise (MaCo's views)."""
    return transforms.compose(transforms.crop(settings.crop), transforms.noise(settings.noise))


def pixels(settings: MethodSettings, num_channels: int) -> PixelParameterisation:
    return PixelParameterisation(settings.size, num_channels)


def fourier_spectrum(settings: MethodSettings, num_channels: int) -> FourierParameterisation:
    """With a fixed contrast, each image's mean (brightness, colour) moves as far in the run's steps as a free
    image's does in the full profile's: a short run's mean moves proportionally faster."""
    mean_gain = max(1.0, _FOURIER.steps / settings.steps) if settings.contrast else 1.0
    return FourierParameterisation(settings.size, num_channels, decay_power=settings.decay_power,
                                   contrast=settings.contrast, mean_gain=mean_gain)


def natural_phase(settings: MethodSettings, num_channels: int) -> MacoParameterisation:
    return MacoParameterisation(settings.size, num_channels)


def scheduled_adam(settings: MethodSettings) -> Adam:
    return Adam(settings.warmup, settings.decay_after)


def normalised_gradient_step(settings: MethodSettings) -> NormalisedGradientStep:
    return NormalisedGradientStep()


def _standardised_tile(image: np.ndarray, size: int) -> np.ndarray:
    return deprocess_standardised(image, crop_for(size))


def _unit_tile(image: np.ndarray, size: int) -> np.ndarray:
    return deprocess_unit(image)


# classic keeps the tutorial's values (10 steps, lr 10, 200x200) in ``full``.
_CLASSIC = MethodSettings(name="classic", steps=10, learning_rate=10.0, size=200, target="output")
# fourier images are at most 128 px in ``full``: the tiles of the default atlas then fit the site's size budget
# (docs/site.md#size-on-disk), and the deep layers cost a third of what 224 px would.
_FOURIER = MethodSettings(name="fourier", steps=128, learning_rate=0.05, size=0, target="leaky",
                          jitter=0.0625, scale=0.1, rotate=10.0)
# maco: the phase alone, the magnitude a natural image's; crops down to half the side and a little noise.
_MACO = MethodSettings(name="maco", steps=128, learning_rate=0.1, size=0, target="leaky", crop=0.5, noise=0.05)

CLASSIC = Method(
    name="classic",
    parameterisation=pixels, views=robust_views, update=normalised_gradient_step,
    tile=_standardised_tile,
    profiles={"full": ProfileDefaults(_CLASSIC, num_filters=None),
              "preview": ProfileDefaults(dataclasses.replace(_CLASSIC, steps=5, size=128), PREVIEW_FILTERS)})


def _spectral_profiles(full: MethodSettings, preview_contrast: float = 0.0) -> dict[str, ProfileDefaults]:
    """fourier's and maco's profiles: every filter at up to 128 px in ``full``; a preview of 32 steps, up to 112 px,
    with ``preview_contrast`` if given: in a quarter of the steps a free image has not yet grown its contrast."""
    preview = dataclasses.replace(full, steps=32, contrast=preview_contrast or full.contrast)
    return {"full": ProfileDefaults(full, num_filters=None, max_auto_size=128),
            "preview": ProfileDefaults(preview, PREVIEW_FILTERS, max_auto_size=112)}


FOURIER = Method(
    name="fourier",
    parameterisation=fourier_spectrum, views=robust_views, update=scheduled_adam, tile=_unit_tile,
    profiles=_spectral_profiles(_FOURIER, preview_contrast=PREVIEW_CONTRAST))
MACO = Method(
    name="maco",
    parameterisation=natural_phase, views=crop_views, update=scheduled_adam, tile=_unit_tile,
    profiles=_spectral_profiles(_MACO))

METHODS = {method.name: method for method in (FOURIER, CLASSIC, MACO)}
DEFAULT_METHOD = FOURIER.name


def method_named(name: str) -> Method:
    """The registered method of that name (names are checked when settings are resolved)."""
    return METHODS[name]


def with_layer_steps(settings: MethodSettings, steps: int, keep_contrast: bool = False) -> MethodSettings:
    """``settings`` run for a layer's own ``steps``. A free contrast given fewer steps than the method's full profile
    takes the preview's fixed contrast, unless ``keep_contrast`` (one was asked for): a free image grows its contrast
    with the steps, so in fewer it stays pale (docs/quality.md#steps-per-layer)."""
    profiles = METHODS[settings.name].profiles
    fewer = steps < profiles["full"].settings.steps
    fixed = profiles["preview"].settings.contrast
    if fewer and fixed and not settings.contrast and not keep_contrast:
        return dataclasses.replace(settings, steps=steps, contrast=fixed)
    return dataclasses.replace(settings, steps=steps)
