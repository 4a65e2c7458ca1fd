"""The benchmark scripts run in a reduced form, so they cannot rot (the figures come from `make bench`)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from generator.model import backends

ROOT = Path(__file__).resolve().parent.parent
# Bounds that no run of these reduced forms can honestly reach: a step of a 32 px image through one or two VGG16
# layers takes milliseconds, not a second; the two variants of a step are within 10x of each other at these sizes.
MAX_MILLISECONDS_PER_IMAGE_STEP = 1000.0
MAX_FILTERS_PER_SECOND = 1e5
RATIO_RANGE = (0.1, 10.0)
MAX_RSS_BYTES = 64 * 2**30


def run_bench(script: str, *arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "bench" / script), *arguments], cwd=ROOT, check=True,
                          capture_output=True, text=True)


def assert_machine_recorded(result: dict) -> None:
    """The record says where it was measured: this machine, its backend, and the versions that computed it."""
    info = result["machine"]
    assert info["backend"] == backends.BACKEND and info["cpu_cores"] == os.cpu_count()
    assert info["cpu"] and info["device"]
    assert {"python", "keras", "numpy", info["backend"]} <= set(info["versions"])


def assert_between(value: float, low: float, high: float) -> None:
    assert low < value < high, f"{value} is not between {low} and {high}"


def test_throughput_quick_runs_and_records_its_figures(tmp_path):
    output = tmp_path / "throughput.json"
    run_bench("throughput.py", "--quick", "--json", str(output))
    result = json.loads(output.read_text())
    assert result["machine"]["backend"] in ("tensorflow", "jax") and result["matmul_flops_per_second"]["float32"] > 0
    row = result["seed_comparison"][0]
    assert row["seed_loop_filters_per_second"] > 0 and row["batched"]["filters_per_second"] > 0
    assert row["batched"]["traces"] == 1 and row["step_flop_rate"] > 0
    assert result["atlas"]["num_filters"] == 36 and result["atlas"]["peak_host_rss_bytes"] > 0
    assert_machine_recorded(result)
    assert result["quick"] is True
    for rate in result["matmul_flops_per_second"].values():
        assert_between(rate, 1e8, 1e16)  # 0.1 GFLOP/s to 10 PFLOP/s
    # what was asked: tiny-cnn's conv3 at 32 px, 10 classic steps, batches of 8, each precision of its own
    assert (row["layer"], row["size"], row["steps"], row["batched"]["batch_size"]) == ("conv3", 32, 10, 8)
    assert [each["precision"] for each in result["seed_comparison"]] == (
        ["float32", "mixed"] if backends.fast_bfloat16() else ["float32"])
    assert_between(row["seed_loop_filters_per_second"], 0, MAX_FILTERS_PER_SECOND)
    assert_between(row["batched"]["filters_per_second"], 0, MAX_FILTERS_PER_SECOND)
    assert row["batched"]["seconds_per_filter"] == pytest.approx(1 / row["batched"]["filters_per_second"])
    assert row["speedup_vs_seed_loop"] == pytest.approx(
        row["batched"]["filters_per_second"] / row["seed_loop_filters_per_second"])
    assert row["speedup_vs_single"] == pytest.approx(
        row["batched"]["filters_per_second"] / row["single_filters_per_second"])
    # a step's FLOP rate is a share of the dense matmul rate in its precision: below it, however small the model
    assert row["share_of_matmul_rate"] == pytest.approx(
        row["step_flop_rate"] / result["matmul_flops_per_second"][row["matmul_reference"]])
    assert_between(row["share_of_matmul_rate"], 0, 1.5)
    atlas = result["atlas"]
    assert atlas["images"] == 2 * atlas["num_filters"] and atlas["method"]["steps"] == 8
    assert_between(atlas["seconds"], 0, 600)
    assert atlas["filters_per_second"] == pytest.approx(atlas["num_filters"] / atlas["seconds"])
    assert_between(atlas["peak_host_rss_bytes"], 50 * 2**20, MAX_RSS_BYTES)  # a Python with Keras loaded, at least


@pytest.mark.backend_free
def test_examples_scan_quick_runs_and_records_its_figures(tmp_path):
    output = tmp_path / "examples.json"
    run_bench("examples_scan.py", "--quick", "--json", str(output))
    result = json.loads(output.read_text())
    assert result["speed"]["images"] == 8 and result["speed"]["images_per_second"] > 0
    assert [row["images"] for row in result["memory"]] == [20, 60]
    assert all(row["peak_rss_bytes"] >= row["rss_before_scan_bytes"] > 0 for row in result["memory"])
    assert_machine_recorded(result)
    assert result["quick"] is True
    assert_between(result["speed"]["images_per_second"], 0, 1e5)
    assert all(row["peak_rss_bytes"] < MAX_RSS_BYTES for row in result["memory"])
    assert result["peak_rss_growth_bytes"] == result["memory"][-1]["peak_rss_bytes"] - result["memory"][0][
        "peak_rss_bytes"]


@pytest.mark.backend_free
def test_folding_variant_times_both_extractors(tmp_path):
    output = tmp_path / "folding.json"
    run_bench("variants.py", "--variant", "folding", "--layers", "block2_sepconv1", "--batch-size", "2",
              "--repeats", "1", "--json", str(output))
    result = json.loads(output.read_text())
    row = result["rows"][0]
    assert row["layer"] == "block2_sepconv1" and row["gain"] > 0
    assert len(row["filters_per_second"]["folded"]) == len(row["filters_per_second"]["unfolded"]) == 1
    assert_machine_recorded(result)
    assert set(result) == {"machine", "rows"}  # the shape of folding-*.json
    assert len(result["rows"]) == 1 and row["batch_size"] == 2
    assert all(0 < rate < MAX_FILTERS_PER_SECOND for values in row["filters_per_second"].values() for rate in values)
    rates = row["filters_per_second"]
    assert row["gain"] == pytest.approx(rates["folded"][0] / rates["unfolded"][0])
    assert_between(row["gain"], *RATIO_RANGE)


def test_precision_variant_times_both_precisions(tmp_path):
    output = tmp_path / "precision.json"
    run_bench("variants.py", "--variant", "precision", "--layers", "block1_conv2", "--size", "32", "--batch-size",
              "2", "--steps", "2", "--repeats", "1", "--json", str(output))
    result = json.loads(output.read_text())
    assert all(times[0] > 0 for times in result["milliseconds_per_image_step"].values())
    assert result["mixed_speedup"] > 0 and result["size"] == 32
    assert_machine_recorded(result)
    assert (result["layer"], result["batch_size"]) == ("block1_conv2", 2)  # the shape of precision-*.json
    times = result["milliseconds_per_image_step"]
    assert set(times) == {"float32", "mixed"} and all(len(values) == 1 for values in times.values())
    assert all(values[0] < MAX_MILLISECONDS_PER_IMAGE_STEP for values in times.values())
    assert result["mixed_speedup"] == pytest.approx(times["float32"][0] / times["mixed"][0])
    assert_between(result["mixed_speedup"], *RATIO_RANGE)


def test_heads_variant_times_the_step_with_and_without_the_head(tmp_path):
    output = tmp_path / "heads.json"
    run_bench("variants.py", "--variant", "heads", "--layers", "vgg16-hed:block1_conv2", "--size", "32",
              "--batch-size", "2", "--steps", "2", "--repeats", "1", "--json", str(output))
    result = json.loads(output.read_text())
    row = result["rows"][0]
    timed = {"whole layer", "head"} if backends.grouped_convolution_gradients() else {"whole layer"}
    assert row["layer"] == "block1_conv2" and set(row["milliseconds_per_image_step"]) == timed
    assert all(len(times) == 1 and times[0] > 0 for times in row["milliseconds_per_image_step"].values())
    assert (row["speedup"] > 0) if "head" in timed else (row["speedup"] is None and row["no_head"])
    assert_machine_recorded(result)
    assert len(result["rows"]) == 1 and row["model"] == "vgg16-hed"
    # the shape of heads-*.json: what was asked, the method's defaults where nothing was
    assert {key: result[key] for key in ("method", "size", "batch_size", "steps", "precision")} == {
        "method": "fourier", "size": 32, "batch_size": 2, "steps": 2, "precision": "float32"}
    times = row["milliseconds_per_image_step"]
    assert all(values[0] < MAX_MILLISECONDS_PER_IMAGE_STEP for values in times.values())
    if "head" in timed:
        assert row["speedup"] == pytest.approx(times["whole layer"][0] / times["head"][0])
        assert_between(row["speedup"], *RATIO_RANGE)


@pytest.mark.backend_free
def test_variants_refuses_an_option_its_variant_does_not_take():
    with pytest.raises(subprocess.CalledProcessError) as failure:
        run_bench("variants.py", "--variant", "folding", "--size", "32")
    assert "--variant folding takes no --size" in failure.value.stderr


@pytest.mark.skipif(backends.BACKEND != "tensorflow", reason="reads TensorFlow's profiler")
def test_profile_step_sums_op_time_by_group(tmp_path):
    output = tmp_path / "profile.json"
    run_bench("profile_step.py", "--layer", "block2_sepconv1", "--batch-size", "2", "--json", str(output))
    result = json.loads(output.read_text())
    groups = result["milliseconds_by_group"]
    assert groups["convolution"] > 0 and result["wall_seconds"] > 0
    assert_machine_recorded(result)
    assert (result["layer"], result["batch_size"]) == ("block2_sepconv1", 2)
    assert_between(result["wall_seconds"], 0, 600)
    assert_between(result["flops"] / result["wall_seconds"], 0, 1.5 * result["matmul_flops_per_second"])
    # every op's time lands in exactly one group
    assert sum(groups.values()) == pytest.approx(sum(result["milliseconds_by_op"].values()))
    assert "Process" not in result["milliseconds_by_op"]  # the executor's own events are not ops


@pytest.mark.backend_free
def test_site_size_measures_every_byte_and_projects_by_filters(tmp_path):
    from helpers import tiny_settings

    from generator.build import pipeline

    site = tmp_path / "site"
    pipeline.build(tiny_settings(site, layers=("conv3",), filters="0:4", steps=2))
    output = tmp_path / "size.json"
    run_bench("site_size.py", str(site), "--json", str(output))
    result = json.loads(output.read_text())
    on_disk = sum(path.stat().st_size for path in site.rglob("*") if path.is_file())
    assert result["measured"]["total"] == on_disk
    measured, projected = result["measured"]["by_kind"], result["projected"]["by_kind"]
    assert result["projected"]["num_filters"] == 16  # conv3's filters
    assert projected["tiles (PNG)"] == pytest.approx(4 * measured["tiles (PNG)"])  # 4 of 16 filters built
    assert projected["other"] == measured["other"]
    files = [path for path in site.rglob("*") if path.is_file()]
    assert result["measured"]["num_files"] == len(files)
    assert result["measured"]["allocated"] == sum(path.stat().st_blocks * 512 for path in files)
    archive = tmp_path / "site.tar"  # as upload-pages-artifact packs it, with GNU tar
    subprocess.run(["tar", "--create", "--file", str(archive), "--directory", str(site), "."], check=True)
    assert result["measured"]["tar"] == archive.stat().st_size
    assert result["measured"]["tar"] > on_disk + 512 * len(files)  # a header per file on top of the content


@pytest.mark.backend_free
def test_contrast_of_tiles_at_half_contrast_is_half(tmp_path):
    import shutil

    import numpy as np
    from helpers import tiny_settings
    from PIL import Image

    from generator.build import pipeline
    from generator.site.pages import collect

    site, faded = tmp_path / "site", tmp_path / "faded"
    pipeline.build(tiny_settings(site, layers=("conv3",), filters="0:4", steps=4))
    shutil.copytree(site, faded)
    for entry in collect(faded)["layers"][0]["filters"]:  # every positive tile blended halfway to mid-grey
        path = faded / entry["positive"]["image"]
        pixels = np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)
        Image.fromarray(np.round(128 + (pixels - 128) / 2).astype(np.uint8)).save(path)
    output = tmp_path / "contrast.json"
    run_bench("contrast.py", str(faded), str(site), "--json", str(output))
    (row,) = json.loads(output.read_text())["rows"]
    assert row["layer"] == "conv3" and row["filters"] == 4
    assert row["deviation_share"] == pytest.approx(0.5, abs=0.02)
    assert row["colour_spread_share"] == pytest.approx(0.5, abs=0.05)
    assert row["deviation_reference"] > 1  # the built tiles are not flat, so the shares mean something
    assert_machine_recorded(json.loads(output.read_text()))


@pytest.mark.backend_free
def test_map_weight_of_a_whole_layer_is_what_its_map_loads(tmp_path):
    from helpers import tiny_settings, write_planted_images

    from generator.build import pipeline

    site = tmp_path / "site"
    pipeline.build(tiny_settings(site, layers=("conv1", "conv3"), filters="0:8", steps=2,
                              examples=str(write_planted_images(tmp_path / "photos"))))
    output = tmp_path / "map.json"
    run_bench("map_weight.py", str(site), "--json", str(output))
    result = json.loads(output.read_text())
    assert_machine_recorded(result)
    rows = {row["layer"]: row for row in result["rows"]}
    whole = rows["conv1"]  # 8 of 8 filters built: the projection is the page, its sprite and the assets
    loaded = [site / "layers/conv1/map.html", site / "layers/conv1/map-sprite.webp",
              *(site / "assets" / name for name in ("atlas.css", "atlas.js", "favicon.svg"))]
    assert whole["projected_bytes"] == pytest.approx(sum(path.stat().st_size for path in loaded))
    sample = rows["conv3"]  # 8 of 16: twice the sprite and the points
    assert sample["filters"] == 16 and sample["projected_bytes"] == pytest.approx(
        2 * sample["sprite_bytes"] + 16 * sample["point_bytes"] + sample["page_fixed_bytes"] + sample["assets_bytes"])


@pytest.mark.slow
def test_quality_bench_measures_both_methods(tmp_path):
    output = tmp_path / "quality.json"
    run_bench("quality.py", "--layers", "block1_conv2", "--filters", "0:3", "--fourier-steps", "4",
              "--fourier-warmup", "2", "--fourier-decay-after", "3", "--work", str(tmp_path / "work"),
              "--json", str(output))
    result = json.loads(output.read_text())
    assert_machine_recorded(result)
    assert result["filters"] == "0:3"
    rows = result["rows"]
    assert [row["method"] for row in rows] == ["classic", "fourier"]
    assert (rows[1]["steps"], rows[1]["warmup"], rows[1]["decay_after"]) == (4, 2, 3)  # the rule it was given
    assert {row["precision"] for row in rows} <= {"float32", "mixed"}  # what auto resolved to
    assert all(row["layer"] == "block1_conv2" and row["num_filters"] == 3 for row in rows)
    assert all(0 <= row["self_recognition"] <= 1 and 0 <= row["negative_check"] <= 1 for row in rows)


@pytest.mark.backend_free
def test_convergence_quick_records_every_snapshot_of_every_layer(tmp_path):
    output, plot = tmp_path / "convergence.json", tmp_path / "convergence.svg"
    run_bench("convergence.py", "--quick", "--json", str(output), "--plot", str(plot))
    result = json.loads(output.read_text())
    assert [(row["layer"], row["steps"]) for row in result["rows"]] == [
        (layer, steps) for layer in ("conv1", "conv2", "conv3") for steps in (2, 4, 8)]
    # The last snapshot is the reference of the activation fraction.
    assert all(row["activation_fraction_median"] == 1.0 for row in result["rows"] if row["steps"] == 8)
    assert all(0.0 <= row["self_recognition"] <= 1.0 for row in result["rows"])
    assert plot.read_text().count("<polyline") == 6  # a line per layer in each of the two panels
    assert_machine_recorded(result)
    # --after: an earlier run's rows first, then this run's
    merged = tmp_path / "merged.json"
    run_bench("convergence.py", "--quick", "--layers", "conv1", "--after", str(output), "--json", str(merged),
              "--views-strength", "0.5", "--decay-power", "1.5", "--views-ramp", "4")
    merged_result = json.loads(merged.read_text())
    rows = merged_result["rows"]
    assert rows[:9] == result["rows"]
    # the step rule's options reach the method it records
    for name in ("jitter", "scale", "rotate"):
        assert result["method"][name] > 0
        assert merged_result["method"][name] == pytest.approx(result["method"][name] / 2)
    assert (result["method"]["decay_power"], merged_result["method"]["decay_power"]) == (1.0, 1.5)
    assert (result["method"]["views_ramp"], merged_result["method"]["views_ramp"]) == (0, 4)
    assert [(row["layer"], row["steps"]) for row in rows[9:]] == [("conv1", steps) for steps in (2, 4, 8)]


@pytest.mark.backend_free
def test_estimate_bench_compares_the_previews_estimate_with_a_measured_full_build(tmp_path):
    output = tmp_path / "estimate.json"
    run_bench("estimate.py", "--model", "tiny-cnn", "--layers", "conv1", "--filters", "0:1", "--record", str(output))
    result = json.loads(output.read_text())
    assert_machine_recorded(result)
    assert result["model"] == "tiny-cnn" and result["filters"] == "0:1"
    [row] = result["rows"]
    assert row["layer"] == "conv1" and row["filters"] == 1 and row["facets"] == 4
    assert row["measured_phases"]["optimise"] > 0 and row["measured_phases"]["facets"] > 0
    assert row["ratio"] == pytest.approx(row["estimate_seconds"] / row["measured_seconds"])
    phases = row["measured_phases"]
    assert row["measured_seconds"] == pytest.approx(phases["optimise"] + phases["facets"])
    assert all(0 < row[key] < 600 for key in ("preview_seconds", "estimate_seconds", "measured_seconds"))
    assert row["full_steps"] > 0


@pytest.mark.backend_free
def test_compute_floor_counts_each_step_of_each_image_at_the_matmul_rate(tmp_path):
    output = tmp_path / "floor.json"
    config = tmp_path / "atlas.toml"
    config.write_text('model = "tiny-cnn"\n[full_steps]\nconv2 = 7\n')
    run_bench("compute_floor.py", "--quick", "--target-minutes", "1", "--config", str(config), "--json", str(output))
    result = json.loads(output.read_text())
    rows = {row["layer"]: row for row in result["rows"]}
    assert list(rows) == ["conv1", "conv2", "conv3"]
    assert [row["steps"] for row in rows.values()] == [128, 7, 128]  # the config's per-layer steps, else the full
    assert_machine_recorded(result)
    assert set(result["matmul_flops_per_second"]) == {"float32", "bfloat16"}
    assert result["rate"] == max(result["matmul_flops_per_second"].values())
    assert_between(result["rate"], 1e8, 1e16)  # 0.1 GFLOP/s to 10 PFLOP/s
    assert result["target_seconds"] == 60
    # conv1 fuses its ReLU, so the optimiser's target is a leaky ReLU after it: still only the own filter counts
    assert rows["conv1"]["flops_per_image_step"] == 2 * 2 * 64 * 64 * 9 * 3 * 1
    # conv2 at 64 px: conv1 whole (3 -> 8 channels), then only the image's own filter of conv2 (8 -> 1), 3x3
    # kernels, 2 FLOPs a multiply-add, forward and input gradient
    assert rows["conv2"]["size"] == 64
    assert rows["conv2"]["flops_per_image_step"] == 2 * (2 * 64 * 64 * 9 * 3 * 8 + 2 * 64 * 64 * 9 * 8 * 1)
    # both signs and the facets of every filter, every step
    assert all(row["images"] == row["filters"] * (2 + result["facets_per_filter"]) for row in rows.values())
    assert all(row["flops"] == row["flops_per_image_step"] * row["images"] * row["steps"] for row in rows.values())
    work = sum(row["flops"] for row in rows.values()) + result["scan_flops"]
    assert result["floor_seconds"] == pytest.approx(work / result["rate"])
    one_step = sum(row["flops_per_image_step"] * row["images"] for row in rows.values())
    assert result["floor_steps_that_fit"] * one_step + result["scan_flops"] == pytest.approx(60 * result["rate"])


@pytest.mark.backend_free
def test_layer_rate_times_each_layer_and_shares_it_of_the_matmul_rate(tmp_path):
    output = tmp_path / "rate.json"
    run_bench("layer_rate.py", "--quick", "--json", str(output))
    result = json.loads(output.read_text())
    assert_machine_recorded(result)
    assert result["matmul_dtype"] == ("bfloat16" if result["precision"] == "mixed" else "float32")
    assert_between(result["matmul_flops_per_second"], 1e8, 1e16)
    rows = {row["layer"]: row for row in result["layers"]}
    assert list(rows) == ["conv1", "conv2", "conv3"]
    # the work per image step is compute_floor's: conv2 at 64 px is conv1 whole and conv2's own filter
    assert rows["conv2"]["size"] == 64
    assert rows["conv2"]["flops_per_image_step"] == 2 * (2 * 64 * 64 * 9 * 3 * 8 + 2 * 64 * 64 * 9 * 8 * 1)
    for row in rows.values():
        assert_between(row["step_seconds"] * 1000 / row["batch_size"], 0.0, MAX_MILLISECONDS_PER_IMAGE_STEP)
        assert row["flops_per_second"] == pytest.approx(
            row["flops_per_image_step"] * row["batch_size"] / row["step_seconds"], rel=1e-3)
        assert row["share_of_matmul_rate"] == pytest.approx(
            row["flops_per_second"] / result["matmul_flops_per_second"], abs=1e-3)


@pytest.mark.backend_free
def test_tutorial_vs_build_times_both_whole_processes(tmp_path):
    output = tmp_path / "tutorial.json"
    run_bench("tutorial_vs_build.py", "--quick", "--variants", "float32-no-examples", "--json", str(output))
    result = json.loads(output.read_text())
    assert_machine_recorded(result)
    assert result["filters"] == 2 and len(result["tutorial_seconds"]) == 1
    (row,) = result["builds"]
    assert row["variant"] == "float32-no-examples" and 0 < row["median_seconds"] < 600
    assert row["tutorial_over_build"] == pytest.approx(result["tutorial_seconds"][0] / row["median_seconds"])
