"""A comparison's static site (no model, no Keras): ``compare.json`` -> an index of layers ranked by change, a
gallery per layer with its filters most changed first, a page per filter with both checkpoints side by side.

The comparison is a site of its own: the files its pages show (both checkpoints' tiles, thumbnails and dataset
images) are copied into ``a/`` and ``b/`` under the same site-relative paths as in their atlases, so every link
is page-relative and stays inside it; it works from ``file://`` and under any sub-path, as an atlas does.
"""

from __future__ import annotations

from pathlib import Path

from generator.errors import AtlasError
from generator.site import pages
from generator.store import compare_records, directory, zoo_records
from generator.store.files import write_atomically, writing
from generator.store.layout import COMPARE_FILE

PREVIEW_STRIP = 6  # the most changed filters shown per layer on the index


def files_shown(record: dict, side: str) -> set[str]:
    """The site-relative paths of one checkpoint's files that the comparison's pages show."""
    paths = set()
    for layer in record["layers"]:
        for entry in layer["filters"]:
            shown = entry[side]
            for sign in directory.SIGN_NAMES:
                paths.update((shown[sign]["image"], shown[sign]["thumbnail"]))
                paths.update(example["image"] for example in shown.get("examples", {}).get(sign, []))
            for sign in ("excite", "inhibit"):
                paths.update(item["thumbnail"] for item in shown.get("circuit", {}).get(sign, [])
                             if item["page"] and item["thumbnail"])
    return paths


def write(out: Path, record: dict, sites: dict[str, Path]) -> None:
    """Copy the files shown from each site (``sites``: side -> atlas directory), then render the pages and write
    compare.json last."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise AtlasError(f"Output '{out}' is a file, not a directory: choose another --out.")
    for side, source in sites.items():
        if Path(source).resolve() == out.resolve():
            raise AtlasError(f"--out '{out}' is one of the compared atlases: choose another directory.")
        with writing(f"the comparison into '{out}'"):
            compare_records.copy_side(source, out, side, files_shown(record, side))
    render(out, record)


def render(out: Path, record: dict | None = None) -> dict:
    """Every page of the comparison in ``out`` (from its compare.json unless ``record`` is given)."""
    out = Path(out)
    if record is None:
        record = compare_records.read_compare(out)
        if record is None:
            raise AtlasError(f"'{out}' holds no comparison ({COMPARE_FILE} is missing or unreadable): make one with "
                             f"`atlas compare SITE_A SITE_B --out {out}`.")
    env = pages.environment()
    env.globals["models_index"] = zoo_records.models_index_of(out)
    common = {"compare": record, "sides": (("a", record["a"]), ("b", record["b"]))}
    ranked = sorted(record["layers"], key=lambda layer: -(layer["change"] if layer["change"] is not None else -1))
    written = {"index.html": env.get_template("compare_index.html").render(
        **common, root="", ranked=ranked, preview_count=PREVIEW_STRIP)}
    for layer in record["layers"]:
        written[layer["page"]] = env.get_template("compare_layer.html").render(**common, layer=layer, root="../../")
        filters = layer["filters"]
        for rank, entry in enumerate(filters):
            written[entry["page"]] = env.get_template("compare_filter.html").render(
                **common, layer=layer, entry=entry, rank=rank + 1, root="../../",
                previous=filters[rank - 1] if rank else None,
                next=filters[rank + 1] if rank + 1 < len(filters) else None)
    with writing(f"the comparison into '{out}'"):
        for path, text in written.items():
            write_atomically(out / path, text.encode("utf-8"))
        pages.copy_assets(out)
        compare_records.write_compare(out, record)
    return record
