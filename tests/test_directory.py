from generator.store.directory import Unit, plan_layer_units, read_manifest, shard_units, write_manifest
from generator.store.layout import layer_slug


def test_units_cover_the_filters_in_batches():
    units = plan_layer_units("conv3", list(range(10)), 4, "key", 1.0)
    assert [unit.filter_ids for unit in units] == [(0, 1, 2, 3), (4, 5, 6, 7), (8, 9)]
    assert len({unit.name for unit in units}) == 3


def test_slugs_are_safe_and_distinct():
    assert layer_slug("block1_conv1") == "block1_conv1"
    names = ["a/b", "a_b", "../../etc", "<script>", "Schicht_ü"]
    slugs = [layer_slug(name) for name in names]
    assert len(set(slugs)) == len(names)
    for slug in slugs:
        assert "/" not in slug and ".." not in slug and "<" not in slug and slug.isascii()


def test_manifest_marks_a_unit_done_only_while_it_matches(tmp_path):
    unit = Unit("conv1", "conv1", (0, 1), "key-1", 1.0)
    assert read_manifest(unit, tmp_path) is None
    filters = []
    for filter_id in unit.filter_ids:
        record = {"id": filter_id}
        for sign in ("positive", "negative"):
            path = f"tiles/conv1/{filter_id:04d}-{sign}.png"
            (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / path).write_bytes(b"png")
            record[sign] = {"image": path}
        filters.append(record)
    write_manifest(unit, tmp_path, filters, {})
    assert read_manifest(unit, tmp_path)["filter_ids"] == [0, 1]
    assert read_manifest(Unit("conv1", "conv1", (0, 1), "key-2", 1.0), tmp_path) is None  # settings changed
    (tmp_path / "tiles/conv1/0001-negative.png").unlink()
    assert read_manifest(unit, tmp_path) is None  # a tile went missing


def test_shards_partition_the_units_and_balance_cost():
    costs = [9, 1, 1, 5, 4, 3, 2, 7]
    units = [Unit("layer", "layer", (index,), "key", float(cost)) for index, cost in enumerate(costs)]
    shards = [shard_units(units, index, 3) for index in range(3)]
    assert sorted(u.filter_ids for shard in shards for u in shard) == sorted(u.filter_ids for u in units)
    loads = [sum(unit.cost for unit in shard) for shard in shards]
    assert max(loads) - min(loads) <= 2
    assert shard_units(units, 1, 3) == shards[1]  # deterministic
