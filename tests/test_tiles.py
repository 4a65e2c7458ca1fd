import numpy as np
import pytest
from PIL import Image

from generator.errors import AtlasError
from generator.store.tiles import (
    STRIP_GAP,
    channel_strip,
    contact_sheet,
    crop_for,
    deprocess_standardised,
    displayed,
    split_strip,
    status_of,
    write_tile,
)


def test_deprocess_is_the_tutorials():
    image = np.random.default_rng(1).normal(5, 3, (200, 200, 3)).astype(np.float32)
    tile = deprocess_standardised(image, crop_for(200))
    assert tile.dtype == np.uint8 and tile.shape == (150, 150, 3)  # 25 pixels cropped a side, as the tutorial does
    assert abs(float(tile.mean()) - 128) < 2 and abs(float(tile.std()) - 64) < 3


def test_status():
    flat = np.full((8, 8, 3), 120, np.uint8)
    noisy = np.random.default_rng(0).integers(0, 255, (8, 8, 3)).astype(np.uint8)
    curve = np.array([0.0, 1.0])
    assert status_of(np.zeros((8, 8, 3)), flat, curve) == "flat"
    assert status_of(np.zeros((8, 8, 3)), noisy, curve) == "ok"
    assert status_of(np.full((8, 8, 3), np.nan), noisy, curve) == "non-finite"
    assert status_of(np.zeros((8, 8, 3)), noisy, np.array([0.0, np.inf])) == "non-finite"


def test_png_is_written_atomically(tmp_path):
    tile = np.random.default_rng(0).integers(0, 255, (12, 12, 3)).astype(np.uint8)
    path = tmp_path / "deep" / "tile.png"
    write_tile(path, tile)
    np.testing.assert_array_equal(np.asarray(Image.open(path)), tile)
    thumbnail = Image.open(path.with_suffix(".webp"))
    assert thumbnail.format == "WEBP" and thumbnail.size == (96, 96)
    assert sorted(p.name for p in path.parent.iterdir()) == ["tile.png", "tile.webp"]  # no temporary file left


def test_unwritable_tile_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(AtlasError, match="Cannot write"):
        write_tile(blocker / "tile.png", np.zeros((4, 4, 3), np.uint8))


def test_contact_sheet_grid():
    tiles = [np.full((10, 10, 3), value, np.uint8) for value in range(5)]
    sheet = contact_sheet(tiles, tile_size=8, gap=2)
    assert sheet.shape == (2 * 10 - 2, 3 * 10 - 2, 3)  # 3 columns x 2 rows
    assert (sheet[0:8, 10:18] == 1).all() and (sheet[10:18, 10:18] == 4).all()


def test_tiles_show_one_channel_as_grayscale_three_as_rgb_and_others_as_the_chosen_bands():
    tile = np.arange(4 * 4 * 5, dtype=np.uint8).reshape(4, 4, 5)
    assert displayed(tile[..., :1]).shape == (4, 4)
    np.testing.assert_array_equal(displayed(tile[..., :3]), tile[..., :3])
    np.testing.assert_array_equal(displayed(tile, (4, 2, 0)), tile[..., [4, 2, 0]])


def test_channel_strip_holds_every_channel_losslessly():
    tile = np.random.default_rng(0).integers(0, 256, (6, 5, 4), dtype=np.uint8)
    strip = channel_strip(tile)
    assert strip.shape == (6, 4 * 5 + 3 * STRIP_GAP) and (strip[:, 5:5 + STRIP_GAP] == 255).all()
    np.testing.assert_array_equal(split_strip(strip, 4), tile)


def test_tiles_are_read_back_with_the_models_channels(tmp_path):
    from generator.store.tiles import channel_strip, encode_png, load_tile

    bands = np.random.default_rng(5).integers(0, 256, (8, 8, 4), dtype=np.uint8)
    (tmp_path / "strip.png").write_bytes(encode_png(channel_strip(bands)))
    np.testing.assert_array_equal(load_tile(tmp_path / "strip.png", 4), bands)
    (tmp_path / "gray.png").write_bytes(encode_png(bands[..., 0]))
    assert load_tile(tmp_path / "gray.png", 1).shape == (8, 8, 1)
