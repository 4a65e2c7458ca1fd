"""The build's first lines say what runs and why, and a GPU that the backend cannot see is one line with its fix."""

import pytest
from helpers import path_without_nvidia_smi, tiny_settings, write_nvidia_smi

from generator.build import plan
from generator.config import AtlasConfig, resolve
from generator.model import machine
from generator.model.machine import GpuListing, MachineFacts

H200 = GpuListing("NVIDIA H200", 143771)
H100 = GpuListing("NVIDIA H100 80GB HBM3", 81559)


def test_nvidia_smis_listing_is_read_line_by_line():
    text = "NVIDIA H200, 143771\nNVIDIA H100 80GB HBM3, 81559\nTesla T4, [N/A]\n"
    assert machine.parse_gpu_listing(text) == (H200, H100, GpuListing("Tesla T4", None))


@pytest.mark.parametrize("text", ["", "No devices were found\n", "\n\n"])
def test_a_listing_without_gpus_lists_none(text):
    assert machine.parse_gpu_listing(text) == ()


def test_listed_gpus_asks_the_nvidia_smi_on_path(tmp_path, monkeypatch):
    write_nvidia_smi(tmp_path, "NVIDIA H200, 143771\nNVIDIA H100 80GB HBM3, 81559")
    monkeypatch.setenv("PATH", path_without_nvidia_smi(tmp_path))
    assert machine.listed_gpus() == (H200, H100)


@pytest.mark.parametrize("stand_in", ["absent", "no devices", "fails"])
def test_no_nvidia_smi_or_one_without_gpus_lists_none(tmp_path, monkeypatch, stand_in):
    if stand_in == "no devices":
        write_nvidia_smi(tmp_path, None)
    elif stand_in == "fails":
        (tmp_path / "nvidia-smi").write_text("#!/bin/sh\necho 'NVIDIA H200, 143771'\nexit 9\n")
        (tmp_path / "nvidia-smi").chmod(0o755)
    monkeypatch.setenv("PATH", path_without_nvidia_smi(tmp_path))
    assert machine.listed_gpus() == ()


def test_the_backend_line_says_who_chose_it():
    assert machine.backend_line(MachineFacts("jax", True, None)) == "Backend: jax (KERAS_BACKEND=jax)."
    assert machine.backend_line(MachineFacts("tensorflow", False, None)) == (
        "Backend: tensorflow (the default; KERAS_BACKEND=jax chooses JAX).")


def test_a_visible_gpu_is_named_with_its_memory():
    facts = MachineFacts("jax", True, "NVIDIA H200", (H200,))
    assert machine.device_line(facts) == "Device: GPU NVIDIA H200, 140 GiB (visible to jax)."


def test_of_several_listed_gpus_the_line_names_the_one_in_use_and_counts_them():
    facts = MachineFacts("jax", True, "NVIDIA H100 80GB HBM3", (H200, H100))
    assert machine.device_line(facts) == ("Device: GPU NVIDIA H100 80GB HBM3, 80 GiB (visible to jax; this build "
                                          "uses one of the 2 that nvidia-smi lists).")


def test_the_cpu_is_named_with_why_no_gpu_is_used():
    assert machine.device_line(MachineFacts("tensorflow", False, None, (), cpu_name="AMD EPYC, 2 cores")) == (
        "Device: CPU, AMD EPYC, 2 cores (nvidia-smi lists no GPU).")
    assert machine.device_line(MachineFacts("tensorflow", False, None, (H200,))) == (
        "Device: CPU (tensorflow sees no GPU).")


@pytest.mark.parametrize("facts", [
    MachineFacts("jax", True, "NVIDIA H200", (H200,)),  # the GPU is in use
    MachineFacts("tensorflow", False, None, ()),  # no GPU at all
    MachineFacts("jax", True, None, (), cuda_plugin_installed=True),
])
def test_no_warning_where_no_listed_gpu_is_missed(facts):
    assert machine.invisible_gpu_warning(facts) is None


@pytest.mark.parametrize("facts, fix", [
    (MachineFacts("tensorflow", False, None, (H200,)), "run `make atlas GPU=1`, which installs JAX with its CUDA 12"),
    (MachineFacts("jax", True, None, (H200,)), "JAX's CUDA plugin is not installed; run `make install GPU=1`"),
    (MachineFacts("jax", True, None, (H200,), cuda_plugin_installed=True), "the NVIDIA driver is missing or too old"),
])
def test_a_listed_gpu_the_backend_cannot_see_is_one_line_with_its_fix(facts, fix):
    warning = machine.invisible_gpu_warning(facts)
    assert warning.startswith(f"warning: nvidia-smi lists a GPU (NVIDIA H200, 140 GiB) but {facts.backend} cannot "
                              f"see it, so this build runs on the CPU: ")
    assert fix in warning and "\n" not in warning


def test_several_listed_gpus_are_counted_in_the_warning():
    warning = machine.invisible_gpu_warning(MachineFacts("tensorflow", False, None, (H200, H100)))
    assert "(NVIDIA H200, 140 GiB, and 1 more)" in warning


def test_the_first_lines_on_a_gpu_say_full_because_a_gpu_is_visible(tmp_path):
    settings = resolve(AtlasConfig(out=str(tmp_path)), has_gpu=True, fast_bfloat16=True)
    lines = plan.first_lines(MachineFacts("jax", True, "NVIDIA H200", (H200,)), settings)
    assert lines == [
        "Backend: jax (KERAS_BACKEND=jax).",
        "Device: GPU NVIDIA H200, 140 GiB (visible to jax).",
        "Precision: mixed (bfloat16 compute, float32 variables and loss; the device computes bfloat16 natively).",
        "Profile: full (a GPU is visible). Method fourier, 128 steps, auto px.",
    ]


def test_the_first_lines_put_the_warning_under_the_device_and_before_the_preview(tmp_path):
    settings = resolve(AtlasConfig(out=str(tmp_path)), has_gpu=False)
    lines = plan.first_lines(MachineFacts("tensorflow", False, None, (H200,)), settings)
    assert [line.split(" ")[0] for line in lines] == ["Backend:", "Device:", "warning:", "Precision:", "Profile:"]
    assert lines[3] == "Precision: float32 (the device has no bfloat16 measured faster than float32)."
    assert lines[4].startswith("Profile: preview (no GPU is visible, so a full atlas would be slow).")


def test_precision_and_profile_asked_for_say_so(tmp_path):
    settings = tiny_settings(tmp_path, precision="float32")
    assert plan.precision_line(settings) == "Precision: float32 (--precision float32 was asked for)."
    assert plan.profile_line(settings) == "Profile: full (--profile full was asked for). Method classic, " \
                                             f"{settings.method.steps} steps, 16 px."
