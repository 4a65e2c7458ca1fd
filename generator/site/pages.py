"""The static website: atlas.json from the run's manifests, then Jinja2 pages from atlas.json.

Rendering reads only the output directory (run.json and unit manifests), never the model, so a site can be
re-rendered, or assembled from shards, anywhere. Every page is rendered in memory first and then written file
by file atomically: a template error leaves the previous site as it was.
"""

from __future__ import annotations

import importlib.resources
import shutil
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from joblib import Parallel, delayed

from generator import __version__
from generator.analysis import neighbours as filter_neighbours  # render() has a local 'neighbours' (adjacent layers)
from generator.errors import AtlasError
from generator.store import atlas_records, circuit_records, directory, example_records, facet_records, zoo_records
from generator.store.files import write_atomically, writing
from generator.store.layout import ATLAS_FORMAT
from generator.store.tiles import contact_sheet, encode_png, read_tile

# The templates ship inside the package as generator/templates (pyproject.toml maps the top-level templates/
# there in a wheel); in a source checkout they are the top-level templates/ itself.
_PACKAGED_TEMPLATES = importlib.resources.files("generator") / "templates"
TEMPLATES = (Path(str(_PACKAGED_TEMPLATES)) if _PACKAGED_TEMPLATES.is_dir()
             else Path(__file__).resolve().parents[2] / "templates")
PREVIEW_STRIP = 12


def collect(out: Path) -> dict:
    """The atlas record: run.json plus every finished unit's filters, in filter order."""
    run = directory.read_run(out)
    scan = example_records.read_examples(out)
    examples_summary, layer_examples = examples_for_site(scan, run)
    layers = []
    for layer in run["layers"]:
        filters = []
        for unit in directory.layer_units(layer):
            manifest = directory.read_manifest(unit, out)
            if manifest is not None:
                for entry in manifest["filters"]:
                    for sign in directory.SIGN_NAMES:  # units written before thumbnails existed
                        entry[sign].setdefault("thumbnail", entry[sign]["image"])
                filters += manifest["filters"]
        slug = layer["slug"]
        found = layer_examples.get(layer["name"])
        if found is not None and found["receptive_field"] == layer["receptive_field"]:
            for entry in filters:
                entry["examples"] = found["filters"][entry["id"]]
        layers.append({
            **{key: layer[key] for key in ("name", "slug", "kind", "num_filters", "output_size", "receptive_field",
                                           "image_size")},
            # per layer since the full profile's full_steps (fewer steps can fix the contrast)
            "steps": layer.get("steps", run["method"]["steps"]),
            "contrast": layer.get("contrast", run["method"].get("contrast", 0.0)),
            "num_planned": len(layer["filter_ids"]),
            "page": f"layers/{slug}/index.html",
            "contact_sheet": f"layers/{slug}/contact-sheet.png" if filters else None,
            "example_patch_size": found["patch_size"] if found is not None else None,
            **({"labels": layer["labels"]} if "labels" in layer else {}),  # class names of a Dense layer's units
            "filters": sorted(filters, key=lambda record: record["id"]),
        })
    circuit_records.for_site(out, layers)
    facet_records.for_site(out, layers)
    notices = directory.read_notices(out)
    try:
        filter_neighbours.for_site(out, layers, scan["key"] if examples_summary else None)
    except Exception as error:  # the maps are an extra: a failure leaves them out, named on every page
        for layer in layers:
            layer.pop("map", None)
        notices.append({"phase": "maps", "failed": True,
                        "text": f"Maps and neighbours not built: {type(error).__name__}: {error}."})
    steps = sorted({layer["steps"] for layer in layers}) or [run["method"]["steps"]]
    return {
        "format": ATLAS_FORMAT,
        "steps_text": f"{steps[0]}" if len(steps) == 1 else f"{steps[0]}-{steps[-1]}",
        "generator": f"filter-atlas {__version__}",
        **{key: run[key] for key in ("model", "method", "profile", "profile_reason", "full_command", "backend")},
        "examples": examples_summary,
        "notices": notices,
        "layers": layers,
    }


def examples_for_site(record: dict | None, run: dict) -> tuple[dict | None, dict[str, dict]]:
    """The atlas-wide summary and, per layer, its patch geometry and each filter's examples as the pages use
    them; nothing when the scan was made with another model."""
    if record is None or (record.get("model"), record.get("weights")) != (run["model"]["name"],
                                                                          run["model"]["weights"]):
        return None, {}
    summary = {key: record[key] for key in ("source", "num_images", "num_skipped", "image_size", "num_examples")}
    images = record["images"]
    layers = {}
    for name, layer in record["layers"].items():
        filters = [{sign: [{"image": images[example["image"]]["file"], "name": images[example["image"]]["name"],
                            "activation": example["activation"], "x": example["x"], "y": example["y"]}
                           for example in entry[sign]]
                    for sign in directory.SIGN_NAMES} for entry in layer["filters"]]
        layers[name] = {"patch_size": layer["patch_size"], "receptive_field": layer["receptive_field"],
                        "filters": filters}
    return summary, layers


def environment() -> Environment:
    if not TEMPLATES.is_dir():
        raise AtlasError(f"Templates not found at '{TEMPLATES}': reinstall the project (`make install`).")
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["number"] = lambda value, digits=3: "–" if value is None else f"{value:.{digits}g}"
    env.filters["basename"] = lambda path: path.rsplit("/", 1)[-1]  # filter pages sit beside their gallery
    env.globals["curve_points"] = curve_points
    env.globals["crop_geometry"] = crop_geometry
    env.globals["models_index"] = None  # a page-root-relative link to the models index (zoo_records.py), or None
    return env


GALLERY_CROP = 96


def gallery_examples(record: dict, layer: dict) -> dict | None:
    """The gallery's example view for the page script: per sign, each filter's best patch as the crop of a
    GALLERY_CROP-pixel box (``crop_geometry``) with ``image``, the number of its file in ``images`` (each file
    listed once), or None where the filter has none; and each filter's page."""
    if not record["examples"] or not layer["example_patch_size"]:
        return None
    files: dict[str, int] = {}
    views = {sign: [] for sign in directory.SIGN_NAMES}
    for entry in layer["filters"]:
        for sign, view in views.items():
            found = entry.get("examples", {}).get(sign)
            if not found:
                view.append(None)
                continue
            crop = crop_geometry(found[0], layer["example_patch_size"], record["examples"]["image_size"],
                                 GALLERY_CROP)
            view.append({"image": files.setdefault(found[0]["image"], len(files)), **crop})
    return {"images": [f"../../{path}" for path in files], "crop": GALLERY_CROP, **views}


def crop_geometry(example: dict, patch_size: int, image_size: int, display: int) -> dict:
    """How to show a dataset example's patch in a ``display``-pixel box: its source image scaled so the patch
    fills the box, shifted so the patch is in view (the page crops with overflow: hidden)."""
    scale = display / patch_size
    return {"size": round(image_size * scale), "left": round(-example["x"] * scale, 1),
            "top": round(-example["y"] * scale, 1), "pixelated": scale > 3}


CURVE_POINTS = 81  # at most this many points of a curve are drawn: a 320-pixel chart shows no more


def curve_points(curve: list, width: int = 320, height: int = 120) -> str:
    """An activation curve as SVG polyline points (inline, no chart library), thinned to CURVE_POINTS."""
    values = [value for value in curve if value is not None]
    if len(values) < 2:
        return ""
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    last = len(curve) - 1
    indices = (sorted({round(index * last / (CURVE_POINTS - 1)) for index in range(CURVE_POINTS)})
               if len(curve) > CURVE_POINTS else range(len(curve)))
    return " ".join(f"{index * width / last:.1f},{height - (curve[index] - low) / span * height:.1f}"
                    for index in indices if curve[index] is not None)


def render(out: Path) -> dict:
    """Write atlas.json, every page, contact sheets and assets into ``out``; return the record."""
    record = collect(out)
    env = environment()
    env.globals["models_index"] = zoo_records.models_index_of(out)
    pages: dict[str, str] = {}
    common = {"atlas": record}
    pages["index.html"] = env.get_template("index.html").render(**common, root="", preview_count=PREVIEW_STRIP)
    for layer_index, layer in enumerate(record["layers"]):
        neighbours = {"previous_layer": record["layers"][layer_index - 1] if layer_index else None,
                      "next_layer": record["layers"][layer_index + 1] if layer_index + 1 < len(record["layers"])
                      else None}
        pages[layer["page"]] = env.get_template("layer.html").render(
            **common, **neighbours, layer=layer, root="../../", gallery_examples=gallery_examples(record, layer))
        filters = layer["filters"]
        for index, entry in enumerate(filters):
            pages[entry["page"]] = env.get_template("filter.html").render(
                **common, layer=layer, entry=entry, root="../../",
                previous=filters[index - 1] if index else None,
                next=filters[index + 1] if index + 1 < len(filters) else None)
    pages.update(filter_neighbours.map_pages(env, record))
    with writing(f"the site into '{out}'", advice=""):
        for layer in record["layers"]:
            if layer["contact_sheet"]:
                tiles = Parallel(n_jobs=-1, prefer="threads")(  # PNG decoding releases the GIL
                    delayed(read_tile)(out, entry["positive"]["image"]) for entry in layer["filters"])
                write_atomically(out / layer["contact_sheet"], encode_png(contact_sheet(tiles), palette=True))
                if layer.get("map"):
                    tiles_by_id = {entry["id"]: tile for entry, tile in zip(layer["filters"], tiles)}
                    write_atomically(out / layer["map"]["sprite"],
                                     filter_neighbours.map_sprite(tiles_by_id, layer["map"]))
        for path, text in pages.items():
            write_atomically(out / path, text.encode("utf-8"))
        atlas_records.write_atlas(out, record)
        copy_assets(out)
    return record


def copy_assets(out: Path) -> None:
    """The pages' CSS, script and icon into ``out/assets``, and ``.nojekyll`` (no Jekyll on GitHub Pages)."""
    write_atomically(out / ".nojekyll", b"")
    assets = out / "assets"
    assets.mkdir(parents=True, exist_ok=True)
    for asset in (TEMPLATES / "assets").iterdir():
        shutil.copyfile(asset, assets / asset.name)
