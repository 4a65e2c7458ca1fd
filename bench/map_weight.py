"""The heaviest map view of the full atlas, projected from a built sample (the way docs/site.md projects sizes):
per layer, the sprite's bytes per filter and the page's bytes per point, times the layer's filters, plus the
page's fixed part and the assets it loads.

    python bench/map_weight.py SITE        # a site built with --filters 0:N (e.g. build/full8)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import machine  # noqa: E402

ASSETS = ("assets/atlas.css", "assets/atlas.js", "assets/favicon.svg")


def projected(site: Path) -> list[dict]:
    record = json.loads((site / "atlas.json").read_text())
    assets = sum((site / path).stat().st_size for path in ASSETS)
    rows = []
    for layer in record["layers"]:
        if not layer.get("map"):
            continue
        built = len(layer["filters"])
        page = (site / layer["map"]["page"]).read_text(encoding="utf-8")
        points = [line for line in page.splitlines() if line.strip().startswith("<a href=") and "data-id=" in line]
        point_bytes = sum(len(line.encode()) + 1 for line in points)
        fixed = len(page.encode()) - point_bytes
        sprite = (site / layer["map"]["sprite"]).stat().st_size
        total = layer["num_filters"]
        rows.append({"layer": layer["name"], "built": built, "filters": total, "sprite_bytes": sprite,
                     "point_bytes": point_bytes / len(points), "page_fixed_bytes": fixed, "assets_bytes": assets,
                     "projected_bytes": sprite / built * total + point_bytes / len(points) * total + fixed + assets})
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("site", type=Path)
    parser.add_argument("--json", type=Path, default=None)
    options = parser.parse_args()
    rows = projected(options.site)
    info = machine()
    print(f"# map views of every filter, projected from {options.site} ({info['cpu']})")
    print(f"{'layer':<16} {'built':>6} {'filters':>8} {'sprite/filter':>14} {'html/point':>11} {'projected':>10}")
    for row in rows:
        print(f"{row['layer']:<16} {row['built']:>6} {row['filters']:>8} {row['sprite_bytes'] / row['built']:>12.0f} B "
              f"{row['point_bytes']:>9.0f} B {row['projected_bytes'] / 1024:>7.0f} KB")
    heaviest = max(rows, key=lambda row: row["projected_bytes"])
    print(f"heaviest map view: {heaviest['layer']}, {heaviest['projected_bytes'] / 2**20:.2f} MB")
    if options.json:
        options.json.write_text(json.dumps({"machine": info, "site": str(options.site), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
