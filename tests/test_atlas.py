"""End to end on the tiny CNN: the run, resume, and the site it renders."""

import json

import numpy as np
import pytest
from helpers import tiny_settings
from PIL import Image
from sitecheck import broken_links

from generator import atlas
from generator.config import FACETS_IN_FULL, auto_size
from generator.methods import METHODS
from generator.site import render


def test_build_writes_tiles_pages_and_record(tmp_path):
    report = atlas.build(tiny_settings(tmp_path / "site", layers=("conv1", "conv3"), batch_size=4))
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
    atlas.build(tiny_settings(out, layers=("conv2",), batch_size=4))
    tile = out / "tiles/conv2/0005-positive.png"
    before = tile.read_bytes()
    again = atlas.build(tiny_settings(out, layers=("conv2",), batch_size=4))
    assert again.num_built == 0 and tile.read_bytes() == before
    changed = atlas.build(tiny_settings(out, layers=("conv2",), batch_size=4, steps=3))
    assert changed.num_built == 12
    record = json.loads((out / "atlas.json").read_text())
    assert all(len(entry["positive"]["curve"]) == 4 for entry in record["layers"][0]["filters"])


def test_activation_moves_the_right_way(tmp_path):
    atlas.build(tiny_settings(tmp_path, layers=("conv2",), batch_size=5))  # linear layer: every filter moves
    record = json.loads((tmp_path / "atlas.json").read_text())
    filters = record["layers"][0]["filters"]
    assert all(e["positive"]["activation_after"] > e["positive"]["activation_before"] for e in filters)
    assert all(e["negative"]["activation_after"] < e["negative"]["activation_before"] for e in filters)


def test_batch_size_does_not_change_the_images(tmp_path):
    atlas.build(tiny_settings(tmp_path / "a", layers=("conv3",), batch_size=16))
    atlas.build(tiny_settings(tmp_path / "b", layers=("conv3",), batch_size=3))
    for filter_id in range(16):
        path = f"tiles/conv3/{filter_id:04d}-positive.png"
        first = np.asarray(Image.open(tmp_path / "a" / path), dtype=int)
        second = np.asarray(Image.open(tmp_path / "b" / path), dtype=int)
        assert np.abs(first - second).max() <= 1


def test_render_alone_rebuilds_pages_from_manifests(tmp_path):
    atlas.build(tiny_settings(tmp_path, layers=("conv1",)))
    page = tmp_path / "layers/conv1/0003.html"
    page.unlink()
    record = render(tmp_path)
    assert page.is_file() and len(record["layers"][0]["filters"]) == 8


def test_preview_pages_say_so(tmp_path):
    settings = tiny_settings(tmp_path, layers=("conv3",), profile="preview")
    atlas.build(settings)
    record = json.loads((tmp_path / "atlas.json").read_text())
    assert record["profile"] == "preview" and "--profile full" in record["full_command"]
    for page in ["index.html", "layers/conv3/index.html", "layers/conv3/0000.html"]:
        assert "Preview:" in (tmp_path / page).read_text()


def test_shards_together_build_the_whole_atlas(tmp_path):
    one = tiny_settings(tmp_path / "single", layers=("conv1", "conv3"), batch_size=4)
    atlas.build(one)
    sharded = tiny_settings(tmp_path / "sharded", layers=("conv1", "conv3"), batch_size=4)
    first = atlas.build(sharded, shard=(0, 2))
    second = atlas.build(sharded, shard=(1, 2))
    assert first.num_built + second.num_built == 24 and first.num_built and second.num_built
    assert (tmp_path / "single/atlas.json").read_text() == (tmp_path / "sharded/atlas.json").read_text()


def test_the_full_run_estimate_scales_work_and_counts_compilation_once(tmp_path):
    settings = tiny_settings(tmp_path / "site", method="fourier", steps=8, size=16, profile="preview")
    report = atlas.BuildReport(out=tmp_path, layers=[atlas.LayerReport("conv3", 16, num_built=4, seconds=10.0,
                                                                       compile_seconds=6.0)])
    run = {"layers": [{"num_filters": 16, "receptive_field": 10, "image_size": 16}]}
    full = METHODS["fourier"].profiles["full"]
    full_size = auto_size(10, full.max_auto_size)
    scale = (full.settings.steps / 8) * (full_size / 16) ** 2
    expected = 6.0 + (10.0 - 6.0) / 4 * 16 * scale * (1 + FACETS_IN_FULL / 2)  # two images per filter, and facets
    assert atlas.estimate_full_seconds(report, settings, run) == pytest.approx(expected)
