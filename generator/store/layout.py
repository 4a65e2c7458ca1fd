"""The output directory's names: every file and folder the store keeps there, and every record's format number.

Nothing outside generator/store/ joins a path into an output directory: it calls the store's readers and writers
(directory.py, the ``*_records.py`` modules, tiles.py), which take their names from here. Site-relative paths
are strings with "/" (the pages link them as they are). The site's own output (its HTML pages, contact sheets,
map sprites, ``assets/``, ``.nojekyll``) is named by the site.

What a reader does with a record of an older format, record by record, below. ``read_record`` (files.py) gives
None for a JSON record of any other ``format``, so such a record counts as absent; where a record's key hashes
its format, an older one also fails the key. Whoever changes a format number says here what becomes of the old.

- ``run.json`` (RUN_FORMAT 1): read as it is, its format unchecked; every build writes it anew.
- ``units/<layer>/<unit>.json``, a unit's manifest (UNIT_FORMAT 1): not finished, since the format is part of the
  unit's key: the unit is rebuilt, and left out of the site until then. A manifest without thumbnails shows its PNG.
- ``examples/examples.json`` (EXAMPLES_FORMAT 2): absent: the site shows no dataset examples, and the next build
  with examples scans again.
- ``examples/scan-state.npz`` (no number; the scan's key holds EXAMPLES_FORMAT): a state of another key is
  ignored, and the scan starts from its first image.
- ``examples/fingerprints.npz`` (no number): read only with its own scan's key; without it the neighbours, maps
  and response scores are left out until the scan is made again.
- ``circuits/<earlier>--<later>.json`` (CIRCUITS_FORMAT 2, also in its key): absent: the site leaves the pair out,
  the next build computes it again.
- ``facets/<layer>/<unit>.json`` (FACETS_FORMAT 1, also in its key): absent: the site leaves them out, the next
  build with facets makes them again.
- ``notices.json`` (NOTICES_FORMAT 1): read as no notices; the next build writes its own, the older ones are gone.
- ``atlas.json`` (ATLAS_FORMAT 1): read as it is (comparisons, the models index); ``atlas render`` writes it anew
  from run.json and the manifests.
- ``compare.json`` (COMPARE_FORMAT 1): read as it is (its pages, the models index); ``atlas compare`` writes it
  anew.
- ``evaluation.json`` (no number): written by ``atlas evaluate``, never read.
- ``models.json`` of a multi-model root (MODELS_FORMAT 1): absent: the root is no multi-model site (nothing to
  render or merge, no page links to its index) until a build of its config writes it anew.
- ``.atlas-lock``, ``.atlas-lock.shard-I-of-N`` (no number): a lock without readable JSON is waited for a few
  seconds, then removed as left half written.
- ``tiles/<layer>/<id>-<sign>.png`` with its ``.webp`` thumbnail, ``-channels.png`` and ``-facet-<k>.png`` (no
  number): read as the manifest that names them says.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

RUN_FORMAT = 1
UNIT_FORMAT = 1
ATLAS_FORMAT = 1
EXAMPLES_FORMAT = 2
CIRCUITS_FORMAT = 2  # 2: lists only the built filters, and counts the strongest unbuilt ones
FACETS_FORMAT = 1
NOTICES_FORMAT = 1
COMPARE_FORMAT = 1
MODELS_FORMAT = 1

RUN_FILE = "run.json"  # the run: model, method, layers and their units (directory.py)
UNITS_DIR = "units"  # a manifest per finished work unit
TILES_DIR = "tiles"  # each filter's images, its facets' and its channel strips
NOTICES_FILE = "notices.json"  # what did not apply to this model, and which phases failed
ATLAS_FILE = "atlas.json"  # what the pages show (pages.py)
EVALUATION_FILE = "evaluation.json"  # the measured quality (evaluate.py)
COMPARE_FILE = "compare.json"  # a comparison's record, in its own directory (compare.py)
MODELS_FILE = "models.json"  # a multi-model root's members (zoo_records.py)
EXAMPLES_DIR = "examples"  # the dataset-example scan and the source images it shows
EXAMPLES_FILE = f"{EXAMPLES_DIR}/examples.json"
SCAN_STATE_FILE = f"{EXAMPLES_DIR}/scan-state.npz"  # an unfinished scan's running state (resume)
FINGERPRINTS_FILE = f"{EXAMPLES_DIR}/fingerprints.npz"  # each filter's maximum per scanned image (neighbours.py)
EXAMPLE_IMAGES_DIR = f"{EXAMPLES_DIR}/images"
CIRCUITS_DIR = "circuits"  # a file per pair of consecutive layers (circuits.py)
FACETS_DIR = "facets"  # a manifest per work unit with facets (facets.py)
LOCK_FILE = ".atlas-lock"  # the whole directory's lock (lock.py); a shard's adds ".shard-I-of-N"


def layer_slug(name: str) -> str:
    """A file-name-safe, unique form of a layer name: ``block1_conv1`` stays, ``a/../b`` gets a hash suffix."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_") or "layer"
    if slug != name:
        slug = f"{slug}-{hashlib.sha1(name.encode()).hexdigest()[:8]}"
    return slug


def unit_manifest_file(slug: str, unit_name: str) -> str:
    return f"{UNITS_DIR}/{slug}/{unit_name}.json"


def tile_path(slug: str, filter_id: int, sign: str) -> str:
    """Site-relative path of a filter's tile; depends only on layer and filter id (stable URLs)."""
    return f"{TILES_DIR}/{slug}/{filter_id:04d}-{sign}.png"


def channels_path(slug: str, filter_id: int, sign: str) -> str:
    """Site-relative path of the strip of a multi-band image's channels, one grayscale image each."""
    return f"{TILES_DIR}/{slug}/{filter_id:04d}-{sign}-channels.png"


def facet_tile_path(slug: str, filter_id: int, facet: int) -> str:
    return f"{TILES_DIR}/{slug}/{filter_id:04d}-facet-{facet}.png"


def filter_page_path(slug: str, filter_id: int) -> str:
    """Site-relative path of a filter's page, as its unit's manifest names it."""
    return f"layers/{slug}/{filter_id:04d}.html"


def facet_manifest_file(slug: str, unit_name: str) -> str:
    return f"{FACETS_DIR}/{slug}/{unit_name}.json"


def circuit_file(earlier: str, later: str) -> str:
    return f"{CIRCUITS_DIR}/{layer_slug(earlier)}--{layer_slug(later)}.json"


def example_image_file(image_name: str) -> str:
    """Where a scanned source image is kept, named by its name in the image set."""
    return f"{EXAMPLE_IMAGES_DIR}/{hashlib.sha1(image_name.encode()).hexdigest()[:16]}.webp"


def shard_lock_name(shard: tuple[int, int]) -> str:
    return f"{LOCK_FILE}.shard-{shard[0]}-of-{shard[1]}"


def lock_path(out: Path) -> Path:
    return out / LOCK_FILE


def shard_lock_path(out: Path, shard: tuple[int, int]) -> Path:
    return out / shard_lock_name(shard)


def shard_lock_paths(out: Path) -> list[Path]:
    """Every shard's lock file in ``out`` (and the stale ones being removed), sorted."""
    return sorted(out.glob(f"{LOCK_FILE}.shard-*-of-*"))


def is_lock_file(name: str) -> bool:
    """Whether a name in the output directory is a lock's (moving an old atlas aside leaves them)."""
    return name.startswith(LOCK_FILE)
