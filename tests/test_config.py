import dataclasses

import pytest

from generator.config import AtlasConfig, load_toml, resolve
from generator.errors import AtlasError
from generator.options import parse_filter_ids, split_layers


def test_filter_specs():
    assert parse_filter_ids("all", 4, "layer") == [0, 1, 2, 3]
    assert parse_filter_ids("0:3", 10, "layer") == [0, 1, 2]
    assert parse_filter_ids("3,7,9", 10, "layer") == [3, 7, 9]
    assert parse_filter_ids("8:,0:2,1", 10, "layer") == [0, 1, 8, 9]


@pytest.mark.parametrize("spec, fragment", [("5:2", "empty"), ("x", "not understood"), ("1,x", "not understood"),
                                             ("12", "out of range"), ("0:40", "out of range"), ("-1", "out of range")])
def test_bad_filter_specs(spec, fragment):
    with pytest.raises(AtlasError, match=fragment):
        parse_filter_ids(spec, 10, "conv1")


def test_toml_values_are_overridden_by_given_options(tmp_path):
    path = tmp_path / "atlas.toml"
    path.write_text('model = "tiny-cnn"\nlayers = ["conv1", "conv3"]\nsteps = 7\nsize = 32\n')
    merged = load_toml(path).merged_with(AtlasConfig(steps=3))
    assert merged.model == "tiny-cnn" and merged.layers == ("conv1", "conv3")
    assert merged.steps == 3 and merged.size == 32


def test_toml_errors(tmp_path):
    with pytest.raises(AtlasError, match="not found"):
        load_toml(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("steps = = 3")
    with pytest.raises(AtlasError, match="not valid TOML"):
        load_toml(bad)
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("stepz = 3")
    with pytest.raises(AtlasError, match="unknown keys stepz"):
        load_toml(unknown)


def test_profiles_and_explicit_options():
    preview = resolve(AtlasConfig(), has_gpu=False)
    assert preview.profile == "preview" and preview.num_filters_limit == 16
    full = resolve(AtlasConfig(), has_gpu=True)
    assert full.profile == "full" and full.num_filters_limit is None
    assert full.method.name == "fourier" and full.method.target == "leaky" and full.method.size == 0
    assert preview.method.steps < full.method.steps
    assert preview.method.contrast > 0 and full.method.contrast == 0  # a short run gets its contrast fixed
    seed = resolve(AtlasConfig(method="classic"), has_gpu=True).method  # the tutorial's values
    assert (seed.steps, seed.learning_rate, seed.size, seed.target) == (10, 10.0, 200, "output")
    explicit = resolve(AtlasConfig(profile="preview", filters="0:40", steps=3, size=40), has_gpu=True)
    assert explicit.profile == "preview" and explicit.num_filters_limit is None
    assert explicit.method.steps == 3 and explicit.method.size == 40


@pytest.mark.parametrize("config, fragment", [
    (AtlasConfig(steps=0), "--steps must be a whole number above 0"),
    (AtlasConfig(size=-5), "--size must be"),
    (AtlasConfig(size="big"), "--size must be 'auto'"),
    (AtlasConfig(batch_size="0"), "--batch-size must be"),
    (AtlasConfig(batch_size="many"), "--batch-size must be 'auto'"),
    (AtlasConfig(learning_rate=0.0), "--learning-rate must be"),
    (AtlasConfig(method="magic"), "Unknown method 'magic'"),
    (AtlasConfig(contrast=-1.0), "--contrast must be a number from 0"),
    (AtlasConfig(contrast=40.0), "--contrast must be a number from 0"),
    (AtlasConfig(method="classic", contrast=1.0), "--contrast is a setting of the fourier method, not of 'classic'"),
    (AtlasConfig(profile="huge"), "Unknown profile 'huge'"),
])
def test_bad_settings(config, fragment):
    with pytest.raises(AtlasError, match=fragment):
        resolve(config, has_gpu=False)


def test_a_given_contrast_replaces_the_profiles():
    assert resolve(AtlasConfig(profile="full", contrast=1.5), has_gpu=False).method.contrast == 1.5
    assert resolve(AtlasConfig(profile="preview", contrast=0), has_gpu=False).method.contrast == 0  # free
    free = resolve(AtlasConfig(profile="full"), has_gpu=False).method
    assert resolve(AtlasConfig(profile="full", contrast=0), has_gpu=False).method.key() == free.key()
    assert resolve(AtlasConfig(method="classic", contrast=0), has_gpu=False).method.contrast == 0


def test_auto_size_follows_the_receptive_field():
    from generator.config import auto_size

    assert auto_size(5) == 64 and auto_size(40) == 80 and auto_size(92) == 192 and auto_size(196) == 224
    assert resolve(AtlasConfig(size="auto"), has_gpu=False).method.size == 0
    full = resolve(AtlasConfig(profile="full"), has_gpu=False)
    assert [auto_size(field, full.max_auto_size) for field in (5, 14, 40, 92, 196)] == [64, 64, 80, 128, 128]


def test_split_layers():
    assert split_layers(" a, b ,") == ("a", "b")
    with pytest.raises(AtlasError):
        split_layers(" , ")


def test_method_key_changes_with_settings():
    one = resolve(AtlasConfig(steps=3), has_gpu=False).method
    assert one.key() == resolve(AtlasConfig(steps=3), has_gpu=False).method.key()
    assert one.key() != resolve(AtlasConfig(steps=4), has_gpu=False).method.key()


def test_dataset_examples_default_to_the_shipped_photos_and_can_be_set_or_turned_off(tmp_path):
    assert resolve(AtlasConfig(), has_gpu=False).examples.source == "shipped"
    assert resolve(AtlasConfig(examples="none"), has_gpu=False).examples is None
    path = tmp_path / "atlas.toml"
    path.write_text(f'examples = "{tmp_path}"\nnum_examples = 4\n')
    settings = resolve(load_toml(path), has_gpu=False).examples
    assert settings.source == str(tmp_path) and settings.num_examples == 4
    with pytest.raises(AtlasError, match="is not a folder"):
        resolve(AtlasConfig(examples=str(tmp_path / "missing")), has_gpu=False)


def test_precision_auto_is_mixed_only_where_bfloat16_is_native():
    assert resolve(AtlasConfig(), has_gpu=False).method.precision == "float32"
    assert resolve(AtlasConfig(), has_gpu=False, fast_bfloat16=True).method.precision == "mixed"
    assert resolve(AtlasConfig(precision="auto"), has_gpu=True, fast_bfloat16=False).method.precision == "float32"
    assert resolve(AtlasConfig(precision="float32"), has_gpu=True, fast_bfloat16=True).method.precision == "float32"
    with pytest.raises(AtlasError, match="Unknown precision 'half'; choose one of: auto, float32, mixed"):
        resolve(AtlasConfig(precision="half"), has_gpu=False)


def test_preprocessing_is_read_from_options_and_from_the_config_file(tmp_path):
    from generator.model.preprocessing import PreprocessingChoice

    assert resolve(AtlasConfig(), has_gpu=False).source.preprocessing is None
    given = resolve(AtlasConfig(preprocessing="tf", input_range="0:255", mean="1,2,3", std="4"), has_gpu=False)
    assert given.source.preprocessing == PreprocessingChoice("tf", (0.0, 255.0), (1.0, 2.0, 3.0), (4.0,))
    path = tmp_path / "atlas.toml"
    path.write_text('input_range = "-1:1"\nmean = [0.5, 0.25]\ndisplay_channels = [3, 2, 1]\n')
    settings = resolve(load_toml(path), has_gpu=False)
    assert settings.source.preprocessing == PreprocessingChoice(None, (-1.0, 1.0), (0.5, 0.25), None)
    assert settings.display_channels == (2, 1, 0)


@pytest.mark.parametrize("config, fragment", [
    (AtlasConfig(preprocessing="imagenet"), "Unknown preprocessing 'imagenet'"),
    (AtlasConfig(input_range="255:0"), "LOW:HIGH with LOW < HIGH"),
    (AtlasConfig(input_range="0-255"), "--input-range must be numbers such as 0:255"),
    (AtlasConfig(mean="a,b"), "--mean must be numbers"),
    (AtlasConfig(std="0,1,1"), "--std values must be above 0"),
    (AtlasConfig(display_channels="1,2"), "--display-channels must be three channel numbers"),
])
def test_bad_preprocessing_and_display_channels(config, fragment):
    with pytest.raises(AtlasError, match=fragment):
        resolve(config, has_gpu=False)


def test_full_steps_set_each_layers_steps_in_the_full_profile_only(tmp_path):
    path = tmp_path / "atlas.toml"
    path.write_text('model = "tiny-cnn"\n[full_steps]\nconv1 = 5\nconv3 = 9\n')
    table = load_toml(path)
    full = resolve(dataclasses.replace(table, profile="full"), has_gpu=False)
    assert full.full_steps == (("conv1", 5), ("conv3", 9))
    assert [full.steps_for(name) for name in ("conv1", "conv2", "conv3")] == [5, full.method.steps, 9]
    preview = resolve(dataclasses.replace(table, profile="preview"), has_gpu=False)
    assert preview.steps_for("conv1") == preview.method.steps == 32  # a preview keeps its own steps
    given = resolve(dataclasses.replace(table, profile="full", steps=3), has_gpu=False)
    assert [given.steps_for(name) for name in ("conv1", "conv2", "conv3")] == [3, 3, 3]  # --steps holds everywhere
    command_line = resolve(AtlasConfig(profile="full", full_steps="conv1=5, conv3=9"), has_gpu=False)
    assert command_line.full_steps == full.full_steps
    # they were measured on the file's model: another model given over the file does not take them
    assert table.merged_with(AtlasConfig(steps=4)).full_steps == {"conv1": 5, "conv3": 9}
    assert table.merged_with(AtlasConfig(model="vgg16-hed")).full_steps is None
    assert table.merged_with(AtlasConfig(method="classic")).full_steps is None  # measured with fourier's steps
    assert table.merged_with(AtlasConfig(method="fourier")).full_steps == {"conv1": 5, "conv3": 9}
    assert table.merged_with(AtlasConfig(model="vgg16-hed", full_steps="block1_conv2=8")).full_steps == "block1_conv2=8"


@pytest.mark.parametrize("value, fragment", [
    ("conv1", "LAYER=STEPS"), ("=4", "LAYER=STEPS"), ("conv1=many", "must be a whole number, got 'many'"),
    ("conv1=0", "above 0"), ({"conv1": 2.5}, "above 0"), (["conv1"], "a table of layer = steps")])
def test_bad_full_steps(value, fragment):
    with pytest.raises(AtlasError, match=fragment):
        resolve(AtlasConfig(full_steps=value), has_gpu=True)
