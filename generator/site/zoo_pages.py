"""The models index of a multi-model site (no model, no Keras): from ``models.json`` and each member's own
record (``<slug>/atlas.json``, ``<slug>/compare.json``), one page at the root: every model with its layers,
filters built, profile and a strip of tiles; the comparisons; and a search over every model's layers and class
labels, its data inline in the page (nothing is fetched)."""

from __future__ import annotations

from pathlib import Path

from generator import __version__
from generator.errors import AtlasError
from generator.site import compare_pages, pages
from generator.store import atlas_records, compare_records, directory, example_records, zoo_records
from generator.store.files import write_atomically, writing
from generator.store.layout import MODELS_FILE

STRIP = 12  # tiles per model on the index


def model_row(root: Path, model: dict) -> dict:
    """What the index shows of one model: its atlas record (None until built), counts and a strip of tiles."""
    atlas = atlas_records.read_atlas(zoo_records.member(root, model["slug"]))
    if atlas is None:
        return {**model, "atlas": None}
    entries = [{**entry, "layer": layer["name"]} for layer in atlas["layers"] for entry in layer["filters"]]
    step = max(1, len(entries) // STRIP)  # spread over the layers, shallow to deep
    return {**model, "atlas": atlas, "strip": entries[::step][:STRIP],
            "num_built": len(entries), "num_planned": sum(layer["num_planned"] for layer in atlas["layers"])}


def search_entries(rows: list[dict]) -> list[dict]:
    """Every layer and every class label of every built model: the text searched, what it is, its page."""
    found = []
    for row in rows:
        for layer in (row["atlas"] or {}).get("layers", []):
            found.append({"text": layer["name"], "model": row["name"], "kind": "layer",
                          "page": f"{row['slug']}/{layer['page']}"})
            built = {entry["id"]: entry for entry in layer["filters"]}
            for unit, label in enumerate(layer.get("labels", [])):
                if unit in built:
                    found.append({"text": label, "model": row["name"], "kind": f"class of {layer['name']}",
                                  "page": f"{row['slug']}/{built[unit]['page']}"})
    return found


def render_index(root: Path) -> None:
    """Write ``root/index.html`` (and the assets it uses) from models.json and the members' records."""
    root = Path(root)
    record = zoo_records.read_models(root)
    if record is None:
        raise AtlasError(f"'{root}' is not a multi-model site ({MODELS_FILE} is missing).")
    rows = [model_row(root, model) for model in record["models"]]
    names = {model["slug"]: model["name"] for model in record["models"]}
    compares = []
    for item in record.get("compare", []):
        found = compare_records.read_compare(zoo_records.member(root, item["slug"]))
        ranked = sorted((found or {}).get("layers", []), key=lambda layer: -(layer["change"] or 0.0))
        compares.append({**item, "a_name": names.get(item["a"], item["a"]), "b_name": names.get(item["b"], item["b"]),
                         "record": found is not None, "top_layer": ranked[0]["name"] if ranked else "none"})
    page = pages.environment().get_template("models.html").render(
        zoo={"title": record.get("title") or root.resolve().name}, models=rows, compares=compares, root="",
        generator=f"filter-atlas {__version__}", search=search_entries(rows))
    with writing(f"the models index into '{root}'"):
        write_atomically(root / "index.html", page.encode("utf-8"))
        pages.copy_assets(root)


def render_all(root: Path, merges: list[Path] = ()) -> list[dict]:
    """``atlas render`` of a multi-model site: each shard directory's models merged in, every model and every
    comparison re-rendered, then the index. Returns the models' atlas records."""
    for other in merges:
        record = zoo_records.read_models(other)
        if record is None:
            raise AtlasError(f"'{other}' is not part of a multi-model build ({MODELS_FILE} is missing): "
                             f"merge the shard directories that `atlas build --config ZOO --shard I/N` wrote.")
        for model in record["models"]:
            source, target = zoo_records.member(other, model["slug"]), zoo_records.member(root, model["slug"])
            if directory.has_run(source):
                directory.merge_units(source, target)
                example_records.copy_examples(source, target)
        if zoo_records.read_models(root) is None:
            zoo_records.write_models(root, {key: value for key, value in record.items() if key != "format"})
    record = zoo_records.read_models(root)
    if record is None:
        raise AtlasError(f"'{root}' is not a multi-model site ({MODELS_FILE} is missing).")
    built = [pages.render(zoo_records.member(root, model["slug"])) for model in record["models"]
             if directory.has_run(zoo_records.member(root, model["slug"]))]
    for item in record.get("compare", []):
        if compare_records.has_compare(zoo_records.member(root, item["slug"])):
            compare_pages.render(zoo_records.member(root, item["slug"]))
    render_index(root)
    return built
