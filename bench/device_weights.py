"""Prepare what a GPU session carries (bench/device_session.sh): vgg16-hed's conv weights in float16 (29 MB
instead of 59), in the same layout, and the wheels the device lacks.

    python bench/device_weights.py            # writes .device/hed_fp16.h5 and downloads .whl/ (both git-ignored)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import h5py

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from generator.model.models import hed_weights_path  # noqa: E402


def halve(source: Path, target: Path) -> None:
    """Copy every conv kernel and bias (blockN/layers/conv2d*/vars/0 and 1) as float16."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(source, "r") as original, h5py.File(target, "w") as copy:
        for block in range(1, 6):
            group = original[f"block{block}/layers"]
            for name in group:
                if name.startswith("conv2d"):
                    for index in ("0", "1"):
                        copy[f"block{block}/layers/{name}/vars/{index}"] = group[name]["vars"][index][()].astype(
                            "float16")


def main():
    target = ROOT / ".device/hed_fp16.h5"
    halve(hed_weights_path(), target)
    print(f"{target}: {target.stat().st_size / 1e6:.0f} MB")
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                    "--python-version", "3.12", "--dest", str(ROOT / ".whl"), "keras", "namex", "optree"], check=True)
    print(f"wheels: {', '.join(sorted(path.name for path in (ROOT / '.whl').glob('*.whl')))}")


if __name__ == "__main__":
    main()
