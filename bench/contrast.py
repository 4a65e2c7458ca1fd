"""Contrast: do a preview's tiles look like the full atlas's? For two sites built from the same model (a preview
and a full build, or any two), per layer over the filters both have: the mean of each positive tile's pixel
standard deviation (uint8 units, over all pixels and channels) and of its colour spread (per pixel, the largest
channel minus the smallest, averaged over the tile), and the first site's as a share of the second's.

    python bench/contrast.py site/ build/full/ --json docs/measurements/contrast-cpu.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import machine

from generator.site.pages import collect


def tile_contrast(path: Path) -> tuple[float, float]:
    """(pixel standard deviation, mean colour spread) of one tile, in uint8 units."""
    with Image.open(path) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.float64)
    return float(pixels.std()), float((pixels.max(axis=2) - pixels.min(axis=2)).mean())


def site_contrast(site: Path) -> dict[str, dict[int, tuple[float, float]]]:
    """layer -> filter id -> (standard deviation, colour spread) of its positive tile."""
    record = collect(site)
    return {layer["name"]: {entry["id"]: tile_contrast(site / entry["positive"]["image"])
                            for entry in layer["filters"]} for layer in record["layers"]}


def compare(first: Path, second: Path) -> list[dict]:
    """One row per layer the two sites share, over the filters both built."""
    ours, theirs = site_contrast(first), site_contrast(second)
    rows = []
    for layer in (name for name in ours if name in theirs):
        shared = sorted(set(ours[layer]) & set(theirs[layer]))
        if not shared:
            continue
        mine = np.array([ours[layer][filter_id] for filter_id in shared])
        other = np.array([theirs[layer][filter_id] for filter_id in shared])
        rows.append({"layer": layer, "filters": len(shared),
                     "deviation": float(mine[:, 0].mean()), "deviation_reference": float(other[:, 0].mean()),
                     "colour_spread": float(mine[:, 1].mean()), "colour_spread_reference": float(other[:, 1].mean())})
    for row in rows:
        row["deviation_share"] = row["deviation"] / max(row["deviation_reference"], 1e-9)
        row["colour_spread_share"] = row["colour_spread"] / max(row["colour_spread_reference"], 1e-9)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("site", type=Path, help="the site measured (e.g. the preview)")
    parser.add_argument("reference", type=Path, help="the site it is compared with (e.g. the full build)")
    parser.add_argument("--json", type=Path, default=None)
    options = parser.parse_args()
    rows = compare(options.site, options.reference)
    print(f"{'layer':<16} {'filters':>7} {'deviation':>10} {'reference':>10} {'share':>6} "
          f"{'colour spread':>14} {'reference':>10} {'share':>6}")
    for row in rows:
        print(f"{row['layer']:<16} {row['filters']:>7} {row['deviation']:>10.1f} {row['deviation_reference']:>10.1f} "
              f"{row['deviation_share']:>6.0%} {row['colour_spread']:>14.1f} {row['colour_spread_reference']:>10.1f} "
              f"{row['colour_spread_share']:>6.0%}")
    if options.json:
        options.json.parent.mkdir(parents=True, exist_ok=True)
        options.json.write_text(json.dumps({"machine": machine(), "site": str(options.site),
                                            "reference": str(options.reference), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
