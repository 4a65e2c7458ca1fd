"""The circuits' records as the site reads them (no model, no Keras): where a layer pair's file lies, reading it,
and each filter's lists attached to the atlas record. circuits.py computes and writes them."""

from __future__ import annotations

from pathlib import Path

from generator.store import directory
from generator.store.files import read_record

FORMAT = 1
CIRCUITS_DIR = directory.CIRCUITS_DIR


def pair_path(out: Path, earlier: str, later: str) -> Path:
    return out / CIRCUITS_DIR / f"{directory.layer_slug(earlier)}--{directory.layer_slug(later)}.json"


def read_pair(out: Path, earlier: str, later: str) -> dict | None:
    return read_record(pair_path(out, earlier, later), FORMAT)


def for_site(out: Path, layers: list[dict]) -> None:
    """Give each filter record of the atlas its ``circuit`` (the earlier layer's filters that excite and inhibit
    it) and ``feeds`` (the later layer's filters it excites most), where the pair's file exists. A listed filter
    carries its page and thumbnail where the atlas has it, else None."""
    for earlier, later in zip(layers, layers[1:]):
        record = read_pair(out, earlier["name"], later["name"])
        if record is None:
            continue
        earlier_built = {entry["id"]: entry for entry in earlier["filters"]}
        later_built = {entry["id"]: entry for entry in later["filters"]}
        for found in record["later_filters"]:
            entry = later_built.get(found["id"])
            if entry is not None:
                entry["circuit"] = {"layer": earlier["name"], "method": record["method"],
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
