"""Circuits: which filters of the chosen layer before feed each filter, excite it or inhibit it, and how strongly.

For each pair of consecutive chosen layers (earlier, later), a strength per (earlier filter, later filter):

- ``weights``, exact, where the later layer is a ``Conv2D`` that reads the earlier layer's output directly or
  through elementwise layers only (activations, dropout, batch normalisation): the later kernel's slice summed
  over its spatial taps, ``kernel[:, :, i, j].sum()``, times the per-channel scale of any batch normalisation on
  the way and of the one folded into the later convolution (folding.py), so it is the weight of the function
  whose filters the atlas shows.
- ``attribution``, where anything else lies between (pooling, other convolutions): on the dataset examples, the
  mean over each later filter's ATTRIBUTION_EXAMPLES top real patches of gradient x activation of the earlier
  layer's output, summed over positions, for the later filter's pre-activation at its most active position. The
  earlier activations are computed once per image; all (example, filter) pairs of a layer pair then go through
  one compiled gradient, in batches.

The lists name only the filters the atlas builds (a preview builds a few per layer), and count how many of the
strongest were left out because they are not built.

Each layer pair is one file, ``circuits/<earlier>--<later>.json``, written atomically and recomputed only when
its key (model, weights, layers, method, and for attribution the scan and the filters) changes. Each filter's
lists are named records: ``{"id": filter, "strength": value}``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from generator.model import backends
from generator.model.dataset_images import ImageSet, load_square
from generator.model.extractors import target_tensor, with_scope_names
from generator.model.folding import _scale_and_shift
from generator.model.layers import LayerInfo, activation_name
from generator.model.models import LoadedModel
from generator.model.quiet_keras import keras, stderr_silenced
from generator.store.circuit_records import read_pair, write_pair
from generator.store.layout import CIRCUITS_FORMAT

NUM_LISTED = 6  # filters listed per direction on a page
ATTRIBUTION_BATCH = 32  # (example, filter) pairs per gradient batch: one shape, one trace per layer pair
ATTRIBUTION_EXAMPLES = 3  # each later filter's top dataset examples that its strengths are averaged over
# Layers that act on each value alone: a later convolution reading through them still reads the earlier filters.
ELEMENTWISE = (keras.layers.Activation, keras.layers.ReLU, keras.layers.LeakyReLU, keras.layers.ELU,
               keras.layers.Dropout, keras.layers.BatchNormalization)


@dataclass(frozen=True)
class LayerPair:
    earlier: LayerInfo
    later: LayerInfo
    later_filter_ids: tuple[int, ...]  # the later layer's filters the atlas builds: the lists are theirs
    earlier_filter_ids: tuple[int, ...] | None = None  # the earlier layer's built filters, the ones listed; None: all


def weight_strengths(loaded: LoadedModel, earlier: str, later: str) -> np.ndarray | None:
    """(earlier filters, later filters): the later kernel summed over its taps, scaled by the batch
    normalisations on the way and the one folded into the later layer; None where the later layer is not a
    Conv2D reading the earlier layer's output through elementwise layers only.

    The model's own graph is each layer's first call (node 0): extractors built since call the same layers
    again and add nodes. Layers are named as the user names them (``base/layer`` in a nested model)."""
    model = loaded.model
    layer = loaded.get_layer(later)
    if type(layer) is not keras.layers.Conv2D or layer.groups != 1:
        return None
    strengths = np.asarray(layer.kernel.numpy(), np.float64).sum(axis=(0, 1))
    parent = layer
    while True:
        parents = parent._inbound_nodes[0].parent_nodes
        if len(parents) != 1:
            return None
        parent = parents[0].operation
        if loaded.display_name(parent) == earlier:
            break
        if not isinstance(parent, ELEMENTWISE):
            return None
        if isinstance(parent, keras.layers.BatchNormalization) and not _reads_only(loaded, parent, earlier):
            strengths = strengths * _scale_and_shift(parent)[0][:, None]
    after = _only_reader(model, layer)
    if isinstance(after, keras.layers.BatchNormalization) and activation_name(layer) == "linear":
        strengths = strengths * _scale_and_shift(after)[0][None, :]  # folded into the later layer (folding.py)
    return strengths


def _only_reader(model, layer):
    """The one layer of ``model`` that reads ``layer``'s output in the model's own graph, or None."""
    readers = [other for other in model.layers if other._inbound_nodes
               and any(node.operation is layer for node in other._inbound_nodes[0].parent_nodes)]
    return readers[0] if len(readers) == 1 else None


def _reads_only(loaded: LoadedModel, normalisation, earlier: str) -> bool:
    """A batch normalisation right after the earlier convolution, its only reader, is folded into it: part of
    the filters the atlas shows."""
    parents = normalisation._inbound_nodes[0].parent_nodes
    return (len(parents) == 1 and loaded.display_name(parents[0].operation) == earlier
            and _only_reader(loaded.model, parents[0].operation) is normalisation)


class Attribution:
    """One compiled gradient: earlier activations (B, H, W, C), their images and later filter ids (B,) ->
    gradient x activation summed over positions (B, C), for each later filter's pre-activation at its largest
    position. The later layer may also read the image past the earlier layer (a residual connection): that path is
    fed the image itself, so the gradient is the earlier layer's part alone."""

    def __init__(self, loaded: LoadedModel, earlier: str, later: str):
        self.earlier, self.later = earlier, later
        image = loaded.model.inputs[0]
        earlier_output = loaded.get_layer(earlier).output
        self.earlier_model = with_scope_names(keras.Model(image, earlier_output))
        later_target = target_tensor(loaded.get_layer(later), "pre_activation")
        self.later_model = with_scope_names(keras.Model([image, earlier_output], later_target))
        preprocess = loaded.preprocessing
        earlier_model, later_model = self.earlier_model, self.later_model

        def prepared(pixels):
            return preprocess(keras.ops.cast(pixels, "float32") / 255.0)

        def activations(weights, pixels):
            return backends.call_model(earlier_model, weights, prepared(pixels))

        def peak(weights, earlier_values, pixels, filter_ids):
            ops = keras.ops
            output = ops.cast(backends.call_model(later_model, weights, [prepared(pixels), earlier_values]),
                              "float32")
            # Each image's own filter over all positions: (B, H, W, C) maps and a class layer's (B, units) alike.
            flat = ops.reshape(output, (ops.shape(output)[0], -1, ops.shape(output)[-1]))
            picked = ops.take_along_axis(flat, ops.reshape(filter_ids, (-1, 1, 1)), axis=2)
            return ops.max(ops.reshape(picked, (ops.shape(picked)[0], -1)), axis=1)

        gradient = backends.value_and_gradient(peak)

        def contributions(weights, earlier_values, pixels, filter_ids):
            _, grads = gradient(weights, earlier_values, pixels, filter_ids)
            spatial = tuple(range(1, len(earlier_values.shape) - 1))  # none where the earlier layer is a class layer
            product = grads * earlier_values
            return keras.ops.sum(product, axis=spatial) if spatial else product

        self.earlier_weights = backends.model_weights(self.earlier_model)
        self.later_weights = backends.model_weights(self.later_model)
        self.activations = backends.compile_step(activations)
        self.contributions = backends.compile_step(contributions)

    def strengths(self, pixels: np.ndarray, examples: dict[int, list[int]], num_later: int) -> np.ndarray:
        """(earlier filters, later filters): for each later filter, the mean contribution over the images
        ``examples[filter]`` (indices into ``pixels``); zero for filters without examples."""
        # The earlier activations are computed once per image, a batch of images at a time (held for every image
        # at once they would not fit: VGG16 block2 at 224 px is 6 MB an image); the (image, filter) pairs of those
        # images then go through the gradient in batches. Each function sees one batch shape (one trace).
        pairs = sorted((image, filter_id) for filter_id, images in examples.items() for image in images)
        used = sorted({image for image, _ in pairs})
        image_batch, pair_batch = even_batch(len(used)), even_batch(len(pairs))
        totals, counts = None, np.zeros(num_later, np.int64)
        for start in range(0, len(used), image_batch):
            chunk = used[start:start + image_batch]
            row_of = {image: row for row, image in enumerate(chunk)}
            padded_chunk = chunk + [chunk[-1]] * (image_batch - len(chunk))
            with stderr_silenced():
                chunk_values = self.activations(self.earlier_weights, pixels[padded_chunk])
            chunk_pairs = [pair for pair in pairs if pair[0] in row_of]
            for first in range(0, len(chunk_pairs), pair_batch):
                batch = chunk_pairs[first:first + pair_batch]
                padded = batch + [batch[-1]] * (pair_batch - len(batch))
                images = np.array([image for image, _ in padded])
                rows = np.array([row_of[image] for image in images], np.int32)
                filter_ids = np.array([filter_id for _, filter_id in padded], np.int32)
                with stderr_silenced():
                    earlier_values = keras.ops.take(chunk_values, rows, axis=0)
                    values = np.asarray(self.contributions(self.later_weights, earlier_values, pixels[images],
                                                           filter_ids), np.float64)
                if totals is None:
                    totals = np.zeros((values.shape[1], num_later), np.float64)
                for row, (_, filter_id) in enumerate(batch):
                    totals[:, filter_id] += values[row]
                    counts[filter_id] += 1
        if totals is None:
            totals = np.zeros((int(self.earlier_model.outputs[0].shape[-1]), num_later), np.float64)
        return totals / np.maximum(counts, 1)[None, :]


def even_batch(count: int) -> int:
    """The batch for ``count`` items: as few batches of at most ATTRIBUTION_BATCH as hold them, filled evenly (a
    full batch and a nearly empty one would compute the padding of the second)."""
    num_batches = -(-max(count, 1) // ATTRIBUTION_BATCH)
    return -(-max(count, 1) // num_batches)


def scan_examples(record: dict, images: ImageSet, later: str, filter_ids, num_channels: int = 3
                  ) -> tuple[np.ndarray, dict[int, list[int]]]:
    """The scanned images that the later layer's filters show as their ATTRIBUTION_EXAMPLES top examples (pixels,
    as scanned, in the model's ``num_channels``) and, per filter, which of them."""
    slots: dict[int, int] = {}
    examples: dict[int, list[int]] = {}
    for filter_id in filter_ids:
        for example in record["layers"][later]["filters"][filter_id]["positive"][:ATTRIBUTION_EXAMPLES]:
            examples.setdefault(filter_id, []).append(slots.setdefault(example["image"], len(slots)))
    size = record["image_size"]
    pixels = [load_square(images.root / record["images"][slot]["name"], size, num_channels) for slot in slots]
    blank = np.zeros((size, size, num_channels), np.uint8)
    pixels = [image if image is not None else blank for image in pixels]
    return np.stack(pixels) if pixels else np.zeros((0, size, size, num_channels), np.uint8), examples


def listed(strengths: np.ndarray, later_ids=None, earlier_ids=None) -> tuple[list[dict], list[dict]]:
    """Per later filter (column ``later_ids``, every one without it), the NUM_LISTED strongest positive
    (``excite``) and negative (``inhibit``) filters among the earlier layer's built ones (``earlier_ids``; every
    one without it), and ``unbuilt``: how many of the NUM_LISTED strongest of all earlier filters are not built
    (a preview builds a few per layer). Per built earlier filter (row), the later filters it excites most
    (``feeds``)."""
    later_ids = list(range(strengths.shape[1]) if later_ids is None else later_ids)
    earlier_ids = list(range(strengths.shape[0]) if earlier_ids is None else earlier_ids)
    built = set(earlier_ids)

    def top(values, ids, sign) -> list[dict]:
        order = [index for index in np.argsort(-sign * values, kind="stable") if sign * values[index] > 0]
        return [{"id": int(ids[index]), "strength": float(f"{values[index]:.4g}")} for index in order[:NUM_LISTED]]

    def unbuilt(values, sign) -> int:
        return sum(item["id"] not in built for item in top(values, range(len(values)), sign))

    later = [{"id": int(j), "excite": top(strengths[earlier_ids, j], earlier_ids, 1),
              "inhibit": top(strengths[earlier_ids, j], earlier_ids, -1),
              "unbuilt": {"excite": unbuilt(strengths[:, j], 1), "inhibit": unbuilt(strengths[:, j], -1)}}
             for j in later_ids]
    earlier = [{"id": int(i), "feeds": top(strengths[i, later_ids], later_ids, 1)} for i in earlier_ids]
    return later, earlier


def pair_key(loaded: LoadedModel, pair: LayerPair, method: str, scan_key: str | None) -> str:
    text = json.dumps({"format": CIRCUITS_FORMAT, "model": loaded.name, "weights": loaded.provenance,
                       "earlier": pair.earlier.name, "later": pair.later.name, "method": method,
                       "scan": scan_key if method == "attribution" else None, "filters": list(pair.later_filter_ids),
                       "examples": ATTRIBUTION_EXAMPLES if method == "attribution" else None,
                       "earlier_filters": None if pair.earlier_filter_ids is None else list(pair.earlier_filter_ids)},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def build(loaded: LoadedModel, pairs: list[LayerPair], out: Path, scan: dict | None = None,
          images: ImageSet | None = None, progress=None) -> list[dict]:
    """Write each pair's file unless it is there with the current key; attribution pairs need the dataset
    examples (``scan`` and its ``images``) and are left out without them. Returns the pairs' records."""
    records = []
    for pair in pairs:
        strengths = weight_strengths(loaded, pair.earlier.name, pair.later.name)
        method = "weights" if strengths is not None else "attribution"
        if method == "attribution" and (scan is None or images is None or pair.later.name not in scan["layers"]):
            if progress is not None:
                progress.notice("circuits", f"Circuits of {pair.later.name} from {pair.earlier.name} not built: "
                                            f"they are found by attribution on the dataset examples, which this "
                                            f"build has not scanned.")
            continue
        key = pair_key(loaded, pair, method, scan["key"] if scan else None)
        existing = read_pair(out, pair.earlier.name, pair.later.name)
        if existing is not None and existing["key"] == key:
            records.append(existing)
            continue
        if progress is not None:
            progress.note(f"Circuits: {pair.later.name} from {pair.earlier.name} ({method}).")
        if strengths is None:
            pixels, examples = scan_examples(scan, images, pair.later.name, pair.later_filter_ids,
                                             loaded.num_channels)
            strengths = Attribution(loaded, pair.earlier.name, pair.later.name).strengths(
                pixels, examples, pair.later.num_filters)
        later, earlier = listed(strengths, pair.later_filter_ids, pair.earlier_filter_ids)
        record = {"format": CIRCUITS_FORMAT, "key": key, "earlier": pair.earlier.name, "later": pair.later.name,
                  "method": method, "later_filters": later, "earlier_filters": earlier}
        write_pair(out, record)
        records.append(record)
    return records


def pairs_of(plans) -> list[LayerPair]:
    """Consecutive chosen layers (the atlas's layer plans, in model order) as layer pairs."""
    return [LayerPair(earlier.info, later.info, tuple(later.filter_ids), tuple(earlier.filter_ids))
            for earlier, later in zip(plans, plans[1:])]
