"""The images that dataset examples come from: found (a folder, recursively, or the photographs scikit-image
ships), decoded, resized and centre-cropped to squares, and handed out in batches decoded in background threads.
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
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
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

    def name_of(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()


def image_set(source: str) -> ImageSet:
    if source == SHIPPED_EXAMPLES:
        return shipped_photos()
    folder = Path(source)
    paths = find_images(folder)
    if not paths:
        raise AtlasError(f"No images in '{folder}': --examples needs a folder with .jpg, .jpeg, .png or .webp "
                         f"files (searched recursively).")
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
                    folder, paths)


def load_square(path: Path, size: int) -> np.ndarray | None:
    """The image as RGB uint8, its short side resized to ``size`` and centre-cropped to a square; None if it
    cannot be read."""
    try:
        with Image.open(path) as image:
            image.draft("RGB", (size, size))  # JPEGs decode at a reduced scale when they are much larger
            image = ImageOps.exif_transpose(image).convert("RGB")  # upright, as a camera's viewer shows it
            scale = size / min(image.size)
            width, height = max(size, round(image.width * scale)), max(size, round(image.height * scale))
            image = image.resize((width, height), Image.Resampling.BILINEAR, reducing_gap=3.0)
            left, top = (width - size) // 2, (height - size) // 2
            return np.asarray(image.crop((left, top, left + size, top + size)))
    except Exception:  # noqa: BLE001  (any unreadable file is skipped and counted, never fatal)
        return None


def batches(paths: tuple[Path, ...], start: int, size: int, batch_size: int
            ) -> Iterator[tuple[np.ndarray, np.ndarray, int]]:
    """(image indices, pixels, number skipped) per batch, from ``start`` on; the next batch decodes in threads
    while this one is used. Batches are padded to ``batch_size`` with index -1 (one compiled shape)."""
    starts = range(start, len(paths), batch_size)

    def decode(first: int):
        indices = list(range(first, min(first + batch_size, len(paths))))
        return indices, [load_square(paths[index], size) for index in indices]

    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="decode") as pool:
        pending = [pool.submit(decode, first) for first in starts[:2]]
        for position in range(len(starts)):
            indices, images = pending.pop(0).result()
            if position + 2 < len(starts):
                pending.append(pool.submit(decode, starts[position + 2]))
            kept = [(index, image) for index, image in zip(indices, images) if image is not None]
            ids = np.full(batch_size, -1, np.int64)
            pixels = np.zeros((batch_size, size, size, 3), np.uint8)
            for slot, (index, image) in enumerate(kept):
                ids[slot], pixels[slot] = index, image
            yield ids, pixels, len(indices) - len(kept)
