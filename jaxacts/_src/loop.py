"""The training loop around the compiled epoch: logging, checkpoints, resume, divergence, selection.

``fit(config, out_dir)`` trains every setting of the configured sweep (learning rates x weight
decays x activation hyperparameters) times ``config.seeds`` seeds together, one compiled program an
epoch, and writes ``metrics.jsonl`` (one line per logged step and per epoch evaluation; each value
is a list over runs, setting-major), ``summary.json`` (every setting on the validation and test
sets with its seeds one by one, diverged ones marked, and the chosen one), ``curves.png`` and orbax
checkpoints to ``out_dir``. A run (setting x seed) that diverges is held and reported while the
others train on. The device reports
to the host once per epoch. Every random choice derives from ``config.seed``: initialisation from
(seed, s), the data order of epoch e from (seed, s, e), dropout and RReLU noise of step t from
(seed, s, t); the settings of one seed share them. So a run stopped and resumed from a checkpoint
ends with the same parameters as one never stopped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import os
import shutil
import signal
import sys
import time
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp
from tqdm.auto import tqdm

from jaxacts._src import distributed
from jaxacts._src import train as T
from jaxacts._src.data import BUILTIN_DATASETS, DATASETS, Dataset, load_dataset
from jaxacts._src.models import ModelConfig


class TrainingInterrupted(RuntimeError):
    """Ctrl-C (or SIGTERM) stopped the run; the message says which checkpoint is kept."""


class TrainingDiverged(RuntimeError):
    """Every run (setting x seed) diverged (its loss, gradient or parameters became NaN or infinite,
    or its loss exploded); the last good checkpoint is kept."""


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """One training run (S seeds of one model on one dataset)."""

    dataset: str = "digits"
    data_dir: str = ""
    model: ModelConfig = ModelConfig()
    optim: T.OptimConfig = T.OptimConfig()
    epochs: int = 20
    steps: int = 0  # total optimizer steps, the last epoch possibly partial; 0: epochs x steps per epoch
    batch_size: int = 64
    data_order: str = "shuffle"  # shuffle (each epoch anew), fixed (one shuffled order, every epoch), sequential
    seeds: int = 1
    seed: int = 0
    log_every: int = 20
    checkpoint_every: int = 500
    target_loss: float = 0.1
    layer_stats: bool = False
    val_fraction: float | None = None  # None: 0.1 when a sweep has settings to choose from, else 0

    def __post_init__(self):
        if self.dataset not in DATASETS:
            raise ValueError(f"dataset {self.dataset!r} is not one of {DATASETS}")
        for name in ("epochs", "batch_size", "seeds", "log_every", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.steps < 0:
            raise ValueError(f"steps must be >= 0 (0: epochs x steps per epoch), got {self.steps}")
        if self.data_order not in T.DATA_ORDERS:
            raise ValueError(f"data_order {self.data_order!r} is not one of {T.DATA_ORDERS}")
        if self.val_fraction is not None and not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must lie in [0, 1), got {self.val_fraction}")
        if not 0 <= self.seed < 2**31:  # the seed enters the compiled program as an int32
            raise ValueError(f"seed must be 0 to 2^31 - 1, got {self.seed}")
        if self.data_dir and self.dataset in BUILTIN_DATASETS:
            raise ValueError(f"dataset {self.dataset!r} is built in and reads no files: drop --data-dir "
                             f"(it is for {', '.join(d for d in DATASETS if d not in BUILTIN_DATASETS)})")
        if self.model.dropout == "none" and self.model.dropout_rate > 0:
            raise ValueError(f"a dropout rate ({self.model.dropout_rate}) needs a dropout kind: standard or alpha")
        if self.optim.warmup_steps > 0 and self.optim.schedule != "warmup_cosine":
            raise ValueError(f"warmup_steps needs the warmup_cosine schedule, not {self.optim.schedule!r}")

    def validation_fraction(self, settings: int) -> float:
        """The share of the training set held out for choosing among ``settings``."""
        if self.val_fraction is not None:
            return self.val_fraction
        return 0.1 if settings > 1 else 0.0


def to_dict(config: TrainConfig) -> dict:
    return dataclasses.asdict(config)


def config_from_dict(d: dict) -> TrainConfig:
    """The TrainConfig a config.json holds (lists back to tuples); a damaged one is a ValueError."""
    tup = lambda v: tuple(v) if isinstance(v, list) else v
    try:
        model = ModelConfig(**{k: tup(v) for k, v in d["model"].items()})
        optim = T.OptimConfig(**{k: tup(v) for k, v in d["optim"].items()})
        return TrainConfig(**{**d, "model": model, "optim": optim})
    except (KeyError, TypeError) as e:
        raise ValueError(f"config.json does not describe a training run ({e})") from None


def _checkpointer(out_dir: str) -> ocp.CheckpointManager:
    return ocp.CheckpointManager(os.path.abspath(os.path.join(out_dir, "checkpoints")),
                                 options=ocp.CheckpointManagerOptions(max_to_keep=2, create=True))


def _say(message: str) -> None:
    if distributed.is_writer():  # every process knows the same; one says it
        print(message, file=sys.stderr, flush=True)


def _digest(folder: str) -> dict[str, str]:
    """sha256 of every file under ``folder``, by relative path."""
    out = {}
    for root, _, files in os.walk(folder):
        for name in sorted(files):
            path = os.path.join(root, name)
            with open(path, "rb") as fh:
                out[os.path.relpath(path, folder)] = hashlib.sha256(fh.read()).hexdigest()
    return out


def _checksum_path(out_dir: str, step: int) -> str:
    return os.path.join(out_dir, "checksums", f"{step}.json")


def _save(manager, step: int, state, out_dir: str) -> None:
    """Saves ``state`` (already checked finite) and writes the checksums that restoring verifies.

    Every process saves its shards; process 0 writes the checksums once the save is committed on all."""
    manager.save(step, args=ocp.args.StandardSave(jax.tree.leaves(state)), force=True)
    manager.wait_until_finished()
    distributed.barrier(f"checkpoint {step} committed")
    if not distributed.is_writer():
        return
    _write_json(_checksum_path(out_dir, step), _digest(os.path.join(out_dir, "checkpoints", str(step))))
    kept = set(manager.all_steps())
    for name in os.listdir(os.path.join(out_dir, "checksums")):
        if name.endswith(".json") and name[:-5].isdigit() and int(name[:-5]) not in kept:
            os.remove(os.path.join(out_dir, "checksums", name))


def _restore_leaves(manager, step: int, abstract: list) -> list:
    """The saved leaves of checkpoint ``step``, in the layout of ``abstract`` (today's TrainState).

    A checkpoint written before TrainState gained its last field, ``diverged_at``, holds one leaf
    fewer; it restores too, with ``diverged_at`` set to the checkpoint's step for runs diverged by
    then (the exact step was not recorded)."""
    try:
        return list(manager.restore(step, args=ocp.args.StandardRestore(abstract)))
    except Exception:  # orbax/tensorstore raise many types; try the older layout before giving up
        try:
            older = list(manager.restore(step, args=ocp.args.StandardRestore(abstract[:-1])))
        except Exception:
            raise  # neither layout: the caller reports today's failure
        step_count, diverged = distributed.to_host((older[-3], older[-2]))
        diverged_at = np.where(diverged, step_count, 0).astype(abstract[-1].dtype)
        return older + [jax.device_put(diverged_at, abstract[-1].sharding)]


def _restore(manager, state, out_dir: str):
    """The newest checkpoint whose checksums verify and which restores, or None; older ones are tried
    in turn, each fall-back with a one-line warning.

    It restores onto the layout of ``state`` (its shardings), whatever the layout it was saved from: a
    checkpoint of a run on 4 devices opens on 1. Every process verifies; a checkpoint that fails on any
    is passed over by all."""
    leaves, treedef = jax.tree.flatten(state)
    abstract = [jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding) for x in leaves]
    for step in sorted(manager.all_steps(), reverse=True):
        folder = os.path.join(out_dir, "checkpoints", str(step))
        try:
            with open(_checksum_path(out_dir, step)) as fh:
                expected = json.load(fh)
        except (OSError, ValueError):
            problem = "has no readable checksums"
        else:
            problem = "is damaged (checksum mismatch)" if _digest(folder) != expected else None
        if not distributed.any_process(problem is not None):
            try:
                restored = _restore_leaves(manager, step, abstract)
            except Exception as e:  # orbax/tensorstore raise many types for unreadable data
                problem = f"cannot be read ({type(e).__name__})"
            if not distributed.any_process(problem is not None):
                return jax.tree.unflatten(treedef, restored)
        if distributed.is_writer():
            # Moved aside, not deleted: the run continues from an older step and will save this one anew.
            aside = os.path.join(out_dir, "damaged_checkpoints", f"{step}-{int(time.time())}")
            os.makedirs(os.path.dirname(aside), exist_ok=True)
            shutil.move(folder, aside)
            _say(f"warning: checkpoint {step} {problem or 'failed on another process'}; moved to {aside}, "
                 "trying an older one")
        distributed.barrier(f"checkpoint {step} moved aside")
    manager.reload()
    return None


def _write_json(path: str, obj) -> None:
    """Writes ``obj`` to ``path`` atomically (a new file, fsynced, renamed over the old one)."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(obj, fh, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def read_log(path: str, upto_step: int, *, warn: bool = False) -> list[dict]:
    """The rows of a metrics.jsonl up to and including ``upto_step``; lines that do not parse (a line
    cut short by a kill) are skipped, with a warning naming the file and line when ``warn``."""
    rows = []
    if os.path.exists(path):
        with open(path) as fh:
            for number, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                    step = int(row["step"])
                except (ValueError, KeyError, TypeError):
                    if warn:
                        _say(f"warning: {path} line {number} is damaged (cut short?) and is dropped")
                    continue
                if step <= upto_step:
                    rows.append(row)
    return rows


def _rewrite_log(path: str, rows: list[dict]) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in rows)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _jsonable(x):
    x = np.asarray(x)
    return x.tolist() if x.ndim else x.item()


def _setting_label(setting: dict) -> str:
    return f"lr={setting['lr']:g}, weight_decay={setting['weight_decay']:g}, activation={setting['activation']}"


def _epoch_rows(metrics: dict, evals: dict, first_step: int, steps_per_epoch: int, log_every: int, end: int,
                window: list) -> list[dict]:
    """metrics.jsonl rows for one epoch's per-step metrics (arrays (steps, R)) and its evaluation."""
    rows = []
    for t in range(metrics["loss"].shape[0]):
        window.append({k: v[t] for k, v in metrics.items()})
        done = first_step + t + 1
        # The window also closes at the epoch end, so a run resumed there logs exactly the same rows.
        if done % log_every == 0 or done == end or t == metrics["loss"].shape[0] - 1:
            with np.errstate(all="ignore"):
                avg = {k: np.mean([w[k] for w in window], axis=0) for k in window[0]}
            rows.append({"step": done, "epoch": done / steps_per_epoch, "kind": "train",
                         **{k: _jsonable(v) for k, v in avg.items()}})
            window.clear()
    done = first_step + metrics["loss"].shape[0]
    rows.append({"step": done, "epoch": done / steps_per_epoch, "kind": "eval", **{k: _jsonable(v) for k, v in evals.items()}})
    return rows


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def saved_config(out_dir: str) -> dict | None:
    """The config.json of the run in ``out_dir`` as a dict, or None when there is none."""
    path = os.path.join(out_dir, "config.json")
    if not os.path.exists(path):
        return None
    try:
        with open(path) as fh:
            return json.load(fh)
    except ValueError as e:
        raise ValueError(f"{path} is damaged ({e}); the run cannot be resumed") from None


def config_differences(config: TrainConfig, saved: dict) -> list[str]:
    """'field: new (saved old)' for every field where ``config`` differs from a saved config.json."""
    now = _flatten(json.loads(json.dumps(to_dict(config))))
    try:
        # Through TrainConfig and back: a field added since the run was saved takes its default, which
        # does what the run did then (``steps`` 0, ``data_order`` shuffle), so older runs still resume.
        saved = json.loads(json.dumps(to_dict(config_from_dict(saved))))
    except ValueError:
        pass  # compared as saved; the differences name what does not fit
    before = _flatten(saved)
    return [f"{k}: {now.get(k)!r} (saved {before.get(k)!r})" for k in sorted(set(now) | set(before))
            if now.get(k) != before.get(k)]


def check_out_dir(config: TrainConfig, out_dir: str, resume: bool) -> None:
    """Refuses, before any work, an output folder that a new run would overwrite or that ``resume``
    cannot continue as configured."""
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise NotADirectoryError(f"--out {out_dir} is a file, not a folder")
    if not resume:
        if os.path.exists(out_dir) and os.listdir(out_dir):
            raise FileExistsError(f"{out_dir} already holds a run; pass --resume to continue it or choose another --out")
        return
    saved = saved_config(out_dir) if os.path.isdir(out_dir) else None
    if saved is None:
        raise FileNotFoundError(f"--resume: {out_dir} holds no run (no config.json); start one without --resume")
    differences = config_differences(config, saved)
    if differences:
        raise ValueError(f"--resume: {out_dir} was run with other settings; differing: {'; '.join(differences)}. "
                         "Resume with the saved settings, or start a new --out")


def _check_shared(out_dir: str) -> None:
    """Raises unless this process sees the config.json that process 0 wrote in ``out_dir``."""
    if not os.path.exists(os.path.join(out_dir, "config.json")):
        raise ValueError(f"--out {out_dir} is not shared: process {jax.process_index()} does not see the config.json "
                         "that process 0 wrote there; give every process one folder on a file system they all share")


def _remove_begun_run(out_dir: str) -> None:
    """Removes the files a fresh run writes before its first checkpoint is complete (nothing else)."""
    for name in ("config.json", "metrics.jsonl", "config.json.tmp"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(out_dir, name))
    for name in ("checkpoints", "checksums"):
        shutil.rmtree(os.path.join(out_dir, name), ignore_errors=True)


@contextlib.contextmanager
def stop_requests():
    """Ctrl-C or SIGTERM inside the block sets ``["signal"]`` of what it yields, for a loop to stop at its
    next agreed point (``fit``: the end of the current epoch, after a checkpoint there, so no finished work
    is lost); a second one raises KeyboardInterrupt at once. (Main thread only.)"""
    requested = {"signal": None}

    def handler(signum, frame):
        if requested["signal"] is not None:
            raise KeyboardInterrupt
        requested["signal"] = signum

    try:
        previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread: signals stay as they are
        yield requested
        return
    try:
        yield requested
    finally:
        for s, h in previous.items():
            # None: a handler installed outside Python (JAX's own, under jax.distributed), which Python cannot
            # reinstall; the default takes its place.
            signal.signal(s, signal.SIG_DFL if h is None else h)


def fit(config: TrainConfig, out_dir: str, *, resume: bool = False, stop_after: int | None = None,
        dataset: Dataset | None = None, devices=None, progress: bool = True) -> dict:
    """Trains every setting x seed of ``config`` in one compiled program; logs, checkpoints; returns the
    summary (also written to ``summary.json``).

    Work is done an epoch at a time (one compiled ``lax.scan`` over its steps, then evaluation), so
    checkpoints fall on epoch ends: at the first epoch end at or after each multiple of
    ``checkpoint_every`` steps, and at the last (``config.steps`` may end the run inside an epoch: that
    last epoch runs in the same program, its later steps masked). ``stop_after`` stops at the first
    epoch end at or after that many total steps, with a checkpoint (an interruption, for tests and for
    splitting long runs); ``resume`` continues from the latest checkpoint in ``out_dir``.

    A run (setting x seed) that diverges is held at its last good state on the device and announced
    on stderr; the others train on, and the summary marks it. Only when every run has diverged does
    the loop stop, with :class:`TrainingDiverged`.

    On several processes (after ``jax.distributed.initialize``) every process calls ``fit`` with the
    same arguments and ``out_dir`` a folder they all share: the runs and batches are sharded over every
    process's devices, every process takes part in the checkpoints, process 0 alone writes the other
    files, and a stop requested on any process stops all at the same epoch end.
    """
    distributed.same_path(out_dir)
    distributed.agree(lambda: check_out_dir(config, out_dir, resume))
    settings = T.sweep_settings(config.optim, config.model.activation)
    S, R = config.seeds, len(settings) * config.seeds
    data = dataset if dataset is not None else load_dataset(config.dataset, data_dir=config.data_dir or None,
                                                            seed=config.seed)
    val_fraction = config.validation_fraction(len(settings))
    if val_fraction > 0:
        data = data.with_validation(val_fraction, config.seed)
    n_train = data.x_train.shape[0]
    steps_per_epoch = n_train // config.batch_size
    if steps_per_epoch == 0:
        raise ValueError(f"batch size {config.batch_size} exceeds the {n_train} training examples")
    total_steps = config.steps or config.epochs * steps_per_epoch
    mesh = T.run_mesh(R, config.batch_size, devices)
    if len(settings) > 1 and data.x_val is None:
        _say("note: no validation split (--val-fraction 0): the setting is chosen on the training loss, "
             "which rewards fitting, not generalisation")
    os.makedirs(out_dir, exist_ok=True)

    tx, schedule = T.make_optimizer(config.optim, total_steps)
    run_keys, init_keys = T.run_keys(config.seed, S, len(settings), mesh=mesh)
    graphdef, state = T.init_state(init_keys, config.model, data.example_shape, data.num_classes, tx,
                                   T.run_hyperparameters(settings, S, config.model.activation),
                                   sharding=T.runs_sharding(mesh))
    epoch_fn = T.make_train_epoch(graphdef, tx, schedule, batch_size=config.batch_size, mesh=mesh,
                                  layer_stats=config.layer_stats, data_order=config.data_order,
                                  scan=T.scan_steps_by_default(config.model.kind))
    evaluate = T.make_evaluate(graphdef)
    put = functools.partial(T.put_replicated, mesh=mesh)
    x_train, y_train = put(data.x_train), put(data.y_train)
    held_out = {"test": (put(data.x_test), put(data.y_test))}
    if data.x_val is not None:
        held_out["val"] = (put(data.x_val), put(data.y_val))

    writer = distributed.is_writer()
    manager = _checkpointer(out_dir)
    log_path = os.path.join(out_dir, "metrics.jsonl")
    start, gaps = 0, []
    if resume:
        restored = _restore(manager, state, out_dir)
        manager.reload()  # forget checkpoints moved aside
        if restored is None:
            raise FileNotFoundError(f"--resume: no usable checkpoint in {out_dir}/checkpoints; the run cannot be "
                                    "continued (start it again in a new --out)")
        state, start = restored, int(distributed.to_host(restored.step)[0])
        rows = read_log(log_path, start, warn=writer)
        logged = max((r["step"] for r in rows if r["kind"] == "eval"), default=0)
        if logged < start:
            gaps.append([logged, start])
            _say(f"warning: {log_path} lacks the rows for steps {logged + 1}..{start} (lost or deleted); steps to "
                 "the target loss and mean training losses are reported only where the log shows them")
        if writer:
            _rewrite_log(log_path, rows)  # drops lines written after the checkpoint we resume from
    else:
        # On the host: the state goes there for checkpoint 0 anyway, and a compiled check costs more.
        host = distributed.to_host((state.params, state.rest, state.opt_state))
        finite = np.ones(R, bool)
        for leaf in jax.tree.leaves(host):
            if np.issubdtype(leaf.dtype, np.inexact):
                finite &= np.isfinite(leaf.reshape(R, -1)).all(axis=1)
        bad = np.flatnonzero(~finite)
        if bad.size:
            raise ValueError(f"the initial parameters of runs {bad.tolist()} are not finite: check --init "
                             f"({config.model.init!r}) and the activation's hyperparameters")
        # A stop asked for while the run's first files are written waits for checkpoint 0, so the folder
        # always holds a run that --resume continues; a second Ctrl-C removes what was begun.
        try:
            with stop_requests() as early:
                if writer:
                    _rewrite_log(log_path, [])
                    _write_json(os.path.join(out_dir, "config.json"), to_dict(config))
                if jax.process_count() > 1:  # before orbax, which would wait in vain for shards in an unshared folder
                    distributed.barrier("config.json written")
                    distributed.agree(lambda: _check_shared(out_dir))
                _save(manager, 0, state, out_dir)
        except KeyboardInterrupt:
            manager.close()
            if writer:
                _remove_begun_run(out_dir)
            raise TrainingInterrupted(f"interrupted while the run was set up; removed what it had begun in {out_dir}; "
                                      "start it again") from None
        if distributed.any_process(early["signal"] is not None):
            manager.close()
            raise TrainingInterrupted(f"interrupted at step 0; the checkpoint at step 0 is kept in {out_dir}/checkpoints; "
                                      "continue with --resume")

    t0 = time.time()
    end = total_steps if stop_after is None else min(total_steps, -(-stop_after // steps_per_epoch) * steps_per_epoch)
    bar = tqdm(total=total_steps, initial=start, desc=config.model.activation, disable=not (progress and writer),
               leave=False)
    say = (lambda message: tqdm.write(message, file=sys.stderr) if progress else _say(message)) if writer else (
        lambda message: None)
    window: list[dict] = []
    done, evals = start, None
    known = np.zeros(R, bool)  # runs already announced as diverged
    known = _announce_divergence(distributed.to_host((state.diverged, state.diverged_at)), known, settings, S, say,
                                 "before the checkpoint resumed from")
    try:
        with open(log_path, "a") if writer else contextlib.nullcontext() as log, stop_requests() as stop:
            while done < end:  # one epoch a turn; ``start`` and ``end`` fall on epoch ends (or the run's end)
                first = done
                steps = min(steps_per_epoch, end - first)  # fewer only in a partial last epoch
                state, metrics, evals = epoch_fn(state, run_keys, first // steps_per_epoch, x_train, y_train,
                                                 held_out, steps)
                metrics, evals, diverged, diverged_at = distributed.to_host(  # the epoch's one sync
                    (metrics, evals, state.diverged, state.diverged_at))
                metrics = {k: v[:steps] for k, v in metrics.items()}  # a partial epoch's masked steps go
                done = first + steps
                if writer:
                    for row in _epoch_rows(metrics, evals, first, steps_per_epoch, config.log_every, end, window):
                        log.write(json.dumps(row) + "\n")
                    log.flush()
                bar.update(steps)
                last_loss = metrics["loss"][-1][np.isfinite(metrics["loss"][-1])]
                bar.set_postfix(loss=f"{float(np.mean(last_loss)):.4f}" if last_loss.size else "nan")
                known = _announce_divergence((diverged, diverged_at), known, settings, S, say)
                if known.all():
                    raise TrainingDiverged(
                        f"every run diverged by step {int(np.max(diverged_at))} (rule: {T.DIVERGENCE_RULE}); "
                        f"stopped. The last good checkpoint (step {manager.latest_step()}) is kept in "
                        f"{out_dir}/checkpoints. Try a smaller --lr, --clip-norm, or another --init.")
                # Agreed: a stop asked of any process stops every one here, at this epoch end, with one checkpoint.
                interrupted = distributed.any_process(stop["signal"] is not None)
                if done // config.checkpoint_every > first // config.checkpoint_every or done == end or interrupted:
                    if writer:
                        os.fsync(log.fileno())  # every row up to the checkpoint is on disk before it
                    _save(manager, done, state, out_dir)
                if interrupted:
                    raise KeyboardInterrupt
    except KeyboardInterrupt:
        bar.close()
        raise TrainingInterrupted(f"interrupted at step {done}; the checkpoint at step {manager.latest_step()} is kept "
                                  f"in {out_dir}/checkpoints; continue with --resume") from None
    finally:
        bar.close()
        manager.close()  # its background threads would otherwise keep the process alive
    seconds = time.time() - t0
    if end < total_steps:
        return {"stopped_at": end, "total_steps": total_steps}
    distributed.barrier("metrics.jsonl written")  # the others read process 0's log for the summary
    summary = _summary(config, settings, state, evaluate, (x_train, y_train), held_out, evals, log_path,
                       total_steps, steps_per_epoch, seconds, gaps)
    if not writer:
        return summary
    _write_json(os.path.join(out_dir, "summary.json"), summary)
    from jaxacts._src.plotting import learning_curves

    rows = read_log(log_path, total_steps)
    chosen = summary["chosen"]["index"]
    label = config.model.activation if len(settings) == 1 else _setting_label(settings[chosen]) + " (chosen)"
    learning_curves({label: setting_rows(rows, chosen, S)}, os.path.join(out_dir, "curves.png"))
    return summary


def _run_label(settings: list[dict], seeds: int, run: int) -> str:
    """'seed 2' (one setting) or 'seed 2 of lr=3, weight_decay=0, activation=relu' for run ``run``."""
    setting, seed = divmod(run, seeds)
    return f"seed {seed}" if len(settings) == 1 else f"seed {seed} of {_setting_label(settings[setting])}"


def _announce_divergence(flags, known: np.ndarray, settings: list[dict], seeds: int, say, when: str = "") -> np.ndarray:
    """Says (through ``say``) which runs diverged that ``known`` does not list yet, with their steps;
    returns the runs diverged now."""
    diverged, diverged_at = (np.asarray(a) for a in flags)
    for r in np.flatnonzero(diverged & ~known):
        rest = "" if diverged.all() else "; held at its last good state, the other runs train on"
        say(f"diverged: {_run_label(settings, seeds, r)} at step {int(diverged_at[r])}"
            f"{' (' + when + ')' if when else ''}{rest}")
    return diverged.copy()


def setting_rows(rows: list[dict], setting: int, seeds: int) -> list[dict]:
    """Log rows restricted to one setting's runs (per-run lists sliced to its seeds): rows list every run,
    setting-major, so setting p's seeds are entries p * seeds ... (p + 1) * seeds - 1."""
    out = []
    for r in rows:
        out.append({k: (v[setting * seeds:(setting + 1) * seeds] if isinstance(v, list) else v) for k, v in r.items()})
    return out


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


def mean_over_steps(rows: list[dict], key: str, runs: int, after: int = 0) -> np.ndarray:
    """Per run, the mean of ``key`` over every step after step ``after`` (NaN for a run whose value was
    NaN at some step, as a diverged run's is). Each train row holds the mean over the steps since the
    previous one (windows close at epoch ends), so weighting rows by their step spans is exact."""
    total, steps, previous = np.zeros(runs), 0, 0
    for r in rows:
        if r["kind"] != "train":
            continue
        span = r["step"] - previous
        previous = r["step"]
        if r["step"] > after:
            total += span * np.asarray(r[key], np.float64).reshape(runs)
            steps += span
    with np.errstate(all="ignore"):
        return total / steps if steps else np.full(runs, np.nan)


def _stats(values, trained) -> dict[str, Any]:
    """Mean and std over the seeds that trained (None if none did); every seed's value, a diverged
    one's as None (its held parameters are not a result)."""
    a = np.asarray([np.nan if v is None else v for v in values], np.float64)
    ok = np.asarray(trained, bool) & np.isfinite(a)
    return {"mean": float(np.mean(a[ok])) if ok.any() else None, "std": float(np.std(a[ok])) if ok.any() else None,
            "per_seed": [float(v) if t and np.isfinite(v) else None for v, t in zip(a, trained)]}


def _summary(config, settings, state, evaluate, train, held_out, last_evals, log_path, total_steps,
             steps_per_epoch, seconds, gaps) -> dict[str, Any]:
    S, P = config.seeds, len(settings)
    per_run = {"train": evaluate(state, *train)}
    for name, xy in held_out.items():  # the last epoch evaluated the final state on these already
        per_run[name] = ((last_evals[f"{name}_loss"], last_evals[f"{name}_accuracy"]) if last_evals is not None
                         else evaluate(state, *xy))
    per_run = {name: tuple(np.asarray(v, np.float64) for v in lv) for name, lv in distributed.to_host(per_run).items()}
    diverged, diverged_at = (np.asarray(a).reshape(P, S)
                             for a in distributed.to_host((state.diverged, state.diverged_at)))
    rows = read_log(log_path, total_steps)
    reach = steps_to_threshold(rows, "loss", config.target_loss, P * S)
    if gaps:  # a crossing found after lost rows may have happened, unseen, inside them
        reach = [r if r is not None and r <= gaps[0][0] else None for r in reach]
    last_epoch_start = (total_steps - 1) // steps_per_epoch * steps_per_epoch
    mean_loss = {"all_steps": mean_over_steps(rows, "loss", P * S),
                 "last_epoch": mean_over_steps(rows, "loss", P * S, after=last_epoch_start)}
    if gaps:  # the lost rows' losses are unknown
        mean_loss["all_steps"][:] = np.nan
        if gaps[-1][1] > last_epoch_start:
            mean_loss["last_epoch"][:] = np.nan
    table = []
    for p, setting in enumerate(settings):
        sl = slice(p * S, (p + 1) * S)
        trained = ~diverged[p]
        entry = {"setting": setting, "diverged": diverged[p].tolist(),
                 "diverged_at_step": [int(d) if d else None for d in diverged_at[p]],
                 "seeds_trained": int(trained.sum())}
        for name, (loss, acc) in per_run.items():
            entry[f"{name}_loss"], entry[f"{name}_accuracy"] = _stats(loss[sl], trained), _stats(acc[sl], trained)
        for span, values in mean_loss.items():
            entry[f"mean_train_loss_{span}"] = _stats(values[sl], trained)
        r = reach[sl]
        reached = [x for x, t in zip(r, trained) if t]
        entry["steps_to_target_loss"] = {"target": config.target_loss, "per_seed": r,
                                         "mean": float(np.mean(reached)) if reached and None not in reached else None}
        if gaps:
            entry["steps_to_target_loss"]["unknown_after_lost_rows"] = gaps
        table.append(entry)
    chosen = choose_setting(table)
    best = table[chosen]
    rule = "a single setting" if P == 1 else SELECTION_RULE if "val_accuracy" in best else SELECTION_RULE_TRAIN
    return {
        "test_accuracy": best["test_accuracy"]["mean"], "test_loss": best["test_loss"]["mean"],
        "train_loss": best["train_loss"]["mean"], "train_accuracy": best["train_accuracy"]["mean"],
        "mean_train_loss_all_steps": best["mean_train_loss_all_steps"]["mean"],
        "mean_train_loss_last_epoch": best["mean_train_loss_last_epoch"]["mean"],
        "per_seed": {k: best[k] for k in ("test_accuracy", "test_loss", "train_loss", "mean_train_loss_all_steps",
                                          "mean_train_loss_last_epoch", "diverged", "diverged_at_step")},
        "seeds_trained": best["seeds_trained"],
        "steps_to_target_loss": best["steps_to_target_loss"],
        "chosen": {"index": chosen, "setting": settings[chosen], "rule": rule,
                   "on": None if P == 1 else "validation" if "val_accuracy" in best else "training"},
        "settings": table,
        "divergence_rule": T.DIVERGENCE_RULE, "lost_log_rows": gaps,
        "steps": total_steps, "steps_per_epoch": steps_per_epoch, "seconds": seconds, "seeds": S, "runs": P * S,
        "backend": jax.default_backend(), "device_count": jax.device_count(), "config": to_dict(config),
    }


_DIVERGED_SEEDS = ("a diverged seed counts for nothing: a setting ranks by the mean over its seeds that trained "
                   "(its count of those is listed beside it), and a setting whose seeds all diverged is never chosen")
SELECTION_RULE = ("the setting with the highest final validation accuracy (mean over seeds), ties broken by the "
                  "lower validation loss; " + _DIVERGED_SEEDS)
SELECTION_RULE_TRAIN = ("no validation split (--val-fraction 0): the setting with the lowest final training loss "
                        "(mean over seeds, the final parameters evaluated on the whole training set), ties broken by "
                        "the higher training accuracy; this rewards fitting, not generalisation; " + _DIVERGED_SEEDS)


def choose_setting(table: list[dict]) -> int:
    """Index of the chosen setting: on the validation split when the entries have one (see
    :data:`SELECTION_RULE`), else on the training loss (:data:`SELECTION_RULE_TRAIN`); never the test set."""
    if len(table) == 1:
        return 0
    on = "val" if "val_accuracy" in table[0] else "train"
    sign = 1.0 if on == "val" else -1.0  # higher accuracy first on validation; lower loss first on training

    def key(p):
        e = table[p]
        acc, loss = e[f"{on}_accuracy"]["mean"], e[f"{on}_loss"]["mean"]
        acc = acc if acc is not None and np.isfinite(acc) else -np.inf
        loss = loss if loss is not None and np.isfinite(loss) else np.inf
        trained = e.get("seeds_trained", 1) > 0 and np.isfinite(acc) and np.isfinite(loss)
        return (trained, acc, -loss) if sign > 0 else (trained, -loss, acc)
    return max(range(len(table)), key=key)


def param_vector(out_dir: str) -> np.ndarray:
    """All parameters of the latest checkpoint in ``out_dir``, flattened (for comparing runs), on any
    device layout: restored replicated over this run's devices, whatever layout saved it."""
    manager = ocp.CheckpointManager(os.path.abspath(os.path.join(out_dir, "checkpoints")),
                                    item_handlers=ocp.StandardCheckpointHandler())
    try:
        step = manager.latest_step()
        replicated = jax.sharding.NamedSharding(jax.sharding.Mesh(np.array(jax.devices()), ("all",)),
                                                jax.sharding.PartitionSpec())
        target = [jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=replicated) for m in manager.item_metadata(step)]
        restored = manager.restore(step, args=ocp.args.StandardRestore(target))
    finally:
        manager.close()
    return np.concatenate([np.ravel(np.asarray(x, np.float64)) for x in distributed.to_host(restored)])
