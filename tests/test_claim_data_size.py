"""Claim 7's helpers: the nested training sets, the step budget, and the 'best arm' clause, checked against
independent references (scipy's one-sample t-test, numpy statistics)."""

import numpy as np
import pytest
from scipy import stats

from experiments.claims import data_size


def _pool(n=50, features=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(2.0, 3.0, (n, features)).astype(np.float32)
    y = rng.integers(0, 10, n).astype(np.int32)
    return x, y, rng.normal(size=(7, features)).astype(np.float32), rng.integers(0, 10, 7).astype(np.int32)


def test_training_sets_are_nested_and_the_validation_set_is_fixed_and_disjoint():
    x, y, xt, yt = _pool()
    small, large = data_size.split_pool(x, y, xt, yt, 10, 8), data_size.split_pool(x, y, xt, yt, 30, 8)
    np.testing.assert_array_equal(small.y_train, y[:10])
    np.testing.assert_array_equal(large.y_train, y[:30])
    np.testing.assert_array_equal(small.y_val, y[-8:])
    np.testing.assert_array_equal(large.y_val, y[-8:])
    np.testing.assert_array_equal(small.y_test, yt)
    with pytest.raises(ValueError):
        data_size.split_pool(x, y, xt, yt, 45, 8)  # would overlap the validation set


def test_standardized_with_the_training_sets_own_statistics():
    x, y, xt, yt = _pool()
    d = data_size.split_pool(x, y, xt, yt, 20, 5)
    np.testing.assert_allclose(d.x_train.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(d.x_train.std(axis=0), 1.0, atol=1e-5)
    mean, std = x[:20].mean(axis=0), x[:20].std(axis=0)
    np.testing.assert_allclose(d.x_test, (xt - mean) / std, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(d.x_val, (x[-5:] - mean) / std, rtol=1e-5, atol=1e-5)


def test_every_size_gets_about_the_same_steps():
    assert data_size.epochs_for(1000, 800, 100) == 80
    assert data_size.epochs_for(16000, 800, 100) == 5
    assert data_size.epochs_for(64000, 800, 100) == 1  # at least one epoch


def test_best_arm_clause_matches_scipy_and_reads_ties_and_losses():
    rng = np.random.default_rng(3)
    base = rng.normal(0.6, 0.02, 8)
    acc = {"A": base + 0.05 + rng.normal(0, 0.005, 8), "B": base, "C": base + 0.01 + rng.normal(0, 0.005, 8)}
    res = data_size.best_arm_clause(acc, "A")
    assert res["verdict"] == "supported" and res["closest"] == "C"
    d = acc["A"] - acc["C"]
    low, high = stats.ttest_1samp(d, 0.0).confidence_interval(0.95)
    np.testing.assert_allclose(res["differences"]["C"]["ci95"], [low, high], rtol=1e-10)
    np.testing.assert_allclose(res["differences"]["C"]["mean"], d.mean(), rtol=1e-12)
    # A beaten by one arm: contradicted, whatever the others say.
    assert data_size.best_arm_clause(acc, "C")["verdict"] == "contradicted"
    # Beating one arm and tying another: inconclusive.
    tie = {"A": base + 0.05, "B": base, "C": base + 0.05 + rng.normal(0, 0.01, 8)}
    assert data_size.best_arm_clause(tie, "A")["verdict"] == "inconclusive"


def test_ranking_entry_is_the_t_interval_of_the_mean():
    v = [0.61, 0.63, 0.60, 0.64]
    e = data_size.ranking_entry(v)
    low, high = stats.t.interval(0.95, len(v) - 1, loc=np.mean(v), scale=stats.sem(v))
    assert e["mean"] == pytest.approx(np.mean(v))
    np.testing.assert_allclose(e["ci95"], [low, high], rtol=1e-10)
    assert e["values"] == v
