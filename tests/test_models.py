import numpy as np
import pytest

from generator.errors import AtlasError
from generator.model import backends
from generator.model.extractors import build_extractor
from generator.model.layers import receptive_fields, select_layers, spatial_layers
from generator.model.models import load_model
from generator.model.quiet_keras import keras


def test_layers_of_the_tiny_cnn(tiny):
    infos = {info.name: info for info in spatial_layers(tiny, 16)}
    assert [name for name in infos] == ["conv1", "conv2", "conv2_relu", "pool", "conv3", "logits"]
    assert infos["conv3"].num_filters == 16 and infos["conv3"].output_size == (8, 8)
    assert infos["logits"].num_filters == 4 and infos["logits"].output_size == (1, 1)  # classes: no map
    assert {name: info.receptive_field for name, info in infos.items()} == {
        "conv1": 3, "conv2": 5, "conv2_relu": 5, "pool": 6, "conv3": 10, "logits": 16}


def test_receptive_field_grows_with_strides():
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(2, 3, strides=2, name="a")(inputs)
    x = keras.layers.Conv2D(2, 3, dilation_rate=2, name="b")(x)
    fields = receptive_fields(keras.Model(inputs, x))
    assert fields["a"] == 3 and fields["b"] == 3 + 2 * 2 * 2


def test_select_layers_by_name_and_glob(tiny):
    assert [info.name for info in select_layers(tiny, ("conv3", "conv1"), 16)] == ["conv1", "conv3"]
    assert [info.name for info in select_layers(tiny, ("conv*",), 16)] == ["conv1", "conv2", "conv2_relu", "conv3"]
    assert [info.name for info in select_layers(tiny, None, 16)] == ["conv1", "conv2", "conv3"]


def test_layer_errors(tiny):
    with pytest.raises(AtlasError, match=r"Layer 'conv4' not found in tiny-cnn\. Close matches: conv"):
        select_layers(tiny, ("conv4",), 16)
    with pytest.raises(AtlasError, match="'average' of tiny-cnn has no spatial filters"):
        select_layers(tiny, ("average",), 16)
    with pytest.raises(AtlasError, match="No conv layer of tiny-cnn matches 'block\\*'"):
        select_layers(tiny, ("block*",), 16)


def test_unknown_model_lists_names():
    with pytest.raises(AtlasError, match="Unknown model 'xceptoin'. Did you mean xception.*Known models: .*vgg16-hed"):
        load_model("xceptoin")


def test_keras_file_and_its_errors(tmp_path, tiny):
    path = tmp_path / "tiny.keras"
    tiny.model.save(path)
    loaded = load_model(str(path))
    assert [info.name for info in select_layers(loaded, ("conv3",), 16)] == ["conv3"]
    with pytest.raises(AtlasError, match="not found"):
        load_model(str(tmp_path / "missing.keras"))
    for name in ("corrupt.keras", "corrupt.h5"):
        corrupt = tmp_path / name
        corrupt.write_bytes(b"not a model file")
        with pytest.raises(AtlasError, match="cannot be loaded"):
            load_model(str(corrupt))


def test_lambda_layers_are_refused(tmp_path):
    inputs = keras.Input((16, 16, 3))
    outputs = keras.layers.Lambda(lambda x: x * 2)(keras.layers.Conv2D(2, 3)(inputs))
    path = tmp_path / "lambda.keras"
    keras.Model(inputs, outputs).save(path)
    with pytest.raises(AtlasError, match="Lambda layer"):
        load_model(str(path))


def test_unreadable_weights_file(tmp_path):
    bad = tmp_path / "weights.h5"
    bad.write_bytes(b"garbage")
    with pytest.raises(AtlasError, match="cannot be read as VGG16-HED weights"):
        load_model("vgg16-hed", str(bad))
    with pytest.raises(AtlasError, match="Weights file .* not found"):
        load_model("xception", str(tmp_path / "nothing.h5"))


def _gradient_norm(extractor, images, filter_id):
    from generator.optimisation.objectives import mean_activation

    ops = keras.ops
    weights = backends.model_weights(extractor)
    function = backends.value_and_gradient(
        lambda w, params, ids: mean_activation(backends.call_model(extractor, w, params), ids))
    values, grads = function(weights, ops.convert_to_tensor(images), ops.convert_to_tensor(np.array([filter_id],
                                                                                                     "int32")))
    return float(ops.convert_to_numpy(values)[0]), float(np.abs(ops.convert_to_numpy(grads)).sum())


def test_pre_activation_gives_a_gradient_where_relu_kills_it(tiny):
    images = np.random.default_rng(0).random((1, 16, 16, 3), dtype=np.float32)
    post = build_extractor(tiny, "conv1", "output")
    pre = build_extractor(tiny, "conv1", "pre_activation")
    dead = next(f for f in range(8) if _gradient_norm(post, images, f)[0] == 0.0)
    value, norm = _gradient_norm(post, images, dead)
    assert value == 0.0 and norm == 0.0
    value, norm = _gradient_norm(pre, images, dead)
    assert value < 0 and norm > 0
    leaky = build_extractor(tiny, "conv1", "leaky")
    value, norm = _gradient_norm(leaky, images, dead)
    assert value < 0 and norm > 0
    # Pre-activation output is the post-ReLU output before the ReLU; leaky lets a tenth of the negative through.
    before = np.asarray(pre(images))
    np.testing.assert_allclose(np.maximum(before, 0), np.asarray(post(images)), atol=1e-5)
    np.testing.assert_allclose(np.where(before > 0, before, 0.1 * before), np.asarray(leaky(images)), atol=1e-5)
    # A layer without a fused activation is its own pre-activation.
    np.testing.assert_allclose(np.asarray(build_extractor(tiny, "conv2", "leaky")(images)),
                               np.asarray(build_extractor(tiny, "conv2", "output")(images)), atol=1e-6)


@pytest.mark.slow
def test_embedded_model_loads_offline():
    loaded = load_model("vgg16-hed")
    assert loaded.preprocessing.name == "caffe"
    first = loaded.model.get_layer("block1_conv1").get_weights()[0]
    assert first.shape == (3, 3, 3, 64) and float(np.abs(first).sum()) > 1  # real weights, not zeros


@pytest.mark.parametrize("first_layer, scale", [("rescaling", 255.0), ("normalization", 255.0), (None, 1.0)])
def test_a_model_files_preprocessing_is_detected_from_its_first_layer(tmp_path, first_layer, scale):
    inputs = keras.Input((8, 8, 3))
    x = {"rescaling": keras.layers.Rescaling(1 / 255), None: lambda tensor: tensor,
         "normalization": keras.layers.Normalization(mean=[100.0, 110.0, 120.0], variance=[900.0] * 3)}[first_layer](
        inputs)
    path = tmp_path / "model.keras"
    keras.Model(inputs, keras.layers.Conv2D(2, 3, name="conv")(x)).save(path)
    loaded = load_model(str(path))
    assert loaded.preprocessing.scale == scale and loaded.preprocessing_reason.startswith("detected")
    assert not loaded.preprocessing_declared


def test_a_declared_preprocessing_replaces_the_models_own(tmp_path, tiny):
    from generator.model.preprocessing import PreprocessingChoice

    declared = load_model("tiny-cnn", choice=PreprocessingChoice(input_range=(0.0, 255.0), mean=(10.0,)))
    assert declared.preprocessing_declared and declared.preprocessing_reason == "as declared"
    images = np.full((1, 2, 2, 3), 0.5, np.float32)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(declared.preprocessing(images)), 127.5 - 10.0)
    assert "pixels in [0, 255], minus mean (10)" in declared.preprocessing.description
    same = load_model("tiny-cnn", choice=PreprocessingChoice(preset="unit"))
    assert not same.preprocessing_declared  # the model's own: nothing to redo
    with pytest.raises(AtlasError, match="--mean gives 2 values, but the model reads 3 channels"):
        load_model("tiny-cnn", choice=PreprocessingChoice(mean=(1.0, 2.0)))
