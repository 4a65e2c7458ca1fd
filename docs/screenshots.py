"""Screenshots of a built site for the README, taken by headless Chromium.

    python docs/screenshots.py site        # docs/gallery.png, filter-page.png, index.png, and where the atlas has
                                           # them gallery-examples.png, filter-circuits.png and map.png
    python docs/screenshots.py SITE --gallery-only NAME.png   # one layer's gallery of another atlas
    python docs/screenshots.py SITE --network-map-only        # filter-circuits.png and map.png only
    python docs/screenshots.py COMPARISON --compare-only compare.png   # the most changed filter's page of the most
                                                               # changed layer of a comparison (atlas compare)
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service


def main(site: Path, out: Path = Path(__file__).resolve().parent, gallery_only: str | None = None,
         network_map_only: bool = False, compare_only: str | None = None) -> None:
    if compare_only:
        compare_shot(site, out / compare_only)
        return
    record = json.loads((site / "atlas.json").read_text())
    built = [layer for layer in record["layers"] if layer["filters"]]
    layer = built[len(built) // 2]  # a middle layer: textures and parts
    entry = layer["filters"][min(3, len(layer["filters"]) - 1)]
    pages = ((layer["page"], "gallery.png", 860), (entry["page"], "filter-page.png", 1240),
             ("index.html", "index.png", 860))
    if gallery_only:
        pages = ((layer["page"], gallery_only, 700),)
    if network_map_only:
        pages = ()
    options = Options()
    options.binary_location = shutil.which("chromium") or shutil.which("google-chrome")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1280,860",
                 "--disable-background-networking", "--disable-component-update", "--no-first-run"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    try:
        for page, name, height in pages:
            driver.set_window_size(1280, height)
            driver.get((site.resolve() / page).as_uri())
            driver.execute_script("document.querySelectorAll('img').forEach(function (i) { i.loading = 'eager'; });")
            time.sleep(1.0)
            driver.save_screenshot(str(out / name))
            print(f"{out / name}: {page}")
        if record.get("examples") and not gallery_only and not network_map_only:  # the gallery's dataset-example view
            driver.set_window_size(1280, 860)
            driver.get((site.resolve() / layer["page"]).as_uri())
            driver.find_element("tag name", "body").send_keys("e")
            driver.execute_script("document.querySelectorAll('img').forEach(function (i) { i.loading = 'eager'; });")
            time.sleep(1.0)
            driver.save_screenshot(str(out / "gallery-examples.png"))
            print(f"{out / 'gallery-examples.png'}: {layer['page']} (dataset examples)")
        if not gallery_only:
            network_map_shots(driver, site, out, built, layer)
    finally:
        driver.quit()


def browser(height: int = 860):
    options = Options()
    options.binary_location = shutil.which("chromium") or shutil.which("google-chrome")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", f"--window-size=1280,{height}",
                 "--disable-background-networking", "--disable-component-update", "--no-first-run"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)


def compare_shot(comparison: Path, path: Path) -> None:
    """A comparison's page of the most changed filter of its most changed layer."""
    record = json.loads((comparison / "compare.json").read_text())
    layer = max(record["layers"], key=lambda layer: layer["change"] or 0.0)
    page = layer["filters"][0]["page"]
    driver = browser(1000)
    try:
        driver.get((comparison.resolve() / page).as_uri())
        driver.execute_script("document.querySelectorAll('img').forEach(function (i) { i.loading = 'eager'; });")
        time.sleep(1.0)
        driver.save_screenshot(str(path))
        print(f"{path}: {page}")
    finally:
        driver.quit()


def network_map_shots(driver, site: Path, out: Path, built: list[dict], layer: dict) -> None:
    """A filter page scrolled to its circuit panel (a filter of a later layer: it has filters that feed it) and
    the middle layer's map view, where the atlas has them."""
    fed = [entry for later in built[1:] for entry in later["filters"] if entry.get("circuit")]
    if fed:
        entry = fed[min(3, len(fed) - 1)]
        driver.set_window_size(1280, 900)
        driver.get((site.resolve() / entry["page"]).as_uri())
        driver.execute_script("document.querySelectorAll('img').forEach(function (i) { i.loading = 'eager'; });"
                              "document.getElementById('circuits').scrollIntoView();")
        time.sleep(1.5)  # the panel's thumbnails load once in view (atlas.js)
        driver.save_screenshot(str(out / "filter-circuits.png"))
        print(f"{out / 'filter-circuits.png'}: {entry['page']} (circuits)")
    if layer.get("map"):
        driver.set_window_size(1280, 900)
        driver.get((site.resolve() / layer["map"]["page"]).as_uri())
        time.sleep(1.0)
        driver.save_screenshot(str(out / "map.png"))
        print(f"{out / 'map.png'}: {layer['map']['page']} (map)")


if __name__ == "__main__":
    arguments = sys.argv[1:]
    only = arguments[arguments.index("--gallery-only") + 1] if "--gallery-only" in arguments else None
    compared = arguments[arguments.index("--compare-only") + 1] if "--compare-only" in arguments else None
    main(Path(arguments[0] if arguments else "site"), gallery_only=only,
         network_map_only="--network-map-only" in arguments, compare_only=compared)
