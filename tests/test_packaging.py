"""A built wheel, installed outside the repository, renders a site: the templates travel inside the package."""

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

from sitecheck import broken_links

REPOSITORY = Path(__file__).resolve().parent.parent


def test_a_wheel_installed_outside_the_repository_builds_and_renders_a_site(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(dist), str(REPOSITORY)], check=True, cwd=tmp_path)
    (wheel,) = dist.glob("filter_atlas-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"generator/templates/filter.html", "generator/templates/assets/atlas.js"} <= names

    # A fresh environment holding the wheel alone; its dependencies (TensorFlow, ...) are borrowed from this
    # environment through a path file, so that nothing is downloaded and the package itself is the wheel's.
    environment = tmp_path / "environment"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(environment)], check=True)
    python = environment / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
                    str(wheel)], check=True)
    installed = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                                    check=True, capture_output=True, text=True).stdout.strip())
    (installed / "borrowed-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")

    clean = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    where = subprocess.run([str(python), "-c", "import generator; print(generator.__file__)"], check=True,
                           capture_output=True, text=True, cwd=tmp_path, env=clean).stdout.strip()
    assert Path(where).is_relative_to(installed), where
    result = subprocess.run([str(environment / "bin" / "atlas"), "build", "--model", "tiny-cnn", "--size", "16",
                             "--steps", "2", "--profile", "full", "--examples", "none", "--out", "site"],
                            capture_output=True, text=True, cwd=tmp_path, env=clean)
    assert result.returncode == 0, result.stderr
    site = tmp_path / "site"
    assert (site / "index.html").is_file() and (site / "assets" / "atlas.js").is_file()
    assert len(list(site.glob("layers/*/0000.html"))) == 3  # conv1, conv2, conv3
    assert broken_links(site) == []
