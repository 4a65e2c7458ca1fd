"""Own-filter heads: the target layer computed for each image's own filter only.

The optimiser needs, for image ``b``, one filter of the target layer: ``filter_ids[b]``. Computing the layer's
every filter and picking one wastes the rest of the layer and, through the gradient, the same again. A head
computes that one filter per image from the layer's input and the layer's own weights, with the same numbers:

- ``SeparableConv2D``: the depthwise convolution (shared by all filters), then per image one column of the
  pointwise kernel;
- ``Conv2D``: one grouped convolution over the batch folded into channels, group ``b`` with filter
  ``filter_ids[b]``'s kernel. On CPUs only: a convolution of a thousand one-filter groups is unmeasured on GPUs;
  and only where the backend has gradients for grouped convolutions (backends.grouped_convolution_gradients).

Elementwise layers after the target (the ``leaky`` and ``pre_activation`` targets' ``LeakyOutput``, an
``Activation``) are applied to the head's map as they are. Other layer types have no head, and the optimiser
picks the filter out of the full output (objectives.mean_activation).
"""

from __future__ import annotations

from generator.model import backends
from generator.model.extractors import safe_name
from generator.model.quiet_keras import keras

ops = keras.ops
ELEMENTWISE_LAYERS = ("LeakyOutput", "Activation", "ReLU", "LeakyReLU")
ACROSS_CHANNELS = ("softmax", "log_softmax")  # activations that a single filter's map cannot be given alone
CONVOLUTION_HEADS_ON_GPU = False  # Conv2D heads on GPUs: off until bench/variants.py (heads) measures them faster


def _elementwise(layer) -> bool:
    """Whether the layer's activation (if any) acts on each value alone."""
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", "linear") not in ACROSS_CHANNELS


class OwnFilterHead(keras.layers.Layer):
    """``(layer input, filter_ids) -> (B, H, W)``: the target layer's filter ``filter_ids[b]`` for image b, with
    the layer's own weights; subclasses compute the map before bias and activation (``filter_maps``)."""

    def __init__(self, target, **kwargs):
        super().__init__(**kwargs)
        self.target = target

    def call(self, inputs, filter_ids):
        maps = self.filter_maps(inputs, filter_ids)
        if self.target.use_bias:
            maps = maps + ops.take(ops.cast(self.target.bias, maps.dtype), filter_ids, axis=0)[:, None, None]
        return self.target.activation(maps)

    def compute_output_spec(self, inputs, filter_ids):
        return keras.KerasTensor(self.target.compute_output_shape(inputs.shape)[:3], dtype=self.compute_dtype)


class SeparableOwnFilter(OwnFilterHead):
    """Each image's own filter of a ``SeparableConv2D``: the depthwise convolution, then its filter's pointwise
    column (docs/performance.md#separable-convolutions measures it, and the folded form it is preferred to)."""

    def filter_maps(self, inputs, filter_ids):
        layer = self.target
        depthwise = ops.depthwise_conv(inputs, ops.cast(layer.depthwise_kernel, inputs.dtype), strides=layer.strides,
                                       padding=layer.padding, data_format=layer.data_format,
                                       dilation_rate=layer.dilation_rate)
        columns = ops.take(ops.transpose(ops.cast(layer.pointwise_kernel[0, 0], inputs.dtype)), filter_ids, axis=0)
        return ops.einsum("bhwc,bc->bhw", depthwise, columns)


class ConvolutionOwnFilter(OwnFilterHead):
    """Each image's own filter of a ``Conv2D``: the batch folded into channels, ``(B, H, W, C) -> (1, H, W, B*C)``,
    and one convolution with B groups, group b holding the kernel of filter ``filter_ids[b]``
    (docs/performance.md#conv2d-heads)."""

    def filter_maps(self, inputs, filter_ids):
        layer = self.target
        batch, height, width, channels = inputs.shape
        folded = ops.reshape(ops.transpose(inputs, (1, 2, 0, 3)), (1, height, width, batch * channels))
        kernels = ops.take(ops.cast(layer.kernel, inputs.dtype), filter_ids, axis=3)  # (kh, kw, C, B)
        outputs = backends.grouped_convolution(folded, kernels, layer.strides, layer.padding, layer.dilation_rate)
        return ops.transpose(outputs[0], (2, 0, 1))


def _supports(layer) -> bool:
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        return False
    if type(layer).__name__ == "SeparableConv2D":
        return True
    if backends.gpu_available() and not CONVOLUTION_HEADS_ON_GPU:
        return False  # grouped convolutions: measured on CPUs only (see the module's docstring)
    if not backends.grouped_convolution_gradients():
        return False
    # tf.nn.convolution takes strides or dilation, not both at once.
    both = max(layer.strides) > 1 and max(layer.dilation_rate) > 1
    return type(layer).__name__ == "Conv2D" and layer.groups == 1 and not both


HEADS = {"SeparableConv2D": SeparableOwnFilter, "Conv2D": ConvolutionOwnFilter}  # layer type -> its head


def _input_of(tensor):
    """The input of the layer call that made ``tensor``, in this graph: a layer shared between graphs (a folded
    copy of a model shares its other layers, see folding.py) has one call, and one input, per graph."""
    history = tensor._keras_history
    return history.operation._inbound_nodes[history.node_index].input_tensors[0]


def build_own_filter_extractor(extractor):
    """``(images, filter_ids) -> (B, H, W)``: each image's own filter of the extractor's target layer, computed
    alone, where that layer has a head; otherwise None, and the caller picks the filter out of the full output."""
    tensor = extractor.output
    layer = tensor._keras_history.operation
    after = []
    while type(layer).__name__ in ELEMENTWISE_LAYERS:
        if not _elementwise(layer):
            return None
        after.append(layer)
        tensor = _input_of(tensor)
        layer = tensor._keras_history.operation
    if type(layer).__name__ not in HEADS or not _elementwise(layer) or not _supports(layer):
        return None
    filter_ids = keras.Input(shape=(), dtype="int32", name="filter_ids")
    head = HEADS[type(layer).__name__](layer, name=f"{safe_name(layer.name)}_own_filter")
    outputs = head(_input_of(tensor), filter_ids)
    for elementwise in reversed(after):
        outputs = elementwise(outputs)
    return keras.Model([*extractor.inputs, filter_ids], outputs, name=f"{extractor.name}_own_filter")
