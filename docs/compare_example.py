"""The two checkpoints of the README's comparison picture: a small CNN (two convolutions, the second strided, and a
Dense head) trained on scikit-learn's digits (8x8 grayscale, upscaled 4x to 32x32) with Adam, batches of 32 in a
fixed order from seeded weights, saved after 20 training steps and again after 300; and 200 of the digits as PNG
files, the dataset examples that both atlases scan (the response part of the change score).

    python docs/compare_example.py /tmp/digits     # step20/digits.keras, step300/digits.keras, images/
    .venv/bin/atlas build --model /tmp/digits/step20/digits.keras --layers conv1,conv2 --profile full \\
        --facets 0 --examples /tmp/digits/images --out /tmp/digits/atlas-step20
    .venv/bin/atlas build --model /tmp/digits/step300/digits.keras --layers conv1,conv2 --profile full \\
        --facets 0 --examples /tmp/digits/images --out /tmp/digits/atlas-step300
    .venv/bin/atlas compare /tmp/digits/atlas-step20 /tmp/digits/atlas-step300 --out /tmp/digits/compare
    python docs/screenshots.py /tmp/digits/compare --compare-only compare.png

Both checkpoints have one file name, so both atlases start from the same random images (seeded by the model's
name): a filter that did not change looks the same on both sides.
"""

import sys
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

import generator  # noqa: F401  (sets the backend and quiets TensorFlow)
from generator.model.quiet_keras import keras

STEPS = (20, 300)
BATCH = 32


def digits_32() -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 digits as 32x32 pixels in [0, 255] (8x8 values 0-16, each pixel repeated 4x4), and labels."""
    digits = load_digits()
    images = np.kron(digits.images, np.ones((4, 4))) * (255 / 16)
    return images[..., None].astype("float32"), digits.target


def model_of(seed: int = 3):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((32, 32, 1), name="digit")
    x = keras.layers.Rescaling(1 / 255, name="rescale")(inputs)
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1")(x)
    x = keras.layers.Conv2D(24, 3, strides=2, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="average")(x)
    model = keras.Model(inputs, keras.layers.Dense(10, name="logits")(x), name="digits")
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model


def main(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    images, labels = digits_32()
    order = np.random.default_rng(0).permutation(len(images))
    images, labels = images[order], labels[order]
    model = model_of()
    done = 0
    for steps in STEPS:
        while done < steps:  # one step = one batch of BATCH digits, in a fixed order
            start = done * BATCH % (len(images) - BATCH)
            model.train_on_batch(images[start:start + BATCH], labels[start:start + BATCH])
            done += 1
        loss, accuracy = model.evaluate(images, labels, verbose=0)
        path = folder / f"step{steps}" / "digits.keras"
        path.parent.mkdir(exist_ok=True)
        model.save(path)
        print(f"{path}: {steps} steps, accuracy {accuracy:.2f}, loss {loss:.2f}")
    examples = folder / "images"
    examples.mkdir(exist_ok=True)
    for index in range(200):
        name = examples / f"digit-{index:03d}-{labels[index]}.png"
        Image.fromarray(images[index, :, :, 0].astype(np.uint8)).save(name)
    print(f"{examples}: 200 digits as PNG")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "digits"))
