"""Dataset examples: planted detectors find their planted patches; the scan streams, resumes and shows on pages."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import CYAN_SQUARE, PLANTED_SIZE, RED_SQUARE, VERTICAL_STRIPES, tiny_settings, write_planted_images
from sitecheck import broken_links

from generator.analysis import dataset_examples
from generator.analysis.dataset_examples import ExampleSettings
from generator.build import pipeline
from generator.errors import AtlasError
from generator.model import dataset_images
from generator.model.layers import select_layers
from generator.model.models import LoadedModel
from generator.model.preprocessing import PRESETS
from generator.model.quiet_keras import keras
from generator.progress import Progress
from generator.store.layout import EXAMPLES_FILE, SCAN_STATE_FILE


def planted_model() -> LoadedModel:
    """conv 'detectors': filter 0 a red detector (R - G - B), filter 1 a vertical-edge detector (Sobel x on the
    sum of the channels); then 2x2 pooling and 'after_pool', a 1x1 conv that copies the red detector."""
    inputs = keras.Input((None, None, 3))
    detectors = keras.layers.Conv2D(2, 3, padding="same", activation="relu", name="detectors")
    x = detectors(inputs)
    x = keras.layers.MaxPooling2D(2, name="pool")(x)
    after_pool = keras.layers.Conv2D(1, 1, name="after_pool")
    outputs = after_pool(x)
    model = keras.Model(inputs, outputs, name="planted")
    kernel = np.zeros((3, 3, 3, 2), np.float32)
    kernel[1, 1, :, 0] = (1, -1, -1)
    sobel = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32) / 3
    kernel[:, :, :, 1] = sobel[:, :, None]
    detectors.set_weights([kernel, np.zeros(2, np.float32)])
    after_pool.set_weights([np.array([[[[1.0], [0.0]]]], np.float32), np.zeros(1, np.float32)])
    return LoadedModel("planted", "hand-set", model, preprocessing=PRESETS["tf"])  # grey -> 0, the padding value


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    return write_planted_images(tmp_path_factory.mktemp("photos"))


def scan_planted(folder, out, **settings):
    loaded = planted_model()
    layers = select_layers(loaded, ("detectors", "after_pool"), PLANTED_SIZE)
    options = dict(source=str(folder), num_examples=3, image_size=PLANTED_SIZE, batch_size=2)
    return dataset_examples.scan(loaded, layers, ExampleSettings(**{**options, **settings}), out, Progress())


def named(record, layer, filter_id, sign):
    images = record["images"]
    return [(images[example["image"]]["name"], example["activation"], example["x"], example["y"])
            for example in record["layers"][layer]["filters"][filter_id][sign]]


def centre_inside(x, y, side, box):
    left, top, size = box
    return left <= x + (side - 1) / 2 <= left + size - 1 and top <= y + (side - 1) / 2 <= top + size - 1


def test_planted_detectors_find_their_patches_at_the_right_places(planted, tmp_path):
    record = scan_planted(planted, tmp_path)
    assert (record["num_images"], record["num_skipped"]) == (6, 1)  # broken.png skipped; notes.txt not an image
    detectors = record["layers"]["detectors"]
    assert detectors["patch_size"] == 3

    # Every pixel of the square ties; the first in row-major order wins: the 3x3 patch around its corner.
    red_x, red_y, red_side = RED_SQUARE
    name, value, x, y = named(record, "detectors", 0, "positive")[0]
    assert name == "red.png" and value > 0 and (x, y) == (red_x - 1, red_y - 1)
    name, value, x, y = named(record, "detectors", 0, "negative")[0]
    assert name == "cyan.jpg" and value < 0 and centre_inside(x, y, 3, CYAN_SQUARE)
    name, value, x, y = named(record, "detectors", 1, "positive")[0]
    assert name == "stripes.png" and centre_inside(x, y, 3, VERTICAL_STRIPES)

    # Through a stride: the copied red detector after 2x2 pooling sees 4 pixels; its first maximal cell covers
    # the square's top-left 2x2 pixels, so its patch is those and one pixel around.
    assert record["layers"]["after_pool"]["patch_size"] == 4
    name, value, x, y = named(record, "after_pool", 0, "positive")[0]
    assert name == "red.png" and (x, y) == (red_x - 1, red_y - 1)


def test_examples_are_the_k_best_distinct_images_in_order(planted, tmp_path):
    record = scan_planted(planted, tmp_path)
    for sign, order in (("positive", -1), ("negative", 1)):
        found = named(record, "detectors", 1, sign)
        assert len(found) == 3 and len({name for name, *_ in found}) == 3
        values = [value for _, value, *_ in found]
        assert values == sorted(values, reverse=order < 0)
    for entry in record["images"]:
        assert (tmp_path / entry["file"]).is_file()


def test_running_extremes_keep_k_per_filter_however_many_images():
    running = dataset_examples.RunningExtremes(num_filters=5, k=3)
    generator = np.random.default_rng(0)
    everything = []
    for batch in range(40):
        ids = np.arange(batch * 8, batch * 8 + 8)
        maxima = generator.normal(size=(8, 5)).astype(np.float32)
        everything.append(maxima)
        running.add(ids, maxima, np.zeros((8, 5), int), -maxima, np.zeros((8, 5), int))
    assert running.top[0].shape == (5, 3) and running.bottom[0].shape == (5, 3)
    best = np.sort(np.concatenate(everything), axis=0)[::-1][:3].T
    np.testing.assert_allclose(running.top[0], best)
    np.testing.assert_allclose(running.bottom[0], -best)


def test_an_interrupted_scan_resumes_to_the_same_record(planted, tmp_path):
    class StopAfterFirstBatch(Progress):
        def advance(self, name, count):
            stop.requested = True

    class Stop:
        requested = False

    stop = Stop()
    loaded = planted_model()
    layers = select_layers(loaded, ("detectors", "after_pool"), PLANTED_SIZE)
    settings = ExampleSettings(source=str(planted), num_examples=3, image_size=PLANTED_SIZE, batch_size=2)
    interrupted = tmp_path / "interrupted"
    assert dataset_examples.scan(loaded, layers, settings, interrupted, StopAfterFirstBatch(), stop) is None
    assert (interrupted / SCAN_STATE_FILE).is_file()
    assert not (interrupted / EXAMPLES_FILE).exists()

    seen = []

    class Counting(Progress):
        def start_layer(self, name, total, done, unit="filters"):
            seen.append(done)

    resumed = dataset_examples.scan(loaded, layers, settings, interrupted, Counting())
    assert seen == [2]  # it went on from the third image
    assert not (interrupted / SCAN_STATE_FILE).exists()
    assert resumed == scan_planted(planted, tmp_path / "whole")


def test_shipped_photos_are_real_readable_photographs():
    shipped = dataset_images.shipped_photos()
    assert len(shipped.paths) >= 12 and "scikit-image" in shipped.description
    for path in shipped.paths:
        image = dataset_images.load_square(path, 64)
        assert image is not None and image.shape == (64, 64, 3) and image.std() > 10


def test_pages_show_the_examples_and_every_link_resolves(planted, tmp_path):
    out = tmp_path / "site"
    pipeline.build(tiny_settings(out, layers=("conv1", "conv3"), filters="0:4", steps=2, examples=str(planted)))
    record = json.loads((out / "atlas.json").read_text())
    assert record["examples"]["num_images"] == 6 and "folder" in record["examples"]["source"]
    entry = record["layers"][0]["filters"][0]
    assert len(entry["examples"]["positive"]) == 6 and len(entry["examples"]["negative"]) == 6
    page = (out / entry["page"]).read_text()
    assert page.count('class="example"') == 12 and record["examples"]["source"] in page
    assert "1 unreadable file skipped" in page
    gallery = (out / record["layers"][0]["page"]).read_text()
    assert 'id="view-switch"' in gallery
    assert broken_links(out) == []


def test_no_examples_when_turned_off(tmp_path):
    out = tmp_path / "site"
    pipeline.build(tiny_settings(out, layers=("conv1",), filters="0:2", steps=2))
    record = json.loads((out / "atlas.json").read_text())
    assert record["examples"] is None and not (out / "examples").exists()
    assert "view-switch" not in (out / record["layers"][0]["page"]).read_text()


def band_detector(num_channels: int, band: int) -> LoadedModel:
    """A 1x1 conv of ``num_channels`` inputs whose one filter is the value of channel ``band`` (0-based)."""
    inputs = keras.Input((None, None, num_channels))
    conv = keras.layers.Conv2D(1, 1, name="band")
    model = keras.Model(inputs, conv(inputs), name="band_detector")
    kernel = np.zeros((1, 1, num_channels, 1), np.float32)
    kernel[0, 0, band, 0] = 1.0
    conv.set_weights([kernel, np.zeros(1, np.float32)])
    return LoadedModel("band-detector", "hand-set", model, PRESETS["unit"])


def scan_bands(loaded, folder, out):
    layers = select_layers(loaded, ("band",), 16)
    return dataset_examples.scan(loaded, layers, ExampleSettings(source=str(folder), num_examples=1, image_size=16,
                                                         batch_size=2), out, Progress())


def test_a_grayscale_model_scans_photographs_as_grayscale(planted, tmp_path):
    record = scan_bands(band_detector(1, 0), planted, tmp_path / "out")
    best = record["images"][record["layers"]["band"]["filters"][0]["positive"][0]["image"]]["name"]
    worst = record["images"][record["layers"]["band"]["filters"][0]["negative"][0]["image"]]["name"]
    # In luminance cyan is the brightest square and blue the darkest; as RGB, channel 0 would have found red.
    assert best == "cyan.jpg" and worst == "more/blue.webp"


def test_a_model_of_four_channels_scans_npy_and_tif_arrays_and_skips_the_photographs(tmp_path):
    import tifffile

    folder = tmp_path / "bands"
    folder.mkdir()
    quiet = np.full((16, 16, 4), 0.2, np.float32)
    loud = quiet.copy()
    loud[4:8, 4:8, 3] = 1.0  # bright in channel 4 only
    np.save(folder / "quiet.npy", quiet)
    tifffile.imwrite(folder / "loud.tif", (loud * 255).astype(np.uint8))
    np.save(folder / "three.npy", np.ones((16, 16, 3), np.float32))  # the wrong channel count: skipped
    (folder / "photo.png").write_bytes(b"")  # photographs are not read for four channels
    record = scan_bands(band_detector(4, 3), folder, tmp_path / "out")
    best = record["layers"]["band"]["filters"][0]["positive"][0]
    assert record["images"][best["image"]]["name"] == "loud.tif" and best["activation"] == 1.0
    assert record["num_images"] == 2 and record["num_skipped"] == 1
    assert (tmp_path / "out" / record["images"][best["image"]]["file"]).is_file()


def test_a_model_of_four_channels_skips_the_shipped_photographs_and_refuses_a_folder_of_photographs(planted,
                                                                                                   tmp_path):
    notes = []

    class Noting(Progress):
        def note(self, text):
            notes.append(text)

    loaded = band_detector(4, 0)
    layers = select_layers(loaded, ("band",), 16)
    assert dataset_examples.scan(loaded, layers, ExampleSettings(image_size=16), tmp_path / "out", Noting()) is None
    assert "give --examples FOLDER of .npy or .tif arrays" in notes[0]
    with pytest.raises(AtlasError, match="has no .npy or .tif arrays, and the model reads 4 channels"):
        scan_bands(loaded, planted, tmp_path / "other")
