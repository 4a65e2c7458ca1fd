"""A run as a list of work units (layer, batch of filter ids), each finished by a manifest.

A unit's tiles are written first, then its manifest; a unit is done when its manifest exists, carries the
current key (a hash of everything that changes its images) and names files that exist. Re-running a build
skips done units. ``run.json`` describes the whole run, so a site can be rendered from the output directory
alone, without the model. Writing a finished unit (``write_unit``) lives here, beside the reading.
"""

from __future__ import annotations

import hashlib
import json
import os
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from generator.errors import AtlasError
from generator.store.facet_records import copy_facets
from generator.store.files import copy_file, read_record, write_atomically, writing
from generator.store.layout import (
    NOTICES_FILE,
    NOTICES_FORMAT,
    RUN_FILE,
    UNIT_FORMAT,
    channels_path,
    filter_page_path,
    layer_slug,
    tile_path,
    unit_manifest_file,
)
from generator.store.tiles import channel_strip, displayed, encode_png, status_of, write_tile

SIGNS = (("positive", 1.0), ("negative", -1.0))  # each filter's two images: its pattern, and it taken out
SIGN_NAMES = tuple(name for name, _ in SIGNS)
FILE_KEYS = ("image", "thumbnail", "channels")  # the files a sign's record may name ("channels": N-band images)


def layer_key(model_id: str, layer_name: str, method_key: str, size: int) -> int:
    """A small integer naming the layer in per-image random seeds."""
    return zlib.crc32(f"{model_id}|{layer_name}|{method_key}|{size}".encode()) & 0x7FFFFFFF


@dataclass(frozen=True)
class Unit:
    layer: str
    slug: str
    filter_ids: tuple[int, ...]
    key: str  # changes whenever the unit's images would change
    cost: float  # relative work, for balancing shards

    @property
    def name(self) -> str:
        ids = ",".join(map(str, self.filter_ids))
        return f"{self.filter_ids[0]:04d}-{self.filter_ids[-1]:04d}-{zlib.crc32(ids.encode()):08x}"

    def manifest_path(self, out: Path) -> Path:
        return out / unit_manifest_file(self.slug, self.name)


def unit_key(run_identity: dict, layer: str) -> str:
    text = json.dumps({**run_identity, "layer": layer, "format": UNIT_FORMAT}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def plan_layer_units(layer: str, filter_ids: list[int], unit_size: int, key: str, cost_per_filter: float) -> list[Unit]:
    slug = layer_slug(layer)
    return [Unit(layer, slug, tuple(filter_ids[start:start + unit_size]), key,
                 cost_per_filter * len(filter_ids[start:start + unit_size]))
            for start in range(0, len(filter_ids), unit_size)]


def read_manifest(unit: Unit, out: Path) -> dict | None:
    """The unit's manifest if the unit is done (same key, same filters, every named file present), else None."""
    path = unit.manifest_path(out)
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if manifest.get("key") != unit.key or tuple(manifest.get("filter_ids", ())) != unit.filter_ids:
        return None
    for record in manifest.get("filters", []):
        for sign in SIGN_NAMES:
            if not all((out / record[sign][key]).is_file() for key in FILE_KEYS if key in record[sign]):
                return None
    return manifest


def write_manifest(unit: Unit, out: Path, filters: list[dict], details: dict) -> None:
    manifest = {"format": UNIT_FORMAT, "key": unit.key, "layer": unit.layer, "filter_ids": list(unit.filter_ids),
                "filters": filters, **details}
    with writing(f"the manifest '{unit.manifest_path(out)}'",
                 "Free some space; a re-run resumes from the last finished batch."):
        write_atomically(unit.manifest_path(out), json.dumps(manifest, separators=(",", ":")).encode())


def write_unit(unit: Unit, result, tile: Callable[[np.ndarray, int], np.ndarray], size: int, out: Path,
               display_channels: tuple[int, ...] = (0, 1, 2)) -> None:
    """A unit's tiles first (atomically), its manifest last: a unit with a manifest is complete. ``result`` is a
    ``workers.UnitResult``; ``tile`` the method's (image, size) -> uint8 tile. Images of one channel become
    grayscale tiles, of three RGB tiles; any other count shows ``display_channels`` as RGB and gets a strip of
    every channel beside it."""
    records = {filter_id: {"id": filter_id, "page": filter_page_path(unit.slug, filter_id)}
               for filter_id in unit.filter_ids}
    for sign_name, sign in result.signs.items():
        for index, filter_id in enumerate(unit.filter_ids):
            raw = sign.images[index]
            channels = tile(raw, size)
            image = displayed(channels, display_channels)
            path = tile_path(unit.slug, filter_id, sign_name)
            write_tile(out / path, image)
            extra = {}
            if channels.shape[-1] not in (1, 3):
                extra["channels"] = channels_path(unit.slug, filter_id, sign_name)
                with writing(f"'{out / extra['channels']}'"):
                    write_atomically(out / extra["channels"], encode_png(channel_strip(channels)))
            curve = sign.activations[index]
            records[filter_id][sign_name] = {
                **extra,
                "image": path,
                "thumbnail": str(Path(path).with_suffix(".webp")),
                "activation_before": _finite_or_none(curve[0]),
                "activation_after": _finite_or_none(curve[-1]),
                "curve": [_finite_or_none(value) for value in curve],
                "status": status_of(raw, image, curve),
            }
    for filter_id, response in zip(unit.filter_ids, result.responses):
        records[filter_id]["status"] = "silent" if response.silent else "fires"
        records[filter_id]["response"] = {key: _finite_or_none(value) for key, value in
                                          (("peak", response.peak), ("own", response.own), ("best", response.best),
                                           ("flat", response.flat))}
    write_manifest(unit, out, [records[filter_id] for filter_id in unit.filter_ids],
                   {"written_by": f"pid {os.getpid()}"})


def _finite_or_none(value) -> float | None:
    value = float(value)
    return float(f"{value:.5g}") if np.isfinite(value) else None  # 5 significant digits: a record, not a dump


def write_run(out: Path, run: dict) -> None:
    write_atomically(out / RUN_FILE, json.dumps(run, indent=1).encode())


def has_run(out: Path) -> bool:
    """Whether ``out`` holds an atlas run (its run.json)."""
    return (out / RUN_FILE).is_file()


def load_run(out: Path):
    """run.json as it is written, or None where there is none; OSError or ValueError where it cannot be read (a
    caller that tells those apart from a missing run)."""
    try:
        return json.loads((out / RUN_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


def read_run(out: Path) -> dict:
    try:
        run = load_run(out)
    except (OSError, ValueError) as error:
        raise AtlasError(f"'{out / RUN_FILE}' cannot be read: {error}.") from None
    if run is None:
        raise AtlasError(f"'{out}' holds no atlas run ({RUN_FILE} is missing): build one with `atlas build "
                         f"--out {out}` first.")
    return run


def layer_units(layer: dict) -> list[Unit]:
    """The units of one layer as run.json describes it."""
    return plan_layer_units(layer["name"], layer["filter_ids"], layer["unit_size"], layer["key"],
                            layer["cost_per_filter"])


def units_from_run(run: dict) -> list[Unit]:
    return [unit for layer in run["layers"] for unit in layer_units(layer)]


def shard_units(units: list[Unit], index: int, count: int) -> list[Unit]:
    """Units of shard ``index`` of ``count``: deterministic, balanced by cost (largest first, to the lightest)."""
    loads = [0.0] * count
    owner = {}
    for position in sorted(range(len(units)), key=lambda i: (-units[i].cost, i)):
        lightest = min(range(count), key=lambda shard: (loads[shard], shard))
        owner[position] = lightest
        loads[lightest] += units[position].cost
    return [unit for position, unit in enumerate(units) if owner[position] == index]


def to_json_safe(value):
    """Dataclasses and paths in a run description, as JSON values."""
    if hasattr(value, "__dataclass_fields__"):
        return to_json_safe(asdict(value))
    if isinstance(value, dict):
        return {key: to_json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json_safe(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    return value


def merge_units(source: Path, target: Path) -> int:
    """Copy the finished units (manifests and the tiles they name) of another shard's directory into
    ``target``; the runs must be the same (same run.json). Returns how many units were copied."""
    run = read_run(source)
    if (target / RUN_FILE).exists() and read_run(target)["layers"] != run["layers"]:
        raise AtlasError(f"'{source}' holds a different run than '{target}' (other model, layers or settings): "
                         f"only shards of the same build can be merged.")
    if not (target / RUN_FILE).exists():
        copy_file(source, target, RUN_FILE)
    copied = 0
    for unit in units_from_run(run):
        manifest = read_manifest(unit, source)
        if manifest is None or read_manifest(unit, target) is not None:
            continue
        for record in manifest["filters"]:
            for sign in SIGN_NAMES:
                for key in FILE_KEYS:
                    if key in record[sign]:
                        copy_file(source, target, record[sign][key])
        copy_file(source, target, unit.manifest_path(Path()))  # last: the unit is done once its manifest is there
        copied += 1
    copy_facets(source, target)
    return copied


def read_notices(out: Path) -> list[dict]:
    """The notices the builds of ``out`` left, each ``{"phase", "text", "failed"}``."""
    record = read_record(out / NOTICES_FILE, NOTICES_FORMAT)
    return record["notices"] if record is not None else []


def update_notices(out: Path, phases: set[str], notices: list[dict]) -> None:
    """Replace the notices of ``phases`` (those this build ran) with ``notices``; other phases' stay (a shard
    that ran no circuits keeps the circuits' notices of the one that did)."""
    kept = [notice for notice in read_notices(out) if notice["phase"] not in phases]
    record = {"format": NOTICES_FORMAT, "notices": kept + [notice for notice in notices if notice not in kept]}
    write_atomically(out / NOTICES_FILE, json.dumps(record, indent=1).encode())


def merge_notices(source: Path, target: Path) -> None:
    """Add another shard's notices to ``target``'s."""
    notices = read_notices(source)
    if notices:
        update_notices(target, set(), notices)
