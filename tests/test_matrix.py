"""Every kind of model against every feature: each cell builds, renders, has no broken link, and either shows its
feature or says on the pages why it cannot apply.

Per kind (model_kinds.py) two builds through the command line, with every feature on:
- ``sharded``: the shipped photographs as dataset examples, 2 facets, built as two shards in two directories and
  merged by ``atlas render --merge``;
- ``folder``: a folder of images in the model's own channels as dataset examples, the neuron objective.
A cell is one (kind, feature) pair and checks that feature on the build that has it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from model_kinds import KINDS, ModelKind, write_example_folder
from sitecheck import broken_links
from typer.testing import CliRunner

from generator.cli import app

FEATURES = ("examples_shipped", "examples_folder", "circuits_weights", "circuits_attribution", "circuits_into_dense",
            "neighbours_and_map", "facets", "neuron_objective", "silent_filters", "shards_and_merge")
NUM_FILTERS = 3

# The cells that cannot apply, and the reason the build gives on its pages.
NOT_APPLICABLE = {
    ("four_channels", "examples_shipped"): "the shipped photographs are RGB and the model reads 4 channels",
    ("nested_application", "circuits_weights"): None,  # no two chosen layers are adjacent convolutions
    ("rgb_normalization", "circuits_into_dense"): None,  # it has no Dense layer
}


def run(*arguments) -> str:
    result = CliRunner().invoke(app, [str(argument) for argument in arguments])
    assert result.exit_code == 0, result.output
    assert "error" not in result.output and "Traceback" not in result.output, result.output
    return result.output


def common_options(kind: ModelKind, folder: Path) -> list:
    model = kind.save(folder / "models")
    options = ["--model", model, "--layers", ",".join(kind.layers), "--profile", "full", "--steps", "3",
               "--filters", f"0:{NUM_FILTERS}", "--num-examples", "3"]
    if kind.labels:
        labels = folder / "labels.txt"
        labels.write_text("\n".join(kind.labels) + "\n")
        options += ["--labels", labels]
    return options


class Built:
    """A kind's two builds, their records and their command-line output."""

    def __init__(self, kind: ModelKind, folder: Path):
        options = common_options(kind, folder)
        self.output = ""
        for index in range(2):
            self.output += run("build", *options, "--facets", "2", "--shard", f"{index}/2",
                               "--out", folder / f"shard{index}")
        self.output += run("render", folder / "sharded", "--merge", folder / "shard0", "--merge", folder / "shard1")
        examples = write_example_folder(folder / "images", kind.num_channels)
        self.output += run("build", *options, "--facets", "0", "--examples", examples, "--objective", "neuron",
                           "--out", folder / "folder")
        self.sites = {name: folder / name for name in ("sharded", "folder")}
        self.records = {name: json.loads((site / "atlas.json").read_text()) for name, site in self.sites.items()}
        self.planned_shards = [json.loads((folder / f"shard{index}/run.json").read_text()) for index in range(2)]

    def filters(self, build: str, kinds=("Conv2D", "Dense")):
        return [entry for layer in self.records[build]["layers"] if layer["kind"] in kinds
                for entry in layer["filters"]]

    def says(self, build: str, fragment: str) -> bool:
        """The fragment is a notice in the record, on the index page and on a filter page."""
        site, record = self.sites[build], self.records[build]
        in_record = any(fragment in notice["text"] for notice in record["notices"])
        first_page = site / record["layers"][0]["filters"][0]["page"]
        return in_record and all(fragment in (site / page).read_text() for page in ("index.html", first_page))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    cache: dict[str, Built | BaseException] = {}

    def get(name: str) -> Built:
        if name not in cache:  # built once per kind; a failed build fails each of its cells without a rebuild
            try:
                cache[name] = Built(KINDS[name], tmp_path_factory.mktemp(name))
            except (AssertionError, Exception) as error:
                cache[name] = error
        if isinstance(cache[name], BaseException):
            raise cache[name]
        return cache[name]

    return get


def check_examples(filters: list[dict]) -> None:
    assert filters and all(entry.get("examples", {}).get("positive") for entry in filters)


def check(cell: tuple[str, str], built: Built, kind: ModelKind) -> None:
    _, feature = cell
    dense = [layer for layer in built.records["folder"]["layers"] if layer["kind"] == "Dense"]
    if feature == "examples_shipped":
        check_examples(built.filters("sharded"))
        classes = [entry for layer in built.records["sharded"]["layers"] if layer["kind"] == "Dense"
                   for entry in layer["filters"]]
        whole = built.records["sharded"]["examples"]["image_size"]
        assert all(example["x"] == example["y"] == 0 for entry in classes
                   for example in entry["examples"]["positive"])  # a class unit's example is the whole image
        assert all(layer["example_patch_size"] == whole for layer in built.records["sharded"]["layers"]
                   if layer["kind"] == "Dense")
    elif feature == "examples_folder":
        check_examples(built.filters("folder"))
        assert built.records["folder"]["examples"]["num_images"] == 6
    elif feature == "circuits_weights":
        second = built.records["sharded"]["layers"][1]
        assert {entry["circuit"]["method"] for entry in second["filters"]} == {"weights"}
    elif feature == "circuits_attribution":
        convolutions = [layer for layer in built.records["folder"]["layers"][1:] if layer["kind"] == "Conv2D"]
        circuits = [entry["circuit"] for layer in convolutions for entry in layer["filters"]
                    if entry["circuit"]["method"] == "attribution"]  # across a pooling or a block
        assert circuits and any(circuit["excite"] or circuit["inhibit"] for circuit in circuits)
    elif feature == "circuits_into_dense":
        assert len(dense) == 1
        layer = dense[0]
        assert {entry["circuit"]["method"] for entry in layer["filters"]} == {"attribution"}
        assert all(entry["circuit"]["layer"] == built.records["folder"]["layers"][-2]["name"]
                   for entry in layer["filters"])
    elif feature == "neighbours_and_map":
        for layer in built.records["folder"]["layers"]:
            assert layer["map"]["points"] and (built.sites["folder"] / layer["map"]["page"]).is_file()
            assert all(isinstance(entry["neighbours"], list) for entry in layer["filters"])  # the similar ones
        assert any(entry["neighbours"] for entry in built.filters("folder"))
    elif feature == "facets":
        filters = built.filters("sharded")
        assert filters and all(len(entry["facets"]) == 2 for entry in filters)
    elif feature == "neuron_objective":
        record = built.records["folder"]
        assert record["method"]["objective"] == "neuron"
        filters = built.filters("folder")
        rose = [entry["positive"]["activation_after"] > entry["positive"]["activation_before"] for entry in filters]
        assert sum(rose) >= len(rose) // 2, rose
    elif feature == "silent_filters":
        for name in ("sharded", "folder"):
            assert {entry["status"] for entry in built.filters(name)} <= {"silent", "fires"}
    elif feature == "shards_and_merge":
        assert all(plan["layers"] for plan in built.planned_shards)
        layers = built.records["sharded"]["layers"]
        assert [len(layer["filters"]) for layer in layers] == [NUM_FILTERS] * len(kind.layers)
        assert built.records["sharded"]["examples"] is not None or kind.num_channels not in (1, 3)


@pytest.mark.parametrize("feature", FEATURES)
@pytest.mark.parametrize("kind_name", [pytest.param(name, marks=pytest.mark.xdist_group(name)) for name in KINDS])
def test_every_kind_builds_every_feature(built, kind_name, feature):
    kind = KINDS[kind_name]
    site = built(kind_name)
    for path in site.sites.values():
        assert (path / "index.html").is_file() and broken_links(path) == []
    if (kind_name, feature) in NOT_APPLICABLE:
        reason = NOT_APPLICABLE[(kind_name, feature)]
        if reason is not None:
            assert site.says("sharded", reason) and reason in site.output
        with pytest.raises(AssertionError):
            check((kind_name, feature), site, kind)
        return
    check((kind_name, feature), site, kind)
