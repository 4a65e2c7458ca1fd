"""The images that dataset examples come from: found (a folder, recursively, or the photographs scikit-image
ships), decoded, resized and centre-cropped to squares, and handed out in batches decoded in background threads.

Photographs serve models of one channel (as grayscale) or three (RGB). A model of any other number of channels
reads arrays: ``.npy`` files of one (H, W, C) array each, or ``.tif``/``.tiff`` files (read with tifffile). Arrays
of 8 bits are taken as they are, 16 bits divided by 257, floats as [0, 1]; an array of another channel count is
skipped as unreadable.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from generator.errors import AtlasError

SHIPPED_EXAMPLES = "shipped"  # the --examples value for scikit-image's sample photographs
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
ARRAY_SUFFIXES = (".npy", ".tif", ".tiff")
IMAGE_SUFFIXES = PHOTO_SUFFIXES + ARRAY_SUFFIXES
# The photographs among scikit-image's bundled sample data (skimage/data), not its synthetic test patterns.
SHIPPED_PHOTOS = ("astronaut.png", "brick.png", "camera.png", "cell.png", "chelsea.png", "clock_motion.png",
                  "coffee.png", "coins.png", "grass.png", "gravel.png", "hubble_deep_field.jpg", "ihc.png",
                  "moon.png", "motorcycle_left.png", "page.png", "retina.jpg", "rocket.jpg", "text.png")


@dataclass(frozen=True)
class ImageSet:
    """The images to scan, in a fixed order, and how to name them on the pages."""

    description: str
    root: Path
    paths: tuple[Path, ...]
    shipped: bool = False  # scikit-image's photographs, not a folder the user gave

    def name_of(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def for_channels(self, num_channels: int) -> ImageSet | None:
        """The files a model of ``num_channels`` input channels can read: photographs for 1 or 3 channels, arrays
        for any other count; None where there are none (an AtlasError for a folder that holds only the other
        kind: it was asked for)."""
        suffixes = PHOTO_SUFFIXES if num_channels in (1, 3) else ARRAY_SUFFIXES
        paths = tuple(path for path in self.paths if path.suffix.lower() in suffixes)
        if len(paths) == len(self.paths):
            return self
        if not paths:
            if self.shipped:
                return None
            wanted = "photographs (.jpg, .png, .webp)" if num_channels in (1, 3) else ".npy or .tif arrays"
            raise AtlasError(f"--examples '{self.root}' has no {wanted}, and the model reads {num_channels} "
                             f"channels: give a folder of {wanted}, or --examples none.")
        return ImageSet(f"{len(paths)} images from the folder {self.root.name or self.root}", self.root, paths)


def image_set(source: str) -> ImageSet:
    if source == SHIPPED_EXAMPLES:
        return shipped_photos()
    folder = Path(source)
    paths = find_images(folder)
    if not paths:
        raise AtlasError(f"No images in '{folder}': --examples needs a folder with .jpg, .jpeg, .png or .webp "
                         f"files, or .npy/.tif arrays for models of other than 1 or 3 channels (searched "
                         f"recursively).")
    return ImageSet(f"{len(paths)} images from the folder {folder.name or folder}", folder, tuple(paths))


def find_images(folder: Path) -> list[Path]:
    """Every image file under ``folder``, by suffix, in a stable (sorted) order."""
    if not folder.is_dir():
        raise AtlasError(f"--examples '{folder}' is not a folder.")
    return sorted(path for path in folder.rglob("*") if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file())


def shipped_photos() -> ImageSet:
    """scikit-image's sample photographs, read from the installed package's data folder (no download)."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or spec.origin is None:
        raise AtlasError("The default dataset examples are scikit-image's sample photos, but scikit-image is not "
                         "installed: run `make install`, or pass --examples DIR or --examples none.")
    folder = Path(spec.origin).parent / "data"
    paths = tuple(folder / name for name in SHIPPED_PHOTOS if (folder / name).is_file())
    if not paths:
        raise AtlasError(f"scikit-image's sample photos are missing from '{folder}': reinstall scikit-image, "
                         f"or pass --examples DIR or --examples none.")
    version = importlib.metadata.version("scikit-image")
    return ImageSet(f"{len(paths)} sample photographs shipped with scikit-image {version} (skimage.data)",
                    folder, paths, shipped=True)


def load_square(path: Path, size: int, num_channels: int = 3) -> np.ndarray | None:
    """The image as uint8 (H, W, 3) RGB, (H, W, 1) grayscale or (H, W, C) bands as ``num_channels`` asks, its
    short side resized to ``size`` and centre-cropped to a square; None if it cannot be read as that."""
    try:
        if path.suffix.lower() in ARRAY_SUFFIXES:
            array = _read_array(path)
            if array.ndim != 3 or array.shape[-1] != num_channels:
                return None
            return np.stack([_square(Image.fromarray(np.ascontiguousarray(array[..., channel])), size)
                             for channel in range(num_channels)], axis=-1)
        with Image.open(path) as image:
            mode = "L" if num_channels == 1 else "RGB"
            image.draft(mode, (size, size))  # JPEGs decode at a reduced scale when they are much larger
            image = ImageOps.exif_transpose(image).convert(mode)  # upright, as a camera's viewer shows it
            pixels = _square(image, size)
            return pixels[..., None] if num_channels == 1 else pixels
    except Exception:  # noqa: BLE001  (any unreadable file is skipped and counted, never fatal)
        return None


def _square(image: Image.Image, size: int) -> np.ndarray:
    scale = size / min(image.size)
    width, height = max(size, round(image.width * scale)), max(size, round(image.height * scale))
    image = image.resize((width, height), Image.Resampling.BILINEAR, reducing_gap=3.0)
    left, top = (width - size) // 2, (height - size) // 2
    return np.asarray(image.crop((left, top, left + size, top + size)))


def _read_array(path: Path) -> np.ndarray:
    """An .npy or .tif array as uint8 (H, W, C): 8 bits as they are, 16 bits / 257, floats as [0, 1]."""
    if path.suffix.lower() == ".npy":
        array = np.load(path, allow_pickle=False)
    else:
        import tifffile

        array = tifffile.imread(path)
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.uint16:
        return (array // 257).astype(np.uint8)
    return np.clip(np.nan_to_num(array.astype(np.float32)) * 255 + 0.5, 0, 255).astype(np.uint8)


def batches(paths: tuple[Path, ...], start: int, size: int, batch_size: int, num_channels: int = 3
            ) -> Iterator[tuple[np.ndarray, np.ndarray, int]]:
    """(image indices, pixels, number skipped) per batch, from ``start`` on; the next batch decodes in threads
    while this one is used. Batches are padded to ``batch_size`` with index -1 (one compiled shape)."""
    starts = range(start, len(paths), batch_size)

    def decode(first: int):
        indices = list(range(first, min(first + batch_size, len(paths))))
        return indices, [load_square(paths[index], size, num_channels) for index in indices]

    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="decode") as pool:
        pending = [pool.submit(decode, first) for first in starts[:2]]
        for position in range(len(starts)):
            indices, images = pending.pop(0).result()
            if position + 2 < len(starts):
                pending.append(pool.submit(decode, starts[position + 2]))
            kept = [(index, image) for index, image in zip(indices, images) if image is not None]
            ids = np.full(batch_size, -1, np.int64)
            pixels = np.zeros((batch_size, size, size, num_channels), np.uint8)
            for slot, (index, image) in enumerate(kept):
                ids[slot], pixels[slot] = index, image
            yield ids, pixels, len(indices) - len(kept)
