"""Every bad input: one clear line, a non-zero exit, no traceback."""

import json
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
    (TINY + ["--layers", "average"], "has no spatial filters"),
    (TINY + ["--layers", "conv1", "--filters", "8"], "Filter 8 is out of range for layer 'conv1', which has 8"),
    (TINY + ["--layers", "conv1", "--filters", "5:2"], "is empty"),
    (TINY + ["--layers", "conv1", "--filters", "x"], "not understood"),
    (TINY + ["--steps", "0"], "--steps must be"),
    (TINY + ["--size", "-3"], "--size must be"),
    (TINY + ["--batch-size", "0"], "--batch-size must be"),
    (TINY + ["--contrast", "-1"], "--contrast must be a number from 0"),
    (TINY + ["--method", "classic", "--contrast", "1"], "--contrast is a setting of the fourier method"),
    (["build", "--model", "vgg16-hed", "--weights", "/nonexistent/weights.h5"], "cannot be read"),
    (["build", "--config", "/nonexistent/atlas.toml"], "Config file"),
    (["layers", "--model", "alexnet"], "Unknown model"),
    (["render", "/nonexistent/site"], "holds no atlas run"),
    (TINY + ["--shard", "2/2"], "--shard 2/2"),
    (TINY + ["--shard", "half"], "--shard must look like I/N"),
    (TINY + ["--examples", "/nonexistent/photos"], "is not a folder"),
    (TINY + ["--num-examples", "0"], "--num-examples must be"),
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
    assert list(rows) == ["conv1", "conv2", "conv3", "logits"]  # a Dense layer's units are classes
    assert rows["conv3"][2] == "16" and rows["conv3"][3] == "8x8" and rows["conv3"][4] == "10"
    assert rows["logits"][1:5] == ["Dense", "4", "1x1", "16"]  # the whole image is its receptive field


def test_shards_from_the_command_line(tmp_path):
    for index in range(3):
        code, output = run(*TINY, "--layers", "conv3", "--batch-size", "4", "--shard", f"{index}/3", "--out", tmp_path)
        assert code == 0, output
    code, output = run("render", tmp_path)
    assert code == 0 and "Rendered 16 filters" in output


def test_shards_in_separate_directories_merge_into_one_site(tmp_path):
    for index in range(2):
        code, output = run(*TINY, "--layers", "conv3", "--batch-size", "4", "--shard", f"{index}/2",
                           "--out", tmp_path / f"shard{index}")
        assert code == 0, output
    code, output = run("render", tmp_path / "merged", "--merge", tmp_path / "shard0", "--merge", tmp_path / "shard1")
    assert code == 0 and "Merged 2 units and its dataset examples" in output and "Rendered 16 filters" in output
    code, whole = run(*TINY, "--layers", "conv3", "--batch-size", "4", "--out", tmp_path / "whole")
    assert (tmp_path / "whole/atlas.json").read_text() == (tmp_path / "merged/atlas.json").read_text()
    assert json.loads((tmp_path / "merged/atlas.json").read_text())["examples"]["num_images"] >= 12
    code, output = run(*TINY, "--layers", "conv1", "--out", tmp_path / "other")
    assert_one_line_error(*run("render", tmp_path / "merged", "--merge", tmp_path / "other"), "different run")


def test_a_folder_without_images_is_one_clear_error(tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos/readme.txt").write_text("no images here")
    assert_one_line_error(*run(*TINY, "--examples", tmp_path / "photos", "--out", tmp_path / "out"), "No images in")


def test_build_and_render_succeed(tmp_path):
    code, output = run(*TINY, "--layers", "conv1", "--out", tmp_path)
    assert code == 0 and "Built 8 filters" in output
    code, output = run("render", tmp_path)
    assert code == 0 and "Rendered 8 filters" in output


@pytest.mark.parametrize("listing, warned", [(None, False), ("NVIDIA H200, 143771", True)])
def test_the_first_lines_say_what_runs_and_warn_of_a_gpu_the_backend_cannot_see(tmp_path, monkeypatch, listing,
                                                                                 warned):
    from helpers import path_without_nvidia_smi, write_nvidia_smi

    from generator.model import backends

    if backends.gpu_available():
        pytest.skip("checks a machine whose backend sees no GPU")
    if listing:
        write_nvidia_smi(tmp_path / "bin", listing)
    monkeypatch.setenv("PATH", path_without_nvidia_smi(tmp_path / "bin"))
    code, output = run("build", "--model", "tiny-cnn", "--size", "16", "--steps", "2", "--layers", "conv1",
                       "--examples", "none", "--out", tmp_path / "out")
    assert code == 0, output
    onednn = ["oneDNN:"] if backends.BACKEND == "tensorflow" else []  # TensorFlow's oneDNN, said on TensorFlow only
    expected = ["Backend:", "Device:", *(["warning:"] if warned else []), *onednn, "Precision:", "Profile:",
                "Preprocessing"]
    assert [line.split(" ")[0] for line in output.splitlines()[:len(expected)]] == expected
    assert "Profile: preview (no GPU is visible" in output
    assert ("nvidia-smi lists a GPU (NVIDIA H200, 140 GiB) but " in output) is warned


def test_without_a_terminal_progress_is_plain_lines(tmp_path):
    # CliRunner's stderr is not a terminal, as in a log file or a batch job: a line per layer as it goes and ends.
    code, output = run(*TINY, "--layers", "conv1,conv3", "--batch-size", "4", "--out", tmp_path)
    assert code == 0, output
    assert "conv1: 0/8 filters done, 8 to do" in output and "conv3: 0/16 filters done, 16 to do" in output
    finished = [line for line in output.splitlines() if line.startswith("conv3: 16/16 filters, ")]
    assert len(finished) == 1 and "filters/s" in finished[0] and "elapsed" in finished[0], output
    assert "left" not in finished[0]
    code, output = run(*TINY, "--layers", "conv1,conv3", "--batch-size", "4", "--out", tmp_path)
    assert code == 0 and "conv3: 16/16 filters already done" in output, output


def test_plain_progress_times_each_layer_by_its_own_units(capsys):
    # Layers are announced together and run one after another: a layer's rate counts only its own units' time,
    # and a line is printed at most every LINE_SECONDS, and when a layer ends.
    from generator.progress import RichProgress

    now = [0.0]
    progress = RichProgress(clock=lambda: now[0])
    progress.live = False
    with progress:
        progress.start_layer("first", total=4, done=0)
        progress.start_layer("second", total=12, done=0)
        for seconds, layer in [(10.0, "first"), (12.0, "second"), (14.0, "second"), (16.0, "second")]:
            now[0] = seconds
            progress.advance(layer, 4)
    lines = capsys.readouterr().err.splitlines()
    assert lines == ["first: 0/4 filters done, 4 to do", "second: 0/12 filters done, 12 to do",
                     "first: 4/4 filters, 0.40 filters/s, 0:00:10 elapsed",
                     "second: 4/12 filters, 2.00 filters/s, 0:00:02 elapsed, about 0:00:04 left",
                     "second: 12/12 filters, 2.00 filters/s, 0:00:06 elapsed"]


def test_a_resumed_layer_says_how_many_are_done_and_left(capsys):
    from generator.progress import RichProgress

    progress = RichProgress(clock=lambda: 0.0)
    progress.live = False
    with progress:
        progress.start_layer("half", total=8, done=3)
        progress.start_layer("whole", total=8, done=8)
    lines = capsys.readouterr().err.splitlines()
    assert lines == ["half: 3/8 filters done, 5 to do", "whole: 8/8 filters already done"]


def test_offline_imagenet_weights_say_which_file_goes_where(tmp_path, monkeypatch):
    from keras.src.utils import file_utils

    def offline(fname, origin=None, **kwargs):
        raise Exception(f"URL fetch failure on {origin}: None -- [Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(file_utils, "get_file", offline)
    code, output = run("build", "--model", "xception", "--weights", "imagenet", "--out", tmp_path)
    assert_one_line_error(code, output, "Put xception_weights_tf_dim_ordering_tf_kernels_notop.h5")
    assert "~/.keras/models/" in output


def test_strange_layer_names_stay_inside_the_site_and_are_escaped(tmp_path):
    from sitecheck import broken_links

    from generator.model.quiet_keras import keras

    # TensorFlow's name scopes allow only [A-Za-z0-9_.\\/>-]: the extractor renames the others (extractors.py).
    # "a b" and "a_b" slug alike, yet get their own files. Keras itself refuses "/" in a layer name.
    names = ["..", "a>b.c", "<script>alert(1)<\\script>", "Schicht_ü", "a b", "a_b", "features.conv1.Conv"]
    inputs = keras.Input((16, 16, 3))
    x = inputs
    for name in names:
        x = keras.layers.Conv2D(2, 3, padding="same", name=name)(x)
    path = tmp_path / "strange.keras"
    keras.Model(inputs, x).save(path)
    out = tmp_path / "site"
    code, output = run("build", "--model", path, "--size", "16", "--method", "classic", "--steps", "4",
                       "--profile", "full", "--out", out)
    assert code == 0, output
    site = out.resolve()
    for file in site.rglob("*"):
        assert site in file.resolve().parents and file.name.isascii(), file
    html = "".join(page.read_text() for page in site.rglob("*.html"))
    assert "a&gt;b.c" in html and "<h1>a>b.c" not in html
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html and "Schicht_ü" in html
    record = json.loads((site / "atlas.json").read_text())
    assert [layer["name"] for layer in record["layers"]] == names
    assert len({layer["slug"] for layer in record["layers"]}) == len(names)
    assert all(len(layer["filters"]) == 2 for layer in record["layers"])
    filters = [entry for layer in record["layers"] for entry in layer["filters"]]
    assert all(e["positive"]["activation_after"] > e["positive"]["activation_before"] for e in filters)
    assert all(e["negative"]["activation_after"] < e["negative"]["activation_before"] for e in filters)
    assert broken_links(site) == []


def test_an_unexpected_failure_is_one_line_too(tmp_path, monkeypatch):
    from generator.build import pipeline

    def broken(*arguments, **keywords):
        raise RuntimeError("something inside broke")

    monkeypatch.setattr(pipeline, "build", broken)
    assert_one_line_error(*run(*TINY, "--out", tmp_path), "something inside broke")


def unsupported_models(folder):
    """Model files the atlas cannot take, each with what its one line says."""
    from generator.model.quiet_keras import keras

    folder.mkdir(parents=True, exist_ok=True)
    image, other = keras.Input((16, 16, 3)), keras.Input((16, 16, 3))
    two_inputs = keras.Model([image, other], keras.layers.Conv2D(2, 3)(keras.layers.Add()([image, other])))
    vector = keras.Input((10,))
    not_image = keras.Model(vector, keras.layers.Dense(2)(vector))
    first = keras.Input((3, 16, 16))
    channels_first = keras.Model(first, keras.layers.Conv2D(2, 3, data_format="channels_first", name="cf")(first))
    inputs = keras.Input((16, 16, 3))
    with_lambda = keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(keras.layers.Conv2D(2, 3)(inputs)))
    cases = {"two_inputs": (two_inputs, "has 2 inputs"), "not_image": (not_image, "not images"),
             "channels_first": (channels_first, "reads channels first"), "lambda": (with_lambda, "Lambda layer")}
    paths = {}
    for name, (model, fragment) in cases.items():
        model.save(folder / f"{name}.keras")
        paths[folder / f"{name}.keras"] = fragment
    saved_model = folder / "exported"
    saved_model.mkdir()
    (saved_model / "saved_model.pb").write_bytes(b"")
    paths[saved_model] = "TensorFlow SavedModel directory"
    return paths


def test_unsupported_models_are_one_line_a_non_zero_exit_and_nothing_written(tmp_path):
    for path, fragment in unsupported_models(tmp_path / "models").items():
        out = tmp_path / f"site-{path.stem}"
        assert_one_line_error(*run("build", "--model", path, "--out", out), fragment)
        assert not out.exists()
        assert_one_line_error(*run("layers", "--model", path), fragment)


def test_lambda_layers_load_with_unsafe_deserialization_after_a_warning(tmp_path):
    path = next(path for path in unsupported_models(tmp_path / "models") if path.stem == "lambda")
    code, output = run("layers", "--model", path, "--unsafe-deserialization")
    assert code == 0, output
    assert output.splitlines()[0].startswith("warning: --unsafe-deserialization") and "conv2d" in output
