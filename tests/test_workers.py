"""Units optimised on a Dask cluster give the same site as a single process."""

import pytest

from conftest import tiny_settings
from generator import atlas

pytest.importorskip("dask.distributed", reason="dask.distributed is not installed")


def test_local_dask_cluster_builds_the_same_atlas(tmp_path):
    settings = dict(layers=("conv1", "conv3"), batch_size=4, steps=5, method="fourier")
    single = atlas.build(tiny_settings(tmp_path / "single", **settings))
    spread = atlas.build(tiny_settings(tmp_path / "dask", **settings), dask="local:2")
    assert single.num_built == spread.num_built == 24
    assert (tmp_path / "single/atlas.json").read_text() == (tmp_path / "dask/atlas.json").read_text()
    for tile in sorted((tmp_path / "single/tiles").rglob("*.png")):
        assert (tmp_path / "dask" / tile.relative_to(tmp_path / "single")).read_bytes() == tile.read_bytes()
