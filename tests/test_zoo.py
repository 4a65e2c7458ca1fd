"""zoo.py, zoo_site.py and zoo_records.py: several models in one site, each a standalone atlas in its own folder,
a models index at the root, resume and shards per model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers import write_planted_images
from sitecheck import broken_links
from typer.testing import CliRunner

from generator.build import pipeline, zoo
from generator.cli import app
from generator.config import AtlasConfig, resolve
from generator.errors import AtlasError
from generator.site import pages, zoo_pages
from generator.store import directory

pytestmark = pytest.mark.backend_free  # ordinary builds, arranged in folders: nothing here depends on the backend


def write_zoo(folder: Path, photos: Path | None = None) -> Path:
    """Two models of tiny-cnn: 'shapes' (conv1 and conv3, with dataset examples) and 'classes' (its logits, named
    by a labels file)."""
    labels = folder / "labels.txt"
    labels.write_text("cat\ndog\nsea bird\nfish\n")
    examples = f'examples = "{photos}"' if photos else ""
    config = folder / "zoo.toml"
    config.write_text(f"""title = "Tiny zoo"
model = "tiny-cnn"
method = "classic"
size = 16
steps = 2
profile = "full"
facets = 0
batch_size = 4
examples = "none"

[[models]]
name = "shapes"
layers = ["conv1", "conv3"]
{examples}

[[models]]
name = "classes"
layers = ["logits"]
labels = "{labels}"
""")
    return config


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("zoo")
    config = write_zoo(work, write_planted_images(work / "photos"))
    result = CliRunner().invoke(app, ["build", "--config", str(config), "--out", str(work / "site")])
    assert result.exit_code == 0, result.output
    return work / "site"


def test_a_two_model_config_builds_two_standalone_sites_and_an_index_that_links_both(built, tmp_path):
    index = (built / "index.html").read_text()
    assert 'href="shapes/index.html"' in index and 'href="classes/index.html"' in index
    assert broken_links(built) == []  # every page of both models, and the index
    for slug, layers in (("shapes", ["conv1", "conv3"]), ("classes", ["logits"])):
        record = json.loads((built / slug / "atlas.json").read_text())
        assert [layer["name"] for layer in record["layers"]] == layers
        page = (built / slug / record["layers"][0]["filters"][0]["page"]).read_text()
        assert '<a href="../../../index.html" id="models-index">' in page  # one click back to the models
        outside = broken_links(built / slug)  # alone, only the link back to the models leaves it
        assert outside and all(problem.endswith("../index.html (outside the site)") for problem in outside)
        alone = tmp_path / slug
        shutil.copytree(built / slug, alone)
        pages.render(alone)  # on its own it is a complete site
        assert broken_links(alone) == [] and 'id="models-index"' not in (alone / "index.html").read_text()


def test_the_index_search_finds_layers_and_class_labels_across_models(built):
    index = (built / "index.html").read_text()
    data = json.loads(index.split('<script type="application/json" id="page-data">')[1].split("</script>")[0])
    found = {(item["model"], item["text"]): item["page"] for item in data["search"]}
    assert found[("shapes", "conv3")] == "shapes/layers/conv3/index.html"
    assert found[("classes", "sea bird")] == "classes/layers/logits/0002.html"
    assert all((built / page).is_file() for page in found.values())


def test_render_re_renders_every_model_and_the_index(built):
    (built / "index.html").unlink()
    (built / "classes/layers/logits/0001.html").unlink()
    result = CliRunner().invoke(app, ["render", str(built)])
    assert result.exit_code == 0, result.output
    assert "of 2 models" in result.output
    assert (built / "index.html").is_file() and (built / "classes/layers/logits/0001.html").is_file()


def build_model(model, config, shard):
    return pipeline.build(resolve(config, has_gpu=False), shard=shard)


def test_resume_and_shards_work_in_a_multi_model_build(tmp_path):
    plan = zoo.read_zoo(write_zoo(tmp_path))
    whole, sharded = tmp_path / "whole", tmp_path / "sharded"
    reports = zoo.build(plan, AtlasConfig(), whole, build_model)
    assert [report.num_built for report in reports] == [24, 4]
    for index in range(2):  # two shard jobs writing into one directory, each its share of every model
        zoo.build(plan, AtlasConfig(), sharded, build_model, shard=(index, 2))
    zoo_pages.render_all(sharded)
    for slug in ("shapes", "classes"):
        assert (sharded / slug / "atlas.json").read_text() == (whole / slug / "atlas.json").read_text()
    run = directory.read_run(whole / "shapes")
    directory.units_from_run(run)[3].manifest_path(whole / "shapes").unlink()  # a unit lost
    again = zoo.build(plan, AtlasConfig(), whole, build_model)
    assert [report.num_built for report in again] == [4, 0]  # only the lost unit is redone
    assert broken_links(whole) == []


def test_each_job_builds_a_rotated_shard_of_every_model():
    assert [zoo.model_shard((0, 3), position) for position in range(4)] == [(0, 3), (1, 3), (2, 3), (0, 3)]
    assert zoo.model_shard(None, 1) is None


@pytest.mark.parametrize("tables, message", [
    ('[[models]]\nmodel = "tiny-cnn"\n[[models]]\nmodel = "tiny-cnn"\n', "share the folder 'tiny-cnn'"),
    ('[[models]]\nname = "x"\nout = "y"\n', "sets 'out'"),
    ('[[models]]\nname = "x"\n[[compare]]\na = "x"\nb = "z"\n', "names two of its models"),
    ('[[models]]\nname = "x"\nstepz = 3\n', "unknown keys stepz"),
])
def test_a_bad_multi_model_config_is_refused_in_one_line(tmp_path, tables, message):
    config = tmp_path / "zoo.toml"
    config.write_text(tables)
    with pytest.raises(AtlasError, match=message) as raised:
        zoo.read_zoo(config)
    assert "\n" not in str(raised.value)


def test_model_on_the_command_line_is_refused_with_a_multi_model_config(tmp_path):
    result = CliRunner().invoke(app, ["build", "--config", str(write_zoo(tmp_path)), "--model", "vgg16-hed",
                                      "--out", str(tmp_path / "site")])
    assert result.exit_code == 2 and result.output.startswith("error: --model cannot be given")
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "site").exists()
