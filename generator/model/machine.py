"""What a build runs on, and why: the GPUs that nvidia-smi lists, and the build's first lines (backend, device,
precision, profile), with a warning where nvidia-smi lists a GPU that the backend cannot see.

No Keras here: ``backends.machine_facts`` gathers the facts and these functions only word them, so every case can
be tested without a GPU.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass

NVIDIA_SMI_QUERY = ("--query-gpu=name,memory.total", "--format=csv,noheader,nounits")
NVIDIA_SMI_SECONDS = 10.0  # a hung driver must not hold up the build
GPU_BUILD_COMMAND = "make atlas GPU=1"
GPU_INSTALL_COMMAND = "make install GPU=1"


@dataclass(frozen=True)
class GpuListing:
    """One GPU as nvidia-smi lists it."""

    name: str
    memory_mib: int | None  # None where nvidia-smi does not say

    def describe(self) -> str:
        return self.name if self.memory_mib is None else f"{self.name}, {self.memory_mib / 1024:.0f} GiB"


@dataclass(frozen=True)
class MachineFacts:
    """What the first lines are worded from."""

    backend: str  # the Keras backend: tensorflow or jax
    backend_given: bool  # KERAS_BACKEND was set, rather than the package's default
    visible_gpu: str | None  # the name of the GPU the backend computes on; None: it computes on the CPU
    listed_gpus: tuple[GpuListing, ...] = ()  # what nvidia-smi lists; empty without nvidia-smi or without GPUs
    cuda_plugin_installed: bool = False  # JAX's CUDA plugin (the `cuda` extra) is installed
    cpu_name: str = ""


def parse_gpu_listing(text: str) -> tuple[GpuListing, ...]:
    """``nvidia-smi --query-gpu=name,memory.total --format=csv,noheader,nounits`` -> one listing a line; lines
    without a comma ("No devices were found") list nothing."""
    gpus = []
    for line in text.splitlines():
        name, separator, memory = line.rpartition(",")
        if separator and name.strip():
            memory = memory.strip()
            gpus.append(GpuListing(name.strip(), int(memory) if memory.isdigit() else None))
    return tuple(gpus)


def listed_gpus() -> tuple[GpuListing, ...]:
    """The GPUs nvidia-smi lists; none where nvidia-smi is missing, fails or hangs."""
    command = shutil.which("nvidia-smi")
    if command is None:
        return ()
    try:
        completed = subprocess.run([command, *NVIDIA_SMI_QUERY], capture_output=True, text=True,
                                   timeout=NVIDIA_SMI_SECONDS)
    except (OSError, subprocess.SubprocessError):
        return ()
    return parse_gpu_listing(completed.stdout) if completed.returncode == 0 else ()


def cpu_name() -> str:
    """The CPU's model name and the cores this process may use (Linux); the core count alone elsewhere."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            model = next((line.partition(":")[2].strip() for line in cpuinfo if line.startswith("model name")), "")
    except OSError:
        model = ""
    return f"{model}, {cores} cores" if model else f"{cores} cores"


def backend_line(facts: MachineFacts) -> str:
    why = f"KERAS_BACKEND={facts.backend}" if facts.backend_given else "the default; KERAS_BACKEND=jax chooses JAX"
    return f"Backend: {facts.backend} ({why})."


def device_line(facts: MachineFacts) -> str:
    if facts.visible_gpu is None:
        why = (f"{facts.backend} sees no GPU" if facts.listed_gpus else "nvidia-smi lists no GPU")
        return f"Device: CPU, {facts.cpu_name} ({why})." if facts.cpu_name else f"Device: CPU ({why})."
    same_name = [gpu for gpu in facts.listed_gpus if gpu.name == facts.visible_gpu]
    listing = same_name[0] if same_name else facts.listed_gpus[0] if len(facts.listed_gpus) == 1 else None
    described = listing.describe() if listing else facts.visible_gpu
    others = (f"; this build uses one of the {len(facts.listed_gpus)} that nvidia-smi lists"
              if len(facts.listed_gpus) > 1 else "")
    return f"Device: GPU {described} (visible to {facts.backend}{others})."


def invisible_gpu_warning(facts: MachineFacts) -> str | None:
    """One line where nvidia-smi lists a GPU that the backend cannot see: what is wrong and the command that fixes
    it; None where there is no such GPU."""
    if facts.visible_gpu is not None or not facts.listed_gpus:
        return None
    listed = facts.listed_gpus[0].describe() + (f", and {len(facts.listed_gpus) - 1} more"
                                                if len(facts.listed_gpus) > 1 else "")
    if facts.backend != "jax":
        fix = (f"{facts.backend} has no CUDA libraries for it here; run `{GPU_BUILD_COMMAND}`, which installs JAX "
               f"with its CUDA 12 plugin and builds on it")
    elif not facts.cuda_plugin_installed:
        fix = f"JAX's CUDA plugin is not installed; run `{GPU_INSTALL_COMMAND}` (pip's `.[cuda]` extra)"
    else:
        fix = ("JAX's CUDA plugin is installed, so the NVIDIA driver is missing or too old for CUDA 12: update it "
               "until nvidia-smi's header shows CUDA Version 12 or later, then run again")
    return (f"warning: nvidia-smi lists a GPU ({listed}) but {facts.backend} cannot see it, so this build runs on "
            f"the CPU: {fix}.")
