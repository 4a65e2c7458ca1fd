"""extractors.py: models cut from the input to a layer, what each ``target`` returns, a layer of a nested model
by its ``base/layer`` name, and layer names TensorFlow would refuse as scope names."""

import numpy as np
from helpers import save_model, transfer_learning_model

from generator.model.extractors import build_extractor, build_multi_extractor, safe_name, target_tensor
from generator.model.models import LoadedModel, load_model
from generator.model.preprocessing import PRESETS
from generator.model.quiet_keras import keras

ops = keras.ops


def _numpy(tensor) -> np.ndarray:
    return np.asarray(ops.convert_to_numpy(tensor))


def test_an_extractor_returns_what_the_models_layers_compute_up_to_its_layer(tiny):
    images = np.random.default_rng(1).random((2, 16, 16, 3), dtype=np.float32)
    by_hand = ops.convert_to_tensor(images)
    for name in ("conv1", "conv2", "conv2_relu", "pool", "conv3"):  # the layers called one after another
        by_hand = tiny.model.get_layer(name)(by_hand)
    extractor = build_extractor(tiny, "conv3")
    assert extractor.name == "extract_conv3" and tuple(extractor.outputs[0].shape) == (None, None, None, 16)
    output = _numpy(extractor(images))
    assert output.shape == (2, 8, 8, 16) and output.min() == 0.0  # conv3's fused ReLU is part of its output
    np.testing.assert_allclose(output, _numpy(by_hand), atol=1e-5)


def test_a_multi_extractor_gives_each_layer_in_the_order_asked_before_its_activation(tiny):
    images = np.random.default_rng(2).random((1, 16, 16, 3), dtype=np.float32)
    multi = build_multi_extractor(tiny, ["conv3", "conv1"])
    assert multi.name == "extract_conv3_conv1"
    conv3, conv1 = (_numpy(output) for output in multi(images))
    assert conv3.shape == (1, 8, 8, 16) and conv1.shape == (1, 16, 16, 8)
    assert conv1.min() < 0  # pre_activation by default: the fused ReLU has not cut the negative values
    np.testing.assert_allclose(np.maximum(conv1, 0), _numpy(build_extractor(tiny, "conv1")(images)), atol=1e-5)
    np.testing.assert_allclose(conv3, _numpy(build_extractor(tiny, "conv3", "pre_activation")(images)), atol=1e-5)


def test_a_layer_of_a_nested_model_is_extracted_by_its_nested_name(tmp_path):
    original = transfer_learning_model()  # Sequential([Rescaling(1/255), base, pooling, dense])
    loaded = load_model(save_model(original, tmp_path, "classifier"))
    assert loaded.nested_names["block_2_relu"] == "base/block_2_relu"
    pixels = np.random.default_rng(3).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)

    extractor = build_extractor(loaded, "base/block_2_relu")
    assert extractor.name == "extract_base_block_2_relu"
    expected = _numpy(original.get_layer("base")(pixels / 255))  # the inner model on the rescaled pixels
    np.testing.assert_allclose(_numpy(extractor(pixels)), expected, atol=1e-4)

    # The inner conv fuses a ReLU: its pre-activation is a new tensor of the flattened graph, before the ReLU.
    tensor = target_tensor(loaded.get_layer("base/block_1_conv"), "pre_activation")
    before = _numpy(keras.Model(loaded.model.inputs, tensor)(pixels))
    after = _numpy(build_extractor(loaded, "base/block_1_conv", "output")(pixels))
    assert before.min() < 0
    np.testing.assert_allclose(np.maximum(before, 0), after, atol=1e-4)


def test_layers_named_against_tensorflows_rules_are_renamed_in_the_extractor_only():
    assert safe_name("base/block 1<x>") == "base_block_1_x_"
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(2, 3, name="a b")(inputs)
    model = keras.Model(inputs, keras.layers.Conv2D(2, 1, name="<x>")(x))
    model.set_weights([np.random.default_rng(4).normal(0, 0.5, w.shape).astype("float32")
                       for w in model.get_weights()])
    extractor = build_extractor(LoadedModel("odd-names", "test", model, PRESETS["unit"]), "<x>")
    assert [layer.name for layer in extractor.layers[1:]] == ["a_b_1", "_x__2"]  # safe name plus position
    assert [layer.name for layer in model.layers[1:]] == ["a b", "<x>"]  # the model itself keeps its names
    images = np.random.default_rng(5).random((1, 8, 8, 3), dtype=np.float32)
    np.testing.assert_allclose(_numpy(extractor(images)), _numpy(model(images)), atol=1e-5)
