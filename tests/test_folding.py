"""Folding batch normalisation into convolutions keeps the function and its input gradient."""

import numpy as np
import pytest

from generator.model import backends
from generator.model.extractors import build_extractor
from generator.model.filter_heads import build_own_filter_extractor
from generator.model.folding import FoldedAway, fold_batch_norms, foldable_pairs
from generator.model.models import LoadedModel
from generator.model.preprocessing import PRESETS
from generator.model.quiet_keras import keras


def batch_norm_cnn(seed: int = 3):
    """bn-cnn: every kind of foldable pair, and the cases that must stay as they are.

    conv (no bias) -> bn_conv; separable (bias) -> bn_separable (no gamma); depthwise (multiplier 2) -> bn_depthwise
    (no beta); shared_read -> bn_shared, whose convolution is also read by an add, so it is not folded;
    relu_conv (fused ReLU) -> bn_after_relu, not folded."""
    inputs = keras.Input((12, 12, 3), name="image")
    x = keras.layers.Conv2D(6, 3, padding="same", use_bias=False, name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn_conv")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.SeparableConv2D(8, 3, padding="same", name="separable")(x)
    x = keras.layers.BatchNormalization(scale=False, name="bn_separable")(x)
    x = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same", use_bias=False, name="depthwise")(x)
    x = keras.layers.BatchNormalization(center=False, name="bn_depthwise")(x)
    shared = keras.layers.Conv2D(16, 1, name="shared_read")(x)
    x = keras.layers.Add()([keras.layers.BatchNormalization(name="bn_shared")(shared), shared])
    x = keras.layers.Conv2D(4, 3, activation="relu", name="relu_conv")(x)
    outputs = keras.layers.BatchNormalization(name="bn_after_relu")(x)
    model = keras.Model(inputs, outputs, name="bn_cnn")
    generator = np.random.default_rng(seed)
    for layer in model.layers:  # statistics far from the identity, so a fold that is off shows
        if isinstance(layer, keras.layers.BatchNormalization):
            values = []
            for variable in layer.weights:
                name = variable.path.rsplit("/", 1)[-1]
                if name in ("gamma", "moving_variance"):
                    values.append(generator.uniform(0.3, 2.0, variable.shape))
                else:
                    values.append(generator.normal(0.0, 0.5, variable.shape))
            layer.set_weights([value.astype("float32") for value in values])
        elif layer.weights:
            layer.set_weights([generator.normal(0, 0.4, w.shape).astype("float32") for w in layer.get_weights()])
    return model


@pytest.fixture(scope="module")
def model():
    return batch_norm_cnn()


def images(count: int = 3):
    return np.random.default_rng(0).uniform(-1, 1, (count, 12, 12, 3)).astype("float32")


def test_only_single_reader_linear_convolutions_are_folded(model):
    assert sorted(normalisation.name for _, normalisation in foldable_pairs(model)) == [
        "bn_conv", "bn_depthwise", "bn_separable"]
    folded = fold_batch_norms(model)
    kinds = {layer.name: type(layer) for layer in folded.layers}
    assert kinds["bn_conv"] is kinds["bn_separable"] is kinds["bn_depthwise"] is FoldedAway
    assert kinds["bn_shared"] is kinds["bn_after_relu"] is keras.layers.BatchNormalization


def test_the_folded_model_computes_the_same_function_and_input_gradient(model):
    folded = fold_batch_norms(model)
    x = images()
    expected, got = np.asarray(model(x)), np.asarray(folded(x))
    assert np.abs(expected).max() > 0.1  # the test compares something
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())

    def loss(network):
        return lambda weights, image: keras.ops.mean(backends.call_model(network, weights, image), axis=(1, 2, 3))

    x = keras.ops.convert_to_tensor(x)
    expected_gradient = np.asarray(backends.value_and_gradient(loss(model))(backends.model_weights(model), x)[1])
    got_gradient = np.asarray(backends.value_and_gradient(loss(folded))(backends.model_weights(folded), x)[1])
    assert np.abs(expected_gradient).max() > 0
    np.testing.assert_allclose(got_gradient, expected_gradient, rtol=1e-4,
                               atol=1e-4 * np.abs(expected_gradient).max())


def test_a_model_without_batch_norms_is_returned_as_it_is(tiny):
    assert fold_batch_norms(tiny.model) is tiny.model


@pytest.mark.skipif(backends.gpu_available() or not backends.grouped_convolution_gradients(),
                    reason="Conv2D heads are CPU-only, where grouped convolutions have gradients")
def test_extractors_are_folded_and_their_own_filter_heads_read_the_folded_graph(model):
    """build_extractor folds; the head of a layer shared with the unfolded model reads the folded graph's input."""
    loaded = LoadedModel("bn-cnn", "seeded", model, PRESETS["unit"])
    extractor = build_extractor(loaded, "shared_read")
    assert sum(isinstance(layer, FoldedAway) for layer in extractor.layers) == 3
    own = build_own_filter_extractor(extractor)
    x = images()
    filter_ids = np.array([0, 15, 7], "int32")
    full = np.asarray(keras.Model(model.inputs, model.get_layer("shared_read").output)(x))
    alone = keras.ops.convert_to_numpy(own([x, filter_ids]))
    np.testing.assert_allclose(alone, full[np.arange(3), :, :, filter_ids], rtol=1e-4,
                               atol=1e-4 * np.abs(full).max())


def test_folding_keeps_mixed_precision():
    from generator.model.precision import precision_policy

    with precision_policy("mixed"):
        model = batch_norm_cnn()
        folded = fold_batch_norms(model)
    convolution = folded.get_layer("conv")
    assert convolution.compute_dtype == "bfloat16" and convolution.kernel.dtype == "float32"
    x = images()
    expected = np.asarray(keras.ops.cast(model(x), "float32"))
    got = np.asarray(keras.ops.cast(folded(x), "float32"))
    np.testing.assert_allclose(got, expected, atol=0.05 * np.abs(expected).max())  # bfloat16 keeps ~3 digits
