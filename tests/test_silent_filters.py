"""Silent filters: planted in a model whose filter 0 any pattern inhibits; the rule and the flat colour."""

from __future__ import annotations

import json

import numpy as np
from helpers import save_model, silent_filter_cnn, tiny_settings

from generator.build import pipeline
from generator.model.preprocessing import PRESETS, Preprocessing
from generator.optimisation.silent_filters import Response, flat_colour


def test_a_filter_that_every_pattern_inhibits_is_silent_and_a_normal_one_is_not(tmp_path):
    model = save_model(silent_filter_cnn(), tmp_path, "silent")
    for method in ("classic", "fourier"):
        out = tmp_path / method
        pipeline.build(tiny_settings(out, model=model, layers=("late",), method=method, steps=16))
        record = json.loads((out / "atlas.json").read_text())
        filters = {entry["id"]: entry for entry in record["layers"][0]["filters"]}
        silent, firing = filters[0], filters[1]
        assert silent["status"] == "silent", (method, silent["response"])
        assert silent["response"]["peak"] <= 0 and silent["response"]["flat"] > silent["response"]["best"]
        assert firing["status"] == "fires" and firing["response"]["own"] > 0, (method, firing["response"])
        assert firing["response"]["best"] >= firing["response"]["own"]


def test_the_rule_needs_both_no_firing_and_a_flat_image_that_wins():
    assert Response(peak=-0.1, own=-1.0, best=-0.5, flat=0.0).silent
    assert not Response(peak=-0.1, own=-1.0, best=0.5, flat=0.0).silent  # another image of its unit does better
    assert not Response(peak=3.0, own=-1.0, best=-1.0, flat=0.0).silent  # it fires somewhere on its own image
    assert not Response(peak=-0.1, own=-1.0, best=-1.0, flat=-2.0).silent  # the flat image is worse still


def test_the_flat_colour_is_what_the_preprocessing_maps_to_zero():
    for name in ("caffe", "tf", "torch", "unit"):
        colour = flat_colour(PRESETS[name], 3)
        mapped = np.asarray(PRESETS[name](np.broadcast_to(colour, (1, 1, 1, 3)).astype("float32")))
        np.testing.assert_allclose(mapped.ravel(), np.zeros(3), atol=1e-4, err_msg=name)
    odd = Preprocessing("odd", scale=2.0, offset=-1.0, mean=(0.5, -3.0, 0.0), std=(2.0, 2.0, 2.0))
    np.testing.assert_allclose(flat_colour(odd, 3), [0.75, 0.0, 0.5])  # -3 lies below black: clipped
