"""Several models in one site: a config file's ``[[models]]`` tables, each built as a standalone atlas into
``<out>/<slug>/``, the ``[[compare]]`` tables' comparisons beside them, and a models index at the root.

A model's table holds the keys of ``atlas build`` (as a one-model config file does), plus ``name``; keys at the top
of the file are shared by every model, and options given on the command line win over both. Each model is an
ordinary build (atlas.build) into its own folder, with its own lock, resume and shards: ``--shard I/N`` builds
shard ``(I + k) mod N`` of the k-th model, so every job takes a share of every model and the first shard's extra
work (dataset examples, circuits) falls to a different job for each model. ``models.json`` (zoo_records.py) names
the members; zoo_pages.py renders the index from their records.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import NamedTuple

from generator.build import compare
from generator.config import AtlasConfig, config_from_table, read_toml
from generator.defaults import DEFAULT_MODEL
from generator.errors import AtlasError
from generator.site import zoo_pages
from generator.store import zoo_records
from generator.store.layout import MODELS_FILE

TABLE_KEYS = ("models", "compare", "title")  # the keys a multi-model file has beside the shared build keys
RESERVED = {"assets", "index.html", MODELS_FILE}


class ZooModel(NamedTuple):
    name: str
    slug: str
    config: AtlasConfig  # the model's table over the shared keys


class ZooCompare(NamedTuple):
    slug: str
    a: str  # a model's slug
    b: str


class Zoo(NamedTuple):
    path: Path
    title: str
    shared: AtlasConfig
    models: tuple[ZooModel, ...]
    compares: tuple[ZooCompare, ...]


def slug_of(name: str) -> str:
    """A folder name for a model: its name, or a model file's stem, made file-name safe."""
    stem = Path(name).stem if name.endswith((".keras", ".h5")) else name
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-.") or "model"


def read_zoo(path: str | Path) -> Zoo | None:
    """The multi-model config in ``path``, or None where it is an ordinary one-model file."""
    data = read_toml(path)
    if "models" not in data and "compare" not in data:
        return None
    where = f"Config file '{path}'"
    shared = config_from_table({key: value for key, value in data.items() if key not in TABLE_KEYS}, where)
    tables = data.get("models", [])
    if not isinstance(tables, list) or not tables or not all(isinstance(table, dict) for table in tables):
        raise AtlasError(f"{where}: [[models]] must be one or more tables, each with the keys of `atlas build` "
                         f"(model = \"...\", layers = [...]).")
    models, slugs = [], set()
    for number, table in enumerate(tables, 1):
        table = dict(table)
        name = str(table.pop("name", None) or table.get("model") or shared.model or DEFAULT_MODEL)
        if "out" in table:
            raise AtlasError(f"{where}: model {number} ({name}) sets 'out'; each model is built into <out>/<name>/: "
                             f"give 'name' instead.")
        slug = slug_of(name)
        if slug in slugs or slug in RESERVED:
            raise AtlasError(f"{where}: two models would share the folder '{slug}': give each [[models]] table "
                             f"its own 'name'.")
        slugs.add(slug)
        models.append(ZooModel(name, slug, shared.merged_with(config_from_table(table, f"{where}, model {name}"))))
    compares = []
    for table in data.get("compare", []):
        found = {key: table.get(key) for key in ("a", "b")}
        by_name = {model.name: model.slug for model in models} | {model.slug: model.slug for model in models}
        if set(table) - {"a", "b", "name"} or not all(value in by_name for value in found.values()):
            raise AtlasError(f"{where}: a [[compare]] table names two of its models as a = \"NAME\", b = \"NAME\" "
                             f"(and optionally name); found {table}; models: {', '.join(by_name)}.")
        slug = slug_of(str(table.get("name") or f"{by_name[found['a']]}-vs-{by_name[found['b']]}"))
        if slug in slugs or slug in RESERVED:
            raise AtlasError(f"{where}: the comparison '{slug}' would share a folder with a model or another "
                             f"comparison: give it its own 'name'.")
        slugs.add(slug)
        compares.append(ZooCompare(slug, by_name[found["a"]], by_name[found["b"]]))
    return Zoo(Path(path), str(data.get("title") or Path(path).stem), shared, tuple(models), tuple(compares))


def root_of(zoo: Zoo, out: str | Path | None) -> Path:
    return Path(out or zoo.shared.out or "site")


def model_configs(zoo: Zoo, given: AtlasConfig, root: Path) -> list[tuple[ZooModel, AtlasConfig]]:
    """Each model's config: its table over the shared keys, then the command line's options, into its folder."""
    if given.model is not None:
        raise AtlasError(f"--model cannot be given with '{zoo.path}', which lists its models as [[models]] "
                         f"tables: change a table, or build one model without --config.")
    return [(model, dataclasses.replace(model.config.merged_with(given), out=str(zoo_records.member(root, model.slug))))
            for model in zoo.models]


def model_shard(shard: tuple[int, int] | None, position: int) -> tuple[int, int] | None:
    """The shard of the model at ``position`` that job ``shard`` builds: rotated, so the first shard's extra work
    is spread over the jobs."""
    return None if shard is None else ((shard[0] + position) % shard[1], shard[1])


def write_record(zoo: Zoo, root: Path) -> None:
    """models.json: the title, the models (name, folder, model) and the comparisons."""
    root.mkdir(parents=True, exist_ok=True)
    zoo_records.write_models(root, {
        "title": zoo.title,
        "models": [{"name": model.name, "slug": model.slug, "model": model.config.model or DEFAULT_MODEL}
                   for model in zoo.models],
        "compare": [{"slug": item.slug, "a": item.a, "b": item.b} for item in zoo.compares],
    })


def build(zoo: Zoo, given: AtlasConfig, root: Path, build_model, shard: tuple[int, int] | None = None,
          weights: bool = True) -> list:
    """Build every model into ``root/<slug>/`` with ``build_model(model, config, shard) -> atlas.BuildReport``
    (the command line's: it resolves the settings and shows progress), then, unless this is one shard or a build
    was interrupted, the comparisons; the index last. models.json is written first, so that every page rendered
    links back to the index. Returns the reports."""
    configs = model_configs(zoo, given, root)
    write_record(zoo, root)
    reports = []
    for position, (model, config) in enumerate(configs):
        report = build_model(model, config, model_shard(shard, position))
        reports.append(report)
        if report.interrupted:
            break
    if shard is None and zoo.compares and not any(report.interrupted for report in reports):
        names = {model.slug: model.name for model in zoo.models}
        for item in zoo.compares:
            compare.compare(*(zoo_records.member(root, slug) for slug in (item.a, item.b, item.slug)),
                            weights=weights, labels=(names[item.a], names[item.b]))
    zoo_pages.render_index(root)
    return reports


def compare_all(config: str | Path, out: str | Path | None, weights: bool = True) -> list[Path]:
    """The [[compare]] tables of ``config`` between its built models in ``out``; the models index re-rendered."""
    zoo = read_zoo(config)
    if zoo is None or not zoo.compares:
        raise AtlasError(f"'{config}' has no [[compare]] tables: add one (a = \"NAME\", b = \"NAME\") or give "
                         f"SITE_A SITE_B --out DIR.")
    root = root_of(zoo, out)
    names = {model.slug: model.name for model in zoo.models}
    made = []
    for item in zoo.compares:
        compare.compare(*(zoo_records.member(root, slug) for slug in (item.a, item.b, item.slug)),
                        weights=weights, labels=(names[item.a], names[item.b]))
        made.append(zoo_records.member(root, item.slug))
    write_record(zoo, root)
    zoo_pages.render_index(root)
    return made
