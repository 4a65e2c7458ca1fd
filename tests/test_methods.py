"""methods.py: the registry of methods, and how a method's settings reach its parameterisation, update rule,
views and tiles."""

import dataclasses

import numpy as np
import pytest

from generator.config import AtlasConfig, resolve
from generator.errors import AtlasError
from generator.optimisation.methods import (
    DEFAULT_METHOD,
    METHODS,
    PROFILE_NAMES,
    crop_views,
    method_named,
    robust_views,
    with_layer_steps,
)
from generator.optimisation.parameterisations import (
    FourierParameterisation,
    MacoParameterisation,
    PixelParameterisation,
)
from generator.optimisation.updates import Adam, NormalisedGradientStep


def test_every_registered_method_resolves_by_name_with_both_profiles():
    assert set(METHODS) == {"classic", "fourier", "maco"} and DEFAULT_METHOD == "fourier"
    for name in METHODS:
        method = method_named(name)
        assert method.name == name
        assert set(method.profiles) == set(PROFILE_NAMES)
        assert all(profile.settings.name == name for profile in method.profiles.values())
    full, preview = method_named("classic").profiles["full"], method_named("classic").profiles["preview"]
    assert (full.settings.steps, full.settings.size, full.num_filters) == (10, 200, None)  # the tutorial's values
    assert (preview.settings.steps, preview.settings.size, preview.num_filters) == (5, 128, 16)


def test_settings_reach_the_parameterisation_and_the_update_rule():
    classic_settings = dataclasses.replace(METHODS["classic"].profiles["full"].settings, size=24)
    pixels = method_named("classic").parameterisation(classic_settings, 1)
    assert isinstance(pixels, PixelParameterisation) and (pixels.size, pixels.num_channels) == (24, 1)
    assert isinstance(method_named("classic").update(classic_settings), NormalisedGradientStep)

    fourier = METHODS["fourier"]
    settings = dataclasses.replace(fourier.profiles["full"].settings, size=32, steps=32, contrast=1.5, warmup=3,
                                   decay_after=20)
    spectrum = fourier.parameterisation(settings, 3)
    assert isinstance(spectrum, FourierParameterisation) and spectrum.size == 32 and spectrum.contrast == 1.5
    assert spectrum.mean_gain == 4.0  # 32 steps of the full profile's 128: the mean moves 4 times as fast
    free = fourier.parameterisation(dataclasses.replace(settings, contrast=0.0), 3)
    assert free.contrast == 0.0 and free.mean_gain == 1.0
    update = fourier.update(settings)
    assert isinstance(update, Adam) and (update.warmup_steps, update.decay_after) == (3, 20)

    maco = method_named("maco").parameterisation(dataclasses.replace(settings, name="maco", size=16), 2)
    assert isinstance(maco, MacoParameterisation) and (maco.size, maco.num_channels) == (16, 2)


def test_views_and_tiles_follow_the_method():
    classic = METHODS["classic"].profiles["full"].settings
    assert robust_views(classic) is None  # no jitter, scale or rotation: no views at all
    assert robust_views(dataclasses.replace(classic, rotate=5.0)).name == "jitter+scale+rotate"
    maco = METHODS["maco"].profiles["full"].settings
    views = crop_views(maco)
    assert views.name == "crop+noise" and views.noise == 0.05

    image = np.random.default_rng(0).random((16, 16, 3)).astype(np.float32)
    assert METHODS["classic"].tile(image, 16).shape == (12, 12, 3)  # the tutorial's 12.5% border cropped a side
    grey = METHODS["fourier"].tile(np.full((16, 16, 3), 0.5, np.float32), 16)
    assert grey.shape == (16, 16, 3) and grey.dtype == np.uint8 and int(grey[0, 0, 0]) == 128


def test_an_unknown_method_name_is_an_atlas_error_listing_the_registry():
    with pytest.raises(AtlasError, match=r"^Unknown method 'magic'; choose one of: fourier, classic, maco\.$"):
        resolve(AtlasConfig(method="magic"), has_gpu=False)


def test_fewer_steps_than_the_full_profile_fix_a_free_contrast():
    full = METHODS["fourier"].profiles["full"].settings
    preview_contrast = METHODS["fourier"].profiles["preview"].settings.contrast
    shortened = with_layer_steps(full, 48)
    assert (shortened.steps, shortened.contrast) == (48, preview_contrast) and preview_contrast > 0
    assert with_layer_steps(full, 48, keep_contrast=True).contrast == 0.0  # --contrast 0 asked for a free one
    assert with_layer_steps(full, full.steps) == full
    assert with_layer_steps(dataclasses.replace(full, contrast=2.0), 48).contrast == 2.0  # a fixed one stays
    maco = METHODS["maco"].profiles["full"].settings
    assert with_layer_steps(maco, 48).contrast == maco.contrast  # maco has no fixed contrast
    settings = resolve(AtlasConfig(profile="full", full_steps="block4_conv3=48"), has_gpu=False)
    assert settings.method_for("block4_conv3", 128) == dataclasses.replace(shortened, size=128)
    assert settings.method_for("block2_conv2", 64) == dataclasses.replace(full, size=64)
    free = resolve(AtlasConfig(profile="full", full_steps="block4_conv3=48", contrast=0.0), has_gpu=False)
    assert free.method_for("block4_conv3", 128).contrast == 0.0
