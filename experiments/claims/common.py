"""What every claim shares: the data, compiled sweeps of settings x seeds, learning rates tuned on
tuning seeds apart from the evaluation seeds, steps to a target without measurement delay, t-intervals
over seeds with simulated coverage, sub-verdicts per clause, and the pre-registration hash.

Every claim trains through :func:`train_sweep`: all settings (learning rate x activation
hyperparameters) x seeds of one model in one compiled program (``jaxacts.training``), seeds paired
across activations (seed s has the same data order, and the same initialization wherever the shapes
agree, in every sweep of a claim). Learning rates are chosen by :func:`tune` on the tuning seeds
(:data:`TUNING_FIRST_SEED` on) and every reported statistic is measured on the evaluation seeds
(0 on), trained afresh at the chosen rates: the choice never sees the data it is judged on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats
from tqdm.auto import tqdm

from jaxacts import data as D
from jaxacts import distributed
from jaxacts import training as T
from jaxacts.models import ModelConfig

VERDICTS = ("supported", "contradicted", "inconclusive")
TUNING_FIRST_SEED = 10_000  # tuning seeds are 10000, 10001, ...; evaluation seeds 0, 1, ...: disjoint
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

    def merged(self, other: "Sweep") -> "Sweep":
        """This sweep's settings and ``other``'s (the same seeds), ordered by learning rate. Final states (and
        ``on_epoch`` results) are kept when both sweeps have them from the same model (``train_arms`` with
        ``every_arm``): ``other``'s runs are appended after this sweep's on the leading axis, and ``index``
        points into the joined state; otherwise they are dropped (a tuning sweep needs only its curves)."""
        order = np.argsort([s["lr"] for s in self.settings + other.settings], kind="stable")
        cat = lambda a, b: np.concatenate([a, b])[order]
        state, extra, index = None, [], ()
        if self.state is not None and other.state is not None and self.graphdef == other.graphdef:
            join = lambda a, b: jax.tree.map(lambda u, v: jnp.concatenate([u, v]), a, b)
            offset = jax.tree.leaves(self.state)[0].shape[0] // self.seeds
            state = join(self.state, other.state)
            extra = [join(a, b) for a, b in zip(self.extra, other.extra)]
            joined = self.index + tuple(i + offset for i in other.index)
            index = tuple(joined[i] for i in order)
        return dataclasses.replace(
            self, settings=[(self.settings + other.settings)[i] for i in order],
            train_loss=cat(self.train_loss, other.train_loss), train_error=cat(self.train_error, other.train_error),
            evals={k: cat(v, other.evals[k]) for k, v in self.evals.items()},
            final_train={k: cat(v, other.final_train[k]) for k, v in self.final_train.items()},
            diverged=cat(self.diverged, other.diverged), state=state, extra=extra, index=index)

    def run_state(self, setting: int, seed: int):
        """The final state of one run (leading axis dropped)."""
        r = self.index[setting] * self.seeds + seed
        return jax.tree.map(lambda a: a[r], self.state)


def train_sweep(data: D.Dataset, model: ModelConfig, optimizer: str, lrs: Sequence[float] = (), *, epochs: int,
                batch_size: int, seeds: int, first_seed: int = 0, settings: Sequence[tuple[float, str]] = (),
                schedule: str = "constant", on_epoch: Callable[[int, Any, Any], Any] | None = None) -> Sweep:
    """Trains every learning rate in ``lrs`` x activation setting (``model.activation`` may sweep a
    hyperparameter: ``leaky_relu(negative_slope=[0.0,0.2])``) x ``seeds`` seeds in one compiled program;
    or, instead of ``lrs``, exactly the (learning rate, activation spec) pairs in ``settings`` (each arm at
    its own rate). Seeds are ``first_seed``, ``first_seed`` + 1, ... of one stream (paired across calls).

    One host sync per epoch. ``on_epoch(epoch, graphdef, state)`` is called before the first epoch
    (epoch 0, the initial state) and after each (epoch e = 1..epochs); what it returns is kept in
    ``Sweep.extra`` (for measurements a claim takes during training).
    """
    optim = T.OptimConfig(optimizer=optimizer, lr=tuple(float(v) for v in lrs or [s[0] for s in settings]),
                          schedule=schedule)
    settings = ([{"lr": float(lr), "weight_decay": 0.0, "activation": act} for lr, act in settings] if settings
                else T.sweep_settings(optim, model.activation))
    steps_per_epoch = data.x_train.shape[0] // batch_size
    if steps_per_epoch == 0:
        raise ValueError(f"batch size {batch_size} exceeds the {data.x_train.shape[0]} training examples")
    tx, shape = T.make_optimizer(optim, epochs * steps_per_epoch)
    mesh = _sweep_mesh(len(settings) * seeds, batch_size)
    keys, init_keys = T.run_keys(0, seeds, len(settings), first_seed, mesh=mesh)
    graphdef, state = T.init_state(init_keys, model, data.example_shape, data.num_classes, tx,
                                   T.run_hyperparameters(settings, seeds, model.activation),
                                   sharding=T.runs_sharding(mesh))
    epoch_fn = T.make_train_epoch(graphdef, tx, shape, batch_size=batch_size, mesh=mesh,
                                  scan=T.scan_steps_by_default(model.kind))
    put = functools.partial(T.put_replicated, mesh=mesh)
    x, y = put(data.x_train), put(data.y_train)
    held_out = {"val": (put(data.x_val), put(data.y_val)), "test": (put(data.x_test), put(data.y_test))}
    extra = [on_epoch(0, graphdef, _local(state))] if on_epoch else []
    t0 = time.perf_counter()
    losses, errors, evals, times = [], [], [], []
    for epoch in tqdm(range(epochs), desc=f"  {model.activation[:40]} ({len(settings) * seeds} runs)", leave=False,
                      disable=not distributed.is_writer()):
        t_epoch = time.perf_counter()
        # Every argument given: on a mesh, the program's shardings name all seven.
        state, metrics, ev = epoch_fn(state, keys, epoch, x, y, held_out, None)
        metrics, ev = distributed.to_host((metrics, ev))
        times.append(time.perf_counter() - t_epoch)
        losses.append(metrics["loss"])
        errors.append(1.0 - metrics["accuracy"])
        evals.append(ev)
        if on_epoch:
            extra.append(on_epoch(epoch + 1, graphdef, _local(state)))
        if _requests and distributed.any_process(_requests[-1]["signal"] is not None):  # see agreed_stops
            raise KeyboardInterrupt
    jax.block_until_ready(state)
    seconds = time.perf_counter() - t0
    loss, acc = distributed.to_host(T.make_evaluate(graphdef)(state, x, y))
    state = _local(state)
    P, S = len(settings), seeds
    per_run = lambda a: np.asarray(a, np.float64).reshape(P, S, *np.shape(a)[1:])
    steps = lambda parts: np.moveaxis(np.concatenate(parts, axis=0), 0, -1).reshape(P, S, -1)
    return Sweep(
        settings=settings, seeds=S, steps_per_epoch=steps_per_epoch,
        train_loss=steps(losses), train_error=steps(errors),
        evals={k: np.stack([per_run(e[k]) for e in evals], axis=-1) for k in evals[0]},
        final_train={"loss": per_run(loss), "accuracy": per_run(acc)},
        diverged=per_run(np.asarray(state.diverged)).astype(bool), seconds=seconds,
        epoch_seconds=np.asarray(times), graphdef=graphdef,
        state=state, extra=extra, index=tuple(range(P)))


_requests: list[dict] = []  # what agreed_stops' signal handler sets, while it is installed


@contextlib.contextmanager
def agreed_stops():
    """With several processes, Ctrl-C or SIGTERM on any of them stops every one at the same epoch end
    of a sweep (KeyboardInterrupt on each), so none is left waiting in a collective for one that
    stopped; a second one stops that process at once. With one process signals act at once, as usual."""
    if jax.process_count() == 1:
        yield
        return
    with T.stop_requests() as requested:
        _requests.append(requested)
        try:
            yield
        finally:
            _requests.remove(requested)


def _sweep_mesh(runs: int, batch_size: int) -> jax.sharding.Mesh | None:
    """The training mesh of ``runs`` runs over every device (every host's), as ``jaxacts.training.fit``
    lays it out; None with one device, or where the batch cannot be split over the devices each run
    would get: then every process trains every run on its first device (the same results, unshared)."""
    try:
        return T.run_mesh(runs, batch_size)
    except ValueError:
        return None


def _local(state):
    """``state`` whole on this process's first device: what a claim reads and computes on after (or
    during) training, whatever mesh trained it (states of several sweeps then join freely). A copy
    only where the runs were spread over devices; across processes it is all-gathered (a collective:
    every process calls it at the same point)."""
    arrays = [a for a in jax.tree.leaves(state) if isinstance(a, jax.Array)]
    if all(len(a.sharding.device_set) == 1 for a in arrays):
        return state
    if not all(a.is_fully_addressable for a in arrays):
        state = distributed.to_host(state)
    return jax.device_put(state, jax.local_devices()[0])


def train_arms(data: D.Dataset, arms: dict[str, tuple[str, str]], model: dict, optimizer: str,
               lrs_by_arm: dict[str, Sequence[float]], every_arm: bool = False, **kw) -> dict[str, Sweep]:
    """Trains each arm (label -> (activation spec, initializer)) at its learning rates, ``model`` giving the
    other ModelConfig fields. Arms with the same initializer train in one compiled program, their
    activations a choice made per run (``sigmoid|tanh``, ``jaxacts`` layers.Choice): compiling is paid
    once per initializer, and more arms or seeds cost only their arithmetic. The choice holds the arms
    trained now, or with ``every_arm`` every arm of ``arms`` with that initializer: then every call builds
    the same model (its parameters, and the keys that draw them, do not depend on which arms train), so
    sweeps of several calls merge with their final states (:meth:`Sweep.merged`). ``kw`` goes to
    :func:`train_sweep` (epochs, batch_size, seeds, first_seed, on_epoch)."""
    out: dict[str, Sweep] = {}
    canonical = {a: T.sweep_settings(T.OptimConfig(), spec)[0]["activation"] for a, (spec, _) in arms.items()}
    for init in dict.fromkeys(arms[a][1] for a in lrs_by_arm):
        group = [a for a in lrs_by_arm if arms[a][1] == init]
        choice = "|".join(dict.fromkeys(canonical[a] for a in (arms if every_arm else group) if arms[a][1] == init))
        sweep = train_sweep(data, ModelConfig(activation=choice, init=init, **model), optimizer,
                            settings=[(lr, canonical[a]) for a in group for lr in lrs_by_arm[a]], **kw)
        out.update({a: sweep.of(canonical[a]) for a in group})
    return out


def init_runs(data: D.Dataset, model: ModelConfig, seeds: int, first_seed: int = 0):
    """(graphdef, state) of ``seeds`` freshly initialized runs, with the initialization
    :func:`train_sweep` gives the same seeds."""
    tx, _ = T.make_optimizer(T.OptimConfig(optimizer="sgd"), 1)
    _, init_keys = T.run_keys(0, seeds, 1, first_seed)
    return T.init_state(init_keys, model, data.example_shape, data.num_classes, tx)


# ---------------------------------------------------------------------------------------------------
# Choosing the learning rate (tuning seeds and the validation split only)

def rule_best_validation(last: int = 1) -> str:
    span = "final validation accuracy" if last == 1 else f"validation accuracy averaged over the last {last} epochs"
    return (f"the learning rate with the highest {span} (mean over tuning seeds); a rate at which a seed "
            "diverged is chosen only if every rate diverged")


def choose_by_validation(sweep: Sweep, last: int = 1) -> int:
    """Index of the learning rate chosen by :func:`rule_best_validation`."""
    acc = sweep.evals["val_accuracy"][..., -last:].mean(axis=(1, 2))
    healthy = ~sweep.diverged.any(axis=1)
    return max(range(len(sweep.lrs)), key=lambda p: (healthy[p], np.nan_to_num(acc[p], nan=-1.0)))


RULE_LOWEST_TRAINING_LOSS = ("the learning rate with the lowest final loss on the whole training set (mean over tuning "
                             "seeds); a rate at which a seed diverged is chosen only if every rate diverged")


def choose_lowest_training_loss(sweep: Sweep) -> int:
    """Index of the learning rate chosen by :data:`RULE_LOWEST_TRAINING_LOSS`."""
    loss = sweep.final_train["loss"].mean(axis=1)
    healthy = ~sweep.diverged.any(axis=1)
    return max(range(len(sweep.lrs)), key=lambda p: (healthy[p], -np.nan_to_num(loss[p], nan=np.inf)))


RULE_LOWEST_MEAN_TRAINING_ERROR = ("the learning rate with the lowest training error averaged over every step of the "
                                   "budget (the area under the training curve: fastest training, no target needed; "
                                   "mean over tuning seeds); a rate at which a seed diverged is chosen only if every "
                                   "rate diverged")


def choose_lowest_mean_training_error(sweep: Sweep) -> int:
    """Index of the learning rate chosen by :data:`RULE_LOWEST_MEAN_TRAINING_ERROR`."""
    area = sweep.train_error.mean(axis=(1, 2))
    healthy = ~sweep.diverged.any(axis=1)
    return max(range(len(sweep.lrs)), key=lambda p: (healthy[p], -np.nan_to_num(area[p], nan=np.inf)))


def rule_fastest_training(target_error: float) -> str:
    return (f"the learning rate whose training error (centred one-epoch window) first falls to {target_error:g} soonest "
            "(geometric mean over tuning seeds of the step it does, a seed that never does counting as the budget + 1 "
            "step), ties broken by the final validation accuracy; a rate at which a seed diverged is chosen only if "
            "every rate diverged")


def choose_fastest(sweep: Sweep, target_error: float) -> int:
    """Index of the learning rate chosen by :func:`rule_fastest_training`: the quantity a speed claim is about,
    training as fast as possible (as Krizhevsky et al. tuned each network), measured on the tuning seeds."""
    steps, _ = censored_steps(sweep.train_error, target_error, sweep.steps_per_epoch)  # (P, S)
    log_steps = np.log(steps).mean(axis=1)
    acc = sweep.evals["val_accuracy"][..., -1].mean(axis=1)
    healthy = ~sweep.diverged.any(axis=1)
    return max(range(len(sweep.lrs)), key=lambda p: (healthy[p], -log_steps[p], np.nan_to_num(acc[p], nan=-1.0)))


@dataclasses.dataclass(frozen=True)
class Tuning:
    """How learning rates are tuned: on ``seeds`` tuning seeds (disjoint from the evaluation seeds); a
    choice at an edge of its grid extends the grid by ``factor`` past that edge, up to ``max_extensions``
    times, until the choice is interior or the next rate diverges in most tuning seeds."""

    seeds: int = 3
    factor: float = 3.0
    max_extensions: int = 3

    def rule(self) -> str:
        return (f"tuned on {self.seeds} tuning seeds (10000 on) apart from the evaluation seeds (0 on), which are trained "
                f"afresh at the chosen rate; a choice at an edge of the grid extends it by x{self.factor:g} past that "
                f"edge (up to {self.max_extensions} times) until the choice is interior or the next rate diverges in "
                "most tuning seeds")


def tune(train: Callable[[dict[str, list[float]], int, int], dict[str, Sweep]], grids: dict[str, Sequence[float]],
         choose: Callable[[Sweep], int], tuning: Tuning, evaluation_seeds: int) -> tuple[dict[str, float], dict]:
    """Each arm's learning rate, chosen by ``choose`` on tuning seeds, with the grid extended at its edges.

    ``train({arm: lrs}, seeds, first_seed) -> {arm: Sweep}`` trains the given rates of the given arms.
    Returns ({arm: chosen lr}, the ``tuning`` record: seeds, evaluation_seeds and one entry per arm with
    its final grid, choice, whether the choice is interior, the rates added and why extending stopped).
    """
    sweeps = train({a: sorted(float(v) for v in g) for a, g in grids.items()}, tuning.seeds, TUNING_FIRST_SEED)
    added: dict[str, list[float]] = {a: [] for a in grids}
    stopped: dict[str, str] = {}
    for _ in range(tuning.max_extensions):
        pending = {}
        for arm, sweep in sweeps.items():
            p = choose(sweep)
            if arm in stopped or 0 < p < len(sweep.lrs) - 1:
                continue
            step = tuning.factor if p == len(sweep.lrs) - 1 else 1 / tuning.factor
            edge = sweep.lrs[-1] if p == len(sweep.lrs) - 1 else sweep.lrs[0]
            pending[arm] = [float(f"{edge * step:.6g}")]  # 0.3, not 0.30000000000000004
        if not pending:
            break
        for arm, sweep in train(pending, tuning.seeds, TUNING_FIRST_SEED).items():
            added[arm] += pending[arm]
            sweeps[arm] = sweeps[arm].merged(sweep)
            if sweep.diverged.mean() > 0.5:
                stopped[arm] = f"{pending[arm][0]:g} diverged in {int(sweep.diverged.sum())}/{tuning.seeds} tuning seeds"
    chosen, arms = {}, []
    for arm, sweep in sweeps.items():
        p = choose(sweep)
        interior = 0 < p < len(sweep.lrs) - 1
        chosen[arm] = sweep.lrs[p]
        arms.append({"arm": arm, "grid": list(sweep.lrs), "chosen": sweep.lrs[p], "interior": bool(interior),
                     "extended": added[arm], "stopped": stopped.get(arm) or (
                         "interior" if interior else f"at the edge after {len(added[arm])} extension(s)")})
    return chosen, {"seeds": list(range(TUNING_FIRST_SEED, TUNING_FIRST_SEED + tuning.seeds)),
                    "evaluation_seeds": list(range(evaluation_seeds)), "arms": arms}


def tuning_summary(record: dict) -> str:
    """One line per arm for a report: grid, choice, and whether it is interior."""
    return "; ".join(f"{a['arm']}: {a['chosen']:g} of {[float(f'{v:.3g}') for v in a['grid']]}"
                     + ("" if a["interior"] else f" (edge: {a['stopped']})") for a in record["arms"])


# ---------------------------------------------------------------------------------------------------
# Steps to a target, without delay

def centred(per_step: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average along the last axis: at step t the mean of steps t - h .. t + h, h = window // 2
    (so a crossing is not late, as a trailing average is by about h). NaN before step h (no full window yet);
    the window narrows symmetrically over the last h steps. A diverged run's NaN propagates."""
    n, h = per_step.shape[-1], window // 2
    c = np.concatenate([np.zeros(per_step.shape[:-1] + (1,)), np.cumsum(per_step, axis=-1)], axis=-1)
    t = np.arange(n)
    k = np.minimum(h, n - 1 - t)
    lo, hi = t - k, t + k + 1
    out = (c[..., np.clip(hi, 0, n)] - c[..., np.clip(lo, 0, n)]) / (hi - lo)
    out[..., :h] = np.nan
    return out


WINDOW_RULE = ("training error of each step's minibatch, averaged over a centred window of one epoch (half an epoch "
               "either side), the crossing interpolated linearly between steps")


def steps_to(per_step: np.ndarray, target: float, window: int) -> np.ndarray:
    """Per run, the step (1-based, fractional: interpolated between the two steps around the crossing) at which
    the centred ``window``-step average of ``per_step`` first is <= ``target``; ``np.inf`` where it never is."""
    avg = centred(per_step, window)
    hit = avg <= target
    first = np.argmax(hit, axis=-1)
    reached = hit.any(axis=-1)
    prev = np.take_along_axis(avg, np.maximum(first - 1, 0)[..., None], -1)[..., 0]
    cur = np.take_along_axis(avg, first[..., None], -1)[..., 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(np.isfinite(prev) & (prev > cur), (prev - target) / (prev - cur), 1.0)
    return np.where(reached, first + np.clip(frac, 0.0, 1.0), np.inf)


def censored_steps(per_step: np.ndarray, target: float, window: int) -> tuple[np.ndarray, int]:
    """Per run, steps until the centred average first reaches ``target``; a run that never does counts as the
    budget + 1 (a lower bound on its true time), and how many did not is returned."""
    steps = steps_to(per_step, target, window)
    missed = int(np.sum(~np.isfinite(steps)))
    return np.where(np.isfinite(steps), steps, per_step.shape[-1] + 1.0), missed


def speed_ratios(slow: np.ndarray, fast: np.ndarray, targets: Sequence[float], window: int) -> list[dict]:
    """For each target: the paired ratio (geometric mean over seeds) of the steps ``slow`` needs over
    the steps ``fast`` needs to bring its centred average to the target (per-step arrays (S, steps))."""
    out = []
    for target in targets:
        a, miss_a = censored_steps(slow, target, window)
        b, miss_b = censored_steps(fast, target, window)
        ratio, ci = paired_ratio(a, b)
        out.append({"target": float(target), "ratio": ratio, "ci95": ci, "steps_slow": a.tolist(),
                    "steps_fast": b.tolist(), "not_reached_slow": miss_a, "not_reached_fast": miss_b})
    return out


def bounded_interval(ci: Sequence[float], slow_missed: int, fast_missed: int) -> list[float]:
    """The interval of a steps ratio slow / fast widened by censoring: where the slow side missed the
    target its steps are a lower bound (the ratio may be larger: high -> inf); where the fast side
    missed, an upper bound (low -> 0). A verdict read from this interval only concludes what the
    censored data allow."""
    return [0.0 if fast_missed else ci[0], np.inf if slow_missed else ci[1]]


def seconds_per_step(sweep: Sweep) -> float:
    """Wall time of one step of the whole sweep: the median epoch after the first (which compiles), over
    the steps of an epoch."""
    later = sweep.epoch_seconds[1:] if len(sweep.epoch_seconds) > 1 else sweep.epoch_seconds
    return float(np.median(later)) / sweep.steps_per_epoch


# ---------------------------------------------------------------------------------------------------
# Intervals over seeds: Student t, on the difference or on the log of the ratio, with simulated coverage

CONFIDENCE = 0.95
INTERVAL_METHOD = {"linear": "paired Student t-interval of the mean difference over seeds",
                   "log": "Student t-interval of the mean log ratio over seeds, exponentiated (a geometric mean)"}


def t_interval(values: Sequence[float]) -> list[float]:
    """The 95% Student t-interval of the mean of ``values`` (one per seed)."""
    v = np.asarray(values, np.float64)
    if len(v) < 2:
        raise ValueError(f"an interval needs at least 2 seeds, got {len(v)}")
    half = stats.t.ppf(0.5 + CONFIDENCE / 2, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v))
    return [float(v.mean() - half), float(v.mean() + half)]


def paired_difference(a: Sequence[float], b: Sequence[float]) -> tuple[float, list[float]]:
    """Mean over seeds of a - b (paired by seed) and its t-interval."""
    d = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    return float(d.mean()), t_interval(d)


def paired_ratio(numerator: Sequence[float], denominator: Sequence[float]) -> tuple[float, list[float]]:
    """Geometric mean over seeds of numerator / denominator (paired by seed) and its interval (t on the logs)."""
    logs = np.log(np.asarray(numerator, np.float64)) - np.log(np.asarray(denominator, np.float64))
    low, high = t_interval(logs)
    return float(np.exp(logs.mean())), [float(np.exp(low)), float(np.exp(high))]


def geometric_mean(values: Sequence[float]) -> tuple[float, list[float]]:
    """Geometric mean over seeds and its interval (t on the logs)."""
    return paired_ratio(values, np.ones(len(values)))


@functools.lru_cache(maxsize=64)
def simulated_coverage(seeds: int, scale: str, repeats: int = 40_000, seed: int = 0) -> float:
    """How often the interval of ``scale`` covers the true value, simulated at ``seeds`` seeds: normal data
    for a difference ("linear"), lognormal data for a ratio ("log", whose target is the geometric mean)."""
    rng = np.random.default_rng(seed)
    if scale == "linear":
        data, truth, to_scale = rng.normal(0.3, 1.0, (repeats, seeds)), 0.3, lambda v: v
    elif scale == "log":
        data, truth, to_scale = rng.lognormal(0.5, 1.0, (repeats, seeds)), math.exp(0.5), np.log
    else:
        raise ValueError(f"scale must be 'linear' or 'log', got {scale!r}")
    v = to_scale(data)
    half = stats.t.ppf(0.5 + CONFIDENCE / 2, seeds - 1) * v.std(axis=1, ddof=1) / math.sqrt(seeds)
    low, high = v.mean(axis=1) - half, v.mean(axis=1) + half
    if scale == "log":
        low, high = np.exp(low), np.exp(high)
    return float(np.mean((low <= truth) & (truth <= high)))


def interval_record(scale: str, seeds: int, paired: tuple[Sequence[float], Sequence[float]] | None = None) -> dict:
    """claims.json's ``interval``: the method, its simulated coverage at this seed count, the scale, and the
    two arms' per-seed values of a paired statistic."""
    return {"method": INTERVAL_METHOD[scale], "coverage": simulated_coverage(seeds, scale), "scale": scale,
            "paired": None if paired is None else [as_list(paired[0]), as_list(paired[1])]}


# ---------------------------------------------------------------------------------------------------
# Verdicts: one per clause, an overall rule stated in advance

OVERALL_RULE = ("Overall: supported if every clause is supported; contradicted if any clause is contradicted; "
                "otherwise inconclusive.")


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


def subverdict(clause: str, verdict: str, name: str, value: float, ci: Sequence[float]) -> dict:
    """claims.json's entry for one clause."""
    assert verdict in VERDICTS, verdict
    return {"clause": clause, "verdict": verdict, "statistic": {"name": name, "value": float(value)},
            "ci95": [float(ci[0]), float(ci[1])]}


def overall(subverdicts: Sequence[dict]) -> str:
    """:data:`OVERALL_RULE` applied to the clauses' verdicts."""
    verdicts = [s["verdict"] for s in subverdicts]
    if all(v == "supported" for v in verdicts):
        return "supported"
    if any(v == "contradicted" for v in verdicts):
        return "contradicted"
    return "inconclusive"


def preregistration(rule: str, config: Any) -> str:
    """sha256 of a claim's decision rule and its config (grids, seeds, targets, windows, thresholds): any
    change to what was fixed before the run changes it."""
    frozen = json.dumps({"rule": rule, "config": dataclasses.asdict(config)}, sort_keys=True, default=repr)
    return hashlib.sha256(frozen.encode()).hexdigest()


# ---------------------------------------------------------------------------------------------------
# Formatting

def mean_sd(values) -> str:
    v = np.asarray(values, np.float64)
    return f"{np.mean(v):.4g} +- {np.std(v):.2g}"


def as_list(a) -> Any:
    """JSON-ready (strict JSON): arrays to nested lists of floats, inf and NaN to None."""
    a = np.asarray(a, np.float64)
    if a.ndim == 0:
        return float(a) if np.isfinite(a) else None
    return [as_list(x) for x in a]
