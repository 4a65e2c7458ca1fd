"""The kinds of model users bring, each as a small seeded Keras model and the layers an atlas of it builds.

Every kind has at least three chosen layers, so circuits run over two pairs, and, where it has one, its ``Dense``
head as the last (class units). The feature matrix (test_matrix.py) builds each kind with every feature on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

import generator  # noqa: F401  (sets the backend and quiets TensorFlow before keras is imported)
from generator.model.quiet_keras import keras

layers = keras.layers


@dataclass(frozen=True)
class ModelKind:
    name: str
    make: object  # () -> keras.Model
    layers: tuple[str, ...]
    num_channels: int = 3
    labels: tuple[str, ...] = ()  # class names of the Dense head, one per unit

    def save(self, folder: Path) -> str:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.name}.keras"
        self.make().save(path)
        return str(path)


def _seeded(model, seed: int):
    random = np.random.default_rng(seed)
    model.set_weights([random.normal(0, 0.4, size=w.shape).astype("float32") if w.ndim > 1 else
                       np.abs(random.normal(1.0 if "variance" in name or "gamma" in name else 0.0, 0.1,
                                            size=w.shape)).astype("float32")
                       for w, name in zip(model.get_weights(), [v.path for v in model.weights])])
    return model


def _trunk(inputs, names=("c1", "c2", "c3"), batch_norm: bool = False):
    """conv -> conv (adjacent: circuits from the weights) -> pool -> conv (circuits by attribution)."""
    x = layers.Conv2D(4, 3, padding="same", activation="relu", name=names[0])(inputs)
    x = layers.Conv2D(4, 3, padding="same", name=names[1])(x)
    if batch_norm:
        x = layers.BatchNormalization(name="bn")(x)
    x = layers.ReLU()(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(4, 3, padding="same", name=names[2])(x)
    if batch_norm:
        x = layers.BatchNormalization(name="bn_last")(x)
    return layers.GlobalAveragePooling2D()(layers.ReLU()(x))


def grayscale_fixed():
    inputs = keras.Input((24, 24, 1))
    x = _trunk(layers.Rescaling(1 / 255)(inputs))
    return _seeded(keras.Model(inputs, layers.Dense(3, name="logits")(x), name="grayscale_fixed"), 1)


def four_channels():
    inputs = keras.Input((None, None, 4))
    x = _trunk(layers.Rescaling(1 / 255)(inputs))
    return _seeded(keras.Model(inputs, layers.Dense(3, name="logits")(x), name="four_channels"), 2)


def rgb_normalization():
    inputs = keras.Input((None, None, 3))
    x = layers.Rescaling(1 / 255)(inputs)
    x = layers.Normalization(mean=[0.48, 0.45, 0.4], variance=[0.05, 0.05, 0.06])(x)
    return _seeded(keras.Model(inputs, _trunk(x), name="rgb_normalization"), 3)


def nested_application():
    """A keras.applications trunk nested in a Sequential, Rescaling in front, a softmax Dense head."""
    base = keras.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, include_top=False, weights=None)
    model = keras.Sequential([keras.Input((32, 32, 3)), layers.Rescaling(1 / 127.5, offset=-1), base,
                              layers.GlobalAveragePooling2D(), layers.Dense(3, activation="softmax", name="head")],
                             name="nested_application")
    return _seeded(model, 4)


def class_units():
    inputs = keras.Input((None, None, 3))
    x = _trunk(layers.Rescaling(1 / 255)(inputs))
    return _seeded(keras.Model(inputs, layers.Dense(3, activation="softmax", name="classes")(x),
                               name="class_units"), 5)


HOSTILE = ("edges & <lines>", "Schicht ü 2", "c:3 \"quoted\"")


def hostile_names():
    inputs = keras.Input((None, None, 3))
    x = _trunk(layers.Rescaling(1 / 255)(inputs), names=HOSTILE)
    return _seeded(keras.Model(inputs, layers.Dense(3, name="köpfe (head)")(x), name="hostile_names"), 6)


def batch_norm_between():
    inputs = keras.Input((None, None, 3))
    x = _trunk(layers.Rescaling(1 / 255)(inputs), batch_norm=True)
    return _seeded(keras.Model(inputs, layers.Dense(3, name="logits")(x), name="batch_norm_between"), 7)


BASE = "mobilenetv2_0.35_32"
KINDS = {kind.name: kind for kind in (
    ModelKind("grayscale_fixed", grayscale_fixed, ("c1", "c2", "c3", "logits"), num_channels=1),
    ModelKind("four_channels", four_channels, ("c1", "c2", "c3", "logits"), num_channels=4),
    ModelKind("rgb_normalization", rgb_normalization, ("c1", "c2", "c3")),
    ModelKind("nested_application", nested_application,
              (f"{BASE}/block_1_project", f"{BASE}/block_2_project", "head"), labels=("cat", "dog", "bird")),
    ModelKind("class_units", class_units, ("c1", "c2", "c3", "classes"), labels=("red", "green", "blue")),
    ModelKind("hostile_names", hostile_names, (*HOSTILE, "köpfe (head)")),
    ModelKind("batch_norm_between", batch_norm_between, ("c1", "c2", "c3", "logits")),
)}


def write_example_folder(folder: Path, num_channels: int, num_images: int = 6, size: int = 40) -> Path:
    """A folder of dataset images in the model's channels: PNGs (RGB or grayscale) or .npy arrays for other
    counts; each a bright square at its own place on a darker noise background."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    random = np.random.default_rng(num_channels)
    for index in range(num_images):
        image = random.integers(0, 90, size=(size, size, num_channels)).astype(np.uint8)
        x, y = 4 + 5 * index, 30 - 4 * index
        image[y:y + 8, x:x + 8] = random.integers(150, 256, size=num_channels)
        if num_channels == 3:
            Image.fromarray(image).save(folder / f"image-{index}.png")
        elif num_channels == 1:
            Image.fromarray(image[..., 0]).save(folder / f"image-{index}.png")
        else:
            np.save(folder / f"image-{index}.npy", image)
    return folder
