"""The optimisation loop, batched: parameterisation -> views -> preprocessing -> model -> objective -> step.

Batch entry ``b`` optimises filter ``filter_ids[b]`` with sign ``signs[b]`` (+1 ascent: the filter's pattern;
-1 descent: the pattern taken out). Filter ids, signs, the learning rate and the per-image views are tensors and
the batch is padded to a fixed size, so a layer traces its step once. What the parameterisation, the views and
the update are comes from the method's record (methods.py).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from generator.model import backends
from generator.model.filter_heads import build_own_filter_extractor
from generator.model.preprocessing import Preprocessing
from generator.model.quiet_keras import keras, stderr_silenced
from generator.optimisation import transforms
from generator.optimisation.methods import MethodSettings, method_named
from generator.optimisation.objectives import OBJECTIVES, mean_activation
from generator.optimisation.parameterisations import image_generator

ops = keras.ops


@dataclass(frozen=True)
class BatchResult:
    images: np.ndarray  # (N, H, W, C) as the method's parameterisation shows it (its ``tile`` makes tiles)
    activations: np.ndarray  # (N, steps + 1): mean activation before each step, then after the last
    snapshots: dict[int, np.ndarray] = field(default_factory=dict)  # step count -> the images after that step


class StepCore:
    """The compiled loop both image kinds share: parameters -> ``to_rgb`` -> the step's random views ->
    ``objective`` -> gradient -> update rule, with the method's parameterisation, views and update (methods.py).

    ``objective(weights, images, filter_ids)`` gives each image's value to raise (sign +1) or lower (-1);
    ``measured(weights, images, filter_ids)`` each image's activation as the curves and results report it. The
    main images (``Optimizer``) and the facets (facets.py) differ only in these two and in their images per filter.
    """

    def __init__(self, settings: MethodSettings, num_channels: int, model, objective, measured):
        method = method_named(settings.name)
        self.settings = settings
        self.parameterisation = method.parameterisation(settings, num_channels)
        self.views = method.views(settings)
        self.update = method.update(settings)
        self.num_traces = 0
        self.compile_seconds = 0.0  # the first calls of the compiled step and measure (see _compiling)
        self._runs = 0
        parameterisation, views = self.parameterisation, self.views

        def per_image(weights, params, filter_ids, view_rows):
            images = parameterisation.to_rgb(params)
            if views is not None:
                images = transforms.apply(images, view_rows, views.noise)
            return objective(weights, images, filter_ids)

        value_and_gradient = backends.value_and_gradient(per_image)

        def step(weights, params, state, filter_ids, signs, learning_rate, view_rows):
            self.num_traces += 1  # runs only while tracing
            values, grads = value_and_gradient(weights, params, filter_ids, view_rows)
            params, state = self.update(params, grads, state, signs, learning_rate)
            return params, state, values

        def measure(weights, params, filter_ids):
            return measured(weights, parameterisation.to_rgb(params), filter_ids)

        self._weights = backends.model_weights(model)
        self._step = backends.compile_step(step)
        self._measure = backends.compile_step(measure)

    @contextlib.contextmanager
    def _compiling(self, first_call: bool):
        """Around a compiled function's first call: stderr silenced, and the call's time added to
        ``compile_seconds`` (it compiles, then runs once; later calls only run)."""
        if not first_call:
            yield
            return
        started = time.perf_counter()
        with stderr_silenced():
            yield
        self.compile_seconds += time.perf_counter() - started

    def run(self, generators: list[np.random.Generator], filter_ids: list[int], signs: list[float],
            curve: bool = True, snapshot_steps: tuple[int, ...] = (), step_done=None, start: np.ndarray | None = None
            ) -> tuple[np.ndarray, list, dict[int, np.ndarray]]:
        """Optimise one full batch: image ``b`` starts from ``generators[b]`` and moves filter ``filter_ids[b]``
        the way ``signs[b]`` says. Returns the final parameters as the parameterisation displays them, the curve
        (device values: the start image's activation where there are views, each step's value, the final
        image's; the final one alone without ``curve``) and the snapshots after ``snapshot_steps`` steps.
        ``start``: the first parameters, instead of the parameterisation's random ones."""
        settings = self.settings
        params = ops.convert_to_tensor(self.parameterisation.initial(generators) if start is None else start)
        state = self.update.initial_state(params)
        ids_tensor = ops.convert_to_tensor(np.asarray(filter_ids, dtype="int32"))
        signs_tensor = ops.convert_to_tensor(np.asarray(signs, dtype="float32"))
        rate = ops.convert_to_tensor(np.float32(settings.learning_rate))
        rows = ops.convert_to_tensor(transforms.step_rows(self.views, generators, settings.size, settings.steps,
                                                          settings.views_ramp))  # every step's views, one transfer
        # The curve: the start image's activation without a random view, each step's value (its view of the image
        # after the previous update), and the final image's. Without views, step 0 measures the start image itself.
        # Compilation can print C++ messages that mean nothing to a user (TensorFlow's graph optimiser reports
        # rewrites it skipped): the first call of each compiled function runs with stderr silenced.
        first_run = self._runs == 0
        snapshots, values_by_step = {}, []
        with self._compiling(first_run):
            if curve and self.views is not None:
                values_by_step.append(self._measure(self._weights, params, ids_tensor))
        for step in range(settings.steps):
            with self._compiling(first_run and step == 0):
                params, state, values = self._step(self._weights, params, state, ids_tensor, signs_tensor, rate,
                                                   rows[step])
            if step_done is not None:
                step_done(step, values)
            if curve and (step or self.views is None):
                values_by_step.append(values)
            if step + 1 in snapshot_steps:
                snapshots[step + 1] = self.parameterisation.to_display(ops.convert_to_numpy(params))
        with self._compiling(first_run):
            values_by_step.append(self._measure(self._weights, params, ids_tensor))
        self._runs += 1
        return self.parameterisation.to_display(ops.convert_to_numpy(params)), values_by_step, snapshots


class Optimizer:
    """Optimises batches of (filter, sign) images for one layer with one compiled step (``StepCore``)."""

    def __init__(self, extractor, settings: MethodSettings, batch_size: int, preprocessing: Preprocessing,
                 layer_key: int = 0, num_channels: int = 3):
        self.extractor = extractor
        self.settings = settings
        self.batch_size = batch_size
        self.preprocessing = preprocessing
        self.layer_key = layer_key
        self.num_channels = num_channels
        # Only each image's own filter where the layer has a head (heads.py), else all of its filters.
        own_filter = build_own_filter_extractor(extractor)
        self.model = own_filter or extractor
        of_maps = OBJECTIVES[settings.objective]

        def activations(weights, images, filter_ids):
            inputs = preprocessing(images)
            if own_filter is not None:
                return of_maps(backends.call_model(own_filter, weights, [inputs, filter_ids]))
            return mean_activation(backends.call_model(extractor, weights, inputs), filter_ids, of_maps)

        self.core = StepCore(settings, num_channels, self.model, activations, activations)

    @property
    def num_traces(self) -> int:
        return self.core.num_traces

    @property
    def compile_seconds(self) -> float:
        return self.core.compile_seconds

    def run(self, filter_ids: list[int], signs: list[float], snapshot_steps: tuple[int, ...] = (),
            step_done: Callable[[int, object], None] | None = None) -> BatchResult:
        """Optimise ``len(filter_ids)`` images (at most ``batch_size``); the batch is padded to its fixed size.
        ``snapshot_steps``: also return the images as they were after each of these many steps. ``step_done``:
        called after each step with its index and the step's activations (a device tensor)."""
        count = len(filter_ids)
        if not 0 < count <= self.batch_size or len(signs) != count:
            raise ValueError(f"a batch holds 1 to {self.batch_size} images with one sign each, got {count}")
        padding = self.batch_size - count
        padded_ids = list(filter_ids) + [filter_ids[-1]] * padding
        padded_signs = list(signs) + [signs[-1]] * padding
        generators = [image_generator(self.settings.seed, self.layer_key, filter_id) for filter_id in padded_ids]
        images, curve, snapshots = self.core.run(generators, padded_ids, padded_signs, curve=True,
                                                 snapshot_steps=snapshot_steps, step_done=step_done)
        activations = np.stack([ops.convert_to_numpy(values) for values in curve], axis=1)
        return BatchResult(images=images[:count], activations=activations[:count],
                           snapshots={step: shown[:count] for step, shown in snapshots.items()})
