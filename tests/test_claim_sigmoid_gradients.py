"""Claim 2's own measurements against closed forms: the successive-update cosine and path length of a known
trajectory, the saturation threshold, and the centred-sigmoid control."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxacts
from experiments.claims import sigmoid_gradients as claim


class _State(NamedTuple):
    params: dict


def _state(kernels):
    """A stand-in TrainState whose second hidden layer's kernel is ``kernels`` (runs, inputs, units)."""
    return _State({"blocks": {1: {"linear": {"kernel": jnp.asarray(kernels, jnp.float32)}}}})


def test_update_tracker_reads_cosines_and_path_length_of_a_known_trajectory():
    # Run 0: unit 0's incoming weights go back and forth (successive cosine -1), unit 1's straight on (+1);
    # run 1 moves straight.
    steps = [np.zeros((2, 2, 2))]
    for t in range(1, 5):
        k = steps[-1].copy()
        k[0, :, 0] += (1.0 if t % 2 else -1.0) * np.array([1.0, 2.0])  # back and forth
        k[0, :, 1] += np.array([0.5, 0.0])
        k[1] += 1.0
        steps.append(k)
    tracker = claim.UpdateTracker()
    for epoch, k in enumerate(steps):
        tracker(epoch, None, _state(k))
    per_step, mean, path_over_displacement = tracker.summary()
    assert np.isnan(per_step[:, 0]).all()  # the first update has no predecessor
    np.testing.assert_allclose(per_step[0, 1:], 0.0, atol=1e-6)  # mean over units of -1 and +1
    np.testing.assert_allclose(per_step[1, 1:], 1.0, atol=1e-6)
    np.testing.assert_allclose(mean, [0.0, 1.0], atol=1e-6)
    # Run 0: each step moves sqrt(5 + 0.25); after 4 steps unit 0 is back at 0 and unit 1 at (2, 0).
    np.testing.assert_allclose(path_over_displacement[0], 4 * np.sqrt(5.25) / 2.0, rtol=1e-5)
    np.testing.assert_allclose(path_over_displacement[1], 1.0, rtol=1e-5)


def test_saturated_means_the_derivative_is_below_the_threshold_of_its_maximum():
    # sigmoid'(x) / (1/4) = 0.07 at |x| = 2 arccosh(1 / sqrt(0.07)); just inside and outside that point.
    edge = 2.0 * np.arccosh(1.0 / np.sqrt(claim.SATURATED))
    h = jax.nn.sigmoid(jnp.asarray([edge - 0.01, edge + 0.01, -edge - 0.01]))
    assert np.asarray(h * (1 - h) / 0.25 < claim.SATURATED).tolist() == [False, True, True]


@pytest.mark.skipif("scaled_tanh" not in jaxacts.names(), reason="the registry has no scaled_tanh yet")
def test_centred_control_is_sigmoid_minus_a_half_with_the_same_slope():
    assert claim.CENTRED == "scaled_tanh(a=0.5,b=0.5)"
    f = jaxacts.get("scaled_tanh", a=0.5, b=0.5)
    x = jnp.linspace(-8.0, 8.0, 33)
    np.testing.assert_allclose(f(x), jax.nn.sigmoid(x) - 0.5, atol=1e-6)
    np.testing.assert_allclose(jax.vmap(jax.grad(f))(x), jax.vmap(jax.grad(jax.nn.sigmoid))(x), atol=1e-6)


def test_config_refuses_a_saturation_clause_without_the_standard_init():
    with pytest.raises(ValueError, match="standard init"):
        claim.Config(saturation_inits=("glorot_normal",))
