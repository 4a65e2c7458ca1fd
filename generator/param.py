"""How an image is represented while it is optimised.

A parameterisation turns per-image seeds into initial parameters, parameters into the model's input (in
``keras.ops``, so gradients flow), and final parameters into RGB images for display.
"""

from __future__ import annotations

import numpy as np

from generator.models import preprocess


def image_seed(seed: int, layer_key: int, filter_id: int) -> np.random.Generator:
    """One generator per (run seed, layer, filter): an image's randomness never depends on its batch."""
    return np.random.default_rng([seed, layer_key, filter_id])


class PixelParameterisation:
    """The seed's method: the pixels themselves, RGB started from uniform noise in [0, 1).

    The model's preprocessing is part of the graph, so a step of the learning rate is measured in [0, 1] image
    units whatever the model expects. For a model that takes [0, 1] images as they are (``unit``), this is the
    seed's computation exactly.
    """

    def __init__(self, preprocessing: str):
        self.preprocessing = preprocessing

    def initial(self, generators: list[np.random.Generator], size: int) -> np.ndarray:
        return np.stack([generator.random((size, size, 3), dtype=np.float32) for generator in generators])

    def to_model_input(self, params):
        return preprocess(params, self.preprocessing)

    def to_display(self, params: np.ndarray) -> np.ndarray:
        return params


def parameterisation_for(method_name: str, preprocessing: str):
    if method_name == "classic":
        return PixelParameterisation(preprocessing)
    raise ValueError(f"no parameterisation for method '{method_name}'")
