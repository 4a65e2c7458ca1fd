"""Units optimised on a Dask cluster give the same site as a single process."""

import pytest
from helpers import tiny_settings

from generator.build import pipeline
from generator.model.models import ModelSource

pytest.importorskip("dask.distributed", reason="dask.distributed is not installed")


@pytest.mark.backend_free
def test_local_dask_cluster_builds_the_same_atlas(tmp_path):
    settings = dict(layers=("conv1", "conv3"), batch_size=4, steps=5, method="fourier")
    single = pipeline.build(tiny_settings(tmp_path / "single", **settings))
    spread = pipeline.build(tiny_settings(tmp_path / "dask", **settings), dask="local:2")
    assert single.num_built == spread.num_built == 24
    assert (tmp_path / "single/atlas.json").read_text() == (tmp_path / "dask/atlas.json").read_text()
    for tile in sorted((tmp_path / "single/tiles").rglob("*.png")):
        assert (tmp_path / "dask" / tile.relative_to(tmp_path / "single")).read_bytes() == tile.read_bytes()
    # The optimiser's statistics travel with each unit's result, from the workers too.
    for report in (single, spread):
        assert [(layer.batch_size, layer.num_traces) for layer in report.layers] == [(4, 1), (4, 1)]
        assert all(layer.compile_seconds > 0 for layer in report.layers)


def test_out_of_memory_halves_the_batch_and_gives_the_same_images(monkeypatch):
    import numpy as np

    from generator.build import workers
    from generator.optimisation.methods import MethodSettings
    from generator.optimisation.optimizer import Optimizer

    method = MethodSettings(name="classic", steps=3, learning_rate=10.0, size=16)
    real_run = Optimizer.run

    def small_memory(self, filter_ids, signs):
        if self.batch_size > 2:
            raise RuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 1.2GiB")
        return real_run(self, filter_ids, signs)

    monkeypatch.setattr(Optimizer, "run", small_memory)
    task = workers.UnitTask(ModelSource("tiny-cnn"), "conv3", method, 8, (1, 2, 3))
    result = workers.optimise_unit(task)
    assert result.batch_size == 2
    monkeypatch.setattr(Optimizer, "run", real_run)
    direct = workers.optimise_unit(workers.UnitTask(ModelSource("tiny-cnn"), "conv3", method, 2, (1, 2, 3)))
    for sign in ("positive", "negative"):
        np.testing.assert_allclose(result.signs[sign].images, direct.signs[sign].images, rtol=1e-5, atol=1e-5)
