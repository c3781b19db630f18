"""Claim 5 (dying ReLU): its intervals for proportions against published values and simulated coverage,
and its dead-unit and born-dead masks against a NumPy forward pass of the same parameters."""

import dataclasses

import jax
import numpy as np
import pytest
from scipy import stats

from experiments.claims import common as C
from experiments.claims import dying_relu as M
from jaxacts.models import ModelConfig


def test_wilson_interval_matches_scipy():
    for k, n in [(0, 50), (3, 200), (57, 2000), (1990, 2000), (2000, 2000)]:
        ref = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        np.testing.assert_allclose(M.wilson(k, n), (ref.low, ref.high), rtol=0, atol=1e-12)


def test_newcombe_interval_matches_newcombe_1998():
    # Newcombe (1998), Statistics in Medicine 17:873, table II: 56/70 - 48/80, method 10: 0.0524 to 0.3339.
    d, (low, high) = M.newcombe(56, 70, 48, 80)
    assert d == pytest.approx(0.2)
    assert (round(low, 4), round(high, 4)) == (0.0524, 0.3339)


@pytest.mark.parametrize("n", [200, 2000])
@pytest.mark.parametrize("p1,p2", [(0.98, 0.06), (0.5, 0.06), (0.1, 0.05), (0.995, 0.025)])
def test_newcombe_interval_covers_at_least_94_percent(n, p1, p2):
    rng = np.random.default_rng(0)
    k1, k2 = rng.binomial(n, p1, 4000), rng.binomial(n, p2, 4000)
    covered = [lo <= p1 - p2 <= hi for lo, hi in (M.newcombe(a, n, b, n)[1] for a, b in zip(k1, k2))]
    assert np.mean(covered) >= 0.94


def _numpy_hidden(params, run: int, x: np.ndarray) -> list[np.ndarray]:
    h, out = x.reshape(x.shape[0], -1), []
    for i in range(len(params["blocks"])):
        lin = params["blocks"][i]["linear"]
        h = np.maximum(h @ np.asarray(lin["kernel"][...][run]) + np.asarray(lin["bias"][...][run]), 0.0)
        out.append(h)
    return out


def test_dead_units_and_born_dead_match_a_numpy_forward_pass():
    data = C.load(C.DataConfig(dataset="digits"))
    x = data.x_train[:300]
    model = ModelConfig(activation="relu", init="he_normal", depth=6, width=2)
    graphdef, state = C.init_runs(data, model, 64, first_seed=5)
    dead = np.asarray(M.dead_units(graphdef, state.params, state.rest, jax.device_put(x)))
    born = np.asarray(M.born_dead(graphdef, state.params, state.rest, jax.device_put(x)))
    assert dead.shape == (64, 6, 2)
    for r in range(64):
        hidden = _numpy_hidden(state.params, r, x)
        # Units far from the boundary only: float32 against float64 may differ at a pre-activation of ~0.
        ref = np.stack([np.all(h <= 1e-5, axis=0) for h in hidden])
        sure = np.stack([np.all(h <= 0, axis=0) | np.any(h > 1e-5, axis=0) for h in hidden])
        np.testing.assert_array_equal(dead[r][sure], ref[sure])
        assert born[r] == any(np.all(h <= 1e-5) for h in hidden)
    assert born.any() and not born.all()  # width 2, depth 6: some runs born dead, not all


def test_born_dead_is_at_least_the_all_negative_layer_bound():
    # Depth 2, width 2: the second layer is dead whenever its 4 weights are negative (probability 1/16).
    data = C.load(C.DataConfig(dataset="digits"))
    model = ModelConfig(activation="relu", init="he_normal", depth=2, width=2)
    graphdef, state = C.init_runs(data, model, 1600, first_seed=0)
    born = np.asarray(M.born_dead(graphdef, state.params, state.rest, jax.device_put(data.x_train)))
    _, high = M.wilson(int(born.sum()), born.size)
    assert high >= M.born_dead_lower_bound(2, 2) == pytest.approx(1 / 16)
    assert M.born_dead_lower_bound(2, 1) == 0.0


def test_revival_fraction_counts_units_alive_after_the_epoch():
    masks = np.zeros((4, 2, 1, 4), bool)  # (epochs + 1, seeds, layers, width)
    masks[1, 0] = [[True, True, True, False]]
    masks[2, 0] = [[True, False, True, False]]  # unit 1 revives at epoch 2
    masks[3, 0] = [[True, True, False, False]]  # unit 2 revives at epoch 3 (unit 1 dead again: still revived)
    fraction, n_dead = M.revival_fraction(masks, 1)
    assert n_dead.tolist() == [3, 0]
    assert fraction[0] == pytest.approx(2 / 3) and np.isnan(fraction[1])


def test_rule_states_the_registered_thresholds():
    config = M.Config()
    for value in (config.growth_threshold, config.flat_threshold, config.revival_threshold, config.seeds,
                  config.born_dead_inits, config.revival_epoch):
        assert f"{value:g}" in M.RULE
    assert str(list(config.born_dead_depths)) in M.RULE and str(list(config.sgd_lrs)) in M.RULE
    assert dataclasses.is_dataclass(M.QUICK) and M.QUICK.seeds == 2
