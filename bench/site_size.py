"""How big a built atlas is on disk, by kind of file, and how big it would be with every filter of its layers.

    python bench/site_size.py SITE                 # a built site (e.g. a sample of the full profile)
    python bench/site_size.py SITE --json out.json

The projection scales what grows with the number of filters (tiles, thumbnails, pages, unit manifests,
atlas.json) by each layer's filters built vs all its filters, contact sheets by their area, and keeps the rest
(index, assets, dataset-example images) as it is. Built from a sample of real tiles, it is an estimate; built
from every filter, it is the measurement. It also prints the space the site's files take on this filesystem
(whole blocks each) and the size of the site as one tar archive, the form GitHub Pages' upload action sends.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tarfile
import time
from pathlib import Path

from PIL import Image

KINDS = ("tiles (PNG)", "thumbnails (WebP)", "filter pages", "galleries", "contact sheets", "unit manifests",
         "atlas.json", "dataset examples", "other")


def kind_of(relative: Path) -> str:
    parts = relative.parts
    if parts[0] == "tiles":
        return "tiles (PNG)" if relative.suffix == ".png" else "thumbnails (WebP)"
    if parts[0] == "layers":
        if relative.name == "index.html":
            return "galleries"
        return "contact sheets" if relative.suffix == ".png" else "filter pages"
    if parts[0] == "units":
        return "unit manifests"
    if parts[0] == "examples":
        return "dataset examples"
    return "atlas.json" if relative.name == "atlas.json" else "other"


def measure(site: Path) -> dict:
    sizes = dict.fromkeys(KINDS, 0)
    per_layer: dict[str, dict[str, int]] = {}
    num_files = allocated = 0
    for path in site.rglob("*"):
        if not path.is_file():
            continue
        relative, status = path.relative_to(site), path.stat()
        kind = kind_of(relative)
        sizes[kind] += status.st_size
        num_files, allocated = num_files + 1, allocated + status.st_blocks * 512
        if relative.parts[0] in ("tiles", "layers", "units") and len(relative.parts) > 2:
            layer = per_layer.setdefault(relative.parts[1], dict.fromkeys(KINDS, 0))
            layer[kind] += status.st_size
    return {"total": sum(sizes.values()), "by_kind": sizes, "per_layer": per_layer, "num_files": num_files,
            "allocated": allocated, "tar": tar_size(site)}


class _CountingSink:
    """A write-only file that keeps only the number of bytes written to it."""

    def __init__(self):
        self.size = 0

    def write(self, data: bytes) -> int:
        self.size += len(data)
        return len(data)


def tar_size(site: Path) -> int:
    """The site's size as an uncompressed tar archive (what upload-pages-artifact packs), written nowhere."""
    sink = _CountingSink()
    with tarfile.open(fileobj=sink, mode="w|", format=tarfile.GNU_FORMAT) as archive:  # as GNU tar writes it
        archive.add(site, arcname=".")
    return sink.size


def project(site: Path, measured: dict) -> dict:
    record = json.loads((site / "atlas.json").read_text())
    sizes = dict(measured["by_kind"])
    num_built = sum(len(layer["filters"]) for layer in record["layers"])
    num_all = sum(layer["num_filters"] for layer in record["layers"])
    for layer in record["layers"]:
        built = len(layer["filters"])
        if not built:
            continue
        scale = layer["num_filters"] / built
        measured_layer = measured["per_layer"].get(layer["slug"], {})
        for kind in ("tiles (PNG)", "thumbnails (WebP)", "filter pages", "galleries", "unit manifests"):
            sizes[kind] += measured_layer.get(kind, 0) * (scale - 1)
        sheet = site / layer["contact_sheet"] if layer["contact_sheet"] else None
        if sheet is not None and sheet.is_file():
            width, height = Image.open(sheet).size
            columns = math.ceil(math.sqrt(layer["num_filters"]))
            rows = math.ceil(layer["num_filters"] / columns)
            cell = 66  # tiles.contact_sheet: 64 px tiles, 2 px gaps
            area = (columns * cell - 2) * (rows * cell - 2)
            sizes["contact sheets"] += sheet.stat().st_size * (area / (width * height) - 1)
    sizes["atlas.json"] *= num_all / max(num_built, 1)
    return {"num_filters": num_all, "total": sum(sizes.values()), "by_kind": sizes}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("site", type=Path)
    parser.add_argument("--json", type=Path, default=None)
    options = parser.parse_args()
    if not (options.site / "atlas.json").is_file():
        sys.exit(f"error: '{options.site}' is not a built atlas (no atlas.json)")
    measured = measure(options.site)
    projected = project(options.site, measured)
    record = json.loads((options.site / "atlas.json").read_text())
    num_built = sum(len(layer["filters"]) for layer in record["layers"])
    built, every = f"built: {num_built} filters", f"all {projected['num_filters']} filters"
    print(f"{'':<20} {built:>22} {every:>18}")
    for kind in KINDS:
        print(f"{kind:<20} {measured['by_kind'][kind] / 1e6:>19.2f} MB {projected['by_kind'][kind] / 1e6:>15.1f} MB")
    print(f"{'total':<20} {measured['total'] / 1e6:>19.2f} MB {projected['total'] / 1e6:>15.1f} MB")
    print(f"{measured['num_files']} files; on this filesystem they take {measured['allocated'] / 1e6:.2f} MB "
          f"({measured['allocated'] / 2**20:.1f} MiB) in whole blocks; as one tar archive "
          f"{measured['tar'] / 1e6:.2f} MB")
    sizes = ", ".join(f"{layer['name']} {layer['image_size']} px" for layer in record["layers"])
    print(f"(image sizes: {sizes})")
    if options.json:
        options.json.write_text(json.dumps({"site": str(options.site), "measured": measured, "projected": projected,
                                            "date": time.strftime("%Y-%m-%d %H:%M")}, indent=1))


if __name__ == "__main__":
    main()
