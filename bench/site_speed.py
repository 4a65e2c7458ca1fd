"""How fast a big layer's gallery opens, and how much a page loads before the user scrolls.

Builds (or reuses) an atlas of a 1,536-filter layer (a one-layer model at 32 px, 1 step: the images do not matter
here, their number does), serves it from a local web server under a sub-path, opens pages in headless Chromium
and prints the load times and the bytes each page fetched before any scrolling.

    python bench/site_speed.py                       # the synthetic 1,536-filter layer
    python bench/site_speed.py --site site           # an existing atlas (e.g. the default one)
    python bench/site_speed.py --site site --every-filter-page
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import machine  # noqa: E402

import generator  # noqa: E402,F401

MEASURE = """
const navigation = performance.getEntriesByType('navigation')[0];
const resources = performance.getEntriesByType('resource');
const bytes = resources.reduce((sum, r) => sum + (r.encodedBodySize || 0), navigation.encodedBodySize || 0);
return {dom_content_loaded_ms: navigation.domContentLoadedEventEnd, load_ms: navigation.loadEventEnd,
        bytes_before_scroll: bytes, requests: resources.length + 1, images: document.images.length};
"""


def synthetic_site(out: Path, num_filters: int) -> Path:
    from generator.build import pipeline
    from generator.config import AtlasConfig, resolve
    from generator.model.quiet_keras import keras

    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(num_filters, 3, padding="same", name="wide")(inputs))
    path = out.parent / "wide.keras"
    model.save(path)
    config = AtlasConfig(model=str(path), method="classic", size=32, steps=1, profile="full", out=str(out),
                         batch_size=256)
    pipeline.build(resolve(config, has_gpu=False))
    return out


def _measure_once(driver, url: str) -> dict:
    """One cold load (the browser cache is off): load times, and what was fetched before any scrolling."""
    driver.get("about:blank")
    driver.get(url)
    figures = driver.execute_script(MEASURE)
    for _ in range(50):  # the navigation entry's loadEventEnd is 0 until the load event has ended
        if figures["load_ms"] > 0:
            break
        time.sleep(0.1)
        figures = driver.execute_script(MEASURE)
    settled, last = 0, -1  # lazy images in view load after the load event: wait until nothing new comes
    while settled < 5:
        time.sleep(0.1)
        figures = {**figures, **{key: value for key, value in driver.execute_script(MEASURE).items()
                                 if key in ("bytes_before_scroll", "requests")}}
        settled = settled + 1 if figures["requests"] == last else 0
        last = figures["requests"]
    return figures


def measure(site: Path, pages: list[str]) -> list[dict]:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *arguments):
            pass

    with tempfile.TemporaryDirectory() as root:
        (Path(root) / "atlas-demo").symlink_to(site.resolve())
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=root))
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{httpd.server_address[1]}/atlas-demo/"
        options = Options()
        options.binary_location = shutil.which("chromium") or shutil.which("google-chrome")
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1366,768",
                     "--disable-background-networking", "--disable-component-update", "--no-first-run"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})  # every page as a first visit
        rows = []
        try:
            for page in pages:
                driver.get(base + page)  # once to warm the server's file cache, then measured three times
                runs = sorted((_measure_once(driver, base + page) for _ in range(3)), key=lambda row: row["load_ms"])
                rows.append({"page": page, **runs[1], "load_ms_all": [row["load_ms"] for row in runs]})
        finally:
            driver.quit()
            httpd.shutdown()
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--site", type=Path, default=None)
    parser.add_argument("--filters", type=int, default=1536)
    parser.add_argument("--json", type=Path, default=Path("bench/results/site-speed.json"))
    parser.add_argument("--every-filter-page", action="store_true", help="every filter page, not one per layer")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        site = options.site or synthetic_site(Path(work) / "site", options.filters)
        record = json.loads((site / "atlas.json").read_text())
        built = [layer for layer in record["layers"] if layer["filters"]]
        pages = ["index.html"] + [page for layer in built  # every gallery, one filter page and map of each layer
                                  for page in (layer["page"], layer["filters"][0]["page"],
                                               *([layer["map"]["page"]] if layer.get("map") else []))]
        if options.every_filter_page:
            pages += [entry["page"] for layer in built for entry in layer["filters"][1:]]
        rows = measure(site, pages)
        size = sum(path.stat().st_size for path in site.rglob("*") if path.is_file())
    info = machine()
    print(f"# {info['cpu']} ({info['cpu_cores']} cores), headless Chromium; site {size / 2**20:.1f} MiB on disk")
    print("median of three cold loads each")
    print(f"{'page':<36} {'DOMContentLoaded':>17} {'load':>8} {'bytes before scroll':>20} {'requests':>9}")
    for row in rows:
        print(f"{row['page']:<36} {row['dom_content_loaded_ms']:>14.0f} ms {row['load_ms']:>5.0f} ms "
              f"{row['bytes_before_scroll'] / 1024:>17.0f} KB {row['requests']:>9}")
    heaviest = max(rows, key=lambda row: row["bytes_before_scroll"])
    print(f"heaviest before scrolling: {heaviest['page']}, {heaviest['bytes_before_scroll'] / 1024:.0f} KB")
    options.json.parent.mkdir(parents=True, exist_ok=True)
    options.json.write_text(json.dumps({"machine": info, "site_bytes": size, "pages": rows}, indent=1))


if __name__ == "__main__":
    main()
