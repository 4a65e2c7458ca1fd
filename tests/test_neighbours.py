"""Neighbours: filters that respond to the same images are each other's nearest, and lie together on the map."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import tiny_settings, write_planted_images
from PIL import Image
from sitecheck import broken_links

from generator.analysis import dataset_examples, neighbours
from generator.analysis.dataset_examples import ExampleSettings
from generator.build import pipeline
from generator.model.layers import LayerInfo
from generator.model.models import LoadedModel
from generator.model.preprocessing import PRESETS
from generator.model.quiet_keras import keras
from generator.progress import Progress
from generator.store import example_records
from generator.store.layout import FINGERPRINTS_FILE

TWIN, OTHER_TWIN, FLIPPED = 0, 3, 5  # filter 3 is a copy of filter 0, filter 5 its sign-flipped copy


def planted_model() -> LoadedModel:
    inputs = keras.Input((None, None, 3), name="image")
    outputs = keras.layers.Conv2D(8, 3, padding="same", name="planted")(inputs)
    model = keras.Model(inputs, outputs)
    generator = np.random.default_rng(5)
    kernel = generator.normal(0, 0.5, (3, 3, 3, 8)).astype("float32")
    bias = generator.normal(0, 0.1, 8).astype("float32")
    kernel[..., OTHER_TWIN], bias[OTHER_TWIN] = kernel[..., TWIN], bias[TWIN]
    kernel[..., FLIPPED], bias[FLIPPED] = -kernel[..., TWIN], -bias[TWIN]
    model.get_layer("planted").set_weights([kernel, bias])
    return LoadedModel("planted-twins", "test", model, PRESETS["unit"])


def write_random_images(folder, count: int = 20):
    folder.mkdir(parents=True, exist_ok=True)
    generator = np.random.default_rng(1)
    for index in range(count):
        image = generator.integers(0, 256, (16, 16, 3)).astype(np.uint8)
        image[:8] = generator.integers(0, 256, 3)  # some structure: a flat half of a random colour
        Image.fromarray(image).save(folder / f"{index:02d}.png")
    return folder


LAYER = LayerInfo("planted", "Conv2D", 8, (16, 16), 3, "linear")


class StopAfter:
    """Asks the scan to stop once it has been asked ``checks`` times."""

    def __init__(self, checks: int):
        self.checks = checks

    @property
    def requested(self) -> bool:
        self.checks -= 1
        return self.checks < 0


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    out = tmp_path_factory.mktemp("scan")
    settings = ExampleSettings(source=str(write_random_images(tmp_path_factory.mktemp("images"))), num_examples=3,
                               image_size=16, batch_size=4)
    record = dataset_examples.scan(planted_model(), [LAYER], settings, out, Progress())
    return out, settings, record


def test_the_scan_keeps_each_images_maximum_per_filter(scanned):
    out, _, record = scanned
    fingerprints = example_records.read_fingerprints(out, record["key"])["planted"]
    assert fingerprints.shape == (20, 8)
    for filter_id in range(8):
        best = record["layers"]["planted"]["filters"][filter_id]["positive"][0]["activation"]
        assert fingerprints[:, filter_id].max() == pytest.approx(best, rel=1e-4)
    assert example_records.read_fingerprints(out, "another scan") == {}


def test_an_interrupted_scan_resumes_with_the_same_fingerprints(scanned, tmp_path):
    out, settings, record = scanned
    assert dataset_examples.scan(planted_model(), [LAYER], settings, tmp_path, Progress(), StopAfter(2)) is None
    assert not (tmp_path / FINGERPRINTS_FILE).exists()
    dataset_examples.scan(planted_model(), [LAYER], settings, tmp_path, Progress())
    np.testing.assert_array_equal(example_records.read_fingerprints(tmp_path)["planted"],
                                  example_records.read_fingerprints(out)["planted"])


def test_twins_are_each_others_nearest_neighbour_and_the_flipped_copy_is_not_near(scanned):
    out, _, record = scanned
    fingerprints = example_records.read_fingerprints(out, record["key"])["planted"]
    found = neighbours.nearest(fingerprints, list(range(8)))
    assert found[TWIN][0] == {"id": OTHER_TWIN, "similarity": pytest.approx(1.0)}
    assert found[OTHER_TWIN][0]["id"] == TWIN
    assert FLIPPED not in [item["id"] for item in found[TWIN][:2]]


def test_the_map_places_the_twins_together(scanned):
    out, _, record = scanned
    positions = neighbours.layout(example_records.read_fingerprints(out, record["key"])["planted"])
    assert positions.shape == (8, 2) and positions.min() >= 0 and positions.max() <= 1
    distances = np.linalg.norm(positions[:, None] - positions[None], axis=-1)
    assert distances[TWIN, OTHER_TWIN] < 1e-6
    assert distances[TWIN, FLIPPED] > 0.2
    assert np.median(distances[np.triu_indices(8, 1)]) > 0.1  # the others are spread out


def test_a_filter_that_never_varies_has_no_neighbours():
    fingerprints = np.random.default_rng(0).normal(size=(10, 4))
    fingerprints[:, 2] = 3.0
    found = neighbours.nearest(fingerprints, [0, 1, 2, 3])
    assert found[2] == [] and 2 not in [item["id"] for items in found.values() for item in items]


def test_the_site_lists_neighbours_and_draws_each_layers_map(tmp_path):
    photos = write_planted_images(tmp_path / "photos")
    out = tmp_path / "site"
    pipeline.build(tiny_settings(out, layers=("conv1",), steps=2, examples=str(photos)))
    record = json.loads((out / "atlas.json").read_text())
    [layer] = record["layers"]
    assert [point["id"] for point in layer["map"]["points"]] == list(range(8))
    entry = layer["filters"][0]
    assert entry["neighbours"] and all((out / item["page"]).is_file() for item in entry["neighbours"])
    page = (out / layer["map"]["page"]).read_text()
    assert page.count('<a href="00') == 8
    assert 'href="map.html"' in (out / layer["page"]).read_text()
    assert broken_links(out) == []  # the sprite too: the page names it in a CSS url()


def test_each_point_of_the_map_shows_its_own_filter_in_the_sprite(tmp_path):
    out = tmp_path / "site"
    photos = str(write_planted_images(tmp_path / "photos"))
    pipeline.build(tiny_settings(out, layers=("conv1",), steps=2, examples=photos))
    [layer] = json.loads((out / "atlas.json").read_text())["layers"]
    sprite = np.asarray(Image.open(out / layer["map"]["sprite"]).convert("RGB"), dtype=float)
    size = neighbours.MAP_THUMBNAIL
    tiles = {entry["id"]: np.asarray(Image.open(out / entry["positive"]["image"]).convert("RGB")
                                     .resize((size, size), Image.Resampling.LANCZOS), dtype=float)
             for entry in layer["filters"]}
    for point in layer["map"]["points"]:
        crop = sprite[point["sprite_y"]:point["sprite_y"] + size, point["sprite_x"]:point["sprite_x"] + size]
        errors = {filter_id: np.abs(crop - tile).mean() for filter_id, tile in tiles.items()}
        assert errors[point["id"]] < 16, (point, errors)  # lossy WebP of 2-step noise (its worst case)
        assert min(errors, key=errors.get) == point["id"]
