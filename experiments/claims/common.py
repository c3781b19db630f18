"""What every claim shares: the data, compiled sweeps of settings x seeds, learning-rate choice on the
validation split, bootstrap intervals over seeds, and the verdict vocabulary.

Every claim trains through :func:`train_sweep`: all learning rates x seeds of one model in one compiled
program (``jaxacts.training``), seeds paired across activations (seed s has the same data order, and
the same initialization wherever the shapes agree, in every sweep of a claim).
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np

from tqdm.auto import tqdm

from jaxacts import data as D
from jaxacts import training as T
from jaxacts.models import ModelConfig

VERDICTS = ("supported", "contradicted", "inconclusive")
BOOTSTRAP_SAMPLES = 10_000
# The initializer each activation is meant for (He et al. 2015; Klambauer et al. 2017; Glorot and Bengio 2010).
INIT_FOR = {"relu": "he_normal", "leaky_relu": "he_normal", "elu": "he_normal", "selu": "lecun_normal",
            "tanh": "glorot_normal", "sigmoid": "glorot_normal", "identity": "lecun_normal"}


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Which data a claim trains on.

    Attributes:
      dataset: ``mnist1d`` (the canonical one), or ``cifar10`` / ``mnist`` read from ``data_dir``;
        ``digits`` only for smoke tests.
      data_dir: folder with the files of a dataset that is not built in.
      val_fraction: stratified share of the training set held out to choose learning rates.
      train_subset: use only the first this many training examples (0: all; for ``--quick``).
    """

    dataset: str = "mnist1d"
    data_dir: str = ""
    val_fraction: float = 0.1
    train_subset: int = 0


@functools.lru_cache(maxsize=4)
def load(config: DataConfig) -> D.Dataset:
    """The dataset with its validation split (fixed: split seed 0), loaded once per process."""
    data = D.load_dataset(config.dataset, data_dir=config.data_dir or None, seed=0)
    if config.train_subset:
        data = dataclasses.replace(data, x_train=data.x_train[:config.train_subset],
                                   y_train=data.y_train[:config.train_subset])
    return data.with_validation(config.val_fraction, seed=0)


def init_for(activation: str) -> str:
    """The initializer meant for ``activation`` (a registry spec; its name decides)."""
    return INIT_FOR.get(activation.split("(")[0].strip(), "lecun_normal")


@dataclasses.dataclass
class Sweep:
    """Results of settings (learning rate x activation hyperparameters) x ``seeds`` runs trained together.
    Arrays are indexed [setting, seed, ...]; per-step arrays have one entry per step, per-epoch ones
    one per epoch."""

    settings: list[dict]  # {"lr", "weight_decay", "activation"} in run order
    seeds: int
    steps_per_epoch: int
    train_loss: np.ndarray  # (P, S, steps): the step's minibatch loss (NaN once a run diverged)
    train_error: np.ndarray  # (P, S, steps): the step's minibatch error
    evals: dict[str, np.ndarray]  # "val_accuracy", "test_loss", ... -> (P, S, epochs), after each epoch
    final_train: dict[str, np.ndarray]  # "loss", "accuracy" on the whole training set at the end: (P, S)
    diverged: np.ndarray  # (P, S) bool
    seconds: float
    epoch_seconds: np.ndarray  # wall time of each epoch (the first includes compilation)
    graphdef: Any
    state: Any  # the final TrainState of every run, setting-major on its leading axis
    extra: list = dataclasses.field(default_factory=list)  # what ``on_epoch`` returned, per epoch
    index: tuple[int, ...] = ()  # each setting's position in ``state``

    @property
    def lrs(self) -> tuple[float, ...]:
        return tuple(s["lr"] for s in self.settings)

    def activations(self) -> list[str]:
        """The activation specs of the sweep, in order (``leaky_relu(negative_slope=0.2)``, ...)."""
        return list(dict.fromkeys(s["activation"] for s in self.settings))

    def of(self, activation: str) -> "Sweep":
        """The learning rates x seeds of one activation spec."""
        keep = [p for p, s in enumerate(self.settings) if s["activation"] == activation]
        if not keep:
            raise KeyError(f"{activation!r} is not one of {self.activations()}")
        pick = lambda a: a[keep]
        return dataclasses.replace(
            self, settings=[self.settings[p] for p in keep], train_loss=pick(self.train_loss),
            train_error=pick(self.train_error), evals={k: pick(v) for k, v in self.evals.items()},
            final_train={k: pick(v) for k, v in self.final_train.items()}, diverged=pick(self.diverged),
            index=tuple(self.index[p] for p in keep))

    def run_state(self, setting: int, seed: int):
        """The final state of one run (leading axis dropped)."""
        r = self.index[setting] * self.seeds + seed
        return jax.tree.map(lambda a: a[r], self.state)


def train_sweep(data: D.Dataset, model: ModelConfig, optimizer: str, lrs: Sequence[float], *, epochs: int,
                batch_size: int, seeds: int, seed: int = 0, schedule: str = "constant",
                on_epoch: Callable[[int, Any, Any], Any] | None = None) -> Sweep:
    """Trains every learning rate in ``lrs`` x activation setting (``model.activation`` may sweep a
    hyperparameter: ``leaky_relu(negative_slope=[0.0,0.2])``) x ``seeds`` seeds in one compiled program.

    One host sync per epoch. ``on_epoch(epoch, graphdef, state)`` is called before the first epoch
    (epoch 0, the initial state) and after each (epoch e = 1..epochs); what it returns is kept in
    ``Sweep.extra`` (for measurements a claim takes during training).
    """
    optim = T.OptimConfig(optimizer=optimizer, lr=tuple(float(v) for v in lrs), schedule=schedule)
    settings = T.sweep_settings(optim, model.activation)
    steps_per_epoch = data.x_train.shape[0] // batch_size
    if steps_per_epoch == 0:
        raise ValueError(f"batch size {batch_size} exceeds the {data.x_train.shape[0]} training examples")
    tx, shape = T.make_optimizer(optim, epochs * steps_per_epoch)
    keys, init_keys = T.run_keys(seed, seeds, len(settings))
    graphdef, state = T.init_state(init_keys, model, data.example_shape, data.num_classes, tx,
                                   T.run_hyperparameters(settings, seeds))
    epoch_fn = T.make_train_epoch(graphdef, tx, shape, batch_size=batch_size,
                                  scan=T.scan_steps_by_default(model.kind))
    x, y = jax.device_put(data.x_train), jax.device_put(data.y_train)
    held_out = {"val": (jax.device_put(data.x_val), jax.device_put(data.y_val)),
                "test": (jax.device_put(data.x_test), jax.device_put(data.y_test))}
    extra = [on_epoch(0, graphdef, state)] if on_epoch else []
    t0 = time.perf_counter()
    losses, errors, evals, times = [], [], [], []
    for epoch in tqdm(range(epochs), desc=f"  {model.activation} ({len(settings) * seeds} runs)", leave=False):
        t_epoch = time.perf_counter()
        state, metrics, ev = epoch_fn(state, keys, epoch, x, y, held_out)
        metrics, ev = jax.device_get((metrics, ev))
        times.append(time.perf_counter() - t_epoch)
        losses.append(metrics["loss"])
        errors.append(1.0 - metrics["accuracy"])
        evals.append(ev)
        if on_epoch:
            extra.append(on_epoch(epoch + 1, graphdef, state))
    jax.block_until_ready(state)
    seconds = time.perf_counter() - t0
    loss, acc = jax.device_get(T.make_evaluate(graphdef)(state, x, y))
    P, S = len(settings), seeds
    per_run = lambda a: np.asarray(a, np.float64).reshape(P, S, *np.shape(a)[1:])
    steps = lambda parts: np.moveaxis(np.concatenate(parts, axis=0), 0, -1).reshape(P, S, -1)
    return Sweep(
        settings=settings, seeds=S, steps_per_epoch=steps_per_epoch,
        train_loss=steps(losses), train_error=steps(errors),
        evals={k: np.stack([per_run(e[k]) for e in evals], axis=-1) for k in evals[0]},
        final_train={"loss": per_run(loss), "accuracy": per_run(acc)},
        diverged=per_run(jax.device_get(state.diverged)).astype(bool), seconds=seconds,
        epoch_seconds=np.asarray(times), graphdef=graphdef,
        state=state, extra=extra, index=tuple(range(P)))


def init_runs(data: D.Dataset, model: ModelConfig, seeds: int, seed: int = 0):
    """(graphdef, state) of ``seeds`` freshly initialized runs, with the initialization
    :func:`train_sweep` gives the same seeds."""
    tx, _ = T.make_optimizer(T.OptimConfig(optimizer="sgd"), 1)
    _, init_keys = T.run_keys(seed, seeds, 1)
    return T.init_state(init_keys, model, data.example_shape, data.num_classes, tx)


# ---------------------------------------------------------------------------------------------------
# Choosing the learning rate (validation split only)

RULE_BEST_VALIDATION = ("the learning rate with the highest final validation accuracy (mean over seeds); a rate "
                        "at which a seed diverged is chosen only if every rate diverged")


def choose_by_validation(sweep: Sweep) -> int:
    """Index of the learning rate chosen by :data:`RULE_BEST_VALIDATION`."""
    acc = sweep.evals["val_accuracy"][..., -1].mean(axis=1)
    healthy = ~sweep.diverged.any(axis=1)
    return max(range(len(sweep.lrs)), key=lambda p: (healthy[p], np.nan_to_num(acc[p], nan=-1.0)))


def rule_fastest_validation(target_error: float) -> str:
    return (f"the learning rate whose validation error first falls to {target_error:g} soonest (mean over seeds of "
            "the epoch it does, a seed that never does counting as one epoch past the budget; validation is "
            "evaluated after each epoch), ties broken by the final validation accuracy; a rate at which a seed "
            "diverged is chosen only if every rate diverged")


def choose_fastest(sweep: Sweep, target_error: float) -> int:
    """Index of the learning rate chosen by :func:`rule_fastest_validation` (training as fast as possible,
    as Krizhevsky et al. tuned each network, but judged on the validation split)."""
    err = 1.0 - sweep.evals["val_accuracy"]  # (P, S, epochs)
    epochs = err.shape[-1]
    reached = np.where(np.any(err <= target_error, axis=-1), np.argmax(err <= target_error, axis=-1) + 1, epochs + 1)
    mean_epoch = reached.mean(axis=1)
    acc = sweep.evals["val_accuracy"][..., -1].mean(axis=1)
    healthy = ~sweep.diverged.any(axis=1)
    return max(range(len(sweep.lrs)), key=lambda p: (healthy[p], -mean_epoch[p], np.nan_to_num(acc[p], nan=-1.0)))


def smoothed(per_step: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average over the last ``window`` steps (fewer at the start), along the last axis."""
    c = np.cumsum(per_step, axis=-1)  # a diverged run's NaNs propagate: it never reaches a target
    out = np.empty_like(c)
    out[..., :window] = c[..., :window] / np.arange(1, min(window, c.shape[-1]) + 1)
    out[..., window:] = (c[..., window:] - c[..., :-window]) / window
    return out


def steps_to(per_step: np.ndarray, target: float, window: int) -> np.ndarray:
    """Per run, the first step (1-based) at which the ``window``-step moving average of ``per_step`` is
    <= ``target``; ``np.inf`` where it never is (censored at the budget)."""
    avg = smoothed(per_step, window)
    hit = avg <= target
    hit[..., :window - 1] = False  # a full window first: one lucky minibatch is not a crossing
    return np.where(hit.any(axis=-1), np.argmax(hit, axis=-1) + 1.0, np.inf)


# ---------------------------------------------------------------------------------------------------
# Intervals over seeds

def bootstrap_ci(values: Sequence[float], statistic: Callable[[np.ndarray], float] = np.mean,
                 seed: int = 0) -> list[float]:
    """Percentile 95% interval of ``statistic`` over :data:`BOOTSTRAP_SAMPLES` resamples of the seeds."""
    v = np.asarray(values, np.float64)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(v), size=(BOOTSTRAP_SAMPLES, len(v)))
    stats = np.array([statistic(v[i]) for i in idx]) if statistic is not np.mean else v[idx].mean(axis=1)
    low, high = np.percentile(stats, [2.5, 97.5])
    return [float(low), float(high)]


def paired_ratio(numerator: Sequence[float], denominator: Sequence[float]) -> tuple[float, list[float]]:
    """Geometric mean over seeds of numerator / denominator (paired by seed) and its bootstrap 95% interval."""
    logs = np.log(np.asarray(numerator, np.float64)) - np.log(np.asarray(denominator, np.float64))
    low, high = bootstrap_ci(logs)
    return float(np.exp(logs.mean())), [float(np.exp(low)), float(np.exp(high))]


def paired_difference(a: Sequence[float], b: Sequence[float]) -> tuple[float, list[float]]:
    """Mean over seeds of a - b (paired by seed) and its bootstrap 95% interval."""
    d = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    return float(d.mean()), bootstrap_ci(d)


def interval_verdict(ci: Sequence[float], supported: Callable[[float, float], bool],
                     contradicted: Callable[[float, float], bool]) -> str:
    """``supported`` / ``contradicted`` when the interval (low, high) satisfies that predicate, else
    ``inconclusive``."""
    low, high = ci
    if supported(low, high):
        return "supported"
    if contradicted(low, high):
        return "contradicted"
    return "inconclusive"


def bounded_interval(ci: Sequence[float], slow_missed: int, fast_missed: int) -> list[float]:
    """The interval of a steps ratio slow / fast widened by censoring: where the slow side missed the
    target its steps are a lower bound (the ratio may be larger: high -> inf); where the fast side
    missed, an upper bound (low -> 0). A verdict read from this interval only concludes what the
    censored data allow."""
    return [0.0 if fast_missed else ci[0], np.inf if slow_missed else ci[1]]


def mean_sd(values) -> str:
    v = np.asarray(values, np.float64)
    return f"{np.mean(v):.4g} +- {np.std(v):.2g}"


def as_list(a) -> Any:
    """JSON-ready (strict JSON): arrays to nested lists of floats, inf and NaN to None."""
    a = np.asarray(a, np.float64)
    if a.ndim == 0:
        return float(a) if np.isfinite(a) else None
    return [as_list(x) for x in a]


# ---------------------------------------------------------------------------------------------------
# Speed: steps to a target, and the time of one step

def censored_steps(per_step: np.ndarray, target: float, window: int) -> tuple[np.ndarray, int]:
    """Per run, steps until the ``window``-step moving average first reaches ``target``; a run that never
    does counts as the budget + 1 (a lower bound on its true time), and how many did not is returned."""
    steps = steps_to(per_step, target, window)
    missed = int(np.sum(~np.isfinite(steps)))
    return np.where(np.isfinite(steps), steps, per_step.shape[-1] + 1.0), missed


def speed_ratios(slow: np.ndarray, fast: np.ndarray, targets: Sequence[float], window: int) -> list[dict]:
    """For each target: the paired ratio (geometric mean over seeds) of the steps ``slow`` needs over
    the steps ``fast`` needs to bring its ``window``-step average to the target (per-step arrays (S, steps))."""
    out = []
    for target in targets:
        a, miss_a = censored_steps(slow, target, window)
        b, miss_b = censored_steps(fast, target, window)
        ratio, ci = paired_ratio(a, b)
        out.append({"target": float(target), "ratio": ratio, "ci95": ci, "steps_slow": a.tolist(),
                    "steps_fast": b.tolist(), "not_reached_slow": miss_a, "not_reached_fast": miss_b})
    return out


def seconds_per_step(sweep: Sweep) -> float:
    """Wall time of one step of the whole sweep: the median epoch after the first (which compiles), over
    the steps of an epoch."""
    later = sweep.epoch_seconds[1:] if len(sweep.epoch_seconds) > 1 else sweep.epoch_seconds
    return float(np.median(later)) / sweep.steps_per_epoch
