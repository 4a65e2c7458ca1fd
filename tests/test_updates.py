import numpy as np

from generator.model.quiet_keras import keras
from generator.optimisation.updates import Adam, NormalisedGradientStep

ops = keras.ops


def steps_taken(rule, num_steps: int, signs=(1.0, -1.0)) -> np.ndarray:
    """(num_steps, B): each image's move per step under a constant gradient of ones."""
    params = ops.zeros((len(signs), 4, 4))
    grads = ops.ones((len(signs), 4, 4))
    state = rule.initial_state(params)
    moves = []
    for _ in range(num_steps):
        updated, state = rule(params, grads, state, ops.convert_to_tensor(np.asarray(signs, "float32")), 0.5)
        moves.append(ops.convert_to_numpy(updated - params)[:, 0, 0])
        params = updated
    return np.asarray(moves)


def test_adam_ramps_up_then_decays_as_one_over_the_step():
    moves = steps_taken(Adam(warmup_steps=4, decay_after=8), 32)
    # Under a constant gradient Adam's corrected step is 1 / (1 + epsilon): the move is the scheduled rate.
    scheduled = 0.5 * np.minimum(1, np.arange(1, 33) / 4) * np.minimum(1, 8 / np.arange(1, 33))
    np.testing.assert_allclose(moves[:, 0], scheduled / (1 + Adam.epsilon), rtol=1e-4)
    np.testing.assert_allclose(moves[:, 1], -moves[:, 0], rtol=1e-6)  # descent mirrors ascent


def test_adam_without_decay_keeps_its_rate():
    moves = steps_taken(Adam(warmup_steps=8), 20)
    assert np.allclose(moves[8:, 0], 0.5 / (1 + Adam.epsilon), rtol=1e-4)
    assert moves[0, 0] < moves[4, 0] < moves[8, 0]


def test_the_first_step_of_adam_does_not_depend_on_the_gradient_scale():
    small, large = Adam(), Adam()
    params = ops.zeros((1, 3))
    signs = ops.ones((1,))
    gradient = np.array([[1.0, -2.0, 0.5]], "float32")
    a, _ = small(params, ops.convert_to_tensor(gradient * 1e-4), small.initial_state(params), signs, 1.0)
    b, _ = large(params, ops.convert_to_tensor(gradient * 1e4), large.initial_state(params), signs, 1.0)
    np.testing.assert_allclose(ops.convert_to_numpy(a), ops.convert_to_numpy(b), rtol=1e-4)


def test_the_tutorial_step_moves_each_image_by_the_learning_rate():
    rule = NormalisedGradientStep()
    params = ops.zeros((2, 3, 3))
    grads = ops.convert_to_tensor((np.random.default_rng(0).normal(size=(2, 3, 3)) * [[[1]], [[50]]]).astype("float32"))
    updated, _ = rule(params, grads, rule.initial_state(params), ops.convert_to_tensor([1.0, -1.0]), 2.0)
    norms = np.linalg.norm(ops.convert_to_numpy(updated).reshape(2, -1), axis=1)
    np.testing.assert_allclose(norms, [2.0, 2.0], rtol=1e-5)
