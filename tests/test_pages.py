"""site/pages.py's own rules: where a dataset example's patch lands in its box, how a curve is drawn, which scan
the pages use, and how numbers read. Whole sites are rendered and link-checked in test_pipeline and test_browser."""

from __future__ import annotations

import pytest

from generator.site import pages


def test_an_examples_patch_fills_the_box_and_is_shifted_into_view():
    geometry = pages.crop_geometry({"x": 40, "y": 10}, patch_size=32, image_size=224, display=96)
    scale = 96 / 32
    assert geometry["size"] == round(224 * scale)
    assert (geometry["left"], geometry["top"]) == (-40 * scale, -10 * scale)
    assert geometry["pixelated"] is False  # three times: still smooth
    assert pages.crop_geometry({"x": 0, "y": 0}, 8, 224, 96)["pixelated"] is True  # twelve times: pixels shown


def test_a_curve_runs_from_its_lowest_value_at_the_bottom_to_its_highest_at_the_top():
    points = [tuple(map(float, point.split(","))) for point in pages.curve_points([1.0, 3.0, 2.0], 300, 100).split()]
    assert points == [(0.0, 100.0), (150.0, 0.0), (300.0, 50.0)]


def test_a_long_curve_is_thinned_and_missing_values_are_left_out():
    curve = [float(step) for step in range(1000)]
    curve[500] = None
    points = pages.curve_points(curve).split()
    assert len(points) <= pages.CURVE_POINTS
    assert points[0] == "0.0,120.0" and points[-1] == "320.0,0.0"
    assert pages.curve_points([None, 4.0]) == ""  # fewer than two values: nothing to draw


def scan(model: str) -> dict:
    return {"model": model, "weights": "w", "source": "shipped", "num_images": 1, "num_skipped": 0,
            "image_size": 64, "num_examples": 1,
            "images": [{"file": "examples/images/0000.webp", "name": "coffee"}],
            "layers": {"conv1": {"patch_size": 10, "receptive_field": 10, "filters": [
                {"positive": [{"image": 0, "activation": 2.5, "x": 3, "y": 4}], "negative": []}]}}}


def test_the_pages_use_a_scan_of_their_own_model_only():
    run = {"model": {"name": "tiny-cnn", "weights": "w"}}
    summary, layers = pages.examples_for_site(scan("tiny-cnn"), run)
    assert summary["num_images"] == 1 and summary["image_size"] == 64
    [example] = layers["conv1"]["filters"][0]["positive"]
    assert example == {"image": "examples/images/0000.webp", "name": "coffee", "activation": 2.5, "x": 3, "y": 4}
    assert pages.examples_for_site(scan("another"), run) == (None, {})
    assert pages.examples_for_site(None, run) == (None, {})


@pytest.mark.parametrize("value, shown", [(None, "–"), (0.123456, "0.123"), (1234.5, "1.23e+03")])
def test_numbers_read_with_three_digits_and_a_dash_for_none(value, shown):
    assert pages.environment().filters["number"](value) == shown
