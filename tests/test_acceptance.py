"""The foundation issue's check on the real embedded model (slow: VGG16-HED)."""

import json

import pytest
from sitecheck import broken_links

from generator.build import pipeline
from generator.config import AtlasConfig, resolve


@pytest.mark.slow
@pytest.mark.parametrize("method", ["classic", None], ids=["classic", "default"])
def test_block1_conv1_every_filter_moves_the_right_way(tmp_path, method):
    config = AtlasConfig(model="vgg16-hed", method=method, layers=("block1_conv1",), filters="all", steps=10,
                         size=64, out=str(tmp_path))
    pipeline.build(resolve(config, has_gpu=False))
    record = json.loads((tmp_path / "atlas.json").read_text())
    filters = record["layers"][0]["filters"]
    assert len(filters) == 64
    assert len(list((tmp_path / "tiles/block1_conv1").glob("*-positive.png"))) == 64
    assert len(list((tmp_path / "tiles/block1_conv1").glob("*-negative.png"))) == 64
    assert len(list((tmp_path / "layers/block1_conv1").glob("0*.html"))) == 64
    rose = sum(e["positive"]["activation_after"] > e["positive"]["activation_before"] for e in filters)
    fell = sum(e["negative"]["activation_after"] < e["negative"]["activation_before"] for e in filters)
    assert rose >= 0.9 * 64 and fell >= 0.9 * 64, (rose, fell)
    assert broken_links(tmp_path) == []


@pytest.mark.slow
def test_fourier_preview_of_a_real_layer(tmp_path):
    config = AtlasConfig(model="vgg16-hed", layers=("block3_conv3",), filters="0:4", steps=16, out=str(tmp_path))
    settings = resolve(config, has_gpu=False)
    assert settings.method.name == "fourier" and settings.method.target == "leaky"
    pipeline.build(settings)
    filters = json.loads((tmp_path / "atlas.json").read_text())["layers"][0]["filters"]
    assert all(e["positive"]["activation_after"] > e["positive"]["activation_before"] for e in filters)
    assert all(e["negative"]["activation_after"] < e["negative"]["activation_before"] for e in filters)
    assert all(e["positive"]["status"] == "ok" for e in filters)
