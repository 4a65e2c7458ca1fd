"""Facets: K images per filter that differ from one another more than K seeds alone, each still exciting it."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from helpers import tiny_settings
from sitecheck import broken_links

from generator.analysis import facets
from generator.build import pipeline
from generator.model.extractors import build_extractor
from generator.model.models import load_model
from generator.model.quiet_keras import keras
from generator.optimisation.methods import METHODS
from generator.optimisation.optimizer import Optimizer

FILTERS = [0, 1, 2, 3]
METHOD = dataclasses.replace(METHODS["fourier"].profiles["full"].settings, size=32, steps=128)


def mean_gram_similarity(loaded, images: np.ndarray) -> float:
    """Mean cosine similarity of the centred Gram matrices at conv1 between the facets of each filter."""
    features = keras.Model(loaded.model.inputs, loaded.model.get_layer("conv1").output)
    values = np.asarray(features(images.reshape((-1,) + images.shape[2:])), np.float64)
    values = values.reshape(images.shape[:2] + (-1, values.shape[-1]))
    values -= values.mean(axis=2, keepdims=True)
    grams = np.einsum("fkpc,fkpd->fkcd", values, values).reshape(images.shape[:2] + (-1,))
    grams /= np.linalg.norm(grams, axis=-1, keepdims=True)
    similarity = np.einsum("fkx,fjx->fkj", grams, grams)
    count = images.shape[1]
    return float(((similarity.sum(axis=(1, 2)) - count) / (count * (count - 1))).mean())


@pytest.fixture(scope="module")
def optimised():
    loaded = load_model("tiny-cnn", "default")
    main = Optimizer(build_extractor(loaded, "conv3", METHOD.target), METHOD, 4, loaded.preprocessing).run(
        FILTERS, [1.0] * 4)
    diverse = facets.FacetOptimizer(loaded, "conv3", "conv1", METHOD, 4, 4).run(FILTERS)
    alike = facets.FacetOptimizer(loaded, "conv3", "conv1", METHOD, 4, 4, weight=0.0).run(FILTERS)
    return loaded, main, diverse, alike


def test_facets_differ_more_than_seeds_alone(optimised):
    loaded, _, diverse, alike = optimised
    assert mean_gram_similarity(loaded, diverse.images) < mean_gram_similarity(loaded, alike.images) - 0.05


def test_each_facet_reaches_most_of_the_main_images_activation(optimised):
    _, main, diverse, _ = optimised
    firing = main.activations[:, -1] > 0  # a ratio means nothing for a filter that its best image cannot excite
    assert firing.sum() >= 3
    assert (diverse.activations[firing] >= 0.8 * main.activations[firing, -1:]).all()


def test_a_batch_of_facets_equals_each_filter_alone():
    loaded = load_model("tiny-cnn", "default")
    method = dataclasses.replace(METHOD, steps=8)  # few steps: float rounding grows over many Adam steps on JAX
    batched = facets.FacetOptimizer(loaded, "conv3", "conv1", method, 4, 4).run(FILTERS)
    alone = facets.FacetOptimizer(loaded, "conv3", "conv1", method, 4, 1).run([2])
    np.testing.assert_allclose(alone.images[0], batched.images[2], atol=2e-3)  # JAX: 6e-4 apart at 8 steps


def test_the_site_shows_each_filters_facets(tmp_path):
    pipeline.build(tiny_settings(tmp_path, layers=("conv2",), filters="0:3", steps=2, facets=3))
    record = json.loads((tmp_path / "atlas.json").read_text())
    [layer] = record["layers"]
    assert layer["has_facets"] and all(len(entry["facets"]) == 3 for entry in layer["filters"])
    page = (tmp_path / layer["filters"][0]["page"]).read_text()
    assert page.count("-facet-") >= 3
    assert 'id="facet-switch"' in (tmp_path / layer["page"]).read_text()
    assert broken_links(tmp_path) == []
    written = (tmp_path / layer["filters"][0]["facets"][0]["image"]).stat().st_mtime_ns
    pipeline.build(tiny_settings(tmp_path, layers=("conv2",), filters="0:3", steps=2, facets=3))
    assert (tmp_path / layer["filters"][0]["facets"][0]["image"]).stat().st_mtime_ns == written  # resumed


def test_facets_default_to_four_in_full_and_off_in_a_preview(tmp_path):
    from generator.config import AtlasConfig, resolve

    assert resolve(AtlasConfig(profile="full"), has_gpu=False).num_facets == 4
    assert resolve(AtlasConfig(profile="preview"), has_gpu=False).num_facets == 0
    assert tiny_settings(tmp_path, facets=2).num_facets == 2


def test_the_first_convolution_compares_its_own_grams():
    loaded = load_model("tiny-cnn", "default")
    assert facets.style_layer_for(loaded.model, "conv1") == "conv1"
    assert facets.style_layer_for(loaded.model, "conv3") == "conv2"
    method = dataclasses.replace(METHOD, steps=4)
    result = facets.FacetOptimizer(loaded, "conv1", "conv1", method, 2, 2).run([0, 1])
    assert result.images.shape == (2, 2, 32, 32, 3) and np.isfinite(result.activations).all()


def test_facets_given_first_parameters_start_from_them():
    """``start``: each facet's first parameters show the image they were made from (no step taken)."""
    loaded = load_model("tiny-cnn", "default")
    still = dataclasses.replace(METHOD, steps=1, learning_rate=0.0)
    main = np.random.default_rng(0).uniform(0.1, 0.9, (2, 32, 32, 3)).astype(np.float32)
    optimizer = facets.FacetOptimizer(loaded, "conv3", "conv1", still, 3, 2)
    start = optimizer.core.parameterisation.from_image(np.repeat(main, 3, axis=0))
    result = optimizer.run([0, 5], start)
    for facet in range(3):
        np.testing.assert_allclose(result.images[:, facet], main, atol=1e-3)
