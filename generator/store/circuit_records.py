"""The circuits' records (no model, no Keras): where a layer pair's file lies, reading and writing it, copying
them when shards merge, and each filter's lists attached to the atlas record. circuits.py computes them."""

from __future__ import annotations

from pathlib import Path

from generator.store.files import copy_file, read_record, write_json, writing
from generator.store.layout import CIRCUITS_DIR, CIRCUITS_FORMAT, circuit_file


def pair_path(out: Path, earlier: str, later: str) -> Path:
    return out / circuit_file(earlier, later)


def read_pair(out: Path, earlier: str, later: str) -> dict | None:
    return read_record(pair_path(out, earlier, later), CIRCUITS_FORMAT)


def write_pair(out: Path, record: dict) -> None:
    """A layer pair's record (its ``earlier`` and ``later`` layers name the file), written whole."""
    with writing(f"the circuits of '{record['later']}' into '{out}'"):
        write_json(pair_path(out, record["earlier"], record["later"]), record)


def copy_circuits(source: Path, target: Path) -> None:
    """Copy another output directory's circuit files that ``target`` lacks."""
    for path in sorted((source / CIRCUITS_DIR).glob("*.json")):
        if not (target / CIRCUITS_DIR / path.name).exists():
            copy_file(source, target, f"{CIRCUITS_DIR}/{path.name}")


def for_site(out: Path, layers: list[dict]) -> None:
    """Give each filter record of the atlas its ``circuit`` (the earlier layer's filters that excite and inhibit
    it, and ``unbuilt``: how many of the strongest are filters the atlas has not built) and ``feeds`` (the later
    layer's filters it excites most), where the pair's file exists. A listed filter carries its page and thumbnail
    where the atlas has it, else None."""
    for earlier, later in zip(layers, layers[1:]):
        record = read_pair(out, earlier["name"], later["name"])
        if record is None:
            continue
        earlier_built = {entry["id"]: entry for entry in earlier["filters"]}
        later_built = {entry["id"]: entry for entry in later["filters"]}
        for found in record["later_filters"]:
            entry = later_built.get(found["id"])
            if entry is not None:
                entry["circuit"] = {"layer": earlier["name"], "method": record["method"], "unbuilt": found["unbuilt"],
                                    **{sign: [_reference(item, earlier_built) for item in found[sign]]
                                       for sign in ("excite", "inhibit")}}
        for found in record["earlier_filters"]:
            entry = earlier_built.get(found["id"])
            if entry is not None and found["feeds"]:
                entry["feeds"] = {"layer": later["name"], "method": record["method"],
                                  "filters": [_reference(item, later_built) for item in found["feeds"]]}


def _reference(item: dict, built: dict[int, dict]) -> dict:
    entry = built.get(item["id"])
    return {**item, "page": entry["page"] if entry else None,
            "thumbnail": entry["positive"]["thumbnail"] if entry else None}
