"""`make atlas` and `make install` choose the CUDA install where nvidia-smi lists a GPU, and only there.

Each test reads what make would run (`make -n`) with a stand-in nvidia-smi on PATH, or none, and a fresh VENV
so that the install's commands show unless a stamp says it is done.
"""

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from helpers import path_without_nvidia_smi, write_nvidia_smi

REPOSITORY = Path(__file__).resolve().parents[1]
CPU_INSTALL = 'pip install --quiet -e ".[test]"'
CUDA_INSTALL = 'pip install --quiet -e ".[test,cuda]"'

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")


def dry_run(tmp_path: Path, *arguments: str, nvidia_smi: str | None | bool = False) -> subprocess.CompletedProcess:
    """``make -n ARGUMENTS VENV=tmp_path/venv`` in the repository. ``nvidia_smi``: False, none on PATH; None, one
    that finds no GPU; a listing, one that lists those GPUs. A make above (``make test``) passes on nothing."""
    stand_in = tmp_path / "bin"
    stand_in.mkdir(exist_ok=True)
    (stand_in / "nvidia-smi").unlink(missing_ok=True)
    if nvidia_smi is not False:
        write_nvidia_smi(stand_in, nvidia_smi)
    environment = {key: value for key, value in os.environ.items()
                   if key not in {"GPU", "KERAS_BACKEND", "MAKEFLAGS", "MFLAGS", "MAKELEVEL"}}
    environment["PATH"] = path_without_nvidia_smi(stand_in)
    return subprocess.run(["make", "-n", *arguments, f"VENV={tmp_path / 'venv'}"], cwd=REPOSITORY, env=environment,
                          capture_output=True, text=True, timeout=60)


def commands(tmp_path: Path, *arguments: str, nvidia_smi: str | None | bool = False) -> list[str]:
    completed = dry_run(tmp_path, *arguments, nvidia_smi=nvidia_smi)
    assert completed.returncode == 0, completed.stderr
    return completed.stdout.splitlines()


def build_command(lines: list[str]) -> str:
    [line] = [line for line in lines if "/bin/atlas build" in line]
    return line


def test_a_listed_gpu_installs_jax_with_cuda_and_builds_on_it(tmp_path):
    lines = commands(tmp_path, "atlas", nvidia_smi="NVIDIA H200, 143771")
    assert any(line.endswith(CUDA_INSTALL) for line in lines), lines
    assert build_command(lines).startswith(f"KERAS_BACKEND=jax {tmp_path / 'venv'}/bin/atlas build")
    assert f"touch {tmp_path / 'venv'}/.installed-stamp-cuda" in lines


def test_without_nvidia_smi_the_install_and_the_build_are_unchanged(tmp_path):
    lines = commands(tmp_path, "atlas")
    assert any(line.endswith(CPU_INSTALL) for line in lines), lines
    assert not any("cuda" in line for line in lines), lines
    assert build_command(lines).startswith(f"{tmp_path / 'venv'}/bin/atlas build --config atlas.toml")
    assert f"touch {tmp_path / 'venv'}/.installed-stamp" in lines  # the stamp of earlier installs: no reinstall


def test_nvidia_smi_that_finds_no_gpu_is_no_gpu(tmp_path):
    lines = commands(tmp_path, "atlas", nvidia_smi=None)
    assert any(line.endswith(CPU_INSTALL) for line in lines) and "KERAS_BACKEND" not in build_command(lines)


def test_make_install_follows_the_same_detection(tmp_path):
    assert any(line.endswith(CUDA_INSTALL) for line in commands(tmp_path, "install", nvidia_smi="NVIDIA H100, 81559"))
    assert any(line.endswith(CPU_INSTALL) for line in commands(tmp_path, "install"))


@pytest.mark.parametrize("gpu, nvidia_smi, install, backend", [
    ("0", "NVIDIA H200, 143771", CPU_INSTALL, None),  # a GPU the user does not want used
    ("1", False, CUDA_INSTALL, "jax"),  # nvidia-smi not on PATH, yet the driver and a GPU are there
])
def test_gpu_on_the_command_line_overrides_the_detection(tmp_path, gpu, nvidia_smi, install, backend):
    lines = commands(tmp_path, "atlas", f"GPU={gpu}", nvidia_smi=nvidia_smi)
    assert any(line.endswith(install) for line in lines), lines
    assert build_command(lines).startswith(f"KERAS_BACKEND={backend} " if backend else str(tmp_path))


def test_a_given_keras_backend_wins_over_the_gpu_variants_jax(tmp_path):
    lines = commands(tmp_path, "atlas", "GPU=1", "KERAS_BACKEND=tensorflow")
    assert build_command(lines).startswith("KERAS_BACKEND=tensorflow ")


def install_stamp(tmp_path: Path, name: str) -> None:
    """A finished install of one variant: its stamp newer than pyproject.toml."""
    stamp = tmp_path / "venv" / name
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.touch()
    later = time.time() + 60
    os.utime(stamp, (later, later))


def installs(tmp_path: Path, gpu: str) -> list[str]:
    return [line for line in commands(tmp_path, "atlas", f"GPU={gpu}") if "pip install" in line and "-e" in line]


def test_switching_the_gpu_on_installs_the_cuda_variant_over_a_cpu_install(tmp_path):
    install_stamp(tmp_path, ".installed-stamp")  # a CPU install, up to date
    assert installs(tmp_path, "0") == []
    assert [line.endswith(CUDA_INSTALL) for line in installs(tmp_path, "1")] == [True]
    install_stamp(tmp_path, ".installed-stamp-cuda")
    assert installs(tmp_path, "1") == []


def test_switching_the_gpu_off_installs_the_cpu_variant_over_a_cuda_install(tmp_path):
    install_stamp(tmp_path, ".installed-stamp-cuda")  # a CUDA install, up to date
    assert installs(tmp_path, "1") == []
    assert [line.endswith(CPU_INSTALL) for line in installs(tmp_path, "0")] == [True]


def test_gpu_other_than_0_or_1_stops_with_one_line(tmp_path):
    completed = dry_run(tmp_path, "atlas", "GPU=yes")
    assert completed.returncode != 0 and "GPU must be 0 or 1, got 'yes'" in completed.stderr


def stand_in_venv(tmp_path: Path, stamp: str) -> None:
    """A finished install whose python, atlas and ruff only print the environment they ran in."""
    install_stamp(tmp_path, stamp)
    for program in ("python", "atlas", "ruff"):
        script = tmp_path / "venv" / "bin" / program
        script.parent.mkdir(parents=True, exist_ok=True)
        script.write_text(f'#!/bin/sh\necho "{program} KERAS_BACKEND=$KERAS_BACKEND JAX_PLATFORMS=$JAX_PLATFORMS"\n')
        script.chmod(0o755)


def ran(tmp_path: Path, *arguments: str) -> list[str]:
    """What the stand-in programs printed when make ran ARGUMENTS for real (no nvidia-smi on PATH)."""
    environment = {key: value for key, value in os.environ.items()
                   if key not in {"GPU", "KERAS_BACKEND", "JAX_PLATFORMS", "MAKEFLAGS", "MFLAGS", "MAKELEVEL"}}
    environment["PATH"] = path_without_nvidia_smi()
    completed = subprocess.run(["make", "--no-print-directory", "-s", *arguments, f"VENV={tmp_path / 'venv'}"],
                               cwd=REPOSITORY, env=environment, capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
    return completed.stdout.splitlines()


def test_the_gpu_build_runs_on_jax_with_every_platform_open(tmp_path):
    stand_in_venv(tmp_path, ".installed-stamp-cuda")
    assert ran(tmp_path, "atlas", "GPU=1") == ["atlas KERAS_BACKEND=jax JAX_PLATFORMS="]


def test_the_tests_keep_jax_on_the_cpu_where_the_cuda_extra_is_installed(tmp_path):
    stand_in_venv(tmp_path, ".installed-stamp-cuda")
    assert ran(tmp_path, "test", "GPU=1") == ["ruff KERAS_BACKEND= JAX_PLATFORMS=cpu",
                                              "python KERAS_BACKEND= JAX_PLATFORMS=cpu",
                                              "python KERAS_BACKEND=jax JAX_PLATFORMS=cpu"]
