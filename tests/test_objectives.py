"""The objectives: channel (the default) keeps every key; neuron moves only the pixels its centre unit sees."""

import dataclasses

import numpy as np
import pytest
from helpers import tiny_settings

from generator.model.extractors import build_extractor
from generator.model.preprocessing import PRESETS
from generator.optimisation.methods import METHODS, MethodSettings
from generator.optimisation.optimizer import Optimizer
from generator.optimisation.parameterisations import image_generator

METHOD = MethodSettings(name="classic", steps=6, learning_rate=10.0, size=16, target="output", seed=3)
# The keys before there was an objective to choose: the default must leave every unit key (and so every
# finished unit and image) as it was.
KEYS_BEFORE_OBJECTIVES = {("fourier", "full"): "9e05699027df8e3c", ("fourier", "preview"): "e738c489f9130e69",
                          ("classic", "full"): "a8168d4be4809955", ("classic", "preview"): "ff5a6b52c04df034"}


def test_the_default_channel_objective_keeps_every_key():
    for (name, profile), key in KEYS_BEFORE_OBJECTIVES.items():
        settings = METHODS[name].profiles[profile].settings
        # the fourier preview's fixed contrast came later and changed its images, so its key, on purpose
        assert settings.objective == "channel" and dataclasses.replace(settings, contrast=0.0).key() == key


def test_the_neuron_objective_changes_the_key_and_is_chosen_by_the_config(tmp_path):
    settings = tiny_settings(tmp_path, objective="neuron")
    assert settings.method.objective == "neuron"
    assert settings.method.key() != dataclasses.replace(settings.method, objective="channel").key()
    assert tiny_settings(tmp_path).method.objective == "channel"


def test_an_unknown_objective_is_one_clear_error(tmp_path):
    from generator.errors import AtlasError

    with pytest.raises(AtlasError, match="Unknown objective 'pixel'; choose one of: channel, neuron"):
        tiny_settings(tmp_path, objective="pixel")


@pytest.mark.parametrize("objective", ["channel", "neuron"])
def test_neuron_moves_only_the_centre_units_receptive_field(tiny, objective):
    extractor = build_extractor(tiny, "conv2")  # linear output; receptive field 5 pixels
    method = dataclasses.replace(METHOD, objective=objective)
    result = Optimizer(extractor, method, batch_size=2, preprocessing=PRESETS["unit"], layer_key=1).run(
        [3, 7], [1.0, 1.0])
    for index, filter_id in enumerate([3, 7]):
        start = image_generator(METHOD.seed, 1, filter_id).random((16, 16, 3), dtype=np.float32)
        changed = np.abs(result.images[index] - start).max(axis=-1) > 1e-6
        window = np.zeros((16, 16), bool)
        window[6:11, 6:11] = True  # output position (8, 8) of two 3x3 convolutions
        if objective == "neuron":
            assert changed.any() and not (changed & ~window).any()
        else:
            assert (changed & ~window).any()
        assert result.activations[index, -1] > result.activations[index, 0]
