"""The claims runner: the quick version of every claim end to end, the statistics it rests on, and its
refusals."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import jaxacts
from experiments.claims import CLAIMS
from experiments.claims import __main__ as runner
from experiments.claims import common as C
from experiments.claims import linear_collapse
from jaxacts.models import ModelConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCHEMA = {"id", "claim", "source", "protocol", "measurements", "statistic", "ci95", "verdict", "rule", "figures"}


@pytest.fixture
def standard_promotion():
    with jax.numpy_dtype_promotion("standard"):
        yield


def test_quick_run_of_every_claim_gives_a_verdict_a_figure_and_a_report(tmp_path):
    # The command itself, in a fresh process: --quick sets its compiler flags before JAX starts.
    out = str(tmp_path / "claims")
    proc = subprocess.run([sys.executable, "-m", "experiments.claims", "--quick", "--out", out], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    with open(os.path.join(out, "claims.json")) as fh:
        saved = json.load(fh)  # strict JSON: NaN/inf would not parse back as numbers
    assert [c["id"] for c in saved["claims"]] == list(CLAIMS)
    assert all(f"**{c['verdict']}**" in proc.stdout for c in saved["claims"])  # the printed summary table
    assert saved["environment"]["quick"] is True
    for c in saved["claims"]:
        assert SCHEMA <= set(c), c["id"]
        assert c["verdict"] in C.VERDICTS
        low, high = c["ci95"]
        assert low <= high and np.isfinite([low, high]).all(), c["id"]
        assert c["rule"] == CLAIMS[c["id"]].RULE
        assert all(os.path.getsize(os.path.join(out, f)) > 10_000 for f in c["figures"]), c["id"]
    with open(os.path.join(out, "report.md")) as fh:
        report = fh.read()
    assert report.count("| **") == len(CLAIMS)  # one verdict-table row per claim
    for c in saved["claims"]:
        assert c["rule"] in report and f"![{c['id']}]({c['id']}.png)" in report


def test_runner_refuses_bad_input_before_any_work(tmp_path, capsys):
    for argv, words in ((["--only", "relu_is_magic"], "unknown claim 'relu_is_magic'"),
                        (["--seeds", "1"], "--seeds must be"),
                        (["--dataset", "cifar10"], "give --data-dir"),
                        (["--dataset", "imagenet"], "is not one of")):
        with pytest.raises(SystemExit) as e:
            runner.main(argv + ["--out", str(tmp_path / "x")])
        assert words in str(e.value) and str(e.value).startswith("error:")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "claims.json").write_text("{}")
    with pytest.raises(SystemExit, match="already holds results"):
        runner.main(["--out", str(tmp_path / "full")])
    assert (tmp_path / "full" / "claims.json").read_text() == "{}"  # nothing overwritten
    assert not (tmp_path / "x").exists()


def test_bootstrap_interval_of_a_mean_matches_the_t_interval():
    x = np.random.default_rng(1).normal(3.0, 2.0, size=200)
    low, high = C.bootstrap_ci(x)
    t_low, t_high = stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
    assert abs(low - t_low) < 0.05 and abs(high - t_high) < 0.05


def test_paired_ratio_is_the_geometric_mean_and_pairs_by_seed():
    a, b = np.array([2.0, 8.0, 4.0]), np.array([1.0, 2.0, 4.0])
    ratio, (low, high) = C.paired_ratio(a, b)
    assert ratio == pytest.approx((2 * 4 * 1) ** (1 / 3))
    assert low <= ratio <= high
    same, ci = C.paired_ratio(b * 3, b)  # a constant paired ratio has no spread, whatever b's spread
    assert same == pytest.approx(3.0) and ci == pytest.approx([3.0, 3.0])


def test_steps_to_a_target_uses_a_trailing_average_and_censors():
    per_step = np.array([[1.0, 0.5, 0.4, 0.2, 0.1], [1.0, 1.0, 1.0, 1.0, 1.0]])
    np.testing.assert_allclose(C.smoothed(per_step, 2)[0], [1.0, 0.75, 0.45, 0.3, 0.15])
    np.testing.assert_array_equal(C.steps_to(per_step, 0.45, 2), [3.0, np.inf])
    steps, missed = C.censored_steps(per_step, 0.45, 2)
    np.testing.assert_array_equal(steps, [3.0, 6.0])
    assert missed == 1
    assert np.isinf(C.steps_to(np.array([[1.0, np.nan, 0.0, 0.0]]), 0.5, 2))[0]  # a diverged run never arrives


def test_fastest_choice_reads_only_the_validation_curve():
    sweep = C.Sweep(settings=[{"lr": 0.1, "activation": "relu"}, {"lr": 1.0, "activation": "relu"}], seeds=2,
                    steps_per_epoch=1, train_loss=np.zeros((2, 2, 3)), train_error=np.zeros((2, 2, 3)),
                    evals={"val_accuracy": np.array([[[0.5, 0.8, 0.9]] * 2, [[0.8, 0.8, 0.85]] * 2]),
                           "test_accuracy": np.array([[[0.0] * 3] * 2, [[1.0] * 3] * 2])},
                    final_train={}, diverged=np.zeros((2, 2), bool), seconds=0.0, epoch_seconds=np.zeros(3), graphdef=None, state=None,
                    index=(0, 1))
    assert C.choose_fastest(sweep, 0.25) == 1  # reaches 75% validation accuracy an epoch sooner
    assert C.choose_by_validation(sweep) == 0  # higher final validation accuracy
    sweep.diverged[1, 0] = True
    assert C.choose_fastest(sweep, 0.25) == 0  # a rate with a diverged seed loses to a healthy one


def test_relu_is_leaky_relu_with_slope_zero():
    # The claims train ReLU as leaky_relu(negative_slope=0.0) in one program with the leaky slopes.
    x = jnp.linspace(-5, 5, 1001).at[500].set(0.0)
    np.testing.assert_array_equal(jaxacts.leaky_relu(x, negative_slope=0.0), jaxacts.relu(x))
    nonzero = x != 0
    np.testing.assert_array_equal(jax.vmap(jax.grad(lambda v: jaxacts.leaky_relu(v, negative_slope=0.0)))(x)[nonzero],
                                  jax.vmap(jax.grad(jaxacts.relu))(x)[nonzero])


def test_product_of_a_linear_networks_weights_reproduces_it(standard_promotion):
    data = C.load(C.DataConfig(dataset="digits"))
    model = ModelConfig(activation="identity", init="lecun_normal", depth=3, width=16)
    sweep = C.train_sweep(data, model, "adam", (1e-2,), epochs=1, batch_size=50, seeds=2)
    errors = linear_collapse._collapse_error(sweep, 0, data.x_test)
    assert max(errors) < 1e-5
    relu = C.train_sweep(data, ModelConfig(activation="relu", depth=3, width=16), "adam", (1e-2,), epochs=1,
                         batch_size=50, seeds=1)
    assert linear_collapse._collapse_error(relu, 0, data.x_test)[0] > 1e-2  # and a ReLU network is not linear
