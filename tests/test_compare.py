"""compare.py, compare_weights.py and compare_pages.py: a planted pair of checkpoints (tiny-cnn, and a copy in
which two filters of conv3 got new weights) compared filter by filter."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from helpers import planted_checkpoints, tiny_settings, write_planted_images
from sitecheck import broken_links
from typer.testing import CliRunner

from generator.build import compare, pipeline
from generator.cli import app
from generator.errors import AtlasError
from generator.store.layout import COMPARE_FILE

CHANGED = (3, 9)


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> tuple[Path, Path]:
    work = tmp_path_factory.mktemp("pair")
    photos = write_planted_images(work / "photos")
    sites = []
    for name, model in zip(("a", "b"), planted_checkpoints(work, "conv3", CHANGED)):
        sites.append(work / f"site-{name}")
        pipeline.build(tiny_settings(sites[-1], model=model, layers=("conv1", "conv3"), steps=2, batch_size=8,
                                  examples=str(photos)))
    return sites[0], sites[1]


def by_layer(record: dict) -> dict[str, dict]:
    return {layer["name"]: layer for layer in record["layers"]}


def test_the_two_filters_given_new_weights_rank_first_and_every_other_filter_scores_near_zero(pair, tmp_path):
    out = tmp_path / "compare"
    record = compare.compare(*pair, out)
    conv3 = by_layer(record)["conv3"]
    ranking = [entry["id"] for entry in conv3["filters"]]
    assert set(ranking[:2]) == set(CHANGED) and len(ranking) == 16
    for entry in conv3["filters"][:2]:
        assert entry["weights"] > 0.5 and entry["responses"] > 0.05 and entry["change"] > 0.3
    assert all(entry["change"] < 1e-3 for entry in conv3["filters"][2:])
    assert all(entry["change"] < 1e-3 for entry in by_layer(record)["conv1"]["filters"])  # before the change
    index = (out / "index.html").read_text()
    assert re.findall(r'data-layer="(\w+)"', index) == ["conv3", "conv1"]  # ranked by how much they changed
    gallery = (out / "layers/conv3/index.html").read_text()
    assert [int(found) for found in re.findall(r'<li data-id="(\d+)"', gallery)] == ranking
    page = (out / f"layers/conv3/{ranking[0]:04d}.html").read_text()
    assert 'id="checkpoint-a"' in page and 'id="checkpoint-b"' in page and "Real patches" in page
    assert all(f"{side}/tiles/conv3/{ranking[0]:04d}-positive.png" in page for side in ("a", "b"))
    assert broken_links(out) == []  # page-relative, inside the comparison: it works from file:// and a sub-path
    assert json.loads((out / COMPARE_FILE).read_text()) == record


def test_each_part_alone_ranks_the_changed_filters_first(pair, tmp_path):
    by_responses = by_layer(compare.compare(*pair, tmp_path / "responses", weights=False))["conv3"]["filters"]
    assert {entry["id"] for entry in by_responses[:2]} == set(CHANGED)
    assert all(entry["weights"] is None and entry["change"] == entry["responses"] for entry in by_responses)
    assert all(entry["responses"] < 1e-3 for entry in by_responses[2:])
    weights = compare.scores_of(compare.read_side(pair[0]), compare.read_side(pair[1])).weights["conv3"]
    assert sorted(range(16), key=lambda index: -weights[index])[:2] == sorted(CHANGED, key=lambda i: -weights[i])
    assert max(weights[index] for index in range(16) if index not in CHANGED) < 1e-6


def test_atlases_of_other_architectures_are_refused_in_one_line(pair, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(pair[1], other)
    run = json.loads((other / "run.json").read_text())
    run["layers"][1]["num_filters"] = 12
    (other / "run.json").write_text(json.dumps(run))
    with pytest.raises(AtlasError, match=r"the same layers and filter counts.*conv3 \(16\).*conv3 \(12\)"):
        compare.compare(pair[0], other, tmp_path / "refused")
    result = CliRunner().invoke(app, ["compare", str(pair[0]), str(other), "--out", str(tmp_path / "refused")])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    assert result.output.startswith("error: Cannot compare") and not (tmp_path / "refused").exists()


def test_a_missing_model_file_is_named_with_the_option_that_replaces_it(pair, tmp_path):
    moved = tmp_path / "moved"
    shutil.copytree(pair[1], moved)
    run = json.loads((moved / "run.json").read_text())
    run["model"]["source"] = str(tmp_path / "gone.keras")
    (moved / "run.json").write_text(json.dumps(run))
    with pytest.raises(AtlasError, match="gone.keras.*--model-b PATH.*--no-weights"):
        compare.compare(pair[0], moved, tmp_path / "out")
    source = json.loads((pair[1] / "run.json").read_text())["model"]["source"]
    record = compare.compare(pair[0], moved, tmp_path / "out", models=(None, source))
    assert {entry["id"] for entry in by_layer(record)["conv3"]["filters"][:2]} == set(CHANGED)


def test_render_rewrites_a_comparisons_pages_from_its_record(pair, tmp_path):
    out = tmp_path / "compare"
    compare.compare(*pair, out)
    (out / "layers/conv3/0003.html").unlink()
    result = CliRunner().invoke(app, ["render", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "layers/conv3/0003.html").is_file() and broken_links(out) == []
