"""`atlas evaluate` on a planted case: hand-set colour detectors and images of those colours."""

import numpy as np
from PIL import Image

from generator.build.evaluate import evaluate_layer, self_recognition
from generator.model.models import LoadedModel
from generator.model.preprocessing import PRESETS
from generator.model.quiet_keras import keras

COLOURS = {"red": (230, 20, 20), "green": (20, 230, 20), "blue": (20, 20, 230)}


def colour_detectors() -> LoadedModel:
    inputs = keras.Input((None, None, 3))
    conv = keras.layers.Conv2D(3, 1, name="colours")
    model = keras.Model(inputs, conv(inputs))
    kernel = (np.eye(3) * 1.5 - 0.5).reshape(1, 1, 3, 3).astype(np.float32)  # filter c: channel c minus the others
    conv.set_weights([kernel, np.zeros(3, np.float32)])
    return LoadedModel("colour-detectors", "planted", model, PRESETS["unit"])


def write_tiles(site, names_by_filter, sign):
    paths = []
    for filter_id, name in enumerate(names_by_filter):
        path = f"tiles/{filter_id}-{sign}.png"
        (site / "tiles").mkdir(parents=True, exist_ok=True)
        pixels = np.zeros((24, 24, 3), np.uint8) + np.array(COLOURS[name], np.uint8)
        pixels[::4, ::4] = 255  # a little texture, so the tiles are not flat
        Image.fromarray(pixels).save(site / path)
        paths.append(path)
    return paths


def layer_record(site, positives, negatives):
    positive_paths = write_tiles(site, positives, "positive")
    negative_paths = write_tiles(site, negatives, "negative")
    return {"name": "colours", "filters": [{"id": index, "positive": {"image": p}, "negative": {"image": n}}
                                           for index, (p, n) in enumerate(zip(positive_paths, negative_paths))]}


def test_planted_detectors_recognise_their_own_colour(tmp_path):
    layer = layer_record(tmp_path, ["red", "green", "blue"], ["green", "blue", "red"])
    quality = evaluate_layer(colour_detectors(), layer, tmp_path, "output", None)
    assert quality.self_recognition == 1.0 and quality.negative_check == 1.0 and quality.flat_tiles == 0.0
    assert abs(quality.chance - 1 / 3) < 1e-9
    assert quality.num_silent == 0 and quality.self_recognition_firing == 1.0
    assert quality.self_recognition_wide == 1.0 and quality.self_recognition_firing_wide == 1.0


def test_the_builds_silent_status_decides_which_filters_fire(tmp_path):
    layer = layer_record(tmp_path, ["red", "green", "blue"], ["green", "blue", "red"])
    for entry, status in zip(layer["filters"], ("fires", "silent", "fires")):
        entry["status"] = status
    quality = evaluate_layer(colour_detectors(), layer, tmp_path, "output", None)
    assert quality.num_silent == 1 and quality.self_recognition_firing == 1.0


def test_wider_views_turn_and_scale_further(tmp_path):
    from generator.build.evaluate import VIEWS
    from generator.optimisation import transforms

    def largest_turn(name):
        rows = transforms.draw_batch(transforms.robustness(*VIEWS[name]),
                                     [np.random.default_rng(seed) for seed in range(400)], 64)[0]
        return np.degrees(np.abs(np.arctan2(rows[:, 1], rows[:, 0]))).max()

    assert 9 < largest_turn("standard") <= 10.01 and 14 < largest_turn("wide") <= 15.01


def test_swapped_images_are_caught(tmp_path):
    layer = layer_record(tmp_path, ["green", "red", "blue"], ["red", "green", "blue"])  # 0 and 1 swapped
    quality = evaluate_layer(colour_detectors(), layer, tmp_path, "output", None)
    assert abs(quality.self_recognition - 1 / 3) < 1e-9  # only blue is right
    assert quality.negative_check == 0.0  # each negative is the filter's own colour: higher than grey
    # The red and green detectors are silent on each other's colour; the one that fires (blue) is recognised.
    assert quality.num_silent == 2 and quality.self_recognition_firing == 1.0


def test_subset_is_its_own_comparison_set(tmp_path):
    layer = layer_record(tmp_path, ["red", "green", "blue"], ["green", "blue", "red"])
    quality = evaluate_layer(colour_detectors(), layer, tmp_path, "output", [0, 2])
    assert quality.num_filters == 2 and quality.self_recognition == 1.0 and quality.chance == 0.5


def test_flat_tiles_are_counted(tmp_path):
    layer = layer_record(tmp_path, ["red", "green", "blue"], ["green", "blue", "red"])
    Image.fromarray(np.full((24, 24, 3), 128, np.uint8)).save(tmp_path / layer["filters"][1]["negative"]["image"])
    quality = evaluate_layer(colour_detectors(), layer, tmp_path, "output", None)
    assert abs(quality.flat_tiles - 1 / 6) < 1e-9


def test_self_recognition_counts_the_diagonal():
    activations = np.array([[5.0, 0.0, 1.0], [1.0, 2.0, 9.0], [0.0, 1.0, 3.0]])
    assert abs(self_recognition(activations, [0, 1, 2]) - 2 / 3) < 1e-9  # filter 2 is beaten by image 1
