"""The site in a real browser (headless Chromium): from file:// and from a web server under a sub-path."""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import threading
import time
from pathlib import Path

import pytest
from helpers import tiny_settings, write_planted_images
from sitecheck import broken_links

from generator.build import pipeline

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
CHROMEDRIVER = shutil.which("chromedriver")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")

pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                reason="no Chromium/chromedriver found (apt-get install chromium chromium-driver)")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("served")
    out = root / "atlas-demo"
    photos = write_planted_images(tmp_path_factory.mktemp("photos"))
    pipeline.build(tiny_settings(out, layers=("conv1", "conv3"), batch_size=8, steps=4, examples=str(photos),
                              facets=2))
    return out


@pytest.fixture(scope="module")
def server(site):
    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *arguments):
            pass

    handler = functools.partial(QuietHandler, directory=str(site.parent))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/atlas-demo/"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--allow-file-access-from-files", "--window-size=1200,900"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


@pytest.fixture(params=["file", "http"])
def base(request, site, server) -> str:
    return site.as_uri() + "/" if request.param == "file" else server


def open_page(browser, url):
    browser.get_log("browser")  # drop earlier messages
    browser.get(url)
    return browser


def all_images_loaded(browser) -> list[str]:
    """Force lazy images to load (and deferred ones, by scrolling each into view), wait, and return the src of any
    image that did not."""
    browser.execute_script("document.querySelectorAll('img').forEach(function (i) { i.loading = 'eager'; });")
    for _ in range(20):  # each scroll reveals the deferred thumbnails near it (atlas.js)
        if not browser.execute_script("var i = document.querySelector('img[data-src]');"
                                      "if (i) { i.scrollIntoView(); } return i !== null;"):
            break
        time.sleep(0.1)
    deadline = time.time() + 10
    while time.time() < deadline:
        pending = browser.execute_script(
            "return Array.from(document.images).filter(function (i) { return !i.complete; }).length;")
        if pending == 0:
            break
        time.sleep(0.1)
    return browser.execute_script(
        "return Array.from(document.images).filter(function (i) { return !(i.naturalWidth > 0); })"
        ".map(function (i) { return i.src; });")


def background_images_failing(browser) -> list[str]:
    """Load every CSS background image the page's elements use; return the URL of any that does not load."""
    return browser.execute_async_script("""
        var done = arguments[arguments.length - 1];
        var urls = new Set();
        document.querySelectorAll('*').forEach(function (element) {
            var match = getComputedStyle(element).backgroundImage.match(/url\\("?([^")]+)"?\\)/);
            if (match) { urls.add(match[1]); }
        });
        if (urls.size === 0) { done(['no background image at all']); return; }
        Promise.all(Array.from(urls).map(function (url) {
            return new Promise(function (resolve) {
                var image = new Image();
                image.onload = function () { resolve(image.naturalWidth > 0 ? null : url); };
                image.onerror = function () { resolve(url); };
                image.src = url;
            });
        })).then(function (failed) { done(failed.filter(function (url) { return url; })); });
    """)


def console_errors(browser) -> list[str]:
    return [entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]


@pytest.mark.parametrize("page", ["index.html", "layers/conv3/index.html", "layers/conv3/0004.html"])
def test_every_image_loads_without_console_errors(browser, base, page):
    open_page(browser, base + page)
    assert browser.execute_script("return document.images.length") > 0
    assert all_images_loaded(browser) == []
    assert console_errors(browser) == []


def test_arrow_keys_walk_the_filters(browser, base):
    from selenium.webdriver.common.keys import Keys

    open_page(browser, base + "layers/conv3/0004.html")
    browser.find_element("tag name", "body").send_keys(Keys.ARROW_RIGHT)
    wait_for_url(browser, "layers/conv3/0005.html")
    browser.find_element("tag name", "body").send_keys(Keys.ARROW_LEFT)
    wait_for_url(browser, "layers/conv3/0004.html")


def test_n_switches_the_gallery_to_negative_images(browser, base):
    open_page(browser, base + "layers/conv3/index.html")
    first = browser.find_element("css selector", "#gallery img")
    assert first.get_attribute("src").endswith("0000-positive.webp")
    browser.find_element("tag name", "body").send_keys("n")
    assert first.get_attribute("src").endswith("0000-negative.webp")
    assert browser.find_element("id", "sign-switch").get_attribute("aria-pressed") == "true"


def test_e_switches_the_gallery_to_dataset_examples(browser, base, site):
    open_page(browser, base + "layers/conv3/index.html")
    browser.find_element("tag name", "body").send_keys("e")
    crops = browser.find_elements("css selector", "#gallery .crop img")
    assert len(crops) == 16 and all(crop.is_displayed() for crop in crops)
    assert not browser.find_element("css selector", "#gallery img[data-negative]").is_displayed()
    assert all("/examples/images/" in crop.get_attribute("src") for crop in crops)
    assert all_images_loaded(browser) == []
    box = browser.execute_script("var r = document.querySelector('#gallery .crop').getBoundingClientRect();"
                                 "return [r.width, r.height];")
    assert box == [96, 96]
    browser.find_element("tag name", "body").send_keys("n")  # the negative examples, from the same data
    record = json.loads((site / "atlas.json").read_text())
    first = record["layers"][1]["filters"][0]["examples"]
    assert crops[0].get_attribute("src").endswith(first["negative"][0]["image"])
    assert first["negative"][0]["image"] != first["positive"][0]["image"]
    browser.find_element("tag name", "body").send_keys("e")
    assert browser.find_element("css selector", "#gallery img[data-negative]").is_displayed()
    assert console_errors(browser) == []


def test_g_and_the_search_box_jump_to_a_filter(browser, base):
    from selenium.webdriver.common.keys import Keys

    open_page(browser, base + "layers/conv3/index.html")
    browser.find_element("tag name", "body").send_keys("g")
    focused = browser.switch_to.active_element
    assert focused.get_attribute("id") == "jump-input"
    focused.send_keys("11", Keys.ENTER)
    wait_for_url(browser, "layers/conv3/0011.html")
    assert "filter 11" in browser.find_element("tag name", "h1").text


def test_sorting_by_activation_reorders_the_gallery(browser, base):
    from selenium.webdriver.support.ui import Select

    open_page(browser, base + "layers/conv3/index.html")
    Select(browser.find_element("id", "sort")).select_by_value("activation")
    values = browser.execute_script("return Array.from(document.querySelectorAll('#gallery li'))"
                                    ".map(function (li) { return parseFloat(li.dataset.activation); });")
    assert values == sorted(values, reverse=True) and len(values) == 16


def test_circuit_thumbnails_link_to_the_filters_they_show(browser, base, site):
    record = json.loads((site / "atlas.json").read_text())
    circuit = record["layers"][1]["filters"][4]["circuit"]
    open_page(browser, base + "layers/conv3/0004.html")
    links = browser.find_elements("css selector", "#circuits a.circuit-filter")
    expected = [f"layers/conv1/{item['id']:04d}.html" for item in circuit["excite"] + circuit["inhibit"]]
    assert expected and [link.get_attribute("href")[len(base):] for link in links[:len(expected)]] == expected
    assert all_images_loaded(browser) == []
    links[0].click()
    wait_for_url(browser, expected[0])
    assert browser.find_elements("css selector", "#circuits a.circuit-filter")  # conv1 shows what it feeds


def test_neighbour_thumbnails_link_to_the_filters_they_show(browser, base, site):
    record = json.loads((site / "atlas.json").read_text())
    entry = next(entry for entry in record["layers"][1]["filters"] if entry.get("neighbours"))
    found = entry["neighbours"]
    open_page(browser, base + entry["page"])
    links = browser.find_elements("css selector", "#neighbours a.circuit-filter")
    expected = [f"layers/conv3/{item['id']:04d}.html" for item in found]
    assert expected and [link.get_attribute("href")[len(base):] for link in links] == expected
    links[0].click()
    wait_for_url(browser, expected[0])


def test_the_map_loads_every_thumbnail_and_a_click_opens_the_filter(browser, base):
    open_page(browser, base + "layers/conv3/index.html")
    browser.find_element("id", "map-link").click()
    wait_for_url(browser, "layers/conv3/map.html")
    points = browser.find_elements("css selector", "#filter-map-plane a")
    assert len(points) == 16 and background_images_failing(browser) == []
    positions = {point.value_of_css_property("background-position") for point in points}
    assert len(positions) == 16  # each point shows its own cell of the sprite
    width = browser.execute_script("return document.getElementById('filter-map-plane').offsetWidth")
    browser.find_element("id", "zoom-in").click()
    assert browser.execute_script("return document.getElementById('filter-map-plane').offsetWidth") > width
    target = browser.find_element("css selector", '#filter-map-plane a[data-id="7"]')
    browser.execute_script("arguments[0].scrollIntoView({block: 'center', inline: 'center'});", target)
    browser.execute_script("arguments[0].style.zIndex = 2;", target)  # on top of any filter at the same place
    target.click()
    wait_for_url(browser, "layers/conv3/0007.html")
    assert console_errors(browser) == []


def test_f_switches_the_gallery_to_facets_and_the_filter_page_shows_them(browser, base):
    open_page(browser, base + "layers/conv3/index.html")
    assert not browser.find_element("css selector", "#gallery .facet-strip img").is_displayed()
    browser.find_element("tag name", "body").send_keys("f")
    facets = browser.find_elements("css selector", "#gallery .facet-strip img")
    assert len(facets) == 32 and all(facet.is_displayed() for facet in facets)
    assert facets[0].get_attribute("src").endswith("0000-facet-0.webp")
    assert not browser.find_element("css selector", "#gallery img[data-negative]").is_displayed()
    assert all_images_loaded(browser) == []
    open_page(browser, base + "layers/conv3/0004.html")
    shown = browser.find_elements("css selector", "#facets img")
    assert len(shown) == 2 and all(image.is_displayed() for image in shown)
    assert console_errors(browser) == []


def test_every_link_resolves_inside_the_site(site):
    assert broken_links(site) == []


def wait_for_url(browser, suffix: str, timeout: float = 5.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if browser.current_url.endswith(suffix):
            return
        time.sleep(0.05)
    raise AssertionError(f"expected to land on {suffix}, at {browser.current_url}")


def test_the_search_box_finds_a_class_unit_by_its_name(browser, tmp_path_factory):
    from selenium.webdriver.common.keys import Keys

    out = tmp_path_factory.mktemp("classes") / "atlas"
    labels = out.parent / "labels.txt"
    labels.write_text("cat\ndog\nsea bird\nfish\n")
    pipeline.build(tiny_settings(out, layers=("logits",), steps=4, labels=str(labels)))
    open_page(browser, (out / "layers/logits/index.html").as_uri())
    search = browser.find_element("id", "jump-input")
    search.send_keys("Bird", Keys.ENTER)
    wait_for_url(browser, "layers/logits/0002.html")
    assert "sea bird" in browser.find_element("tag name", "h1").text
    open_page(browser, (out / "layers/logits/index.html").as_uri())
    browser.find_element("id", "jump-input").send_keys("3", Keys.ENTER)  # a number is still a filter id
    wait_for_url(browser, "layers/logits/0003.html")


def test_silent_filters_are_dimmed_hidden_with_s_counted_and_lead_with_their_real_patches(browser, tmp_path_factory):
    from helpers import save_model, silent_filter_cnn

    work = tmp_path_factory.mktemp("silent")
    photos = write_planted_images(work / "photos")
    out = work / "atlas"
    pipeline.build(tiny_settings(out, model=save_model(silent_filter_cnn(), work, "silent"), layers=("late",), steps=8,
                              examples=str(photos)))
    open_page(browser, (out / "index.html").as_uri())
    assert browser.find_element("css selector", "td.silent-count").text == "1"
    open_page(browser, (out / "layers/late/index.html").as_uri())
    silent = browser.find_element("css selector", "#gallery li[data-id='0']")
    firing = browser.find_element("css selector", "#gallery li[data-id='1']")
    assert "silent" in silent.text and "silent" not in firing.text
    opacity = "return getComputedStyle(arguments[0].querySelector('img')).opacity"
    assert float(browser.execute_script(opacity, silent)) < float(browser.execute_script(opacity, firing))
    browser.find_element("tag name", "body").send_keys("s")
    assert not silent.is_displayed() and firing.is_displayed()
    browser.find_element("id", "silent-switch").click()
    assert silent.is_displayed()
    open_page(browser, (out / "layers/late/0000.html").as_uri())
    lead = browser.find_element("css selector", "main > :is(section, div, p):not(.filter-nav)")
    assert lead.get_attribute("id") == "silent" and "responds to no pattern found" in lead.text
    assert len(lead.find_elements("css selector", ".example-grid > *")) > 0
    assert all_images_loaded(browser) == [] and console_errors(browser) == []
    open_page(browser, (out / "layers/late/0001.html").as_uri())
    assert browser.find_elements("id", "silent") == []


def test_thumbnails_below_the_first_screen_load_only_when_scrolled_near(browser, base):
    browser.set_window_size(1200, 500)
    try:
        open_page(browser, base + "layers/conv3/0004.html")
        time.sleep(0.3)
        waiting = browser.find_elements("css selector", "#circuits img[data-src]")
        assert waiting and all(image.get_attribute("src") in (None, "") for image in waiting)
        assert browser.execute_script("return document.querySelector('#circuits').getBoundingClientRect().top"
                                      " > window.innerHeight + 200")
        browser.execute_script("document.querySelector('#circuits').scrollIntoView();")
        time.sleep(0.3)
        images = browser.find_elements("css selector", "#circuits img")
        assert images and all(image.get_attribute("data-src") is None for image in images)
        assert all_images_loaded(browser) == [] and console_errors(browser) == []
    finally:
        browser.set_window_size(1200, 900)


@pytest.fixture(scope="module")
def zoo_site(tmp_path_factory) -> Path:
    """Two checkpoints of tiny-cnn (two conv3 filters given new weights) in one multi-model site, compared."""
    from helpers import planted_checkpoints

    from generator.build import zoo
    from generator.config import AtlasConfig, resolve

    work = tmp_path_factory.mktemp("zoo-served")
    photos = write_planted_images(work / "photos")
    first, second = planted_checkpoints(work)
    config = work / "zoo.toml"
    config.write_text(f'method = "classic"\nsize = 16\nsteps = 2\nprofile = "full"\nfacets = 0\nbatch_size = 8\n'
                      f'examples = "{photos}"\nlayers = ["conv1", "conv3"]\n'
                      f'[[models]]\nname = "before"\nmodel = "{first}"\n'
                      f'[[models]]\nname = "after"\nmodel = "{second}"\n'
                      f'[[compare]]\na = "before"\nb = "after"\n')
    root = work / "zoo"
    zoo.build(zoo.read_zoo(config), AtlasConfig(), root,
              lambda model, settings, shard: pipeline.build(resolve(settings, has_gpu=False), shard=shard))
    return root


@pytest.fixture(scope="module")
def zoo_server(zoo_site):
    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *arguments):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler,
                                                                               directory=str(zoo_site.parent)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/{zoo_site.name}/"
    httpd.shutdown()


@pytest.fixture(params=["file", "http"])
def zoo_base(request, zoo_site, zoo_server) -> str:
    return zoo_site.as_uri() + "/" if request.param == "file" else zoo_server


def test_the_models_index_finds_a_layer_in_every_model_and_every_page_leads_back(browser, zoo_base):
    from selenium.webdriver.common.keys import Keys

    open_page(browser, zoo_base + "index.html")
    assert len(browser.find_elements("css selector", "#models tbody tr")) == 2
    assert all_images_loaded(browser) == [] and console_errors(browser) == []
    search = browser.find_element("id", "models-search-input")
    search.send_keys("conv3")
    results = [link.text for link in browser.find_elements("css selector", "#search-results a")]
    assert results == ["before · conv3", "after · conv3"]
    search.send_keys(Keys.ENTER)
    wait_for_url(browser, "before/layers/conv3/index.html")
    browser.find_element("id", "models-index").click()
    wait_for_url(browser, f"{zoo_base.rstrip('/').rsplit('/', 1)[-1]}/index.html")
    assert browser.find_elements("id", "models-search-input")


def test_a_compare_page_shows_both_checkpoints_most_changed_first(browser, zoo_base):
    open_page(browser, zoo_base + "index.html")
    browser.find_element("css selector", "#comparisons a").click()
    wait_for_url(browser, "before-vs-after/index.html")
    first = browser.find_element("css selector", "#ranked-layers tbody tr")
    assert first.get_attribute("data-layer") == "conv3"  # the layer whose filters changed ranks first
    assert all_images_loaded(browser) == [] and console_errors(browser) == []
    first.find_element("css selector", "a").click()
    wait_for_url(browser, "before-vs-after/layers/conv3/index.html")
    ids = [item.get_attribute("data-id") for item in browser.find_elements("css selector", "#gallery li")]
    assert set(ids[:2]) == {"3", "9"} and len(ids) == 16
    browser.find_element("css selector", "#gallery li a").click()
    wait_for_url(browser, f"before-vs-after/layers/conv3/{int(ids[0]):04d}.html")
    for side in ("a", "b"):
        shown = browser.find_element("id", f"checkpoint-{side}")
        assert shown.find_elements("css selector", "figure.positive img") and shown.find_elements("css selector",
                                                                                                  ".example img")
    assert all_images_loaded(browser) == [] and console_errors(browser) == []
    from selenium.webdriver.common.keys import Keys

    browser.find_element("tag name", "body").send_keys(Keys.ARROW_RIGHT)
    wait_for_url(browser, f"before-vs-after/layers/conv3/{int(ids[1]):04d}.html")


def test_every_link_of_the_multi_model_site_resolves(zoo_site):
    assert broken_links(zoo_site) == []
