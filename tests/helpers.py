"""Helpers the tests share: quick settings for the tiny CNN, and images with planted patterns."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import generator  # noqa: F401  (sets the backend and quiets TensorFlow before keras is imported)
from generator.config import AtlasConfig, resolve


def tiny_settings(out: Path, **given):
    """Settings of a small full run of tiny-cnn at 16x16 (the classic method and no dataset examples unless
    ``method`` and ``examples`` are given)."""
    config = AtlasConfig(model="tiny-cnn", method="classic", size=16, profile="full", out=str(out), examples="none",
                         facets=0)
    return resolve(dataclasses.replace(config, **given), has_gpu=False)


# --- dataset examples: a folder whose images plant known patterns at known places ----------------------------

PLANTED_SIZE = 64
RED_SQUARE = (40, 12, 8)  # x, y, side: a pure red square on grey
CYAN_SQUARE = (10, 40, 8)  # the opposite colour: what a red detector likes least
VERTICAL_STRIPES = (8, 28, 16)  # black and white stripes, 2 pixels wide


def write_planted_images(folder: Path) -> Path:
    """grey, red square, cyan square (JPEG), vertical and horizontal stripes, a blue square in a subfolder, one
    broken file and one text file; PLANTED_SIZE pixels square."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    grey = np.full((PLANTED_SIZE, PLANTED_SIZE, 3), 128, np.uint8)

    def with_square(colour, box):
        image = grey.copy()
        x, y, side = box
        image[y:y + side, x:x + side] = colour
        return image

    stripes = grey.copy()
    x, y, side = VERTICAL_STRIPES
    columns = np.arange(x, x + side)
    stripes[y:y + side, x:x + side] = np.where((columns // 2) % 2 == 0, 255, 0)[None, :, None]
    horizontal = grey.copy()
    horizontal[y:y + side, x:x + side] = np.where((columns // 2) % 2 == 0, 255, 0)[:, None, None]
    Image.fromarray(grey).save(folder / "grey.png")
    Image.fromarray(with_square((255, 0, 0), RED_SQUARE)).save(folder / "red.png")
    Image.fromarray(with_square((0, 255, 255), CYAN_SQUARE)).save(folder / "cyan.jpg", quality=95)
    Image.fromarray(stripes).save(folder / "stripes.png")
    Image.fromarray(horizontal).save(folder / "horizontal.png")
    (folder / "more").mkdir(exist_ok=True)
    Image.fromarray(with_square((0, 0, 255), (24, 24, 8))).save(folder / "more" / "blue.webp")
    (folder / "broken.png").write_bytes(b"not an image at all")
    (folder / "notes.txt").write_text("not an image, not counted")
    return folder


# --- user models: small .keras files of other inputs than the tiny CNN's ---------------------------------------

def save_model(model, folder: Path, name: str) -> str:
    """The model saved as ``folder/name.keras``; returns the path as --model takes it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.keras"
    model.save(path)
    return str(path)


# --- checkpoints: a model and a copy of it in which a few filters were given new weights -----------------------

def planted_checkpoints(folder: Path, layer: str = "conv3", changed: tuple[int, ...] = (3, 9)) -> tuple[str, str]:
    """tiny-cnn saved as ``a.keras``, and as ``b.keras`` with new random kernels for ``changed`` filters of
    ``layer`` (every other weight the same); returns the two paths as --model takes them."""
    import numpy as np

    from generator.model.models import build_tiny_cnn

    model = build_tiny_cnn()
    first = save_model(model, folder, "a")
    target = model.get_layer(layer)
    kernel, bias = target.get_weights()
    kernel[..., list(changed)] = np.random.default_rng(1).normal(0, 0.4, size=kernel[..., list(changed)].shape)
    target.set_weights([kernel, bias])
    return first, save_model(model, folder, "b")


def grayscale_cnn(size: int = 28, rescaling: bool = True):
    """A 1-channel CNN of fixed size: Rescaling(1/255) first (raw pixels in) unless ``rescaling`` is off."""
    import numpy as np

    from generator.model.quiet_keras import keras

    inputs = keras.Input((size, size, 1), name="digit")
    x = keras.layers.Rescaling(1 / 255, name="rescale")(inputs) if rescaling else inputs
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv_a")(x)
    x = keras.layers.Conv2D(6, 3, padding="same", name="conv_b")(x)
    x = keras.layers.GlobalAveragePooling2D(name="average")(x)
    model = keras.Model(inputs, keras.layers.Dense(3, name="logits")(x), name="grayscale")
    random = np.random.default_rng(3)
    model.set_weights([random.normal(0, 0.5, size=w.shape).astype("float32") for w in model.get_weights()])
    return model


def fourth_channel_cnn(size: int = 64):
    """4 input channels; filter 0 of ``bands`` reads only channel 4 (1-based), the others read all four."""
    import numpy as np

    from generator.model.quiet_keras import keras

    inputs = keras.Input((size, size, 4), name="bands_in")
    layer = keras.layers.Conv2D(3, 3, padding="same", name="bands")
    x = layer(inputs)
    outputs = keras.layers.Dense(2, name="logits")(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, outputs, name="four_bands")
    random = np.random.default_rng(4)
    kernel = random.normal(0, 0.5, size=(3, 3, 4, 3)).astype("float32")
    kernel[:, :, :, 0] = 0.0
    kernel[:, :, 3, 0] = 1.0  # filter 0: the sum of channel 4 around each pixel
    layer.set_weights([kernel, np.zeros(3, "float32")])
    return model


def red_detector_cnn(size: int = 16):
    """Rescaling(1/255), then a conv whose filter 0 is red minus green minus blue (in [0, 1] units)."""
    import numpy as np

    from generator.model.quiet_keras import keras

    inputs = keras.Input((size, size, 3), name="photo")
    x = keras.layers.Rescaling(1 / 255, name="rescale")(inputs)
    conv = keras.layers.Conv2D(2, 1, name="colour")
    model = keras.Model(inputs, conv(x), name="red_detector")
    kernel = np.zeros((1, 1, 3, 2), np.float32)
    kernel[0, 0, :, 0] = (1.0, -1.0, -1.0)
    kernel[0, 0, :, 1] = (-1.0, 1.0, -1.0)
    conv.set_weights([kernel, np.zeros(2, np.float32)])
    return model


def transfer_learning_model(size: int = 32):
    """``Sequential([Rescaling, base, pooling, dense])`` around a small functional ``base`` (as transfer learning
    wraps a keras.applications trunk)."""
    import numpy as np

    from generator.model.quiet_keras import keras

    inputs = keras.Input((size, size, 3))
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="block_1_conv")(inputs)
    x = keras.layers.BatchNormalization(name="block_1_bn")(x)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", name="block_2_project")(x)
    base = keras.Model(inputs, keras.layers.Activation("relu", name="block_2_relu")(x), name="base")
    random = np.random.default_rng(6)
    for name in ("block_1_conv", "block_2_project"):
        layer = base.get_layer(name)
        layer.set_weights([random.normal(0, 0.4, size=w.shape).astype("float32") for w in layer.get_weights()])
    return keras.Sequential([keras.Input((size, size, 3)), keras.layers.Rescaling(1 / 255, name="rescale"), base,
                             keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3, name="logits")],
                            name="classifier")


def silent_filter_cnn(size: int = 16):
    """conv1 (4 filters, fused ReLU, no bias: zero on a black image), then ``late`` (3 filters, fused ReLU, no
    bias) over conv1's non-negative maps: filter 0's weights are all negative (any pattern inhibits it, black
    leaves it at zero: silent), filter 1's all positive (it fires), filter 2's mixed."""
    import numpy as np

    from generator.model.quiet_keras import keras

    inputs = keras.Input((size, size, 3))
    early = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv1")
    late = keras.layers.Conv2D(3, 3, padding="same", activation="relu", name="late")
    model = keras.Model(inputs, late(early(inputs)), name="silent_filter")
    random = np.random.default_rng(11)
    early.set_weights([random.normal(0, 0.5, size=(3, 3, 3, 4)).astype("float32"), np.zeros(4, "float32")])
    kernel = random.normal(0, 0.5, size=(3, 3, 4, 3)).astype("float32")
    kernel[..., 0] = -np.abs(kernel[..., 0])
    kernel[..., 1] = np.abs(kernel[..., 1])
    late.set_weights([kernel, np.zeros(3, "float32")])
    return model


def brightness_cnn():
    """Rescaling(1/255), then one 1x1 filter that fires where an image is brighter than mid-grey (ReLU of the
    channels' mean minus 0.5): its best image is as bright as can be."""
    import numpy as np

    from generator.model.quiet_keras import keras

    inputs = keras.Input((None, None, 3), name="photo")
    x = keras.layers.Rescaling(1 / 255, name="rescale")(inputs)
    conv = keras.layers.Conv2D(1, 1, activation="relu", name="bright")
    model = keras.Model(inputs, conv(x), name="brightness")
    conv.set_weights([np.full((1, 1, 3, 1), 1 / 3, np.float32), np.array([-0.5], np.float32)])
    return model


# --- a stand-in nvidia-smi: what a machine with a GPU (or with the driver and no GPU) shows on PATH -------------

H200_LISTING = "NVIDIA H200, 143771"


def write_nvidia_smi(folder: Path, listing: str | None = H200_LISTING) -> Path:
    """An executable ``nvidia-smi`` in ``folder`` that answers ``--list-gpus`` (the Makefile's question) and
    ``--query-gpu=name,memory.total`` (machine.listed_gpus) for the GPUs in ``listing`` (one "name, MiB" a line);
    ``listing=None`` answers as a driver without a GPU does: "No devices were found", exit status 6."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "nvidia-smi"
    if listing is None:
        body = 'echo "No devices were found"\nexit 6\n'
    else:
        rows = listing.strip().splitlines()
        gpus = "".join(f'echo "GPU {index}: {row.rpartition(",")[0]} (UUID: GPU-{index:08d})"\n'
                       for index, row in enumerate(rows))
        body = (f'case "$*" in\n  *--list-gpus*|-L)\n{gpus}  ;;\n  *--query-gpu*)\n'
                + "".join(f'echo "{row}"\n' for row in rows) + '  ;;\n  *) exit 2 ;;\nesac\n')
    script.write_text("#!/bin/sh\n" + body, encoding="utf-8")
    script.chmod(0o755)
    return script


def path_without_nvidia_smi(*first: Path) -> str:
    """``PATH`` with ``first`` in front and no folder that holds a real nvidia-smi."""
    import os

    folders = [folder for folder in os.environ.get("PATH", "").split(os.pathsep)
               if folder and not (Path(folder) / "nvidia-smi").exists()]
    return os.pathsep.join([*(str(folder) for folder in first), *folders])
