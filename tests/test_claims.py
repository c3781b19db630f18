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
SCHEMA = {"id", "claim", "source", "tested", "protocol", "measurements", "statistic", "ci95", "interval", "tuning",
          "subverdicts", "preregistration", "verdict", "rule", "figures", "plot"}


@pytest.fixture
def standard_promotion():
    with jax.numpy_dtype_promotion("standard"):
        yield


@pytest.mark.parametrize("cid", list(CLAIMS))
def test_quick_run_of_each_claim_gives_its_verdicts_a_figure_a_report_and_a_guide(tmp_path, cid):
    # The command itself, in a fresh process (--quick sets its compiler flags before JAX starts); one claim
    # per test, so that the claims run in parallel across test workers.
    # One CPU device: sweeps spread over several are tested apart (tests/test_distributed.py, 1 x 4 against
    # 2 x 2); here they would only cost time, 2 cores running 4 devices' programs.
    out = str(tmp_path / "claims")
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=1"}
    proc = subprocess.run([sys.executable, "-m", "experiments.claims", "--quick", "--only", cid, "--out", out],
                          cwd=ROOT, capture_output=True, text=True, timeout=900, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    with open(os.path.join(out, "claims.json")) as fh:
        saved = json.load(fh)  # strict JSON: NaN/inf would not parse back as numbers
    assert [c["id"] for c in saved["claims"]] == [cid]
    (c,) = saved["claims"]
    assert f"**{c['verdict']}**" in proc.stdout  # the printed summary table
    assert saved["environment"]["quick"] is True
    assert SCHEMA <= set(c)
    assert c["verdict"] in C.VERDICTS
    low, high = c["ci95"]
    assert low <= high and np.isfinite([low, high]).all()
    assert c["rule"] == CLAIMS[cid].RULE
    assert c["preregistration"] == C.preregistration(c["rule"], CLAIMS[cid].QUICK)
    assert c["interval"]["scale"] in ("linear", "log") and c["interval"]["coverage"] >= 0.94
    assert c["subverdicts"] and all(s["verdict"] in C.VERDICTS for s in c["subverdicts"])
    assert c["verdict"] == C.overall(c["subverdicts"])  # the overall rule every claim states
    if c["tuning"] is not None:  # tuning seeds apart from the evaluation seeds
        assert not set(c["tuning"]["seeds"]) & set(c["tuning"]["evaluation_seeds"])
        assert all(a["chosen"] in a["grid"] for a in c["tuning"]["arms"])
    assert all(os.path.getsize(os.path.join(out, f)) > 10_000 for f in c["figures"])
    with open(os.path.join(out, "report.md")) as fh:
        report = fh.read()
    assert report.count("| **") == 1  # its verdict-table row
    assert c["rule"] in report and f"![{cid}]({cid}.png)" in report and c["preregistration"] in report
    assert os.path.exists(os.path.join(out, "guide.md")) and os.path.exists(os.path.join(out, "guide.png"))
    # Figures and documents come from claims.json alone: redrawing them gives the same report.
    os.remove(os.path.join(out, c["figures"][0]))
    runner.main(["--redraw", out])
    with open(os.path.join(out, "report.md")) as fh:
        assert fh.read() == report
    assert os.path.getsize(os.path.join(out, c["figures"][0])) > 10_000


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


def test_ctrl_c_in_the_runner_keeps_finished_claims_and_exits_130(tmp_path, monkeypatch, capsys):
    from experiments.claims import CLAIMS

    def interrupted(config):
        raise KeyboardInterrupt

    monkeypatch.setattr(CLAIMS["linear_collapse"], "run", interrupted)
    with pytest.raises(SystemExit) as e:
        runner.main(["--quick", "--only", "linear_collapse", "--out", str(tmp_path / "x")])
    assert e.value.code == 130
    assert "interrupted before the first claim finished; nothing was written" in capsys.readouterr().err
    assert not (tmp_path / "x").exists() or not os.listdir(tmp_path / "x")


def test_t_interval_is_students():
    x = np.random.default_rng(1).normal(3.0, 2.0, size=7)
    t_low, t_high = stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
    assert C.t_interval(x) == pytest.approx([t_low, t_high])
    with pytest.raises(ValueError, match="at least 2 seeds"):
        C.t_interval([1.0])


@pytest.mark.parametrize("seeds", [5, 8, 16])
def test_intervals_cover_at_least_94_percent_at_the_seed_counts_used(seeds):
    # The method the claims use, simulated on normal differences and on lognormal ratios.
    assert C.simulated_coverage(seeds, "linear") >= 0.94
    assert C.simulated_coverage(seeds, "log") >= 0.94
    if seeds == 5:  # the check can fail: a percentile bootstrap over 5 seeds covers about 85%
        rng = np.random.default_rng(0)
        data = rng.normal(0.0, 1.0, (2000, seeds))
        boot = data[:, rng.integers(0, seeds, (500, seeds))].mean(axis=-1)  # (2000, 500)
        low, high = np.percentile(boot, [2.5, 97.5], axis=1)
        assert np.mean((low <= 0) & (0 <= high)) < 0.9


def test_paired_ratio_is_the_geometric_mean_and_pairs_by_seed():
    a, b = np.array([2.0, 8.0, 4.0]), np.array([1.0, 2.0, 4.0])
    ratio, (low, high) = C.paired_ratio(a, b)
    assert ratio == pytest.approx((2 * 4 * 1) ** (1 / 3))
    assert low <= ratio <= high
    same, ci = C.paired_ratio(b * 3, b)  # a constant paired ratio has no spread, whatever b's spread
    assert same == pytest.approx(3.0) and ci == pytest.approx([3.0, 3.0])


def test_steps_to_a_target_has_no_delay_and_censors():
    # A straight line crosses 0.5 at step 51 (1-based); a centred average of a line is the line, so the
    # crossing is found there, where a trailing window of 10 would find it 5 steps late.
    line = 1.0 - 0.01 * np.arange(100)
    assert C.steps_to(line[None], 0.5, 10)[0] == pytest.approx(51.0)
    assert C.steps_to(line[None], 0.505, 10)[0] == pytest.approx(50.5)  # interpolated between steps
    noisy = line + np.where(np.arange(100) % 2, 0.05, -0.05)  # minibatch noise averages out
    assert abs(C.steps_to(noisy[None], 0.5, 10)[0] - 51.0) <= 1.0
    steps, missed = C.censored_steps(np.stack([line, np.ones(100)]), 0.5, 10)
    np.testing.assert_allclose(steps, [51.0, 101.0])
    assert missed == 1
    diverged = line.copy()
    diverged[20] = np.nan
    assert np.isinf(C.steps_to(diverged[None], 0.5, 10))[0]  # a diverged run never arrives


def _sweep(lrs, train_error, diverged=None, val=None):
    P, S = len(lrs), train_error.shape[1]
    return C.Sweep(settings=[{"lr": lr, "activation": "relu"} for lr in lrs], seeds=S, steps_per_epoch=4,
                   train_loss=train_error, train_error=train_error,
                   evals={"val_accuracy": np.ones((P, S, 2)) if val is None else val},
                   final_train={"loss": train_error[..., -1]},
                   diverged=np.zeros((P, S), bool) if diverged is None else diverged, seconds=0.0,
                   epoch_seconds=np.zeros(2), graphdef=None, state=None, index=tuple(range(P)))


def test_fastest_choice_reads_the_training_curve_of_the_tuning_seeds():
    t = np.arange(40)
    slow, fast = 1.0 - 0.01 * t, 1.0 - 0.02 * t
    sweep = _sweep([0.1, 1.0], np.stack([np.stack([slow] * 2), np.stack([fast] * 2)]))
    assert C.choose_fastest(sweep, 0.7) == 1
    assert C.choose_lowest_mean_training_error(sweep) == 1
    sweep.diverged[1, 0] = True
    assert C.choose_fastest(sweep, 0.7) == 0  # a rate with a diverged seed loses to a healthy one


def test_tuning_extends_the_grid_until_the_choice_is_interior():
    calls = []

    def train(lrs_by_arm, seeds, first_seed):
        calls.append((lrs_by_arm, first_seed))
        out = {}
        for arm, lrs in lrs_by_arm.items():
            # Best at lr 0.3 for "a"; "b" diverges above 0.1 and is best at the largest stable rate.
            err = np.array([[[abs(np.log(lr / 0.3)) if arm == "a" else -lr] * 8] * seeds for lr in lrs])
            div = np.array([[arm == "b" and lr > 0.1] * seeds for lr in lrs])
            out[arm] = _sweep(lrs, err, div)
        return out

    chosen, record = C.tune(train, {"a": [0.01, 0.03, 0.1], "b": [0.01, 0.03, 0.1]},
                            C.choose_lowest_mean_training_error, C.Tuning(seeds=3), evaluation_seeds=5)
    assert all(first == C.TUNING_FIRST_SEED for _, first in calls)
    arms = {a["arm"]: a for a in record["arms"]}
    assert chosen["a"] == pytest.approx(0.3) and arms["a"]["interior"] and len(arms["a"]["extended"]) == 2
    assert chosen["b"] == pytest.approx(0.1) and arms["b"]["interior"] and "diverged in 3/3" in arms["b"]["stopped"]
    assert record["evaluation_seeds"] == [0, 1, 2, 3, 4] and not set(record["seeds"]) & set(record["evaluation_seeds"])
    capped, record = C.tune(train, {"a": [0.001, 0.002]}, C.choose_lowest_mean_training_error,
                            C.Tuning(seeds=2, max_extensions=1), evaluation_seeds=2)
    assert not record["arms"][0]["interior"] and "edge" in record["arms"][0]["stopped"]


def test_overall_verdict_and_preregistration():
    sub = lambda v: C.subverdict("c", v, "x", 1.0, [0.0, 2.0])
    assert C.overall([sub("supported"), sub("supported")]) == "supported"
    assert C.overall([sub("supported"), sub("inconclusive")]) == "inconclusive"
    assert C.overall([sub("inconclusive"), sub("contradicted")]) == "contradicted"
    config = linear_collapse.Config()
    h = C.preregistration(linear_collapse.RULE, config)
    assert h == C.preregistration(linear_collapse.RULE, linear_collapse.Config())
    assert h != C.preregistration(linear_collapse.RULE, linear_collapse.Config(seeds=9))
    assert h != C.preregistration(linear_collapse.RULE + " ", config)


def test_logistic_optimum_is_the_minimum():
    data = C.load(C.DataConfig(dataset="digits"))
    x, y = data.x_train[:300].reshape(300, -1) / 16.0, data.y_train[:300]
    loss, w, b = linear_collapse.logistic_optimum(x, y, 10)
    from sklearn.linear_model import LogisticRegression
    ref = LogisticRegression(C=1e8, max_iter=20_000, tol=1e-10).fit(x, y)
    p = ref.predict_proba(x)
    assert loss == pytest.approx(-np.mean(np.log(p[np.arange(300), y])), abs=1e-4)
    assert loss < 0.05  # 300 digits in 64 dimensions are nearly separable


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
    assert sweep.seeds == 2
    errors = linear_collapse._collapse_error(sweep, 0, data.x_test)
    assert max(errors) < 1e-5
    relu = C.train_sweep(data, ModelConfig(activation="relu", depth=3, width=16), "adam", (1e-2,), epochs=1,
                         batch_size=50, seeds=1)
    assert linear_collapse._collapse_error(relu, 0, data.x_test)[0] > 1e-2  # and a ReLU network is not linear


def test_arms_with_one_initializer_train_in_one_program_as_they_would_apart(standard_promotion, monkeypatch):
    data = C.load(C.DataConfig(dataset="digits", train_subset=500))
    arms = {"sigmoid": ("sigmoid", "glorot_normal"), "tanh": ("tanh", "glorot_normal"),
            "elu": ("elu(alpha=2.0)", "glorot_normal")}
    lrs = {"sigmoid": [0.1], "tanh": [0.3, 0.1], "elu": [0.1]}
    calls = []
    real = C.train_sweep
    monkeypatch.setattr(C, "train_sweep", lambda *a, **k: calls.append(a[1].activation) or real(*a, **k))
    kw = dict(epochs=1, batch_size=50, seeds=2)
    together = C.train_arms(data, arms, {"depth": 1, "width": 8}, "sgd", lrs, **kw)
    assert calls == ["sigmoid|tanh|elu(alpha=2.0)"]  # one compiled program
    for arm, (spec, init) in arms.items():
        apart = real(data, ModelConfig(activation=spec, init=init, depth=1, width=8), "sgd", lrs[arm], **kw)
        assert together[arm].lrs == apart.lrs
        np.testing.assert_allclose(together[arm].train_loss, apart.train_loss, rtol=1e-5, atol=1e-6)
    # A grid extension of one arm compiles the same model (every alternative in the choice), so its sweep
    # merges into the first, final states included.
    alone = C.train_arms(data, arms, {"depth": 1, "width": 8}, "sgd", {"tanh": [1.0]}, **kw)["tanh"]
    assert calls[-1] == "tanh"  # only the arms trained now: another model, so a merge keeps only the curves
    assert together["tanh"].merged(alone).state is None and together["tanh"].merged(alone).lrs == (0.1, 0.3, 1.0)
    more = C.train_arms(data, arms, {"depth": 1, "width": 8}, "sgd", {"tanh": [1.0]}, every_arm=True, **kw)["tanh"]
    assert calls[-1] == calls[0]
    joined = together["tanh"].merged(more)
    assert joined.lrs == (0.1, 0.3, 1.0)
    for p, (source, q) in enumerate([(together["tanh"], 1), (together["tanh"], 0), (more, 0)]):
        np.testing.assert_array_equal(joined.train_loss[p], source.train_loss[q])
        for seed in range(2):
            for a, b in zip(jax.tree.leaves(joined.run_state(p, seed)), jax.tree.leaves(source.run_state(q, seed))):
                np.testing.assert_array_equal(a, b)


def test_a_choice_of_activations_is_checked_and_carries_each_alternatives_hyperparameters():
    from jaxacts._src import layers
    assert layers.expand("relu|leaky_relu(negative_slope=[0.01,0.2])") == [
        "relu", "leaky_relu(negative_slope=0.01)", "leaky_relu(negative_slope=0.2)"]
    values = layers.choice_hyperparameters("elu(alpha=[0.5,2.0])|celu", "elu(alpha=2.0)")
    assert values == {"choice": 0.0, "0.alpha": 2.0}  # celu as named: its default alpha is bound, not state
    assert layers.choice_hyperparameters("elu(alpha=[0.5,2.0])|celu(alpha=3.0)", "celu(alpha=3.0)") == {
        "choice": 1.0, "0.alpha": 0.5, "1.alpha": 3.0}
    assert layers.choice_hyperparameters("elu(alpha=[0.5,2.0])|celu", "celu")["choice"] == 1.0
    with pytest.raises(ValueError, match="maxout"):
        ModelConfig(activation="relu|maxout")
    with pytest.raises(ValueError, match="not_an_activation"):
        ModelConfig(activation="relu|not_an_activation")


def test_guide_ranks_with_ties_and_is_generated_from_the_json(tmp_path):
    from experiments.claims import guide
    rng = np.random.default_rng(0)
    base = rng.normal(0.0, 0.01, 8)
    cell = lambda shift, noise=0.002: (lambda v: {"mean": float(v.mean()), "ci95": C.t_interval(v), "values": list(v)})(
        0.8 + shift + base + rng.normal(0, noise, 8))
    # ELU and SELU differ by less than the noise: a tie; both are resolved above ReLU, which is above sigmoid.
    table = {"SELU": cell(0.02), "ReLU": cell(0.0), "sigmoid": cell(-0.1)}
    elu = np.asarray(table["SELU"]["values"]) + np.tile([0.001, -0.001], 4)  # the same on average
    table["ELU"] = {"mean": float(elu.mean()), "ci95": C.t_interval(elu), "values": list(elu)}
    assert guide.ranks(table) == {"SELU": 1, "ELU": 1, "ReLU": 3, "sigmoid": 4}
    sub = C.subverdict("SELU beats ELU", "inconclusive", "x", 0.0, [-0.01, 0.01])
    results = {"environment": {"backend": "cpu", "device": "cpu", "date": "today", "quick": False},
               "claims": [{"id": "ranking", "subverdicts": [sub], "measurements": {"ranking": {"MLP depth 2": table}}},
                          {"id": "tanh_vs_sigmoid", "subverdicts": [sub], "measurements": {}}]}
    text = guide.guide(results)
    assert "| SELU | 0.8" in text and "(#1)" in text and "(#4)" in text
    assert "the data cannot separate ELU, SELU" in text
    assert "not tested in this run" in text  # advice whose claims did not run says so
    assert "SELU beats ELU: **inconclusive**" in text
    guide.figure(results, str(tmp_path / "g.png"))
    assert os.path.getsize(tmp_path / "g.png") > 5_000
    # A claim that reran the same networks joins the column; one with other networks gets its own; a
    # setting listed under two names appears once.
    again = {"ReLU": table["ReLU"], "GELU": cell(0.01)}
    other = {"ReLU": cell(0.05), "maxout": cell(0.06)}
    claims = results["claims"] + [
        {"id": "smooth_depth", "subverdicts": [sub], "measurements": {"ranking": {"MLP depth 2": again}}},
        {"id": "maxout", "subverdicts": [sub], "measurements": {"ranking": {"MLP depth 2": other}}},
        {"id": "data_size", "subverdicts": [sub], "measurements": {"ranking": {"n=1000": other, "small data": other}}}]
    columns = guide.ranking(claims)
    assert list(columns) == ["MLP depth 2", "MLP depth 2 (maxout)", "small data"]
    assert set(columns["MLP depth 2"]) == {"SELU", "ELU", "ReLU", "sigmoid", "GELU"}


def test_a_choice_may_hold_a_stochastic_activation(standard_promotion):
    data = C.load(C.DataConfig(dataset="digits", train_subset=200))
    model = ModelConfig(activation="relu|rrelu", init="he_normal", depth=1, width=8)
    sweep = C.train_sweep(data, model, "sgd", settings=[(0.1, "relu"), (0.1, "rrelu")], epochs=1, batch_size=50,
                          seeds=2)
    alone = C.train_sweep(data, ModelConfig(activation="rrelu", init="he_normal", depth=1, width=8), "sgd", (0.1,),
                          epochs=1, batch_size=50, seeds=2)
    np.testing.assert_allclose(sweep.of("rrelu").train_loss, alone.train_loss, rtol=1e-5, atol=1e-6)


def test_combine_refuses_a_claim_run_under_another_preregistration(tmp_path):
    folder = tmp_path / "a"
    folder.mkdir()
    entry = {"id": "linear_collapse", "preregistration": "0" * 64}
    (folder / "claims.json").write_text(json.dumps({"claims": [entry], "environment": {"quick": False}}))
    with pytest.raises(SystemExit, match="another pre-registration"):
        runner.main(["--combine", str(folder), "--out", str(tmp_path / "out")])
    with pytest.raises(SystemExit, match="cannot read"):
        runner.main(["--combine", str(tmp_path / "missing"), "--out", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()
    # A later folder's claim replaces the stale one, which is then not checked.
    later = tmp_path / "b"
    later.mkdir()
    fresh = {"id": "linear_collapse", "run": {"quick": False},
             "preregistration": C.preregistration(linear_collapse.RULE, linear_collapse.Config())}
    (later / "claims.json").write_text(json.dumps({"claims": [fresh], "environment": {"quick": False}}))
    assert runner.combined([str(folder), str(later)])["claims"] == [fresh]
    with pytest.raises(ValueError, match="another pre-registration"):
        runner.combined([str(later), str(folder)])
