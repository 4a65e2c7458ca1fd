"""Helpers the tests share: quick settings for the tiny CNN, and images with planted patterns."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import generator  # noqa: F401  (sets the backend and quiets TensorFlow before keras is imported)
from generator.config import AtlasConfig, resolve


def tiny_settings(out: Path, **given):
    """Settings of a small full run of tiny-cnn at 16x16 (the classic method and no dataset examples unless
    ``method`` and ``examples`` are given)."""
    config = AtlasConfig(model="tiny-cnn", method="classic", size=16, profile="full", out=str(out), examples="none",
                         facets=0)
    return resolve(dataclasses.replace(config, **given), has_gpu=False)


# --- dataset examples: a folder whose images plant known patterns at known places ----------------------------

PLANTED_SIZE = 64
RED_SQUARE = (40, 12, 8)  # x, y, side: a pure red square on grey
CYAN_SQUARE = (10, 40, 8)  # the opposite colour: what a red detector likes least
VERTICAL_STRIPES = (8, 28, 16)  # black and white stripes, 2 pixels wide


def write_planted_images(folder: Path) -> Path:
    """grey, red square, cyan square (JPEG), vertical and horizontal stripes, a blue square in a subfolder, one
    broken file and one text file; PLANTED_SIZE pixels square."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    grey = np.full((PLANTED_SIZE, PLANTED_SIZE, 3), 128, np.uint8)

    def with_square(colour, box):
        image = grey.copy()
        x, y, side = box
        image[y:y + side, x:x + side] = colour
        return image

    stripes = grey.copy()
    x, y, side = VERTICAL_STRIPES
    columns = np.arange(x, x + side)
    stripes[y:y + side, x:x + side] = np.where((columns // 2) % 2 == 0, 255, 0)[None, :, None]
    horizontal = grey.copy()
    horizontal[y:y + side, x:x + side] = np.where((columns // 2) % 2 == 0, 255, 0)[:, None, None]
    Image.fromarray(grey).save(folder / "grey.png")
    Image.fromarray(with_square((255, 0, 0), RED_SQUARE)).save(folder / "red.png")
    Image.fromarray(with_square((0, 255, 255), CYAN_SQUARE)).save(folder / "cyan.jpg", quality=95)
    Image.fromarray(stripes).save(folder / "stripes.png")
    Image.fromarray(horizontal).save(folder / "horizontal.png")
    (folder / "more").mkdir(exist_ok=True)
    Image.fromarray(with_square((0, 0, 255), (24, 24, 8))).save(folder / "more" / "blue.webp")
    (folder / "broken.png").write_bytes(b"not an image at all")
    (folder / "notes.txt").write_text("not an image, not counted")
    return folder
