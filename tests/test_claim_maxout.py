"""Claim 11's helpers against independent references: parameter counts of the built models against a
hand count, the equal-parameter width against a brute-force search, and the construction against a numpy
re-implementation of the ReLU / leaky-ReLU network."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.claims import maxout as M
from jaxacts.models import ModelConfig, build_model


def test_parameter_counts_match_a_hand_count_and_the_built_models():
    # 40 -> 128 -> 128 -> 10: (40*128 + 128) + (128*128 + 128) + (128*10 + 10) = 23050 by hand.
    assert M.mlp_parameters(40, 10, 2, 128) == (5248 + 16512, 23050)
    assert M.mlp_parameters(40, 10, 2, 128, pieces=2) == (2 * (5248 + 16512), 2 * (5248 + 16512) + 1290)
    for act, pieces, width in (("relu", 1, 16), ("maxout", 2, 16), ("maxout", 3, 5)):
        model = build_model(ModelConfig(activation=act, maxout_pieces=max(pieces, 1), depth=3, width=width), (7,), 4,
                            jax.random.key(0))
        assert M.count_parameters(model) == M.mlp_parameters(7, 4, 3, width, pieces)


def test_equal_parameter_width_is_the_closest_count():
    for depth, width in ((1, 64), (2, 128), (3, 50)):
        w = M.equal_parameter_width(40, 10, depth, width, 2)
        target = M.mlp_parameters(40, 10, depth, width)[1]
        gaps = [abs(M.mlp_parameters(40, 10, depth, v, 2)[1] - target) for v in range(1, width + 1)]
        assert abs(M.mlp_parameters(40, 10, depth, w, 2)[1] - target) == min(gaps)
    # depth 2, width 128: 2w^2 + 94w + 10 = 23050 has its root at w = 86.4.
    assert M.equal_parameter_width(40, 10, 2, 128, 2) == 86


@pytest.mark.parametrize("slope", [0.0, 0.01, 0.2])
def test_represented_maxout_network_computes_the_leaky_network(slope):
    spec = "relu" if slope == 0 else f"leaky_relu(negative_slope={slope})"
    plain = build_model(ModelConfig(activation=spec, depth=2, width=12), (5,), 3, jax.random.key(0))
    maxout = build_model(ModelConfig(activation="maxout", maxout_pieces=2, depth=2, width=12), (5,), 3,
                         jax.random.key(1))
    M.represent(plain, maxout, slope)
    x = np.random.default_rng(0).normal(size=(64, 5)).astype(np.float32)
    # numpy re-implementation of the plain network, from its own weights
    h = x.astype(np.float64)
    for block in plain.blocks:
        z = h @ np.asarray(block.linear.kernel[...], np.float64) + np.asarray(block.linear.bias[...], np.float64)
        h = np.where(z > 0, z, slope * z)
    reference = h @ np.asarray(plain.head.kernel[...], np.float64) + np.asarray(plain.head.bias[...], np.float64)
    np.testing.assert_allclose(np.asarray(maxout(jnp.asarray(x))), reference, rtol=1e-5, atol=1e-5)
    # and a changed maxout weight breaks it (the check can fail)
    maxout.blocks[0].linear.bias[...] = maxout.blocks[0].linear.bias[...] + 1.0
    assert np.max(np.abs(np.asarray(maxout(jnp.asarray(x))) - reference)) > 1e-2
