"""Every bad input: one clear line, a non-zero exit, no traceback."""

import os
import stat

import pytest
from typer.testing import CliRunner

from generator.cli import app

runner = CliRunner()


def run(*arguments):
    result = runner.invoke(app, [str(argument) for argument in arguments])
    return result.exit_code, result.output


def assert_one_line_error(code, output, fragment):
    assert code != 0, output
    assert "Traceback" not in output
    lines = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and fragment in lines[0], output


TINY = ["build", "--model", "tiny-cnn", "--size", "16", "--profile", "full", "--steps", "3"]


@pytest.mark.parametrize("arguments, fragment", [
    (["build", "--model", "alexnet"], "Unknown model 'alexnet'"),
    (TINY + ["--layers", "conv9"], "Layer 'conv9' not found"),
    (TINY + ["--layers", "logits"], "has no spatial filters"),
    (TINY + ["--layers", "conv1", "--filters", "8"], "Filter 8 is out of range for layer 'conv1', which has 8"),
    (TINY + ["--layers", "conv1", "--filters", "5:2"], "is empty"),
    (TINY + ["--layers", "conv1", "--filters", "x"], "not understood"),
    (TINY + ["--steps", "0"], "--steps must be"),
    (TINY + ["--size", "-3"], "--size must be"),
    (TINY + ["--batch-size", "0"], "--batch-size must be"),
    (["build", "--model", "vgg16-hed", "--weights", "/nonexistent/weights.h5"], "cannot be read"),
    (["build", "--config", "/nonexistent/atlas.toml"], "Config file"),
    (["layers", "--model", "alexnet"], "Unknown model"),
    (["render", "/nonexistent/site"], "holds no atlas run"),
    (TINY + ["--shard", "2/2"], "--shard 2/2"),
    (TINY + ["--shard", "half"], "--shard must look like I/N"),
])
def test_bad_input(tmp_path, arguments, fragment):
    code, output = run(*arguments, *(["--out", tmp_path / "out"] if arguments[0] == "build" else []))
    assert_one_line_error(code, output, fragment)


def test_output_is_a_file(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    assert_one_line_error(*run(*TINY, "--out", target), "is a file")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_output_not_writable(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    assert_one_line_error(*run(*TINY, "--out", locked / "site"), "not writable")


def test_output_not_writable_even_as_root(tmp_path):
    # /proc is read-only for everybody, root included.
    assert_one_line_error(*run(*TINY, "--out", "/proc/atlas-site"), "not writable")


def test_debug_shows_the_traceback(tmp_path):
    result = runner.invoke(app, ["--debug", "build", "--model", "alexnet", "--out", str(tmp_path)])
    assert result.exit_code != 0 and result.exception is not None


def test_layers_command_lists_filters_and_receptive_fields():
    code, output = run("layers", "--model", "tiny-cnn", "--size", "16")
    assert code == 0
    rows = {line.split()[0]: line.split() for line in output.splitlines()[1:]}
    assert list(rows) == ["conv1", "conv2", "conv3"]
    assert rows["conv3"][2] == "16" and rows["conv3"][3] == "8x8" and rows["conv3"][4] == "10"


def test_shards_from_the_command_line(tmp_path):
    for index in range(3):
        code, output = run(*TINY, "--layers", "conv3", "--batch-size", "4", "--shard", f"{index}/3", "--out", tmp_path)
        assert code == 0, output
    code, output = run("render", tmp_path)
    assert code == 0 and "Rendered 16 filters" in output


def test_build_and_render_succeed(tmp_path):
    code, output = run(*TINY, "--layers", "conv1", "--out", tmp_path)
    assert code == 0 and "Built 8 filters" in output
    code, output = run("render", tmp_path)
    assert code == 0 and "Rendered 8 filters" in output
