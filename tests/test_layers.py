"""layers.py: which layers of a model have filters, choosing them by name or glob, and their output sizes."""

import pytest

from generator.errors import AtlasError
from generator.model.layers import output_size_at, select_layers, spatial_layers
from generator.model.models import LoadedModel
from generator.model.preprocessing import PRESETS
from generator.model.quiet_keras import keras


def _loaded(model, name: str = "built") -> LoadedModel:
    return LoadedModel(name, "test", model, PRESETS["unit"])


def test_select_layers_keeps_model_order_and_picks_each_layer_once(tiny):
    chosen = select_layers(tiny, ("conv3", "conv*", "conv1"), 16)
    assert [info.name for info in chosen] == ["conv1", "conv2", "conv2_relu", "conv3"]
    conv1, conv2 = chosen[0], chosen[1]
    assert (conv1.kind, conv1.num_filters, conv1.fused_activation) == ("Conv2D", 8, "relu")
    assert (conv2.kind, conv2.num_filters, conv2.fused_activation) == ("Conv2D", 12, "linear")


def test_an_unknown_layer_is_an_atlas_error_naming_it_and_the_conv_layers(tiny):
    with pytest.raises(AtlasError) as raised:
        select_layers(tiny, ("conv1", "zzz"), 16)
    message = str(raised.value)
    assert message.startswith("Layer 'zzz' not found in tiny-cnn. Conv layers: conv1, conv2, conv3.")
    assert "Close matches" not in message  # nothing is close to "zzz"

    inputs = keras.Input((8, 8, 3))
    x = inputs
    for index in range(14):
        x = keras.layers.Conv2D(2, 1, name=f"c{index}")(x)
    with pytest.raises(AtlasError, match=r"Conv layers: c0, c1, .*, c11, \.\.\. \(14 in all\)\."):
        select_layers(_loaded(keras.Model(inputs, x), "deep"), ("missing",), 8)


def test_output_size_at_follows_padding_strides_and_pooling(tiny):
    assert output_size_at(tiny, "conv1", 16) == (16, 16)  # "same" padding
    assert output_size_at(tiny, "pool", 15) == (7, 7)  # 2x2 pooling rounds down
    assert output_size_at(tiny, "conv3", 20) == (10, 10)
    assert output_size_at(tiny, "logits", 16) == (1, 1)  # a class layer has no map

    inputs = keras.Input((None, None, 3))
    outputs = keras.layers.Conv2D(2, 3, strides=2, name="strided")(inputs)  # "valid": (17 - 3) // 2 + 1
    assert output_size_at(_loaded(keras.Model(inputs, outputs)), "strided", 17) == (8, 8)


def test_a_dense_layer_over_the_whole_image_is_a_class_layer_but_not_a_default_one():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    x = keras.layers.Dense(5, name="per_pixel")(x)  # a Dense over a map acts per pixel: it keeps the map
    x = keras.layers.GlobalAveragePooling2D(name="average")(x)
    x = keras.layers.Dense(3, activation="softmax", name="classes")(x)
    loaded = _loaded(keras.Model(inputs, x))

    infos = {info.name: info for info in spatial_layers(loaded)}
    assert list(infos) == ["conv", "per_pixel", "classes"]  # the pooling's 2-D output has no filters
    assert infos["per_pixel"].output_size == (8, 8) and infos["per_pixel"].receptive_field == 3
    classes = infos["classes"]
    assert (classes.kind, classes.num_filters, classes.output_size) == ("Dense", 3, (1, 1))
    assert classes.receptive_field == 8 and classes.fused_activation == "softmax"  # the whole (fixed) 8x8 image
    assert [info.name for info in select_layers(loaded, None)] == ["conv"]  # by default: the conv layers only
