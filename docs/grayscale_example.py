"""The grayscale model of the README's picture: 28x28 pixels, one channel, Rescaling(1/255) at its input, two
convolutions and a Dense head, with seeded random weights (untrained: it shows what a grayscale atlas looks like,
not what a digit classifier learns).

    python docs/grayscale_example.py /tmp/digits.keras
    .venv/bin/atlas build --model /tmp/digits.keras --layers conv2 --profile full --examples none --out /tmp/digits
    python docs/screenshots.py /tmp/digits --gallery-only gallery-grayscale.png
"""

import sys

import numpy as np

import generator  # noqa: F401  (sets the backend and quiets TensorFlow)
from generator.model.quiet_keras import keras

inputs = keras.Input((28, 28, 1), name="digit")
x = keras.layers.Rescaling(1 / 255, name="rescale")(inputs)
x = keras.layers.Conv2D(16, 5, activation="relu", name="conv1")(x)
x = keras.layers.Conv2D(32, 5, activation="relu", name="conv2")(x)
x = keras.layers.GlobalAveragePooling2D(name="average")(x)
model = keras.Model(inputs, keras.layers.Dense(10, name="logits")(x), name="digits")
generator_ = np.random.default_rng(3)
model.set_weights([generator_.normal(0, 0.3, size=w.shape).astype("float32") for w in model.get_weights()])
model.save(sys.argv[1] if len(sys.argv) > 1 else "digits.keras")
