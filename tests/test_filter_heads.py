"""Own-filter heads: each image's filter computed alone equals picking it from the layer's full output."""


import numpy as np
import pytest

from generator.model import backends
from generator.model.extractors import build_extractor
from generator.model.filter_heads import build_own_filter_extractor
from generator.model.models import LoadedModel
from generator.model.preprocessing import PRESETS
from generator.model.quiet_keras import keras
from generator.optimisation import optimizer
from generator.optimisation.methods import MethodSettings
from generator.optimisation.objectives import mean_activation, mean_of_maps
from generator.optimisation.optimizer import Optimizer

ops = keras.ops
METHOD = MethodSettings(name="classic", steps=4, learning_rate=10.0, size=24, target="output", seed=3)


def _small_model():
    """A named CNN with the layer kinds that have heads: strided, dilated and 'valid' convolutions, separable
    ones with a depth multiplier, fused activations."""
    inputs = keras.Input((None, None, 3), name="image")
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="stem")(inputs)
    x = keras.layers.SeparableConv2D(10, 3, strides=2, padding="same", depth_multiplier=2, name="strided_sep")(x)
    x = keras.layers.SeparableConv2D(7, 3, dilation_rate=2, activation="tanh", name="dilated_sep")(x)
    x = keras.layers.Conv2D(9, 3, strides=2, padding="same", activation="relu", name="strided")(x)
    x = keras.layers.Conv2D(8, 3, dilation_rate=2, padding="same", name="dilated")(x)
    x = keras.layers.Activation("relu", name="dilated_relu")(x)
    x = keras.layers.Conv2D(5, 2, padding="valid", activation="relu", name="valid")(x)
    model = keras.Model(inputs, x, name="tiny_heads")
    generator_ = np.random.default_rng(11)
    model.set_weights([generator_.normal(0, 0.4, size=w.shape).astype("float32") for w in model.get_weights()])
    return LoadedModel("tiny-heads", "seeded", model, PRESETS["unit"])


CASES = [("strided_sep", "output"), ("dilated_sep", "output"), ("dilated_sep", "pre_activation"),
         ("stem", "output"), ("stem", "leaky"), ("strided", "pre_activation"), ("dilated", "output"),
         ("dilated_relu", "output"), ("valid", "leaky")]


@pytest.fixture(scope="module")
def small():
    return _small_model()


def _picked(model, own, images, filter_ids):
    """Per image: the mean of its filter (border trimmed) and its gradient, through the head or the full output."""
    if own:
        function = lambda w, x, ids: mean_of_maps(backends.call_model(model, w, [x, ids]))  # noqa: E731
    else:
        function = lambda w, x, ids: mean_activation(backends.call_model(model, w, x), ids)  # noqa: E731
    values, grads = backends.value_and_gradient(function)(backends.model_weights(model), ops.convert_to_tensor(
        images), ops.convert_to_tensor(filter_ids))
    return ops.convert_to_numpy(values), ops.convert_to_numpy(grads)


def _has_head(small, layer) -> bool:
    """Separable layers always have heads; Conv2D layers where grouped convolutions have gradients."""
    return type(small.model.get_layer(layer)).__name__ == "SeparableConv2D" or backends.grouped_convolution_gradients()


@pytest.mark.parametrize("layer, target", CASES)
def test_head_equals_picking_from_the_full_output(small, layer, target):
    extractor = build_extractor(small, layer, target)
    own = build_own_filter_extractor(extractor)
    if not _has_head(small, layer):  # this CPU's TensorFlow has no grouped-convolution gradient: no head
        assert own is None
        return
    assert own is not None
    images = np.random.default_rng(1).random((3, 40, 40, 3), dtype=np.float32)
    num_filters = extractor.output.shape[-1]
    filter_ids = np.array([0, num_filters - 1, num_filters // 2], "int32")
    full = ops.convert_to_numpy(extractor(images))
    alone = ops.convert_to_numpy(own([images, filter_ids]))
    assert alone.shape == full.shape[:3]
    np.testing.assert_allclose(alone, full[np.arange(3), :, :, filter_ids], rtol=1e-5, atol=1e-5)
    values, grads = _picked(own, True, images, filter_ids)
    expected_values, expected_grads = _picked(extractor, False, images, filter_ids)
    np.testing.assert_allclose(values, expected_values, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grads, expected_grads, rtol=1e-4, atol=1e-4 * np.abs(expected_grads).max())


@pytest.mark.parametrize("layer", ["dilated_sep", "strided"])
def test_optimiser_with_a_head_builds_the_same_images(small, layer, monkeypatch):

    if not _has_head(small, layer):
        pytest.skip("this CPU's TensorFlow has no grouped-convolution gradient, so Conv2D layers have no head")
    extractor = build_extractor(small, layer, "pre_activation")
    ids, signs = [0, 6, 3], [1.0, -1.0, 1.0]
    with_head = Optimizer(extractor, METHOD, batch_size=4, preprocessing=PRESETS["unit"])
    assert with_head.model is not extractor
    result = with_head.run(ids, signs)
    assert result.activations[:, -1] @ signs > result.activations[:, 0] @ signs  # ascent and descent still work
    monkeypatch.setattr(optimizer, "build_own_filter_extractor", lambda extractor: None)
    without = Optimizer(extractor, METHOD, batch_size=4, preprocessing=PRESETS["unit"])
    assert without.model is extractor
    expected = without.run(ids, signs)
    # Steps of 10 pixel units amplify float rounding (the two paths sum in different orders).
    np.testing.assert_allclose(result.images, expected.images, atol=2e-2)
    np.testing.assert_allclose(result.activations, expected.activations, rtol=1e-3, atol=1e-3)


def test_a_mixed_precision_head_computes_in_the_policy_dtype(small):
    from generator.model.precision import precision_policy

    layer = "strided" if _has_head(small, "strided") else "strided_sep"
    with precision_policy("mixed"):
        extractor = build_extractor(small, layer, "output")
        own = build_own_filter_extractor(extractor)
    assert own.output.dtype == "bfloat16"
    images = np.random.default_rng(2).random((2, 24, 24, 3), dtype=np.float32)
    alone = ops.convert_to_numpy(ops.cast(own([images, np.array([1, 4], "int32")]), "float32"))
    full = ops.convert_to_numpy(ops.cast(build_extractor(small, layer, "output")(images), "float32"))
    np.testing.assert_allclose(alone, full[np.arange(2), :, :, [1, 4]], atol=0.05 * np.abs(full).max())


def test_layers_without_a_head_pick_from_the_full_output(tiny):
    assert build_own_filter_extractor(build_extractor(tiny, "pool")) is None
    has_head = build_own_filter_extractor(build_extractor(tiny, "conv3")) is not None
    assert has_head == backends.grouped_convolution_gradients()  # a Conv2D layer has one where it can
    # A softmax over the filters cannot be computed from one filter's map.
    inputs = keras.Input((None, None, 3))
    across = keras.layers.Conv2D(4, 3, activation="softmax", name="across")(inputs)
    after = keras.layers.Activation("softmax", name="after")(keras.layers.Conv2D(4, 3, name="plain")(inputs))
    loaded = LoadedModel("softmaxes", "seeded", keras.Model(inputs, [across, after]), PRESETS["unit"])
    assert build_own_filter_extractor(build_extractor(loaded, "across")) is None
    assert build_own_filter_extractor(build_extractor(loaded, "after")) is None
