"""Float images -> uint8 tiles -> PNG files, written atomically; contact sheets of a whole layer."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from einops import rearrange
from PIL import Image

from generator.store.files import write_atomically, writing

FLAT_STD = 2.0  # a tile whose uint8 pixels vary less than this is "flat"


def crop_for(size: int) -> int:
    """The tutorial crops 25 pixels of a 200-pixel image (12.5% a side); the same share at any size."""
    return int(round(size * 25 / 200))


def deprocess_standardised(image: np.ndarray, crop: int) -> np.ndarray:
    """The tutorial's deprocess_image: standardise to mean 128 and std 64, clip to uint8, crop the border."""
    image = image.astype(np.float64)
    image = image - image.mean()
    image = image / max(float(image.std()), 1e-12)
    image = np.clip(image * 64 + 128, 0, 255).astype(np.uint8)
    return image[crop:image.shape[0] - crop, crop:image.shape[1] - crop, :] if crop else image


def deprocess_unit(image: np.ndarray, crop: int = 0) -> np.ndarray:
    """Images already in [0, 1] (the Fourier method's sigmoid output) to uint8."""
    image = np.clip(np.nan_to_num(image, nan=0.5) * 255 + 0.5, 0, 255).astype(np.uint8)
    return image[crop:image.shape[0] - crop, crop:image.shape[1] - crop, :] if crop else image


def displayed(tile: np.ndarray, display_channels: tuple[int, ...] = (0, 1, 2)) -> np.ndarray:
    """What a tile shows of a (H, W, C) image: one channel as grayscale (H, W), three as RGB, any other count as
    the three ``display_channels`` (0-based) taken as red, green and blue."""
    channels = tile.shape[-1]
    if channels == 1:
        return tile[..., 0]
    if channels == 3:
        return tile
    return np.ascontiguousarray(tile[..., list(display_channels)])


STRIP_GAP = 2


def channel_strip(tile: np.ndarray, gap: int = STRIP_GAP) -> np.ndarray:
    """Every channel of a (H, W, C) tile as its own grayscale image at the tile's size, side by side with white
    gaps: lossless, so the evaluation reads every channel back (``split_strip``)."""
    cells = [np.pad(tile[..., channel], ((0, 0), (0, gap)), constant_values=255) for channel in range(tile.shape[-1])]
    return np.concatenate(cells, axis=1)[:, :-gap] if gap else np.concatenate(cells, axis=1)


def split_strip(strip: np.ndarray, num_channels: int, gap: int = STRIP_GAP) -> np.ndarray:
    """The (H, W, C) tile back from its ``channel_strip``."""
    width = (strip.shape[1] - gap * (num_channels - 1)) // num_channels
    return np.stack([strip[:, index * (width + gap):index * (width + gap) + width] for index in range(num_channels)],
                    axis=-1)


def status_of(raw: np.ndarray, tile: np.ndarray, activations: np.ndarray) -> str:
    """ok, flat (no visible pattern) or non-finite (the optimisation diverged)."""
    if not (np.isfinite(raw).all() and np.isfinite(activations).all()):
        return "non-finite"
    return "flat" if float(tile.std()) < FLAT_STD else "ok"


def encode_png(tile: np.ndarray, palette: bool = False) -> bytes:
    """Lossless PNG (grayscale for (H, W), RGB for (H, W, 3)); or, with ``palette``, 256 colours: for overviews
    such as contact sheets, never for tiles (docs/quality.md#palette-tiles)."""
    import io

    image = Image.fromarray(tile)
    if palette:
        image = image.quantize(256, method=Image.Quantize.MEDIANCUT)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False, compress_level=6)
    return buffer.getvalue()


THUMBNAIL_SIZE = 96


def encode_webp(pixels: np.ndarray, quality: int = 85) -> bytes:
    """Lossy WebP of a uint8 image (RGB, or grayscale (H, W))."""
    import io

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="WEBP", quality=quality)
    return buffer.getvalue()


def encode_webp_thumbnail(tile: np.ndarray, size: int = THUMBNAIL_SIZE) -> bytes:
    """A small lossy WebP (quality 85) for galleries; filter pages show the full PNG."""
    return encode_webp(np.asarray(Image.fromarray(tile).resize((size, size), Image.Resampling.LANCZOS)))


def write_tile(path: Path, tile: np.ndarray) -> None:
    """The tile as PNG at ``path`` and its WebP thumbnail beside it (``.webp``)."""
    with writing(f"'{path}'"):
        write_atomically(path, encode_png(tile))
        write_atomically(path.with_suffix(".webp"), encode_webp_thumbnail(tile))


def sheet_columns(count: int) -> int:
    """Columns of the near-square grid that holds ``count`` tiles; tile ``i`` is at row ``i // columns``,
    column ``i % columns``."""
    return math.ceil(math.sqrt(count))


def contact_sheet(tiles: list[np.ndarray], tile_size: int = 64, gap: int = 2) -> np.ndarray:
    """All tiles of a layer in one near-square grid (like the tutorial's 4x5 figure, for every filter)."""
    if not tiles:
        raise ValueError("a contact sheet needs at least one tile")
    columns = sheet_columns(len(tiles))
    rows = math.ceil(len(tiles) / columns)
    cell = tile_size + gap
    resized = [np.asarray(Image.fromarray(tile).resize((tile_size, tile_size), Image.Resampling.LANCZOS))
               for tile in tiles]
    blank = np.full((tile_size, tile_size, 3), 255, np.uint8)
    resized += [blank] * (rows * columns - len(resized))
    padded = [np.pad(tile, ((0, gap), (0, gap), (0, 0)), constant_values=255) for tile in resized]
    grid = rearrange(np.stack(padded), "(rows columns) h w c -> (rows h) (columns w) c", rows=rows)
    return grid[:rows * cell - gap, :columns * cell - gap]


def load_tile(path: Path, num_channels: int = 3) -> np.ndarray:
    """A tile's uint8 pixels, (H, W, C): RGB, grayscale, or every band from the channel strip ``path`` names."""
    with Image.open(path) as image:
        if num_channels == 3:
            return np.asarray(image.convert("RGB"))
        if num_channels == 1:
            return np.asarray(image.convert("L"))[..., None]
        return split_strip(np.asarray(image.convert("L")), num_channels)


def read_tile(out: Path, relative: str, num_channels: int = 3) -> np.ndarray:
    """The tile (or channel strip) of ``out`` that a record names by its site-relative path (``load_tile``)."""
    return load_tile(out / relative, num_channels)
