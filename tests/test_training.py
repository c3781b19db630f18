"""Models, data, the training step and loop: compiled once, vmapped seeds, sharding, resume, divergence."""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
import pickle
import shutil
import struct

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxacts import models as M
from jaxacts import data as D
from jaxacts import training as T

SMALL = M.ModelConfig(kind="mlp", activation="relu", depth=2, width=32)


@pytest.fixture(autouse=True)
def standard_promotion():
    # optax mixes Python floats with int32 step counters, which strict promotion rejects; the
    # library's own code is exercised under strict promotion in the other test files.
    with jax.numpy_dtype_promotion("standard"):
        yield


def tiny_dataset(n=96, d=6, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    y = (np.argmax(x[:, :classes], 1)).astype(np.int32)
    return D.Dataset("tiny", x, y, x[:32], y[:32], classes)


def n_params(model):
    return sum(p.size for p in jax.tree.leaves(nnx.state(model, nnx.Param)))


# ----------------------------------------------------------------------------- the hand-written network


def test_handwritten_two_layer_gradients_equal_autodiff_of_summed_bce():
    k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
    x = jax.random.normal(k1, (16, 20), jnp.float64)
    y = (jax.random.uniform(k2, (16, 4)) > 0.5).astype(jnp.float64)
    params = (jax.random.uniform(k3, (20, 12), jnp.float64, -0.058, 0.058), jnp.full((12, 4), 0.077, jnp.float64))
    manual = M.two_layer_sigmoid.manual_gradients(params, x, y)
    auto = jax.grad(M.two_layer_sigmoid.loss)(params, x, y)
    chex.assert_trees_all_close(manual, auto, rtol=1e-12, atol=1e-14)


# ----------------------------------------------------------------------------- models and layers


@pytest.mark.parametrize("kind,shape", [("mlp", (8, 8)), ("cnn", (8, 8)), ("cnn", (40,)), ("cnn", (6, 6, 3))])
def test_model_shapes(kind, shape):
    model = M.build_model(M.ModelConfig(kind=kind, width=16, channels=(4, 8)), shape, 10, jax.random.key(0))
    chex.assert_shape(model(jnp.ones((5,) + shape)), (5, 10))


def test_maxout_multiplies_hidden_parameters_by_k():
    plain = M.build_model(M.ModelConfig(activation="relu", depth=1, width=16), (10,), 3, jax.random.key(0))
    maxout = M.build_model(M.ModelConfig(activation="maxout", depth=1, width=16, maxout_pieces=3), (10,), 3,
                           jax.random.key(0))
    head = 16 * 3 + 3
    assert n_params(maxout) - head == 3 * (n_params(plain) - head)


def test_prelu_layer_starts_at_quarter_and_learns_its_slope():
    layer = M.PReLU(4)
    chex.assert_trees_all_close(layer.slope[...], jnp.full((4,), 0.25))
    grads = nnx.grad(lambda m: m(-jnp.ones((3, 4))).sum())(layer)
    chex.assert_trees_all_close(grads.slope[...], jnp.full((4,), -3.0))


@pytest.mark.parametrize("spec,name,initial,shape", [
    ("prelu(slope=0.3)", "slope", 0.3, (16,)),
    ("prelu_shared(slope=0.1)", "slope", 0.1, (1,)),
    ("silu_learnable(beta=2)", "beta", 2.0, (16,)),
])
def test_a_value_given_to_a_learnable_name_starts_the_learned_hyperparameter(spec, name, initial, shape):
    # prelu means "learned": prelu(slope=0.3) once built a fixed leaky ReLU whose slope never trained.
    model = M.build_model(M.ModelConfig(activation=spec, depth=2, width=16), (6,), 3, jax.random.key(0))
    learned = [p for path, p in nnx.to_flat_state(nnx.state(model, nnx.Param)) if path[-1] == name]
    assert len(learned) == 2  # one per hidden layer
    chex.assert_trees_all_close(learned[0][...], jnp.full(shape, initial, jnp.float32))
    x = jax.random.normal(jax.random.key(1), (32, 6))
    grads = nnx.grad(lambda m: m(x).sum())(model)
    slope_grads = [g for path, g in nnx.to_flat_state(grads) if path[-1] == name]
    assert all(float(jnp.abs(g[...]).sum()) > 0 for g in slope_grads)


def test_torch_default_init_draws_weights_and_biases_from_pytorchs_uniform():
    # PyTorch's nn.Linear / nn.Conv default: weight and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    mlp = M.build_model(M.ModelConfig(init="torch_default", depth=1, width=128), (40,), 10, jax.random.key(0))
    cnn = M.build_model(M.ModelConfig(kind="cnn", init="torch_default", channels=(16,), kernel_size=5, width=32),
                        (40,), 10, jax.random.key(1))
    for layer, fan_in in ((mlp.blocks[0].linear, 40), (mlp.head, 128), (cnn.blocks[0].linear, 1 * 5),
                          (cnn.dense.linear, 16 * 20), (cnn.head, 32)):
        bound = 1.0 / np.sqrt(fan_in)
        for array in (np.asarray(layer.kernel[...]), np.asarray(layer.bias[...])):
            assert np.abs(array).max() <= bound and np.abs(array).max() > 0.75 * bound
        kernel = np.asarray(layer.kernel[...])
        assert np.var(kernel) == pytest.approx(bound**2 / 3, rel=0.15)  # uniform on (-b, b): b^2 / 3
    # Other inits keep their constant biases (the head at 0); a constant with torch_default is refused.
    he = M.build_model(M.ModelConfig(init="he_normal", depth=1, width=8, bias_init=0.1), (4,), 3, jax.random.key(0))
    assert np.all(np.asarray(he.blocks[0].linear.bias[...]) == np.float32(0.1)) and not np.any(he.head.bias[...])
    with pytest.raises(ValueError, match="torch_default' draws the biases too"):
        M.ModelConfig(init="torch_default", bias_init=0.1)


def test_rrelu_layer_is_random_in_training_and_mean_in_eval():
    layer = M.RReLU()
    x = -jnp.ones((2000,))
    a = layer(x, train=True, key=jax.random.key(0))
    chex.assert_trees_all_equal(a, layer(x, train=True, key=jax.random.key(0)))
    assert float(jnp.std(a)) > 0.05
    chex.assert_trees_all_close(layer(x), jnp.full_like(x, -(1 / 8 + 1 / 3) / 2))


def test_alpha_dropout_keeps_zero_mean_unit_variance():
    x = jax.random.normal(jax.random.key(0), (200_000,))
    y = M.dropout(x, kind="alpha", rate=0.1, train=True, key=jax.random.key(1))
    assert abs(float(y.mean())) < 0.01 and abs(float(y.var()) - 1.0) < 0.01
    chex.assert_trees_all_equal(M.dropout(x, kind="alpha", rate=0.1, train=False, key=None), x)


def test_model_config_errors_are_clear():
    with pytest.raises(ValueError, match="Unknown activation 'rleu'.*learnable"):
        M.ModelConfig(activation="rleu")
    with pytest.raises(ValueError, match="norm 'group'"):
        M.ModelConfig(norm="group")
    with pytest.raises(ValueError, match="optimizer 'adamax'"):
        T.OptimConfig(optimizer="adamax")


# ----------------------------------------------------------------------------- the step


def _setup(seeds, config=SMALL, data=None, lr=1e-2):
    data = data or tiny_dataset()
    tx, schedule = T.make_optimizer(T.OptimConfig(lr=lr), 100)
    keys = jax.random.split(jax.random.key(0), seeds)
    graphdef, state = T.init_state(keys, config, data.example_shape, data.num_classes, tx)
    return data, graphdef, state, tx, schedule


def test_train_step_compiles_once():
    data, graphdef, state, tx, schedule = _setup(2)
    step = T.make_train_step(graphdef, tx, schedule)
    x, y = jnp.asarray(data.x_train), jnp.asarray(data.y_train)
    for i in range(3):
        idx = jnp.stack([jnp.arange(16) + i, jnp.arange(16) + 2 * i])
        state, metrics = step(state, x, y, idx, jax.random.split(jax.random.key(i), 2))
    assert step._cache_size() == 1
    assert set(metrics) == {"loss", "accuracy", "lr", "grad_norm", "param_norm"}
    chex.assert_shape(metrics["loss"], (2,))


@pytest.mark.parametrize("scan", [True, False], ids=["scanned", "dispatched"])
def test_epoch_compiles_once_and_equals_the_steps_it_scans(scan):
    # The compiled epoch (a lax.scan over steps, or its steps dispatched one by one as a CNN is on the
    # CPU, then evaluation) against the same steps taken with the public single step.
    data, graphdef, state, tx, schedule = _setup(2, M.ModelConfig(activation="rrelu", depth=2, width=16,
                                                                  dropout="standard", dropout_rate=0.2))
    x, y = jnp.asarray(data.x_train), jnp.asarray(data.y_train)
    run_keys = jax.random.split(jax.random.key(7), 2)
    epoch = T.make_train_epoch(graphdef, tx, schedule, batch_size=16, scan=scan)
    step = T.make_train_step(graphdef, tx, schedule)
    by_step = jax.tree.map(jnp.copy, state)
    with jax.default_matmul_precision("highest"):
        for e in range(3):
            state, metrics, evals = epoch(state, run_keys, e, x, y, {"test": (x[:32], y[:32])})
            order = jax.vmap(lambda k: D.epoch_indices(jax.random.fold_in(jax.random.fold_in(k, 1), e), 96, 16))(run_keys)
            for t in range(6):
                keys = jax.vmap(lambda k: jax.random.fold_in(jax.random.fold_in(k, 2), e * 6 + t))(run_keys)
                by_step, m = step(by_step, x, y, order[:, t], keys)
                np.testing.assert_allclose(metrics["loss"][t], m["loss"], rtol=1e-5)
    assert all(f._cache_size() == 1 for f in ((epoch,) if scan else epoch.compiled))
    chex.assert_trees_all_close(state.params, by_step.params, rtol=1e-5, atol=1e-6)
    chex.assert_shape(metrics["loss"], (6, 2))
    chex.assert_shape(evals["test_accuracy"], (2,))


@pytest.mark.parametrize("data_order,scan", [("fixed", True), ("sequential", True), ("sequential", False)],
                         ids=["fixed", "sequential", "sequential-dispatched"])
def test_data_orders_and_a_partial_epoch_equal_the_steps_they_take(data_order, scan):
    # fixed: epoch 0's permutation every epoch; sequential: the training set's order. The last epoch
    # stops after 3 of its 6 steps (--steps) in the same compiled program.
    data, graphdef, state, tx, schedule = _setup(2)
    x, y = jnp.asarray(data.x_train), jnp.asarray(data.y_train)
    run_keys = jax.random.split(jax.random.key(7), 2)
    epoch = T.make_train_epoch(graphdef, tx, schedule, batch_size=16, data_order=data_order, scan=scan)
    step = T.make_train_step(graphdef, tx, schedule)
    if data_order == "fixed":
        order = jax.vmap(lambda k: D.epoch_indices(jax.random.fold_in(jax.random.fold_in(k, 1), 0), 96, 16))(run_keys)
    else:
        order = jnp.broadcast_to(jnp.arange(96).reshape(6, 16), (2, 6, 16))
    by_step = jax.tree.map(jnp.copy, state)
    with jax.default_matmul_precision("highest"):
        for e, n in ((0, 6), (1, 6), (2, 3)):
            state, metrics, _ = epoch(state, run_keys, e, x, y, {}, n)
            for t in range(n):
                keys = jax.vmap(lambda k: jax.random.fold_in(jax.random.fold_in(k, 2), e * 6 + t))(run_keys)
                by_step, m = step(by_step, x, y, order[:, t], keys)
                np.testing.assert_allclose(metrics["loss"][t], m["loss"], rtol=1e-5)
    assert all(f._cache_size() == 1 for f in ((epoch,) if scan else epoch.compiled))
    assert np.asarray(state.step).tolist() == [15, 15]
    chex.assert_trees_all_close(state.params, by_step.params, rtol=1e-5, atol=1e-6)
    chex.assert_trees_all_close(state.opt_state, by_step.opt_state, rtol=1e-5, atol=1e-6)


def test_vmapped_seeds_equal_separate_runs():
    config = M.ModelConfig(activation="rrelu", depth=2, width=16, dropout="standard", dropout_rate=0.2, norm="batch")
    data, graphdef, both, tx, schedule = _setup(2, config)
    step = T.make_train_step(graphdef, tx, schedule)
    x, y = jnp.asarray(data.x_train), jnp.asarray(data.y_train)
    singles = [jax.tree.map(lambda a, s=s: a[s: s + 1], both) for s in range(2)]
    # GPU matmuls default to TF32; the comparison is between float32 paths (batched vs unbatched).
    with jax.default_matmul_precision("highest"):
        for i in range(4):
            idx = jnp.stack([jnp.arange(16) + i, jnp.arange(16) + 3 * i])
            keys = jax.random.split(jax.random.key(i), 2)
            both, _ = step(both, x, y, idx, keys)
            singles = [step(st, x, y, idx[s: s + 1], keys[s: s + 1])[0] for s, st in enumerate(singles)]
    for s in range(2):
        chex.assert_trees_all_close(jax.tree.map(lambda a: a[s: s + 1], both.params), singles[s].params,
                                    rtol=1e-5, atol=1e-6)


def test_a_sweep_equals_its_settings_trained_separately(tmp_path):
    # Learning rate, weight decay and an activation hyperparameter swept in one program, against each
    # setting trained alone; the validation split is carved from the training set, never the test set.
    data = tiny_dataset()
    sweep = T.TrainConfig(model=M.ModelConfig(activation="leaky_relu(negative_slope=[0.05, 0.3])", depth=2, width=16),
                          optim=T.OptimConfig("adamw", lr=(3e-3, 3e-2), weight_decay=(0.0, 0.1)), epochs=2,
                          batch_size=16, seeds=2, log_every=5)
    with jax.default_matmul_precision("highest"):
        summary = T.fit(sweep, str(tmp_path / "sweep"), dataset=data, progress=False)
        settings = [e["setting"] for e in summary["settings"]]
        assert len(settings) == 8 and summary["runs"] == 16
        assert settings[3] == {"lr": 3e-3, "weight_decay": 0.1, "activation": "leaky_relu(negative_slope=0.3)"}
        for p in (3, 6):  # between them, every swept hyperparameter changes
            s = settings[p]
            alone = dataclasses.replace(sweep, model=dataclasses.replace(sweep.model, activation=s["activation"]),
                                        optim=dataclasses.replace(sweep.optim, lr=s["lr"], weight_decay=s["weight_decay"]),
                                        val_fraction=0.1)
            one = T.fit(alone, str(tmp_path / f"alone{p}"), dataset=data, progress=False)
            for key in ("val_accuracy", "test_accuracy", "train_loss"):
                np.testing.assert_allclose(summary["settings"][p][key]["per_seed"],
                                           one["settings"][0][key]["per_seed"], rtol=2e-4, atol=1e-5)
    ranked = [(e["val_accuracy"]["mean"], -e["val_loss"]["mean"]) for e in summary["settings"]]
    assert summary["chosen"]["index"] == max(range(8), key=ranked.__getitem__)
    assert summary["test_accuracy"] == summary["settings"][summary["chosen"]["index"]]["test_accuracy"]["mean"]


def test_a_sweep_without_a_validation_split_chooses_on_the_training_loss(tmp_path, capsys):
    # --val-fraction 0 with a sweep used to fail after all the training (KeyError: 'val_accuracy'),
    # with no summary, and again on --resume.
    config = T.TrainConfig(model=M.ModelConfig(depth=2, width=16), optim=T.OptimConfig(lr=(1e-4, 3e-2)), epochs=2,
                           batch_size=16, seeds=2, val_fraction=0.0)
    out = str(tmp_path / "run")
    summary = T.fit(config, out, dataset=tiny_dataset(), progress=False)
    assert all("val_accuracy" not in e for e in summary["settings"])
    losses = [e["train_loss"]["mean"] for e in summary["settings"]]
    assert losses[0] != losses[1] and summary["chosen"]["index"] == int(np.argmin(losses))
    assert summary["chosen"]["on"] == "training" and "no validation split" in summary["chosen"]["rule"]
    assert "chosen on the training loss" in capsys.readouterr().err
    # Such a crashed run kept its last checkpoint but wrote no summary: --resume finishes it without training.
    os.remove(os.path.join(out, "summary.json"))
    again = T.fit(config, out, resume=True, dataset=tiny_dataset(), progress=False)
    assert again["chosen"] == summary["chosen"]
    np.testing.assert_allclose(again["settings"][1]["test_loss"]["per_seed"],
                               summary["settings"][1]["test_loss"]["per_seed"], rtol=1e-5)


def test_a_diverging_setting_is_frozen_while_the_others_train(tmp_path):
    config = T.TrainConfig(model=M.ModelConfig(depth=2, width=16), optim=T.OptimConfig("sgd", lr=(1e-2, 1e9)),
                           epochs=2, batch_size=16, seeds=2)
    summary = T.fit(config, str(tmp_path / "run"), dataset=tiny_dataset(), progress=False)
    assert [e["diverged"] for e in summary["settings"]] == [[False, False], [True, True]]
    assert summary["chosen"]["index"] == 0 and np.isfinite(summary["test_loss"])
    vector = T.param_vector(str(tmp_path / "run"))
    assert np.all(np.isfinite(vector))  # diverged runs keep their last finite parameters


def _run_arrays(out, run):
    """One run's slice of every per-run array with more than the run axis (weights, biases, their
    optimizer moments) in the latest checkpoint of ``out``."""
    import orbax.checkpoint as ocp

    manager = ocp.CheckpointManager(os.path.abspath(os.path.join(out, "checkpoints")))
    try:
        leaves = manager.restore(manager.latest_step(), args=ocp.args.StandardRestore())
    finally:
        manager.close()
    return [np.asarray(x)[run] for x in leaves if np.ndim(x) >= 2]


def test_a_diverging_seed_is_held_and_reported_while_its_setting_trains_on(tmp_path, capsys):
    # The reproducer (digits, ReLU MLP 2 x 64, SGD at lr 3, 4 seeds, a validation split): some
    # seeds' losses turn NaN, not all. One bad seed used to discard its setting and stop the run.
    config = T.TrainConfig(dataset="digits", model=M.ModelConfig(activation="relu", depth=2, width=64),
                           optim=T.OptimConfig("sgd", lr=3.0), epochs=3, batch_size=100, seeds=4, val_fraction=0.1,
                           log_every=1)
    summary = T.fit(config, str(tmp_path / "run"), dataset=D.load_dataset("digits"), progress=False)
    entry = summary["settings"][0]
    diverged = np.asarray(entry["diverged"])
    assert 0 < diverged.sum() < 4, entry["diverged"]
    err = capsys.readouterr().err
    rows = [r for r in T.read_log(str(tmp_path / "run" / "metrics.jsonl"), 10**9) if r["kind"] == "train"]
    for s in np.flatnonzero(diverged):
        at = entry["diverged_at_step"][s]
        assert f"diverged: seed {s} at step {at}; held at its last good state" in err
        # log_every 1: each row is one step's loss; the step reported is the first bad one of this seed
        assert all(np.isfinite(r["loss"][s]) for r in rows if r["step"] < at)
        assert all(np.isnan(r["loss"][s]) for r in rows if r["step"] >= at)
    for s in np.flatnonzero(~diverged):
        assert entry["diverged_at_step"][s] is None and all(np.isfinite(r["loss"][s]) for r in rows)
    # Results per seed, the diverged ones marked (None); the setting's mean is over the seeds that trained.
    accuracy = entry["test_accuracy"]
    assert [v is None for v in accuracy["per_seed"]] == diverged.tolist()
    assert accuracy["mean"] == pytest.approx(np.mean([v for v in accuracy["per_seed"] if v is not None]))
    assert summary["seeds_trained"] == entry["seeds_trained"] == 4 - diverged.sum()
    assert summary["per_seed"]["diverged"] == entry["diverged"]
    # Held at its last good state: equal to the same run stopped just before the step it diverged at.
    s = int(np.flatnonzero(diverged)[0])
    at = entry["diverged_at_step"][s]
    T.fit(dataclasses.replace(config, steps=at - 1), str(tmp_path / "before"), dataset=D.load_dataset("digits"),
          progress=False)
    for held, before in zip(_run_arrays(str(tmp_path / "run"), s), _run_arrays(str(tmp_path / "before"), s)):
        np.testing.assert_array_equal(held, before)


@pytest.mark.requires_devices(4)
def test_sharded_runs_and_batch_equal_one_device(tmp_path):
    config = T.TrainConfig(model=M.ModelConfig(depth=2, width=32, norm="batch"), epochs=2, batch_size=16, seeds=2,
                           optim=T.OptimConfig(lr=(1e-3, 1e-2)), log_every=2, checkpoint_every=100)
    data = tiny_dataset()
    with jax.default_matmul_precision("highest"):
        one = T.fit(config, str(tmp_path / "one"), dataset=data, devices=jax.devices()[:1], progress=False)
        four = T.fit(config, str(tmp_path / "four"), dataset=data, devices=jax.devices()[:4], progress=False)
    np.testing.assert_allclose(T.param_vector(str(tmp_path / "four")), T.param_vector(str(tmp_path / "one")),
                               rtol=1e-4, atol=1e-5)
    assert four["test_accuracy"] == pytest.approx(one["test_accuracy"], abs=1e-6)
    mesh = T.run_mesh(4, 16, jax.devices()[:4])
    assert dict(mesh.shape) == {"runs": 4, "data": 1}
    assert dict(T.run_mesh(2, 16, jax.devices()[:4]).shape) == {"runs": 2, "data": 2}
    with pytest.raises(ValueError, match="divisible by 4"):
        T.data_mesh(18, jax.devices()[:4])


@pytest.mark.requires_devices(4)
def test_a_checkpoint_of_four_devices_resumes_on_one(tmp_path):
    # Restores go onto the shardings of the resuming run (explicit targets), not the saved layout.
    config = T.TrainConfig(model=M.ModelConfig(depth=1, width=16), epochs=2, batch_size=16, seeds=2, log_every=3)
    data = tiny_dataset()
    with jax.default_matmul_precision("highest"):
        one = T.fit(config, str(tmp_path / "one"), dataset=data, devices=jax.devices()[:1], progress=False)
        T.fit(config, str(tmp_path / "cut"), dataset=data, devices=jax.devices()[:4], stop_after=1, progress=False)
        resumed = T.fit(config, str(tmp_path / "cut"), dataset=data, devices=jax.devices()[:1], resume=True,
                        progress=False)
    np.testing.assert_allclose(T.param_vector(str(tmp_path / "cut")), T.param_vector(str(tmp_path / "one")),
                               rtol=1e-4, atol=1e-5)
    assert resumed["test_accuracy"] == pytest.approx(one["test_accuracy"], abs=1e-6)


# ----------------------------------------------------------------------------- the loop


def test_interrupted_and_resumed_run_ends_like_an_uninterrupted_one(tmp_path):
    config = T.TrainConfig(model=M.ModelConfig(activation="rrelu", depth=2, width=16, dropout="standard",
                                               dropout_rate=0.1), epochs=3, batch_size=16, seeds=2, log_every=3,
                           checkpoint_every=4)
    data = tiny_dataset()
    full = T.fit(config, str(tmp_path / "full"), dataset=data, progress=False)
    partial = T.fit(config, str(tmp_path / "cut"), dataset=data, stop_after=7, progress=False)
    assert partial == {"stopped_at": 12, "total_steps": 18}  # the first epoch end at or after step 7
    resumed = T.fit(config, str(tmp_path / "cut"), dataset=data, resume=True, progress=False)
    np.testing.assert_array_equal(T.param_vector(str(tmp_path / "cut")), T.param_vector(str(tmp_path / "full")))
    assert resumed["test_accuracy"] == full["test_accuracy"]
    with open(tmp_path / "cut" / "metrics.jsonl") as fh:
        cut = [json.loads(line) for line in fh]
    with open(tmp_path / "full" / "metrics.jsonl") as fh:
        uncut = [json.loads(line) for line in fh]
    assert cut == uncut  # the same rows, none lost or duplicated
    with open(tmp_path / "full" / "summary.json") as fh:
        summary = json.load(fh)
    assert {"test_accuracy", "test_loss", "train_loss", "steps", "seconds", "config", "per_seed"} <= set(summary)
    assert len(summary["per_seed"]["test_accuracy"]["per_seed"]) == 2
    assert os.path.getsize(tmp_path / "full" / "curves.png") > 0
    assert sorted(int(p) for p in os.listdir(tmp_path / "full" / "checkpoints")) == [12, 18]  # epoch ends


def test_steps_end_inside_an_epoch_and_mean_training_losses_weigh_every_step(tmp_path):
    # 96 examples in batches of 16: 6 steps an epoch; 15 steps are two epochs and half a third.
    base = T.TrainConfig(model=M.ModelConfig(depth=2, width=16), optim=T.OptimConfig(lr=1e-2, schedule="cosine"),
                         epochs=1, steps=15, batch_size=16, seeds=2, checkpoint_every=100)
    coarse = T.fit(dataclasses.replace(base, log_every=4), str(tmp_path / "coarse"), dataset=tiny_dataset(),
                   progress=False)
    fine = T.fit(dataclasses.replace(base, log_every=1), str(tmp_path / "fine"), dataset=tiny_dataset(), progress=False)
    assert coarse["steps"] == 15 and sorted(map(int, os.listdir(tmp_path / "coarse" / "checkpoints"))) == [0, 15]
    rows = T.read_log(str(tmp_path / "coarse" / "metrics.jsonl"), 10**9)
    assert [r["step"] for r in rows if r["kind"] == "eval"] == [6, 12, 15]
    assert [r["step"] for r in rows if r["kind"] == "train"] == [4, 6, 8, 12, 15]  # at multiples of 4 and epoch ends
    # Every step's loss (log_every 1) against the means the coarse log's uneven windows give.
    per_step = np.array([r["loss"] for r in T.read_log(str(tmp_path / "fine" / "metrics.jsonl"), 10**9)
                         if r["kind"] == "train"])
    assert per_step.shape == (15, 2)
    np.testing.assert_allclose(coarse["per_seed"]["mean_train_loss_all_steps"]["per_seed"], per_step.mean(0), rtol=1e-6)
    np.testing.assert_allclose(coarse["per_seed"]["mean_train_loss_last_epoch"]["per_seed"], per_step[12:].mean(0),
                               rtol=1e-6)
    assert coarse["mean_train_loss_all_steps"] == pytest.approx(per_step.mean(), rel=1e-6)


def test_a_checkpoint_written_before_diverged_at_existed_still_resumes(tmp_path):
    # TrainState gained a last field (diverged_at); a checkpoint with one leaf fewer restores with it filled in.
    import orbax.checkpoint as ocp
    from jaxacts._src import loop

    config = T.TrainConfig(model=M.ModelConfig(depth=2, width=16), epochs=2, batch_size=16, seeds=2)
    data = tiny_dataset()
    T.fit(config, str(tmp_path / "full"), dataset=data, progress=False)
    cut = str(tmp_path / "cut")
    T.fit(config, cut, dataset=data, stop_after=6, progress=False)
    manager = loop._checkpointer(cut)
    leaves = list(manager.restore(6, args=ocp.args.StandardRestore()))
    manager.delete(6)
    loop._save(manager, 6, leaves[:-1], cut)  # as the previous version wrote it
    manager.close()
    T.fit(config, cut, dataset=data, resume=True, progress=False)
    assert not os.path.exists(os.path.join(cut, "damaged_checkpoints"))  # resumed from step 6, not from 0
    np.testing.assert_array_equal(T.param_vector(cut), T.param_vector(str(tmp_path / "full")))


def test_divergence_stops_with_a_clear_message_and_keeps_a_checkpoint(tmp_path):
    config = T.TrainConfig(model=M.ModelConfig(depth=2, width=16, activation="relu"),
                           optim=T.OptimConfig("sgd", lr=1e9), epochs=5, batch_size=16, checkpoint_every=1000,
                           log_every=1)
    with pytest.raises(T.TrainingDiverged, match=r"every run diverged by step \d+ .* last good checkpoint \(step 0\)") as e:
        T.fit(config, str(tmp_path / "boom"), dataset=tiny_dataset(), progress=False)
    assert os.path.isdir(tmp_path / "boom" / "checkpoints" / "0")
    # The step named is the one at which the run diverged: its first NaN row (one row a step).
    rows = T.read_log(str(tmp_path / "boom" / "metrics.jsonl"), 10**9)
    first_bad = min(r["step"] for r in rows if r["kind"] == "train" and np.isnan(r["loss"][0]))
    assert f"every run diverged by step {first_bad} " in str(e.value)


def test_existing_output_is_not_overwritten(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    with pytest.raises(FileExistsError, match="--resume"):
        T.fit(T.TrainConfig(epochs=1), str(out), dataset=tiny_dataset(), progress=False)
    assert (out / "keep.txt").read_text() == "precious"


# ----------------------------------------------------------------------------- data


def _write_idx(path, array, gz=False):
    codes = {np.uint8: 0x08}
    header = bytes([0, 0, codes[array.dtype.type], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    raw = header + array.tobytes()
    with open(path, "wb") as fh:
        fh.write(gzip.compress(raw) if gz else raw)


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_idx_files_load(tmp_path, gz):
    rng = np.random.default_rng(0)
    suffix = ".gz" if gz else ""
    for split, n in (("train", 30), ("t10k", 10)):
        _write_idx(tmp_path / f"{split}-images-idx3-ubyte{suffix}", rng.integers(0, 256, (n, 28, 28), np.uint8), gz)
        _write_idx(tmp_path / f"{split}-labels-idx1-ubyte{suffix}", rng.integers(0, 10, (n,), np.uint8), gz)
    d = D.load_dataset("fashion_mnist", data_dir=str(tmp_path))
    assert d.x_train.shape == (30, 28, 28) and d.x_test.shape == (10, 28, 28) and d.num_classes == 10


def test_corrupt_and_missing_files_name_the_file(tmp_path):
    _write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((5, 4, 4), np.uint8))
    data = (tmp_path / "train-images-idx3-ubyte").read_bytes()
    (tmp_path / "train-images-idx3-ubyte").write_bytes(data[:-7])
    with pytest.raises(D.DataError, match=r"train-images-idx3-ubyte: expected 80 bytes.*found 73 \(truncated\?\)"):
        D.read_idx(str(tmp_path / "train-images-idx3-ubyte"))
    (tmp_path / "bad").write_bytes(b"\x1f\x8bnot gzip at all")
    with pytest.raises(D.DataError, match="bad: corrupt gzip"):
        D.read_idx(str(tmp_path / "bad"))
    with pytest.raises(D.DataError, match="nowhere does not exist"):
        D.load_dataset("mnist", data_dir=str(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(D.DataError, match="empty: none of train-images-idx3-ubyte"):
        D.load_dataset("mnist", data_dir=str(tmp_path / "empty"))
    with pytest.raises(D.DataError, match="--data-dir"):
        D.load_dataset("cifar10")


def test_cifar_batches_load_without_running_pickled_code(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name, n in (("data_batch_1", 8), ("data_batch_2", 8), ("test_batch", 4)):
        batch = {b"data": rng.integers(0, 256, (n, 3072), np.uint8), b"labels": list(rng.integers(0, 10, n))}
        (folder / name).write_bytes(pickle.dumps(batch))
    d = D.load_dataset("cifar10", data_dir=str(tmp_path))
    assert d.x_train.shape == (16, 32, 32, 3) and d.x_test.shape == (4, 32, 32, 3)

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    (folder / "test_batch").write_bytes(pickle.dumps({b"data": Evil(), b"labels": []}))
    with pytest.raises(D.DataError, match="refusing to load"):
        D.load_dataset("cifar10", data_dir=str(tmp_path))


def test_cifar_npz_loads(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "cifar10.npz", x_train=rng.integers(0, 256, (6, 32, 32, 3), np.uint8),
             y_train=np.arange(6), x_test=rng.integers(0, 256, (2, 32, 32, 3), np.uint8), y_test=np.arange(2))
    assert D.load_dataset("cifar10", data_dir=str(tmp_path)).x_train.shape == (6, 32, 32, 3)


@pytest.mark.parametrize("name", ["digits", "mnist1d", "synthetic"])
def test_builtin_datasets_are_standardized(name):
    d = D.load_dataset(name)
    flat = d.x_train.reshape(len(d.x_train), -1)
    assert abs(float(flat.mean())) < 1e-3 and flat.std(0).max() < 1.01
    assert d.y_train.max() < d.num_classes and len(d.x_test) > 0


def test_epoch_indices_reshuffle_from_the_key():
    a = D.epoch_indices(jax.random.key(0), 100, 32)
    chex.assert_shape(a, (3, 32))
    assert len(set(np.asarray(a).ravel().tolist())) == 96
    assert not bool(jnp.all(a == D.epoch_indices(jax.random.key(1), 100, 32)))


# ----------------------------------------------------------------------------- the command line


@dataclasses.dataclass(frozen=True)
class _Inner:
    """A nested config for the generator's tests.

    Attributes:
      rate, size: text shared by
        two fields (``rate`` sweeps).
      switch: 100% on or off.
    """

    rate: float | tuple[float, ...] = 0.5
    size: tuple[int, ...] = (1, 2)
    switch: bool = False
    cap: float | None = None


@dataclasses.dataclass(frozen=True)
class _Outer:
    name: str = "a"
    inner: _Inner = _Inner()


@dataclasses.dataclass(frozen=True)
class _Clash:
    size: int = 1
    inner: _Inner = _Inner()


def test_command_lines_are_generated_from_nested_config_dataclasses(capsys, monkeypatch):
    from jaxacts import cli

    monkeypatch.setenv("COLUMNS", "1000")  # help on one line a flag

    args = cli.parse(_Outer, ["--rate", "0.1,0.2", "--size", "3", "--switch", "--cap", "0.5"], "")
    assert cli.config_from_args(_Outer, args) == _Outer("a", _Inner((0.1, 0.2), (3,), True, 0.5))
    args = cli.parse(_Outer, ["--rate", "0.1", "--no-switch"], "", defaults=_Outer("b", _Inner(switch=True)))
    assert cli.config_from_args(_Outer, args) == _Outer("b", _Inner(0.1))  # one value: a float, not a sweep
    assert cli.config_from_args(_Outer, args, **{"inner.cap": 0.25}).inner.cap == 0.25
    assert cli.given_flags(_Outer, ["--rate", "0.5", "--name", "a"], "") == {"inner.rate", "name"}
    with pytest.raises(SystemExit):
        cli.parse(_Outer, ["--help"], "")
    text = " ".join(capsys.readouterr().out.split())  # whitespace as one space
    assert "--rate RATE text shared by two fields (rate sweeps) (comma-separated; default: 0.5)" in text
    assert "--switch, --no-switch 100% on or off (default: False)" in text
    with pytest.raises(ValueError, match="fields size and inner.size would both be --size"):
        cli.parse(_Clash, [], "")
    args = cli.parse(_Clash, ["--inner-size", "4,5"], "", flag_names={"inner.size": "inner_size"})
    assert cli.config_from_args(_Clash, args).inner.size == (4, 5)
    with pytest.raises(TypeError, match="_Clash has no field inner.kap"):
        cli.config_from_args(_Clash, args, **{"inner.kap": 1.0})


def test_train_command_line_is_the_config_with_its_defaults():
    from experiments import train
    from jaxacts import cli

    def config(*argv):
        return cli.config_from_args(T.TrainConfig, cli.parse(T.TrainConfig, ["--out", "x", *argv], "",
                                                             **train.COMMAND_LINE))

    assert config() == train.DEFAULTS
    assert (train.DEFAULTS.dataset, train.DEFAULTS.model.depth, train.DEFAULTS.optim.lr) == ("mnist1d", 3, 2e-3)
    c = config("--model", "cnn", "--channels", "16,8", "--lr", "1e-3,3e-3", "--weight-decay", "1e-4", "--skip",
               "--val-fraction", "0.2", "--layer-stats")
    assert (c.model.kind, c.model.channels, c.model.skip, c.optim.lr, c.optim.weight_decay, c.val_fraction,
            c.layer_stats) == ("cnn", (16, 8), True, (1e-3, 3e-3), 1e-4, 0.2, True)
    # A flag given with its default value counts as given (for --resume's clash check).
    given = cli.given_flags(T.TrainConfig, ["--out", "x", "--lr", "2e-3", "--model", "mlp"], **train.COMMAND_LINE)
    assert given == {"out", "optim.lr", "model.kind"}


def test_train_command_sets_deterministic_gpu_ops_unless_given():
    import subprocess
    import sys

    # The command's module run as __main__ (as by python -m) up to --help; it must not touch a flag the user set.
    code = ("import os, runpy, sys\n"
            "sys.argv = ['train', '--help']\n"
            "for flags in ('--xla_force_host_platform_device_count=2', '--xla_gpu_deterministic_ops=false'):\n"
            "    os.environ['XLA_FLAGS'] = flags\n"
            "    try:\n"
            "        runpy.run_module('experiments.train', run_name='__main__')\n"
            "    except SystemExit:\n"
            "        pass\n"
            "    print('XLA_FLAGS=' + os.environ['XLA_FLAGS'], file=sys.stderr)\n")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert [line for line in proc.stderr.splitlines() if line.startswith("XLA_FLAGS=")] == [
        "XLA_FLAGS=--xla_force_host_platform_device_count=2 --xla_gpu_deterministic_ops=true",
        "XLA_FLAGS=--xla_gpu_deterministic_ops=false"]


def test_train_cli_compares_activations(tmp_path):
    from experiments import train

    out = str(tmp_path / "cmp")
    summaries = train.main(["--out", out, "--dataset", "synthetic", "--activation", "relu,selu", "--epochs", "2",
                            "--seeds", "2", "--width", "16", "--depth", "2", "--batch-size", "60"])
    assert set(summaries) == {"relu", "selu"}
    for f in ("comparison.md", "comparison.json", "comparison.png", "relu/summary.json", "selu/curves.png"):
        assert os.path.getsize(os.path.join(out, f)) > 0
    with open(os.path.join(out, "comparison.md")) as fh:
        assert "+-" in fh.read()
    again = train.main(["--out", out, "--dataset", "synthetic", "--activation", "relu,selu", "--epochs", "2",
                        "--seeds", "2", "--width", "16", "--depth", "2", "--batch-size", "60", "--resume"])
    assert again["relu"]["test_accuracy"] == summaries["relu"]["test_accuracy"]
    with pytest.raises(SystemExit, match="already holds a run"):
        train.main(["--out", out, "--dataset", "synthetic"])
    with pytest.raises(SystemExit, match="Unknown activation 'reluu'"):
        train.main(["--out", str(tmp_path / "x"), "--activation", "relu,reluu"])
    with pytest.raises(SystemExit, match="unknown hyperparameter"):
        train.main(["--out", str(tmp_path / "x"), "--activation", "elu(slope=0.1)"])
    with pytest.raises(SystemExit, match="learning rate must be finite and > 0"):
        train.main(["--out", str(tmp_path / "x"), "--lr", "1e-3,-1"])
    assert not os.path.exists(tmp_path / "x")


def _unfinish(out):
    """Makes ``out`` look interrupted after its first checkpoint: the summary and the last checkpoint go."""
    steps = sorted(int(p) for p in os.listdir(os.path.join(out, "checkpoints")))
    shutil.rmtree(os.path.join(out, "checkpoints", str(steps[-1])))
    os.remove(os.path.join(out, "checksums", f"{steps[-1]}.json"))
    os.remove(os.path.join(out, "summary.json"))


def test_resume_without_flags_continues_the_run_as_it_was_started(tmp_path, capsys):
    # --resume used to build the activation list from --activation's default: a tanh run resumed as
    # "relu" (trained tanh, called relu), and a comparison resumed without --activation was "no run".
    from experiments import train

    common = ["--dataset", "synthetic", "--epochs", "2", "--seeds", "1", "--width", "8", "--depth", "1",
              "--batch-size", "100"]
    single, both = str(tmp_path / "tanh"), str(tmp_path / "cmp")
    first = train.main(["--out", single, "--activation", "tanh", *common])["tanh"]
    train.main(["--out", both, "--activation", "relu,tanh", *common])
    capsys.readouterr()
    for out in (single, os.path.join(both, "tanh")):
        _unfinish(out)
    again = train.main(["--out", single, "--resume"])
    text = capsys.readouterr().out
    assert list(again) == ["tanh"] and "activations: tanh" in text and "| tanh |" in text and "| relu |" not in text
    assert again["tanh"]["config"] == first["config"]  # every setting read back (epochs 2, not the default 60)
    assert again["tanh"]["test_accuracy"] == pytest.approx(first["test_accuracy"], abs=1e-6)
    resumed = train.main(["--out", both, "--resume"])
    assert list(resumed) == ["relu", "tanh"] and resumed["tanh"]["config"]["epochs"] == 2
    with pytest.raises(SystemExit, match=r"differing: model.activation: 'relu' \(saved 'tanh'\)"):
        train.main(["--out", single, "--resume", "--activation", "relu"])


def test_train_cli_sweeps_in_one_run(tmp_path):
    from experiments import train

    out = str(tmp_path / "sweep")
    summaries = train.main(["--out", out, "--dataset", "synthetic", "--activation", "relu,elu(alpha=[0.5,1.5])",
                            "--lr", "1e-3,1e-2", "--epochs", "2", "--seeds", "2", "--width", "16", "--depth", "2",
                            "--batch-size", "60", "--val-fraction", "0.2"])
    assert len(summaries["relu"]["settings"]) == 2 and len(summaries["elu(alpha=[0.5,1.5])"]["settings"]) == 4
    with open(os.path.join(out, "elu_alpha=_0.5_1.5", "summary.json")) as fh:
        saved = json.load(fh)
    assert saved["config"]["val_fraction"] == 0.2 and "val_accuracy" in saved["settings"][0]
    with open(os.path.join(out, "comparison.md")) as fh:
        assert "chosen setting" in fh.read()


# ----------------------------------------------------------------------------- sanity results (slow)


@pytest.mark.slow
@pytest.mark.parametrize("dataset,model,threshold", [("digits", "mlp", 0.96), ("digits", "cnn", 0.97),
                                                     ("mnist1d", "mlp", 0.60), ("mnist1d", "cnn", 0.90)])
def test_default_settings_reach_sanity_accuracy(tmp_path, dataset, model, threshold):
    from experiments import train

    summaries = train.main(["--out", str(tmp_path / "run"), "--dataset", dataset, "--model", model])
    assert summaries["relu"]["test_accuracy"] >= threshold
