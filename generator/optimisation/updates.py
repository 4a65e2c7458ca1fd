"""Update rules: how one step changes each image's parameters, given the gradient of its objective.

A rule is an object with ``initial_state(params)`` and ``(params, grads, state, signs, learning_rate) -> (params,
state)``, written in ``keras.ops``; ``signs[b]`` is +1 for ascent (the filter's pattern) and -1 for descent (the
pattern taken out). Every normalisation is per image, so an image's step never depends on its batch.
"""

from __future__ import annotations

from generator.model.quiet_keras import keras

ops = keras.ops
ADAM_BETAS = (0.9, 0.999)


def per_image(tensor, values):
    """``values`` (B,) shaped to broadcast over ``tensor``'s other axes."""
    return ops.reshape(values, (-1,) + (1,) * (len(tensor.shape) - 1))


class NormalisedGradientStep:
    """The tutorial's update, per image: ``params + sign * lr * g / ||g||`` (L2 norm over the image's pixels)."""

    def initial_state(self, params):
        return ()

    def __call__(self, params, grads, state, signs, learning_rate):
        axes = tuple(range(1, len(grads.shape)))
        squared = ops.sum(ops.square(grads), axis=axes, keepdims=True)
        normalised = grads / ops.sqrt(ops.maximum(squared, 1e-12))
        return params + learning_rate * per_image(params, signs) * normalised, state


class Adam:
    """Adam ascent on ``sign * objective``, written in keras.ops (state: step count, first and second moments).

    Each image's gradient is first divided by its root mean square, so one learning rate suits every layer
    whatever its activation scale, and ``epsilon`` is relative to that: coefficients whose gradient is rounding
    noise (a millionth of the typical one) take no step, instead of a full step in a random direction.

    The learning rate follows a schedule of the step count alone, so an image after n steps is the same whether
    the run has n steps or more: it ramps up linearly over the first ``warmup_steps`` steps (Adam's first steps
    move every coefficient by the full learning rate, a burst of random texture that raises any contrast-loving
    filter's activation whatever the sign; docs/quality.md#adam-warm-up measures it), and after ``decay_after``
    steps it falls as 1/step (0: it stays constant), so large early steps make the image and the later ones only
    refine it.
    """

    epsilon = 1e-3

    def __init__(self, warmup_steps: int = 8, decay_after: int = 0):
        self.warmup_steps = warmup_steps
        self.decay_after = decay_after

    def initial_state(self, params):
        zeros = ops.zeros_like(params)
        return (ops.zeros((), "float32"), zeros, zeros)

    def rate_factor(self, count):
        """The schedule: the share of the learning rate that step ``count`` (1, 2, ...) takes."""
        factor = ops.minimum(1.0, count / max(self.warmup_steps, 1))
        if self.decay_after:
            factor = factor * ops.minimum(1.0, self.decay_after / count)
        return factor

    def __call__(self, params, grads, state, signs, learning_rate):
        count, first, second = state
        beta1, beta2 = ADAM_BETAS
        axes = tuple(range(1, len(grads.shape)))
        root_mean_square = ops.sqrt(ops.mean(ops.square(grads), axis=axes, keepdims=True))
        grads = grads / ops.maximum(root_mean_square, 1e-30) * per_image(grads, signs)
        count = count + 1.0
        first = beta1 * first + (1 - beta1) * grads
        second = beta2 * second + (1 - beta2) * ops.square(grads)
        corrected = (first / (1 - beta1 ** count)) / (ops.sqrt(second / (1 - beta2 ** count)) + self.epsilon)
        return params + learning_rate * self.rate_factor(count) * corrected, (count, first, second)
