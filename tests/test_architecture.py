"""The layout keeps its promises: imports run down the stages only, docs/architecture.md's module map and template
list are the code's, and rendering a built site loads no Keras."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "generator"
ARCHITECTURE = ROOT / "docs" / "architecture.md"

# The stages from the command line down; a module may import its own stage or any stage below it, never above.
# The shared leaves (errors, progress, defaults, the package's own __init__) import nothing of the package.
STAGES = ("cli", "build", "config", "site", "analysis", "optimisation", "model", "store", "leaves")
STAGE_OF_TOP_MODULE = {"cli": "cli", "config": "config", "options": "config", "errors": "leaves",
                       "progress": "leaves", "defaults": "leaves", "__init__": "leaves"}


def module_names() -> dict[str, Path]:
    """Every module of the package by its name under generator/ (``build.pipeline``, ``cli``, ``__init__``);
    subpackages' own ``__init__`` files are left out (they hold a docstring only, which a test checks)."""
    names = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).with_suffix("")
        if relative.name == "__init__" and len(relative.parts) > 1:
            continue
        names[".".join(relative.parts)] = path
    return names


def imports_of(path: Path, known: set[str]) -> set[str]:
    """The package's modules that ``path`` imports, anywhere in it (lazy imports inside functions count too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "generator":
            base = node.module.removeprefix("generator").lstrip(".")
            targets = []
            for alias in node.names:
                submodule = f"{base}.{alias.name}" if base else alias.name
                targets.append(f"generator.{submodule}" if submodule in known else node.module)
        else:
            continue
        for target in targets:
            name = target.removeprefix("generator").lstrip(".") or "__init__"
            if target.split(".")[0] == "generator" and name in known:
                found.add(name)
    return found


def stage_of(module: str) -> str:
    return STAGE_OF_TOP_MODULE.get(module) or module.split(".")[0]


def documented_map() -> dict[str, set[str]]:
    """docs/architecture.md's module map: each row's module (``build/pipeline.py``) and its imports column."""
    rows = re.findall(r"^\| `([\w/]+)\.py` \|[^|]*\| ([^|]*)\|$", ARCHITECTURE.read_text(encoding="utf-8"), re.M)
    return {name.replace("/", "."): {item.strip().strip("`") for item in uses.split(",") if item.strip()}
            for name, uses in rows}


def test_every_stage_named_is_a_package_or_a_top_module():
    names = module_names()
    assert {stage_of(name) for name in names} <= set(STAGES)
    for package in ("build", "site", "analysis", "optimisation", "model", "store"):
        initial = PACKAGE / package / "__init__.py"
        assert not imports_of(initial, set(names)), f"{package}/__init__.py imports; it should hold a docstring"


def test_no_import_runs_from_a_lower_stage_to_a_higher_one():
    names = module_names()
    upward = [f"{module} ({stage_of(module)}) imports {imported} ({stage_of(imported)})"
              for module, path in names.items() for imported in sorted(imports_of(path, set(names)))
              if STAGES.index(stage_of(imported)) < STAGES.index(stage_of(module))]
    assert upward == []


def test_the_module_map_lists_every_module_with_its_real_imports():
    names = module_names()
    documented = documented_map()
    assert sorted(documented) == sorted(names), "docs/architecture.md's module map and generator/ differ"
    wrong = {module: {"documented": sorted(documented[module]), "real": sorted(imports_of(path, set(names)))}
             for module, path in names.items() if documented[module] != imports_of(path, set(names))}
    assert wrong == {}


def test_the_template_list_is_the_templates_folder():
    text = ARCHITECTURE.read_text(encoding="utf-8")
    section = text[text.index("## Templates"):]
    section = section[:section.index("\n## ", 1)]
    listed = set(re.findall(r"`([\w]+\.html)`", section))
    assert listed == {path.name for path in (ROOT / "templates").glob("*.html")}


RENDER_WITHOUT_KERAS = """
import sys
from generator.cli import app
app(["render", sys.argv[1]], standalone_mode=False)
loaded = sorted(name for name in sys.modules if name.split(".")[0] in ("keras", "tensorflow", "jax", "jaxlib"))
print("loaded:", ",".join(loaded[:5]))
"""


@pytest.mark.backend_free
def test_rendering_a_built_site_loads_neither_keras_nor_a_backend(tmp_path, tiny):
    from helpers import tiny_settings

    from generator.build import pipeline

    settings = tiny_settings(tmp_path / "site", layers=("conv1",), steps=2, filters="0:4")
    pipeline.build(settings)
    (tmp_path / "site" / "index.html").unlink()
    rendered = subprocess.run([sys.executable, "-c", RENDER_WITHOUT_KERAS, str(tmp_path / "site")],
                              capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert rendered.returncode == 0, rendered.stderr
    assert rendered.stdout.strip() == "loaded:"
    assert (tmp_path / "site" / "index.html").is_file()
