"""End to end on the tiny CNN: the run, resume, and the site it renders."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from helpers import (
    brightness_cnn,
    fourth_channel_cnn,
    grayscale_cnn,
    red_detector_cnn,
    save_model,
    tiny_settings,
    transfer_learning_model,
)
from PIL import Image
from sitecheck import broken_links

from generator.build import pipeline, plan
from generator.errors import AtlasError
from generator.site.pages import render
from generator.store.tiles import split_strip


def test_build_writes_tiles_pages_and_record(tmp_path):
    report = pipeline.build(tiny_settings(tmp_path / "site", layers=("conv1", "conv3"), batch_size=4))
    site = tmp_path / "site"
    record = json.loads((site / "atlas.json").read_text())
    assert [layer["name"] for layer in record["layers"]] == ["conv1", "conv3"]
    conv3 = record["layers"][1]
    assert [entry["id"] for entry in conv3["filters"]] == list(range(16))
    for entry in conv3["filters"]:
        for sign in ("positive", "negative"):
            tile = Image.open(site / entry[sign]["image"])
            assert tile.size == (12, 12)  # 16 px, 2 cropped a side
            assert len(entry[sign]["curve"]) == 11
        assert (site / entry["page"]).is_file()
    assert (site / "layers/conv3/index.html").is_file() and (site / conv3["contact_sheet"]).is_file()
    assert (site / ".nojekyll").is_file()
    assert report.num_built == 24 and not report.interrupted
    assert {layer.name: layer.num_traces for layer in report.layers} == {"conv1": 1, "conv3": 1}
    assert broken_links(site) == []


def test_rerun_skips_finished_units_and_changed_settings_redo_them(tmp_path):
    out = tmp_path / "site"
    pipeline.build(tiny_settings(out, layers=("conv2",), batch_size=4))
    tile = out / "tiles/conv2/0005-positive.png"
    before = tile.read_bytes()
    again = pipeline.build(tiny_settings(out, layers=("conv2",), batch_size=4))
    assert again.num_built == 0 and tile.read_bytes() == before
    changed = pipeline.build(tiny_settings(out, layers=("conv2",), batch_size=4, steps=3))
    assert changed.num_built == 12
    record = json.loads((out / "atlas.json").read_text())
    assert all(len(entry["positive"]["curve"]) == 4 for entry in record["layers"][0]["filters"])


def test_activation_moves_the_right_way(tmp_path):
    pipeline.build(tiny_settings(tmp_path, layers=("conv2",), batch_size=5))  # linear layer: every filter moves
    record = json.loads((tmp_path / "atlas.json").read_text())
    filters = record["layers"][0]["filters"]
    assert all(e["positive"]["activation_after"] > e["positive"]["activation_before"] for e in filters)
    assert all(e["negative"]["activation_after"] < e["negative"]["activation_before"] for e in filters)


def test_batch_size_does_not_change_the_images(tmp_path):
    pipeline.build(tiny_settings(tmp_path / "a", layers=("conv3",), batch_size=16))
    pipeline.build(tiny_settings(tmp_path / "b", layers=("conv3",), batch_size=3))
    for filter_id in range(16):
        path = f"tiles/conv3/{filter_id:04d}-positive.png"
        first = np.asarray(Image.open(tmp_path / "a" / path), dtype=int)
        second = np.asarray(Image.open(tmp_path / "b" / path), dtype=int)
        assert np.abs(first - second).max() <= 1


def test_render_alone_rebuilds_pages_from_manifests(tmp_path):
    pipeline.build(tiny_settings(tmp_path, layers=("conv1",)))
    page = tmp_path / "layers/conv1/0003.html"
    page.unlink()
    record = render(tmp_path)
    assert page.is_file() and len(record["layers"][0]["filters"]) == 8


def test_preview_pages_say_so(tmp_path):
    settings = tiny_settings(tmp_path, layers=("conv3",), profile="preview")
    pipeline.build(settings)
    record = json.loads((tmp_path / "atlas.json").read_text())
    assert record["profile"] == "preview" and "--profile full" in record["full_command"]
    for page in ["index.html", "layers/conv3/index.html", "layers/conv3/0000.html"]:
        assert "Preview:" in (tmp_path / page).read_text()


def test_shards_together_build_the_whole_atlas(tmp_path):
    one = tiny_settings(tmp_path / "single", layers=("conv1", "conv3"), batch_size=4)
    pipeline.build(one)
    sharded = tiny_settings(tmp_path / "sharded", layers=("conv1", "conv3"), batch_size=4)
    first = pipeline.build(sharded, shard=(0, 2))
    second = pipeline.build(sharded, shard=(1, 2))
    assert first.num_built + second.num_built == 24 and first.num_built and second.num_built
    assert (tmp_path / "single/atlas.json").read_text() == (tmp_path / "sharded/atlas.json").read_text()


def user_settings(out, model: str, **given):
    """A small full run of a user's model file (fourier, 12 steps, no dataset examples unless given)."""
    from generator.config import AtlasConfig, resolve

    config = AtlasConfig(model=model, method="fourier", steps=12, profile="full", out=str(out), examples="none",
                         batch_size=8)
    return resolve(dataclasses.replace(config, **given), has_gpu=False)


def built_filters(out, layer_index: int = 0) -> list[dict]:
    return json.loads((out / "atlas.json").read_text())["layers"][layer_index]["filters"]


@pytest.mark.parametrize("rescaling", [True, False])
def test_a_grayscale_model_of_fixed_size_gets_grayscale_tiles_that_move_its_filters(tmp_path, rescaling):
    model = save_model(grayscale_cnn(28, rescaling), tmp_path / "models", "digits")
    pipeline.build(user_settings(tmp_path / "site", model, layers=("conv_b",)))
    run = json.loads((tmp_path / "site/run.json").read_text())
    assert run["model"]["preprocessing"] == ("none" if rescaling else "unit")  # raw pixels, or [0, 1]
    filters = built_filters(tmp_path / "site")
    assert len(filters) == 6
    for entry in filters:
        tile = Image.open(tmp_path / "site" / entry["positive"]["image"])
        assert tile.mode == "L" and tile.size == (28, 28)
        assert "channels" not in entry["positive"]
    assert np.mean([e["positive"]["activation_after"] > e["positive"]["activation_before"] for e in filters]) >= 0.8
    assert np.mean([e["negative"]["activation_after"] < e["negative"]["activation_before"] for e in filters]) >= 0.8
    with pytest.raises(AtlasError, match="takes only 28x28 inputs, so --size 64"):
        pipeline.build(user_settings(tmp_path / "other", model, layers=("conv_b",), size=64))


def test_a_filter_that_reads_only_channel_4_gets_its_image_in_channel_4_and_the_page_shows_the_strip(tmp_path):
    model = save_model(fourth_channel_cnn(64), tmp_path / "models", "bands")
    out = tmp_path / "site"
    pipeline.build(user_settings(out, model, layers=("bands",), display_channels="4,1,2"))
    entry = built_filters(out)[0]
    strip = np.asarray(Image.open(out / entry["positive"]["channels"]))
    channels = split_strip(strip, 4).astype(np.float32) / 255
    energy = np.abs(channels - 0.5).mean(axis=(0, 1))
    assert energy.argmax() == 3 and energy[3] > 4 * energy[:3].max()
    tile = np.asarray(Image.open(out / entry["positive"]["image"]))
    assert tile.shape == (64, 64, 3)
    np.testing.assert_array_equal(tile[..., 0], split_strip(strip, 4)[..., 3])  # --display-channels 4,1,2: red = 4
    page = (out / entry["page"]).read_text()
    assert entry["positive"]["channels"].rsplit("/", 1)[-1] in page
    assert broken_links(out) == []
    filters = built_filters(out)
    assert all(e["positive"]["activation_after"] > e["positive"]["activation_before"] for e in filters)
    assert all(e["negative"]["activation_after"] < e["negative"]["activation_before"] for e in filters)
    with pytest.raises(AtlasError, match="names a channel the model's input lacks"):
        pipeline.build(user_settings(tmp_path / "other", model, layers=("bands",), display_channels="5,1,2"))


def test_a_detected_rescaling_gives_a_red_image_for_a_red_detector_and_a_wrong_range_shows(tmp_path):
    model = save_model(red_detector_cnn(16), tmp_path / "models", "red")
    out = tmp_path / "site"
    red_run = dict(layers=("colour",), filters="0", method="classic", steps=10)
    pipeline.build(user_settings(out, model, **red_run))
    entry = built_filters(out)[0]
    red = np.asarray(Image.open(out / entry["positive"]["image"]), np.float32).mean(axis=(0, 1))
    assert red[0] > red[1] + 100 and red[0] > red[2] + 100
    assert "none" in (out / "layers/colour/index.html").read_text()  # the page's "Built with" table
    # Declaring what was detected (raw pixels in [0, 255]) changes nothing: nothing is redone.
    again = pipeline.build(user_settings(out, model, **red_run, input_range="0:255"))
    assert again.num_built == 0
    # Forcing a wrong range ([0, 1] into a model that divides by 255 again) is a different run, and it shows:
    # the filter's input is 255 times too small, and so is what the image can make of it.
    wrong = pipeline.build(user_settings(out, model, **red_run, input_range="0:1"))
    assert wrong.num_built == 1
    after = built_filters(out)[0]["positive"]["activation_after"]
    assert entry["positive"]["activation_after"] > 100 * after > 0
    assert "range 0:1" in (out / "layers/colour/index.html").read_text()


def test_a_nested_models_inner_layers_are_listed_by_path_and_built_from_the_outer_input(tmp_path):
    from generator.model.layers import spatial_layers
    from generator.model.models import load_model

    model = save_model(transfer_learning_model(32), tmp_path / "models", "classifier")
    loaded = load_model(model)
    names = [info.name for info in spatial_layers(loaded)]
    assert "base/block_1_conv" in names and "base/block_2_project" in names
    assert loaded.preprocessing.scale == 255.0  # the outer Rescaling, before the base, is detected and kept
    out = tmp_path / "site"
    pipeline.build(user_settings(out, model, layers=("base/block_*_project",)))
    record = json.loads((out / "atlas.json").read_text())
    assert [layer["name"] for layer in record["layers"]] == ["base/block_2_project"]
    filters = record["layers"][0]["filters"]
    assert len(filters) == 8 and broken_links(out) == []
    assert np.mean([e["positive"]["activation_after"] > e["positive"]["activation_before"] for e in filters]) >= 0.8
    assert np.mean([e["negative"]["activation_after"] < e["negative"]["activation_before"] for e in filters]) >= 0.8


def test_a_dense_layers_units_are_classes_each_with_an_image_and_its_label(tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("cat\ndog\n<b>bird</b>\nfish\n\n")
    out = tmp_path / "site"
    pipeline.build(tiny_settings(out, layers=("logits",), method="fourier", steps=16, labels=str(labels)))
    record = json.loads((out / "atlas.json").read_text())
    layer = record["layers"][0]
    assert layer["name"] == "logits" and layer["labels"] == ["cat", "dog", "<b>bird</b>", "fish"]
    filters = layer["filters"]
    assert len(filters) == 4 and all((out / entry["positive"]["image"]).is_file() for entry in filters)
    assert all(e["positive"]["activation_after"] > e["positive"]["activation_before"] for e in filters)
    assert all(e["negative"]["activation_after"] < e["negative"]["activation_before"] for e in filters)
    assert "&lt;b&gt;bird&lt;/b&gt;" in (out / filters[2]["page"]).read_text()
    gallery = (out / layer["page"]).read_text()
    assert "cat" in gallery and "fish" in gallery and "<b>bird" not in gallery
    assert broken_links(out) == []
    labels.write_text("cat\ndog\n")
    with pytest.raises(AtlasError, match="--labels names 2 classes, but layer 'logits' has 4 units"):
        pipeline.build(tiny_settings(tmp_path / "other", layers=("logits",), labels=str(labels)))


def test_a_softmax_output_is_optimised_before_its_softmax():
    from generator.model.extractors import build_extractor
    from generator.model.models import LoadedModel
    from generator.model.preprocessing import PRESETS
    from generator.model.quiet_keras import keras

    inputs = keras.Input((8, 8, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="classes")(pooled))
    loaded = LoadedModel("softmax", "seeded", model, PRESETS["unit"])
    images = np.random.default_rng(0).random((2, 8, 8, 3)).astype(np.float32)
    for target in ("output", "leaky"):
        logits = keras.ops.convert_to_numpy(build_extractor(loaded, "classes", target)(images))
        assert not np.allclose(logits.sum(axis=1), 1.0)  # logits, not probabilities
        np.testing.assert_allclose(keras.ops.convert_to_numpy(keras.ops.softmax(logits)), model(images), atol=1e-5)


def test_an_rgb_model_that_normalises_its_input_moves_its_filters(tmp_path):
    from generator.model.quiet_keras import keras

    inputs = keras.Input((24, 24, 3))
    x = keras.layers.Normalization(mean=[120.0, 110.0, 100.0], variance=[3600.0, 3000.0, 3300.0])(inputs)
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="conv")(x)
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(x)))
    path = save_model(model, tmp_path / "models", "normalised")
    pipeline.build(user_settings(tmp_path / "site", path, layers=("conv",)))
    filters = built_filters(tmp_path / "site")
    assert json.loads((tmp_path / "site/run.json").read_text())["model"]["preprocessing"] == "none"
    assert np.mean([e["positive"]["activation_after"] > e["positive"]["activation_before"] for e in filters]) >= 0.8
    assert np.mean([e["negative"]["activation_after"] < e["negative"]["activation_before"] for e in filters]) >= 0.8


def test_the_default_atlas_keeps_its_unit_keys():
    """Channels, preprocessing, class units and the step schedule add to a unit's key only where they change the
    images: the full atlas's keys are those of 51baf0f, before the contrast setting came, so its finished units stay
    done. The preview's changed with its fixed contrast, and again when that contrast began to keep each image's
    mean (its images did both times)."""
    from generator.config import AtlasConfig, load_toml, resolve
    from generator.model.models import load_model

    def keys(has_gpu: bool) -> list[tuple[str, str, int]]:
        plans = plan.plan_layers(resolve(AtlasConfig(out="site"), has_gpu=has_gpu), load_model("vgg16-hed", "none"))
        return [(plan.info.name, plan.units[0].key, plan.method.size) for plan in plans]

    assert keys(has_gpu=True) == [
        ("block1_conv2", "cac628646ee504adec94", 64), ("block2_conv2", "f0abac40085dc6c73be6", 64),
        ("block3_conv3", "94d0233133a113bcd452", 80), ("block4_conv3", "19cffd01270b0cf0eaa0", 128),
        ("block5_conv3", "fcd77d85d4794e0da8fd", 128)]
    assert keys(has_gpu=False) == [
        ("block1_conv2", "6956472b4d5636ee41b4", 64), ("block2_conv2", "6b220ee302030c20d84d", 64),
        ("block3_conv3", "e073d5fb0abf402000c4", 80), ("block4_conv3", "31b6b0e5788fcd89df1b", 112),
        ("block5_conv3", "2edebb5d2638e2d4cce5", 112)]
    # `make atlas`'s full profile (atlas.toml's full_steps, 2026-12-06): the layers it names moved to new keys, the
    # others kept theirs, so a full atlas built before redoes block3-5 only
    default = plan.plan_layers(resolve(load_toml(Path(__file__).parent.parent / "atlas.toml"), has_gpu=True),
                               load_model("vgg16-hed", "none"))
    assert [(layer.info.name, layer.units[0].key, layer.method.steps) for layer in default] == [
        ("block1_conv2", "cac628646ee504adec94", 128), ("block2_conv2", "f0abac40085dc6c73be6", 128),
        ("block3_conv3", "ab7169f9820b9c646024", 64), ("block4_conv3", "c851c831a488c8453dd5", 48),
        ("block5_conv3", "2beccd1935093b88d84d", 48)]


def test_a_fourier_preview_says_its_contrast_is_fixed(tmp_path):
    pipeline.build(tiny_settings(tmp_path, layers=("conv1",), filters="0:2", method="fourier", profile="preview",
                              steps=2))
    from generator.defaults import PREVIEW_CONTRAST

    page = (tmp_path / "layers/conv1/index.html").read_text()
    assert f"deviation set to σ {PREVIEW_CONTRAST} before the sigmoid" in page
    pipeline.build(tiny_settings(tmp_path / "full", layers=("conv1",), filters="0:2", method="fourier", steps=2))
    assert "before the sigmoid" not in (tmp_path / "full/layers/conv1/index.html").read_text()


def test_a_short_full_build_with_a_contrast_is_vivid_where_a_free_one_is_grey(tmp_path):
    deviations = {}
    for contrast in (0.0, 1.25):
        out = tmp_path / str(contrast)
        pipeline.build(tiny_settings(out, layers=("conv1",), filters="0:4", method="fourier", steps=4,
                                     contrast=contrast))
        filters = json.loads((out / "atlas.json").read_text())["layers"][0]["filters"]
        tiles = [np.asarray(Image.open(out / entry["positive"]["image"]).convert("RGB"), float) for entry in filters]
        deviations[contrast] = np.mean([tile.std() for tile in tiles])
    assert deviations[0.0] < 10 and deviations[1.25] > 3 * deviations[0.0], deviations
    assert "deviation set to σ 1.25 before the sigmoid" in (tmp_path / "1.25/layers/conv1/index.html").read_text()


def test_a_preview_of_a_brightness_filter_is_as_bright_as_its_full_build(tmp_path):
    """A fixed contrast fixes only the deviation: the planted filter wants a white image, and the preview's tile
    (32 steps, contrast 1.25) is as far above mid-grey as the full build's (128 free steps), colour and all."""
    path = save_model(brightness_cnn(), tmp_path / "models", "brightness")
    means = {}
    for profile in ("preview", "full"):
        out = tmp_path / profile
        pipeline.build(user_settings(out, path, profile=profile, steps=None, size=32, batch_size=None))
        [entry] = built_filters(out)
        tile = np.asarray(Image.open(out / entry["positive"]["image"]).convert("RGB"), float)
        means[profile] = tile.mean(axis=(0, 1))
    preview, full = (means[profile].mean() - 127.5 for profile in ("preview", "full"))
    assert full > 20 and preview > 0.8 * full, means  # before the mean was kept: 1.4 above grey against 32
    assert np.ptp(means["preview"]) < 20, means  # brightness, not a colour cast


def test_a_maco_atlas_builds_raises_its_filters_and_names_its_views(tmp_path):
    out = tmp_path / "site"
    pipeline.build(tiny_settings(out, layers=("conv3",), method="maco", steps=16, size=24))
    record = json.loads((out / "atlas.json").read_text())
    assert record["method"]["name"] == "maco" and record["method"]["crop"] == 0.5
    filters = record["layers"][0]["filters"]
    rose = [entry["positive"]["activation_after"] > entry["positive"]["activation_before"] for entry in filters]
    assert len(filters) == 16 and sum(rose) >= 14
    assert "square crops of 50-100% of the side" in (out / "layers/conv3/index.html").read_text()


def test_a_failing_late_phase_still_renders_the_site_and_says_so_in_one_line(tmp_path, monkeypatch):
    """Circuits made to fail: the images and the dataset examples are on the pages, the failure is named on them,
    and the build ends with one AtlasError (exit code 1) naming the phase; the next run redoes only circuits."""
    from generator.analysis import circuits

    def broken(*arguments, **keywords):
        raise ValueError("planted failure\nsecond line")

    monkeypatch.setattr(circuits, "build", broken)
    settings = tiny_settings(tmp_path, layers=("conv1", "conv2"), filters="0:3", steps=2, examples="shipped")
    with pytest.raises(AtlasError, match=r"^Circuits not built: unexpected ValueError: planted failure\. The site") \
            as raised:
        pipeline.build(settings)
    assert raised.value.exit_code == 1 and "\n" not in str(raised.value)
    record = json.loads((tmp_path / "atlas.json").read_text())
    assert [len(layer["filters"]) for layer in record["layers"]] == [3, 3]
    assert all("examples" in entry for layer in record["layers"] for entry in layer["filters"])
    assert not any("circuit" in entry for entry in record["layers"][1]["filters"])
    page = (tmp_path / "layers/conv2/0000.html").read_text()
    assert '<li class="failed">Circuits not built: unexpected ValueError: planted failure.</li>' in page
    assert broken_links(tmp_path) == []
    monkeypatch.undo()
    report = pipeline.build(settings)
    assert report.num_built == 0 and not report.failures  # the images were kept; circuits alone were redone
    record = json.loads((tmp_path / "atlas.json").read_text())
    assert record["notices"] == [] and "circuit" in record["layers"][1]["filters"][0]


def test_a_full_build_stopped_during_its_facets_is_a_complete_atlas_without_them(tmp_path, monkeypatch):
    """Every filter's positive and negative images come first and the site is rendered from them before any facet:
    a build killed when the facets start (a second Ctrl-C) leaves a browsable atlas of every image and no facet."""
    from generator.analysis import facets

    seen_at_facets = {}

    def killed(*arguments, **keywords):
        seen_at_facets["atlas"] = json.loads((tmp_path / "atlas.json").read_text())
        raise KeyboardInterrupt

    monkeypatch.setattr(facets, "build", killed)
    settings = tiny_settings(tmp_path, layers=("conv1", "conv2"), filters="0:3", steps=2, facets=2,
                             examples="shipped")
    with pytest.raises(KeyboardInterrupt):
        pipeline.build(settings)
    record = seen_at_facets["atlas"]
    assert [[entry["id"] for entry in layer["filters"]] for layer in record["layers"]] == [[0, 1, 2], [0, 1, 2]]
    for layer in record["layers"]:
        for entry in layer["filters"]:
            assert all((tmp_path / entry[sign]["image"]).is_file() for sign in ("positive", "negative"))
            assert "examples" in entry and not entry.get("facets")
    assert "circuit" in record["layers"][1]["filters"][0]
    assert (tmp_path / "index.html").is_file() and broken_links(tmp_path) == []
    assert not list(tmp_path.glob("facets/**/*.json")) and not list(tmp_path.glob("tiles/**/*-facet-*"))
    monkeypatch.undo()
    report = pipeline.build(settings)  # the next run adds only the facets
    assert report.num_built == 0
    record = json.loads((tmp_path / "atlas.json").read_text())
    assert all(len(entry["facets"]) == 2 for layer in record["layers"] for entry in layer["filters"])
    assert broken_links(tmp_path) == []


def test_full_steps_give_each_layer_its_own_steps_and_key(tmp_path):
    site = tmp_path / "site"
    settings = tiny_settings(site, layers=("conv1", "conv3"), filters="0:2", full_steps="conv1=4")
    pipeline.build(settings)
    record = json.loads((site / "atlas.json").read_text())
    assert [layer["steps"] for layer in record["layers"]] == [4, 10]
    for layer, steps in zip(record["layers"], (4, 10)):
        assert {len(entry[sign]["curve"]) for entry in layer["filters"] for sign in ("positive", "negative")} == {
            steps + 1}
    assert "<th>Steps</th><td>4</td>" in (site / "layers/conv1/index.html").read_text()
    assert "classic · 4-10 steps" in (site / "index.html").read_text()
    assert plan.steps_text(settings) == "10 steps (conv1 4)"
    preview = dataclasses.replace(settings, profile="preview")
    assert "--full-steps 'conv1=4'" in plan.full_command(preview)  # the full build the preview's estimate counts
    from generator.model.models import load_model

    tiny = load_model("tiny-cnn", "none")
    with_table = [layer.units[0].key for layer in plan.plan_layers(settings, tiny)]
    without = [layer.units[0].key for layer in plan.plan_layers(tiny_settings(site, layers=("conv1", "conv3"),
                                                                              filters="0:2"), tiny)]
    assert with_table[0] != without[0] and with_table[1] == without[1]  # only the named layer's work is redone
    with pytest.raises(AtlasError, match="full_steps names 'conv9', not a layer of tiny-cnn"):
        plan.plan_layers(tiny_settings(site, full_steps="conv9=4"), tiny)


def test_a_fourier_layer_given_fewer_steps_is_built_and_shown_with_the_fixed_contrast(tmp_path):
    site = tmp_path / "site"
    pipeline.build(tiny_settings(site, method="fourier", layers=("conv1", "conv3"), filters="0:1",
                                 full_steps="conv1=4"))
    run = json.loads((site / "run.json").read_text())
    conv1, conv3 = run["layers"]
    assert (conv1["steps"], conv3["steps"]) == (4, 128) and conv1["contrast"] > 0 == conv3["contrast"]
    assert f"σ {conv1['contrast']} before the sigmoid" in (site / "layers/conv1/index.html").read_text()
    assert "<th>Contrast</th>" not in (site / "layers/conv3/index.html").read_text()
