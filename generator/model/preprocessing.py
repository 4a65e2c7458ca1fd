"""What the model expects as input: images are optimised in [0, 1] and mapped into the model's input space.

A ``Preprocessing`` is a named, callable record; the loaded model carries one (models.LoadedModel), and the
optimiser, the dataset-example scan and the evaluation call it in the graph, so gradients flow through it.
The order is fixed: scale and offset, then minus ``mean``, divided by ``std`` (per channel), then the channel
order reversed where the model reads BGR. A user's declaration (``PreprocessingChoice``) replaces the model's own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from generator.errors import AtlasError
from generator.model.quiet_keras import keras

IMAGENET_MEAN_RGB = (123.68, 116.779, 103.939)
IMAGENET_STD_RGB = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocessing:
    name: str
    scale: float = 1.0  # images in [0, 1] times this, plus offset
    offset: float = 0.0
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    reverse_channels: bool = False  # RGB -> BGR

    def __call__(self, images):
        """(B, H, W, C) images in [0, 1] -> the model's inputs, in keras.ops."""
        ops = keras.ops
        inputs = images
        if self.scale != 1.0:
            inputs = inputs * self.scale
        if self.offset:
            inputs = inputs + self.offset
        if self.mean is not None:
            inputs = inputs - ops.convert_to_tensor(np.array(self.mean, "float32"))
        if self.std is not None:
            inputs = inputs / ops.convert_to_tensor(np.array(self.std, "float32"))
        if self.reverse_channels:
            inputs = ops.flip(inputs, axis=-1)
        return inputs

    @property
    def description(self) -> str:
        """One line: what the model is given, e.g. ``caffe: pixels in [0, 255], BGR, minus mean (...)``."""
        low, high = self.offset, self.offset + self.scale
        parts = [f"pixels in [{low:g}, {high:g}]"]
        if self.reverse_channels:
            parts.append("BGR")
        if self.mean is not None:
            parts.append(f"minus mean ({', '.join(f'{value:g}' for value in self.mean)})")
        if self.std is not None:
            parts.append(f"divided by std ({', '.join(f'{value:g}' for value in self.std)})")
        return f"{self.name}: {', '.join(parts)}"


@dataclass(frozen=True)
class PreprocessingChoice:
    """What the user declared of a model's input (--preprocessing, --input-range, --mean, --std); None: not given.
    ``mean`` and ``std`` are in the units of the input range, one value per channel (or one for all)."""

    preset: str | None = None
    input_range: tuple[float, float] | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None

    def applied_to(self, default: Preprocessing, num_channels: int) -> Preprocessing:
        """``default`` (the model's own) with what was declared put in its place."""
        base = preset(self.preset) if self.preset is not None else default
        for name, values in (("mean", self.mean), ("std", self.std)):
            if values is not None and len(values) not in (1, num_channels):
                raise AtlasError(f"--{name} gives {len(values)} values, but the model reads {num_channels} "
                                 f"channels: give one value per channel, or one for all.")
        if self.input_range is None and self.mean is None and self.std is None:
            return base
        scale, offset = base.scale, base.offset
        if self.input_range is not None:
            low, high = self.input_range
            scale, offset = high - low, low
        parts = [f"range {offset:g}:{offset + scale:g}"]
        parts += [f"{name} {','.join(f'{value:g}' for value in values)}" for name, values in
                  (("mean", self.mean), ("std", self.std)) if values is not None]
        return Preprocessing(f"{base.name}, {', '.join(parts)}" if self.preset else ", ".join(parts), scale, offset,
                             self.mean if self.mean is not None else base.mean,
                             self.std if self.std is not None else base.std, base.reverse_channels)


# How each family of models expects its input.
PRESETS = {
    "caffe": Preprocessing("caffe", scale=255.0, mean=IMAGENET_MEAN_RGB, reverse_channels=True),  # BGR minus mean
    "tf": Preprocessing("tf", scale=2.0, offset=-1.0),  # [-1, 1]
    "torch": Preprocessing("torch", mean=tuple(m / 255.0 for m in IMAGENET_MEAN_RGB), std=IMAGENET_STD_RGB),
    "none": Preprocessing("none", scale=255.0),  # raw pixels: the model rescales [0, 255] itself
    "unit": Preprocessing("unit"),  # [0, 1] as is
}

# keras.applications families by constructor-name prefix (the first that matches wins).
BY_APPLICATION_PREFIX = (
    ("vgg", "caffe"), ("resnet50v2", "tf"), ("resnet101v2", "tf"), ("resnet152v2", "tf"), ("resnet", "caffe"),
    ("xception", "tf"), ("inception", "tf"), ("mobilenetv3", "none"), ("mobilenet", "tf"), ("nasnet", "tf"),
    ("densenet", "torch"), ("efficientnet", "none"), ("convnext", "none"),
)


def preset(name: str) -> Preprocessing:
    if name not in PRESETS:
        raise AtlasError(f"Unknown preprocessing '{name}'; choose one of: {', '.join(PRESETS)}.")
    return PRESETS[name]


def for_application(constructor: str) -> Preprocessing:
    """The preprocessing a ``keras.applications`` constructor's weights were trained with."""
    key = constructor.lower()
    for prefix, name in BY_APPLICATION_PREFIX:
        if key.startswith(prefix):
            return PRESETS[name]
    return PRESETS["tf"]
