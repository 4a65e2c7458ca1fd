"""preprocessing.py: how images in [0, 1] become each model family's inputs, the presets' names and descriptions,
which keras.applications family reads which, and a user's declaration put in place of a model's own."""

import numpy as np
import pytest

from generator.errors import AtlasError
from generator.model.preprocessing import PRESETS, PreprocessingChoice, for_application, preset
from generator.model.quiet_keras import keras

# One pixel, red 1.0, green 0.5, blue 0.0, in the [0, 1] units the optimiser works in.
PIXEL = np.array([[[[1.0, 0.5, 0.0]]]], np.float32)


def _mapped(preprocessing, images=PIXEL) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(preprocessing(keras.ops.convert_to_tensor(images))))[0, 0, 0]


def test_each_preset_maps_a_known_pixel_to_the_known_input():
    # caffe: [0, 255] minus the ImageNet mean, then BGR: (255 - 123.68, 127.5 - 116.779, 0 - 103.939) reversed.
    np.testing.assert_allclose(_mapped(PRESETS["caffe"]), [-103.939, 10.721, 131.32], rtol=1e-5)
    np.testing.assert_allclose(_mapped(PRESETS["tf"]), [1.0, 0.0, -1.0], atol=1e-6)  # [-1, 1]
    # torch: minus the mean in [0, 1] units, divided by the standard deviation, RGB kept.
    np.testing.assert_allclose(_mapped(PRESETS["torch"]), [2.248823, 0.187693, -1.811573], rtol=1e-5)
    np.testing.assert_allclose(_mapped(PRESETS["none"]), [255.0, 127.5, 0.0], rtol=1e-6)
    np.testing.assert_allclose(_mapped(PRESETS["unit"]), [1.0, 0.5, 0.0], rtol=1e-6)


def test_descriptions_say_what_the_model_is_given():
    assert PRESETS["caffe"].description == "caffe: pixels in [0, 255], BGR, minus mean (123.68, 116.779, 103.939)"
    assert PRESETS["tf"].description == "tf: pixels in [-1, 1]"
    assert PRESETS["torch"].description.endswith("divided by std (0.229, 0.224, 0.225)")
    assert preset("unit") is PRESETS["unit"]
    with pytest.raises(AtlasError, match=r"^Unknown preprocessing 'imagenet'; choose one of: caffe, tf, torch, none, "
                                         r"unit\.$"):
        preset("imagenet")


def test_keras_applications_get_their_familys_preprocessing():
    expected = {"VGG16": "caffe", "ResNet50": "caffe", "ResNet50V2": "tf", "ResNet152V2": "tf", "Xception": "tf",
                "InceptionV3": "tf", "MobileNetV2": "tf", "MobileNetV3Small": "none", "NASNetMobile": "tf",
                "DenseNet121": "torch", "EfficientNetB0": "none", "ConvNeXtTiny": "none",
                "SomethingNew": "tf"}  # a constructor of no known family: [-1, 1]
    assert {constructor: for_application(constructor).name for constructor in expected} == expected


def test_a_declared_range_keeps_the_preset_and_maps_to_its_new_range():
    unit = PRESETS["unit"]
    assert PreprocessingChoice().applied_to(unit, 3) is unit  # nothing declared: the model's own
    declared = PreprocessingChoice(preset="caffe", input_range=(0.0, 1.0)).applied_to(unit, 3)
    assert declared.name == "caffe, range 0:1"
    assert declared.reverse_channels and declared.mean == PRESETS["caffe"].mean  # BGR and the mean stay caffe's
    np.testing.assert_allclose(_mapped(declared), [-103.939, 0.5 - 116.779, 1.0 - 123.68], rtol=1e-5)

    grey = PreprocessingChoice(input_range=(-1.0, 1.0), std=(0.5,)).applied_to(unit, 1)
    assert (grey.scale, grey.offset, grey.name) == (2.0, -1.0, "range -1:1, std 0.5")
    np.testing.assert_allclose(_mapped(grey, np.full((1, 1, 1, 1), 0.75, np.float32)), [1.0], rtol=1e-6)
    with pytest.raises(AtlasError, match="--std gives 3 values, but the model reads 1 channels"):
        PreprocessingChoice(std=(1.0, 2.0, 3.0)).applied_to(unit, 1)
