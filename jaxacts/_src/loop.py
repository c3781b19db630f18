"""The training loop around the pure step: data order, logging, checkpoints, resume, divergence.

``fit(config, out_dir)`` trains ``config.seeds`` models of one activation together and writes
``metrics.jsonl`` (one line per logged step and per epoch evaluation), ``summary.json``,
``curves.png`` and orbax checkpoints to ``out_dir``. Every random choice derives from
``config.seed``: initialisation from (seed, s), the data order of epoch e from (seed, s, e), dropout
and RReLU noise of step t from (seed, s, t). So a run stopped and resumed from a checkpoint ends with
the same parameters as one never stopped.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
from tqdm.auto import tqdm

from jaxacts._src import train as T
from jaxacts._src.data import DATASETS, Dataset, epoch_indices, load_dataset
from jaxacts._src.models import ModelConfig


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """One training run (S seeds of one model on one dataset)."""

    dataset: str = "digits"
    data_dir: str = ""
    model: ModelConfig = ModelConfig()
    optim: T.OptimConfig = T.OptimConfig()
    epochs: int = 20
    batch_size: int = 64
    seeds: int = 1
    seed: int = 0
    log_every: int = 20
    checkpoint_every: int = 500
    target_loss: float = 0.1
    layer_stats: bool = False

    def __post_init__(self):
        if self.dataset not in DATASETS:
            raise ValueError(f"dataset {self.dataset!r} is not one of {DATASETS}")
        for name in ("epochs", "batch_size", "seeds", "log_every", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


def to_dict(config: TrainConfig) -> dict:
    return dataclasses.asdict(config)


def _checkpointer(out_dir: str) -> ocp.CheckpointManager:
    return ocp.CheckpointManager(os.path.abspath(os.path.join(out_dir, "checkpoints")),
                                 options=ocp.CheckpointManagerOptions(max_to_keep=2, create=True))


def _save(manager, step: int, state) -> None:
    manager.save(step, args=ocp.args.StandardSave(jax.tree.leaves(state)), force=True)
    manager.wait_until_finished()


def _restore(manager, state):
    step = manager.latest_step()
    if step is None:
        return None
    leaves, treedef = jax.tree.flatten(state)
    abstract = [jax.ShapeDtypeStruct(x.shape, x.dtype) for x in leaves]
    restored = manager.restore(step, args=ocp.args.StandardRestore(abstract))
    return jax.tree.unflatten(treedef, [jnp.asarray(x) for x in restored])


def _read_log(path: str, upto_step: int) -> list[dict]:
    rows = []
    if os.path.exists(path):
        with open(path) as fh:
            for line in fh:
                if line.strip():
                    row = json.loads(line)
                    if row["step"] <= upto_step:
                        rows.append(row)
    return rows


def _jsonable(x):
    x = np.asarray(x)
    return x.tolist() if x.ndim else x.item()


def fit(config: TrainConfig, out_dir: str, *, resume: bool = False, stop_after: int | None = None,
        dataset: Dataset | None = None, devices=None, progress: bool = True) -> dict:
    """Trains, logs, checkpoints; returns the summary (also written to ``summary.json``).

    ``stop_after`` stops after that many total steps with a checkpoint (an interruption, for tests
    and for splitting long runs); ``resume`` continues from the latest checkpoint in ``out_dir``.
    """
    if os.path.exists(out_dir) and os.listdir(out_dir) and not resume:
        raise FileExistsError(f"{out_dir} already holds a run; pass --resume to continue it or choose another --out")
    os.makedirs(out_dir, exist_ok=True)
    data = dataset if dataset is not None else load_dataset(config.dataset, data_dir=config.data_dir or None,
                                                            seed=config.seed)
    n_train = data.x_train.shape[0]
    steps_per_epoch = n_train // config.batch_size
    if steps_per_epoch == 0:
        raise ValueError(f"batch size {config.batch_size} exceeds the {n_train} training examples")
    total_steps = config.epochs * steps_per_epoch
    tx, schedule = T.make_optimizer(config.optim, total_steps)
    base = jax.random.key(config.seed)
    seed_keys = jax.vmap(lambda s: jax.random.fold_in(base, s))(jnp.arange(config.seeds))
    init_keys = jax.vmap(lambda k: jax.random.fold_in(k, 0))(seed_keys)
    graphdef, state = T.init_state(init_keys, config.model, data.example_shape, data.num_classes, tx)
    mesh = T.data_mesh(config.batch_size, devices)
    step_fn = T.make_train_step(graphdef, tx, schedule, mesh)
    eval_fn = T.make_eval_step(graphdef)
    x_train, y_train = jnp.asarray(data.x_train), jnp.asarray(data.y_train)
    x_test, y_test = jnp.asarray(data.x_test), jnp.asarray(data.y_test)

    manager = _checkpointer(out_dir)
    log_path = os.path.join(out_dir, "metrics.jsonl")
    start = 0
    if resume:
        restored = _restore(manager, state)
        if restored is None:
            raise FileNotFoundError(f"--resume: no checkpoint in {out_dir}/checkpoints")
        state, start = restored, int(np.asarray(restored.step)[0])
    rows = _read_log(log_path, start)
    with open(log_path, "w") as fh:  # drop lines written after the checkpoint we resume from
        fh.writelines(json.dumps(r) + "\n" for r in rows)
    with open(os.path.join(out_dir, "config.json"), "w") as fh:
        json.dump(to_dict(config), fh, indent=1)
    if start == 0:
        _save(manager, 0, state)

    t0 = time.time()
    end = total_steps if stop_after is None else min(total_steps, stop_after)
    bar = tqdm(total=total_steps, initial=start, desc=f"{config.model.activation}", disable=not progress, leave=False)
    window = []
    with open(log_path, "a") as log:
        epoch_idx, epoch = None, -1
        for step in range(start, end):
            e, i = divmod(step, steps_per_epoch)
            if e != epoch:
                epoch = e
                epoch_idx = jax.vmap(lambda k: epoch_indices(jax.random.fold_in(jax.random.fold_in(k, 1), e),
                                                             n_train, config.batch_size))(seed_keys)
            step_keys = jax.vmap(lambda k: jax.random.fold_in(jax.random.fold_in(k, 2), step))(seed_keys)
            new_state, metrics = step_fn(state, x_train, y_train, epoch_idx[:, i], step_keys)
            loss = np.asarray(metrics["loss"])
            if not np.all(np.isfinite(loss)):
                bar.close()
                last = manager.latest_step()
                raise TrainingDiverged(
                    f"loss became {loss.tolist()} at step {step + 1} (seeds {np.flatnonzero(~np.isfinite(loss)).tolist()}); "
                    f"stopped. The last good checkpoint (step {last}) is kept in {out_dir}/checkpoints. "
                    "Try a smaller --lr, --clip-norm, or another --init.")
            state = new_state
            window.append(jax.device_get(metrics))
            bar.update(1)
            done = step + 1
            if done % config.log_every == 0 or done == end:
                avg = {k: np.mean([w[k] for w in window], axis=0) for k in window[0]}
                log.write(json.dumps({"step": done, "epoch": done / steps_per_epoch, "kind": "train",
                                      **{k: _jsonable(v) for k, v in avg.items()}}) + "\n")
                bar.set_postfix(loss=f"{float(np.mean(avg['loss'])):.4f}")
                window = []
            if done % steps_per_epoch == 0 or done == end:
                test_loss, test_acc = T.evaluate(eval_fn, state, x_test, y_test)
                row = {"step": done, "epoch": done / steps_per_epoch, "kind": "eval",
                       "test_loss": test_loss.tolist(), "test_accuracy": test_acc.tolist()}
                if config.layer_stats:
                    stats = T.hidden_stats(graphdef, state, x_train[:512])
                    row.update({f"layer_{k}": v.tolist() for k, v in stats.items()})
                log.write(json.dumps(row) + "\n")
                log.flush()
            if done % config.checkpoint_every == 0 or done == end:
                _save(manager, done, state)
    bar.close()
    seconds = time.time() - t0
    if end < total_steps:
        return {"stopped_at": end, "total_steps": total_steps}
    summary = _summary(config, state, eval_fn, (x_train, y_train), (x_test, y_test), log_path, total_steps, seconds)
    with open(os.path.join(out_dir, "summary.json"), "w") as fh:
        json.dump(summary, fh, indent=1)
    from jaxacts._src.plotting import learning_curves

    learning_curves({config.model.activation: _read_log(log_path, total_steps)}, os.path.join(out_dir, "curves.png"))
    return summary


def steps_to_threshold(rows: list[dict], key: str, threshold: float, seeds: int) -> list[int | None]:
    """Per seed, the first logged step at which ``key`` (window average) is <= threshold, or None."""
    out: list[int | None] = [None] * seeds
    for r in rows:
        if r["kind"] != "train":
            continue
        for s, v in enumerate(np.atleast_1d(r[key])):
            if out[s] is None and v <= threshold:
                out[s] = r["step"]
    return out


def _summary(config, state, eval_fn, train, test, log_path, total_steps, seconds) -> dict[str, Any]:
    train_loss, train_acc = T.evaluate(eval_fn, state, *train)
    test_loss, test_acc = T.evaluate(eval_fn, state, *test)
    rows = _read_log(log_path, total_steps)
    reach = steps_to_threshold(rows, "loss", config.target_loss, config.seeds)
    ms = lambda a: {"mean": float(np.mean(a)), "std": float(np.std(a)), "per_seed": np.asarray(a).tolist()}
    return {
        "test_accuracy": float(np.mean(test_acc)), "test_loss": float(np.mean(test_loss)),
        "train_loss": float(np.mean(train_loss)), "train_accuracy": float(np.mean(train_acc)),
        "per_seed": {"test_accuracy": ms(test_acc), "test_loss": ms(test_loss), "train_loss": ms(train_loss)},
        "steps_to_target_loss": {"target": config.target_loss, "per_seed": reach,
                                 "mean": float(np.mean(reach)) if all(r is not None for r in reach) else None},
        "steps": total_steps, "seconds": seconds, "seeds": config.seeds,
        "backend": jax.default_backend(), "device_count": jax.device_count(), "config": to_dict(config),
    }


def param_vector(out_dir: str) -> np.ndarray:
    """All parameters of the latest checkpoint in ``out_dir``, flattened (for comparing runs)."""
    manager = _checkpointer(out_dir)
    step = manager.latest_step()
    restored = manager.restore(step, args=ocp.args.StandardRestore())
    return np.concatenate([np.ravel(np.asarray(x, np.float64)) for x in restored])
