"""Circuits: planted connections are found from the weights and, through pooling, from attribution."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import tiny_settings

from generator.analysis import circuits
from generator.build import pipeline
from generator.model.layers import LayerInfo
from generator.model.models import LoadedModel, load_model
from generator.model.preprocessing import PRESETS
from generator.model.quiet_keras import keras
from generator.store import circuit_records

EXCITER, INHIBITOR, TARGET = 5, 1, 2  # filter 2 of the second layer reads filter 5 (+) and filter 1 (-) only


def planted_model(between: str | None = None, normalised: bool = False):
    """first: 8 filters, filter 5 sees red, filter 1 is always on (bias 1); second: 4 filters, filter 2 reads
    only first's filters 5 (+1) and 1 (-0.5). ``between``: "pool" puts max pooling between them."""
    inputs = keras.Input((None, None, 3), name="image")
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="first")(inputs)
    if between == "pool":
        x = keras.layers.MaxPooling2D(2, name="pool")(x)
    x = keras.layers.Conv2D(4, 3, padding="same", use_bias=False, name="second")(x)
    if normalised:
        x = keras.layers.BatchNormalization(name="second_norm")(x)
    model = keras.Model(inputs, x)
    generator = np.random.default_rng(3)
    first_kernel = generator.normal(0, 0.2, (3, 3, 3, 8)).astype("float32")
    first_kernel[:, :, :, EXCITER] = 0
    first_kernel[1, 1, :, EXCITER] = (1.0, -0.5, -0.5)  # red
    first_kernel[:, :, :, INHIBITOR] = 0
    first_bias = np.zeros(8, np.float32)
    first_bias[INHIBITOR] = 1.0
    second_kernel = generator.normal(0, 0.2, (3, 3, 8, 4)).astype("float32")
    second_kernel[:, :, :, TARGET] = 0
    second_kernel[1, 1, EXCITER, TARGET] = 1.0
    second_kernel[:, :, INHIBITOR, TARGET] = -0.5 / 9
    model.get_layer("first").set_weights([first_kernel, first_bias])
    model.get_layer("second").set_weights([second_kernel])
    if normalised:  # gamma -2 on the target: its strengths flip sign
        gamma = np.ones(4, np.float32)
        gamma[TARGET] = -2.0
        model.get_layer("second_norm").set_weights([gamma, np.zeros(4, np.float32), np.zeros(4, np.float32),
                                                    np.ones(4, np.float32)])
    return LoadedModel("planted", "test", model, PRESETS["unit"])


def random_images(count: int = 24, size: int = 16) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (count, size, size, 3)).astype(np.uint8)


def test_weights_give_the_planted_exciter_and_inhibitor_only():
    strengths = circuits.weight_strengths(planted_model(), "first", "second")
    later, earlier = circuits.listed(strengths)
    assert [item["id"] for item in later[TARGET]["excite"]] == [EXCITER]
    assert [item["id"] for item in later[TARGET]["inhibit"]] == [INHIBITOR]
    assert later[TARGET]["excite"][0]["strength"] == pytest.approx(1.0)
    assert later[TARGET]["inhibit"][0]["strength"] == pytest.approx(-0.5)
    assert TARGET in [item["id"] for item in earlier[EXCITER]["feeds"]]


def test_a_folded_batch_normalisation_scales_the_strengths():
    strengths = circuits.weight_strengths(planted_model(normalised=True), "first", "second")
    later, _ = circuits.listed(strengths)
    assert [item["id"] for item in later[TARGET]["inhibit"]] == [EXCITER]  # gamma -2 turned it around
    assert later[TARGET]["inhibit"][0]["strength"] == pytest.approx(-2.0, rel=1e-3)


def test_pooling_between_leaves_the_weights_out():
    assert circuits.weight_strengths(planted_model("pool"), "first", "second") is None


@pytest.mark.parametrize("between", [None, "pool"])
def test_attribution_finds_the_planted_exciter_and_inhibitor_at_the_top(between):
    loaded = planted_model(between)
    pixels = random_images()
    examples = {filter_id: list(range(filter_id, 24, 3)) for filter_id in range(4)}
    strengths = circuits.Attribution(loaded, "first", "second").strengths(pixels, examples, 4)
    later, _ = circuits.listed(strengths)
    assert [item["id"] for item in later[TARGET]["excite"]] == [EXCITER]
    assert [item["id"] for item in later[TARGET]["inhibit"]] == [INHIBITOR]


def test_attribution_does_not_depend_on_how_images_and_pairs_are_batched(monkeypatch):
    """Images shared by several filters, in chunks of 32 and of 5: the same strengths."""
    loaded = planted_model("pool")
    examples = {filter_id: list(range(filter_id, 24, 2)) for filter_id in range(4)}
    whole = circuits.Attribution(loaded, "first", "second").strengths(random_images(), examples, 4)
    monkeypatch.setattr(circuits, "ATTRIBUTION_BATCH", 5)
    chunked = circuits.Attribution(loaded, "first", "second").strengths(random_images(), examples, 4)
    assert np.abs(whole).max() > 0
    np.testing.assert_allclose(chunked, whole, rtol=1e-4, atol=1e-6 * np.abs(whole).max())


def test_attribution_without_anything_between_agrees_in_sign_with_the_weights():
    loaded = planted_model()
    examples = {filter_id: list(range(24)) for filter_id in range(4)}
    attributed = circuits.Attribution(loaded, "first", "second").strengths(random_images(), examples, 4)
    weights = circuits.weight_strengths(loaded, "first", "second")
    assert np.sign(attributed[EXCITER, TARGET]) == np.sign(weights[EXCITER, TARGET]) == 1
    assert np.sign(attributed[INHIBITOR, TARGET]) == np.sign(weights[INHIBITOR, TARGET]) == -1


def layer(name: str, num_filters: int) -> LayerInfo:
    return LayerInfo(name, "Conv2D", num_filters, (16, 16), 3, "relu")


def test_a_pair_file_is_written_once_and_rewritten_when_its_key_changes(tmp_path):
    loaded = planted_model()
    pair = circuits.LayerPair(layer("first", 8), layer("second", 4), tuple(range(4)))
    [record] = circuits.build(loaded, [pair], tmp_path)
    path = circuit_records.pair_path(tmp_path, "first", "second")
    assert record["method"] == "weights" and json.loads(path.read_text()) == record
    written = path.stat().st_mtime_ns
    circuits.build(loaded, [pair], tmp_path)
    assert path.stat().st_mtime_ns == written
    other = LoadedModel("planted", "other weights", loaded.model, loaded.preprocessing)
    circuits.build(other, [pair], tmp_path)
    assert json.loads(path.read_text())["key"] != record["key"]


def test_an_attribution_pair_without_dataset_examples_is_left_out(tmp_path):
    pair = circuits.LayerPair(layer("first", 8), layer("second", 4), tuple(range(4)))
    assert circuits.build(planted_model("pool"), [pair], tmp_path) == []


def test_the_atlas_lists_each_filters_circuit_among_built_filters_and_counts_the_unbuilt(tmp_path):
    """Five filters per layer built: each list names built filters only, the strongest built ones in order, and
    says how many of the strongest of every filter were left out; the page shows both."""
    pipeline.build(tiny_settings(tmp_path, layers=("conv1", "conv2"), filters="0:5", steps=2))
    record = json.loads((tmp_path / "atlas.json").read_text())
    first, second = record["layers"]
    weights = circuits.weight_strengths(load_model("tiny-cnn"), "conv1", "conv2")
    built = [item["id"] for item in first["filters"]]
    assert built == [0, 1, 2, 3, 4] and weights.shape[0] > len(built)
    left_out = []
    for entry in second["filters"]:
        column = weights[:, entry["id"]]
        circuit = entry["circuit"]
        assert circuit["layer"] == "conv1" and circuit["method"] == "weights"
        expected = [i for i in np.argsort(-column, kind="stable") if i in built and column[i] > 0][:circuits.NUM_LISTED]
        assert [item["id"] for item in circuit["excite"]] == expected
        strongest = [i for i in np.argsort(-column, kind="stable") if column[i] > 0][:circuits.NUM_LISTED]
        assert circuit["unbuilt"]["excite"] == sum(i not in built for i in strongest)
        left_out.append(circuit["unbuilt"]["excite"] + circuit["unbuilt"]["inhibit"])
        for item in circuit["excite"] + circuit["inhibit"]:
            assert (tmp_path / item["page"]).is_file() and (tmp_path / item["thumbnail"]).is_file()
    assert sum(left_out) > 0  # the planted situation: some strong filters are not built
    shown = next(entry for entry in second["filters"] if entry["circuit"]["unbuilt"]["excite"])
    page = (tmp_path / shown["page"]).read_text()
    assert "Filters of conv1 that excite it" in page
    assert f"{shown['circuit']['unbuilt']['excite']} of the strongest" in page and "unbuilt" not in page.split(
        "circuit-list")[1].split("</ul>")[0]  # no grey box in the list
    assert any("feeds" in item for item in first["filters"])
    assert all(feed["page"] for item in first["filters"] for feed in item.get("feeds", {}).get("filters", []))
