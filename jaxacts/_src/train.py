"""Training as pure compiled functions over a state pytree with a leading *run* axis.

A run is one (setting, seed) pair. A *setting* fixes the scalar hyperparameters a sweep varies: the
peak learning rate and the weight decay (held in the optimizer state by ``optax.inject_hyperparams``)
and the activation's float hyperparameters (held in the model state, see ``layers.Fixed``). So every
setting and every seed trains in one compiled program, ``jax.vmap`` over runs, and runs of equal seed
share initialization and data order (paired comparisons). Run ``r`` is setting ``r // seeds``, seed
``r % seeds``.

``make_train_epoch`` compiles one epoch: the steps in one ``lax.scan``, then evaluation on the held-out
sets; metrics reach the host once per epoch. With a mesh, the run axis is sharded over the mesh axis
``runs`` and each batch over ``data``; XLA splits the work and the result equals the one-device result
within float tolerance.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from jaxacts._src import layers, registry
from jaxacts._src.data import epoch_indices
from jaxacts._src.models import ModelConfig, build_model

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop")
SCHEDULES = ("constant", "cosine", "warmup_cosine")


class TrainState(NamedTuple):
    """Everything a training step changes; each leaf has a leading run axis of size R."""

    params: Any  # nnx.State of nnx.Param: the learned weights
    rest: Any  # nnx.State of everything else (batch-norm statistics, activation hyperparameters)
    opt_state: Any  # optax state; its hyperparams hold the run's learning_rate and weight_decay
    step: jax.Array  # int32, steps taken
    diverged: jax.Array  # bool; a diverged run is held at its last finite state while the others train on
    first_loss: jax.Array  # float32, the loss of the run's first step (what "exploded" is measured against; 0 before)
    diverged_at: jax.Array  # int32, the step (counted from 1, as in metrics.jsonl) at which the run diverged; 0: never


# A run has diverged when a step's loss, gradient norm or parameter norm is not finite, when its loss
# exceeds EXPLOSION times its first step's loss, or when any of its state is not finite at an epoch end.
EXPLOSION = 1e3
DIVERGENCE_RULE = (f"a run diverged when a step's loss, gradient norm or parameter norm is not finite, when its loss "
                   f"exceeds {EXPLOSION:g} x its first step's loss, or when its parameters, statistics or optimizer "
                   "state are not all finite at an epoch end")


def _values(v) -> tuple[float, ...]:
    return tuple(float(x) for x in (v if isinstance(v, (tuple, list)) else (v,)))


@dataclasses.dataclass(frozen=True)
class OptimConfig:
    """Optimizer and schedule. ``lr`` and ``weight_decay`` may be tuples: a sweep over their values."""

    optimizer: str = "adam"
    lr: float | tuple[float, ...] = 1e-3
    schedule: str = "constant"
    warmup_steps: int = 0
    weight_decay: float | tuple[float, ...] = 0.0
    clip_norm: float = 0.0  # 0: no clipping

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer {self.optimizer!r} is not one of {OPTIMIZERS}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule {self.schedule!r} is not one of {SCHEDULES}")
        if not _values(self.lr) or not all(math.isfinite(v) and v > 0 for v in _values(self.lr)):
            raise ValueError(f"learning rate must be finite and > 0, got {self.lr}")
        if not _values(self.weight_decay) or not all(math.isfinite(v) and v >= 0 for v in _values(self.weight_decay)):
            raise ValueError(f"weight_decay must be finite and >= 0, got {self.weight_decay}")
        if not (math.isfinite(self.clip_norm) and self.clip_norm >= 0) or self.warmup_steps < 0:
            raise ValueError("clip_norm and warmup_steps must be >= 0")


def sweep_settings(optim: OptimConfig, activation: str) -> list[dict[str, Any]]:
    """Every setting of a sweep, learning rate slowest, then weight decay, then activation
    hyperparameters: [{"lr": ..., "weight_decay": ..., "activation": "elu(alpha=0.5)"}, ...]."""
    return [{"lr": lr, "weight_decay": wd, "activation": act}
            for lr, wd, act in itertools.product(_values(optim.lr), _values(optim.weight_decay),
                                                 layers.expand(activation))]


def run_hyperparameters(settings: list[dict[str, Any]], seeds: int, activation: str | None = None) -> dict[str, Any]:
    """Per-run arrays (R = settings x seeds): learning_rate, weight_decay, and the activation's float
    hyperparameters (a dict, possibly empty). With the model's ``activation`` a choice (``sigmoid|tanh``),
    each run's alternative and its hyperparameters (:func:`layers.choice_hyperparameters`)."""
    rep = lambda vals: jnp.asarray(np.repeat(np.asarray(vals, np.float32), seeds))
    if activation is not None and len(layers.alternatives(activation)) > 1:
        acts = [layers.choice_hyperparameters(activation, s["activation"]) for s in settings]
    else:
        acts = [{k: v for k, v in registry.parse_spec(s["activation"])[1].items() if not isinstance(v, bool)}
                for s in settings]
    return {"learning_rate": rep([s["lr"] for s in settings]),
            "weight_decay": rep([s["weight_decay"] for s in settings]),
            "activation": {k: rep([a[k] for a in acts]) for k in acts[0]}}


def _schedule_shape(config: OptimConfig, total_steps: int) -> optax.Schedule:
    """The learning-rate schedule divided by its peak (the peak is a per-run hyperparameter)."""
    total = max(total_steps, 1)
    if config.schedule == "constant":
        return optax.constant_schedule(1.0)
    if config.schedule == "cosine":
        return optax.cosine_decay_schedule(1.0, total)
    return optax.warmup_cosine_decay_schedule(0.0, 1.0, min(config.warmup_steps, total - 1), total)


def make_optimizer(config: OptimConfig, total_steps: int) -> tuple[optax.GradientTransformation, optax.Schedule]:
    """The optax transformation and the shape of its learning-rate schedule (peak 1).

    ``learning_rate`` and ``weight_decay`` are injected hyperparameters (``opt_state.hyperparams``),
    so runs of one vmapped program can each carry their own; the rate at step t is
    ``learning_rate * shape(t)``.
    """
    shape = _schedule_shape(config, total_steps)
    decay = any(v > 0 for v in _values(config.weight_decay))  # static: no decay term when all are 0

    def factory(learning_rate, weight_decay):
        lr = lambda count: learning_rate * shape(count)
        base = {
            "sgd": lambda: optax.sgd(lr),
            "momentum": lambda: optax.sgd(lr, momentum=0.9),
            "nesterov": lambda: optax.sgd(lr, momentum=0.9, nesterov=True),
            "adam": lambda: optax.adam(lr),
            "adamw": lambda: optax.adamw(lr, weight_decay=weight_decay),
            "rmsprop": lambda: optax.rmsprop(lr),
        }[config.optimizer]()
        chain = []
        if config.clip_norm > 0:
            chain.append(optax.clip_by_global_norm(config.clip_norm))
        if decay and config.optimizer != "adamw":
            chain.append(optax.add_decayed_weights(weight_decay))
        return optax.chain(*chain, base)

    tx = optax.inject_hyperparams(factory, hyperparam_dtype=jnp.float32)(
        learning_rate=_values(config.lr)[0], weight_decay=_values(config.weight_decay)[0])
    return tx, shape


def init_state(keys: jax.Array, model_config: ModelConfig, example_shape, num_classes: int,
               tx: optax.GradientTransformation, hyperparameters: dict[str, Any] | None = None,
               sharding: jax.sharding.Sharding | None = None) -> tuple[nnx.GraphDef, TrainState]:
    """R freshly initialised models and optimizer states, one per key (leading axis R).

    ``hyperparameters`` (from :func:`run_hyperparameters`) sets each run's learning rate, weight decay
    and activation hyperparameters; without it every run takes the configured first values.
    ``sharding`` (of the run axis) creates the state where it lives: on several hosts a state made on
    one device could not be moved to a sharding that spans the others.
    """
    graphdef, _, _ = nnx.split(nnx.eval_shape(lambda: build_model(model_config, example_shape, num_classes, keys[0])),
                               nnx.Param, ...)

    def one(key, hp):
        model = build_model(model_config, example_shape, num_classes, key)
        if hp is not None and hp["activation"]:
            layers.set_activation_hyperparameters(model, hp["activation"])
        _, params, rest = nnx.split(model, nnx.Param, ...)
        opt_state = tx.init(params)
        if hp is not None:
            opt_state.hyperparams.update(learning_rate=hp["learning_rate"], weight_decay=hp["weight_decay"])
        return TrainState(params, rest, opt_state, jnp.zeros((), jnp.int32), jnp.zeros((), bool),
                          jnp.zeros((), jnp.float32), jnp.zeros((), jnp.int32))

    init = jax.jit(jax.vmap(one)) if sharding is None else jax.jit(jax.vmap(one), out_shardings=sharding)
    return graphdef, init(keys, hyperparameters)


def run_keys(seed, seeds: int, settings: int, first=0, mesh: jax.sharding.Mesh | None = None
             ) -> tuple[jax.Array, jax.Array]:
    """Per-run PRNG keys (training noise, data order) and initialization keys for ``settings`` x
    ``seeds`` runs: seed s's key is ``fold_in(key(seed), first + s)``, shared by every setting (paired
    runs); ``first`` numbers a disjoint set of seeds of the same stream (tuning apart from evaluation).
    With a ``mesh`` (:func:`run_mesh`) the keys are made on its 'runs' sharding: on several hosts, keys made
    on one device could not be moved there."""
    out = None if mesh is None else _shardings(mesh)[0]
    return jax.jit(_run_keys, static_argnums=(1, 2), out_shardings=out)(seed, seeds, settings, first)


def _run_keys(seed, seeds: int, settings: int, first):
    base = jax.random.key(seed)
    seed_keys = jax.vmap(lambda s: jax.random.fold_in(base, s))(first + jnp.arange(seeds))
    keys = jnp.tile(seed_keys, settings)  # run r = (setting r // seeds, seed r % seeds)
    return keys, jax.vmap(lambda k: jax.random.fold_in(k, 0))(keys)


def put_replicated(a, mesh: jax.sharding.Mesh | None = None) -> jax.Array:
    """A host array on the device, or replicated on every device of ``mesh`` (the data every run reads)."""
    return jax.device_put(a) if mesh is None else jax.device_put(a, _shardings(mesh)[1])


def runs_sharding(mesh: jax.sharding.Mesh | None):
    """The sharding of arrays with a leading run axis on ``mesh`` (None without one)."""
    return None if mesh is None else _shardings(mesh)[0]


def _loss_and_logits(graphdef, params, rest, x, y, *, train, key):
    # copy=True: fresh Variables in this trace, so batch norm may update its statistics here.
    model = nnx.merge(graphdef, params, rest, copy=True)
    logits = model(x, train=train, key=key)
    loss = optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), y).mean()
    _, _, new_rest = nnx.split(model, nnx.Param, ...)
    return loss, (logits, new_rest)


def _global_norm(tree) -> jax.Array:
    return jnp.sqrt(sum(jnp.sum(jnp.square(x.astype(jnp.float32))) for x in jax.tree.leaves(tree)))


def _make_step(graphdef, tx, schedule):
    """step(state, x_all, y_all, indices (R, B), keys (R,), active=True) -> (state, metrics), not yet jitted.

    A run that diverges (see :data:`DIVERGENCE_RULE`) is marked diverged for good, with the step it
    diverged at, and held: its parameters, statistics and optimizer state stay those of its last good
    step (a select on the device, fused into the update; no host round trip), and its metrics read NaN
    from then on; the other runs carry on. A step with ``active`` False (a traced bool: the steps past
    ``--steps`` in a partial last epoch) changes nothing, so a partial epoch runs in the same program.
    """

    def one_run(state: TrainState, x_all, y_all, indices, key, active):
        x, y = x_all[indices], y_all[indices]
        grad_fn = jax.value_and_grad(_loss_and_logits, argnums=1, has_aux=True)
        (loss, (logits, rest)), grads = grad_fn(graphdef, state.params, state.rest, x, y, train=True, key=key)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        metrics = {
            "loss": loss,
            "accuracy": jnp.mean(jnp.argmax(logits, -1) == y),
            "lr": (state.opt_state.hyperparams["learning_rate"] * schedule(state.step)).astype(jnp.float32),
            "grad_norm": _global_norm(grads),
            "param_norm": _global_norm(params),
        }
        first_loss = jnp.where(active & (state.step == 0), loss.astype(jnp.float32), state.first_loss)
        ok = (~state.diverged & jnp.isfinite(loss) & jnp.isfinite(metrics["grad_norm"])
              & jnp.isfinite(metrics["param_norm"]) & (loss <= EXPLOSION * first_loss))
        advance = ok & active
        # The hold: a diverged (or inactive) step keeps the state it started from, the last good one.
        params, rest, opt_state = jax.tree.map(lambda new, old: jnp.where(advance, new, old), (params, rest, opt_state),
                                               (state.params, state.rest, state.opt_state))
        newly = active & ~ok & ~state.diverged
        return TrainState(params, rest, opt_state, state.step + active.astype(jnp.int32), state.diverged | newly,
                          first_loss, jnp.where(newly, state.step + 1, state.diverged_at)), metrics

    batched = jax.vmap(one_run, in_axes=(0, None, None, 0, 0, None))

    def step(state, x_all, y_all, indices, keys, active=True):
        active = jnp.asarray(active, bool)
        if indices.shape[0] > 1:
            new, metrics = batched(state, x_all, y_all, indices, keys, active)
        else:  # one run: unbatched matmuls are faster on CPU than batched ones of batch size 1
            new, metrics = one_run(jax.tree.map(lambda a: a[0], state), x_all, y_all, indices[0], keys[0], active)
            new, metrics = jax.tree.map(lambda a: a[None], (new, metrics))
        metrics = {k: jnp.where(new.diverged, jnp.nan, v) for k, v in metrics.items()}
        return new, metrics

    return step


def finite_runs(state: TrainState) -> jax.Array:
    """(R,) bool: every float in the run's parameters, statistics and optimizer state is finite.

    One sum of ``x * 0`` per run (0 when all are finite, NaN otherwise): exact, and a smaller program
    than a reduction of ``isfinite`` per leaf.
    """
    leaves = [x for x in jax.tree.leaves((state.params, state.rest, state.opt_state))
              if jnp.issubdtype(x.dtype, jnp.inexact)]
    total = sum(jnp.sum((x * 0).astype(jnp.float32).reshape(x.shape[0], -1), axis=1) for x in leaves)
    return jnp.isfinite(total)


def _hold_diverged(start: TrainState, end: TrainState) -> TrainState:
    """``end`` with runs whose state is not all finite marked diverged (at the epoch's last step) and
    put back to ``start``, finite as checked then. The steps check only the loss and the gradient and
    parameter norms; this catches the rest (statistics, optimizer state) once an epoch."""
    back = ~finite_runs(end)
    keep = lambda e, s: jnp.where(back.reshape(back.shape + (1,) * (e.ndim - 1)), s, e)
    held = jax.tree.map(keep, (end.params, end.rest, end.opt_state), (start.params, start.rest, start.opt_state))
    newly = back & ~end.diverged
    return TrainState(*held, end.step, end.diverged | back, end.first_loss,
                      jnp.where(newly, end.step, end.diverged_at))


def _shardings(mesh):
    P, N = jax.sharding.PartitionSpec, jax.sharding.NamedSharding
    return N(mesh, P("runs")), N(mesh, P()), N(mesh, P("runs", "data"))


def make_train_step(graphdef, tx, schedule, mesh: jax.sharding.Mesh | None = None):
    """One compiled step for R runs: (state, x_all, y_all, indices (R, B), keys (R,)) -> (state, metrics)."""
    step = _make_step(graphdef, tx, schedule)
    if mesh is None:
        return jax.jit(step, donate_argnums=0)
    runs, replicated, batch = _shardings(mesh)
    return jax.jit(step, donate_argnums=0, in_shardings=(runs, replicated, replicated, batch, runs),
                   out_shardings=(runs, runs))


def _evaluate(graphdef, state, x, y, chunk: int = 1000):
    """Per-run (mean loss, accuracy) over (x, y) in evaluation mode, ``chunk`` examples at a time."""
    n = x.shape[0]
    chunk = min(chunk, n)
    pad = (-n) % chunk
    weight = jnp.concatenate([jnp.ones((n,), jnp.float32), jnp.zeros((pad,), jnp.float32)]).reshape(-1, chunk)
    xs = jnp.pad(x, ((0, pad),) + ((0, 0),) * (x.ndim - 1)).reshape((-1, chunk) + x.shape[1:])
    ys = jnp.pad(y, (0, pad)).reshape(-1, chunk)

    def one_run(s):
        model = nnx.merge(graphdef, s.params, s.rest)

        def body(carry, batch):
            xb, yb, wb = batch
            logits = model(xb, train=False).astype(jnp.float32)
            loss = optax.softmax_cross_entropy_with_integer_labels(logits, yb)
            correct = (jnp.argmax(logits, -1) == yb).astype(jnp.float32)
            return (carry[0] + jnp.sum(wb * loss), carry[1] + jnp.sum(wb * correct)), None

        (loss, correct), _ = jax.lax.scan(body, (jnp.zeros(()), jnp.zeros(())), (xs, ys, weight))
        return loss / n, correct / n

    return jax.vmap(one_run)(state)


def make_evaluate(graphdef, chunk: int = 1000):
    """Compiled (state, x, y) -> per-run (mean loss, accuracy), in evaluation mode."""
    return jax.jit(lambda state, x, y: _evaluate(graphdef, state, x, y, chunk))


def _hidden_stats(graphdef, state, x) -> dict[str, jax.Array]:
    def one_run(s):
        model = nnx.merge(graphdef, s.params, s.rest)
        _, hidden = model(x, train=False, return_hidden=True)
        flat = [h.reshape(-1, h.shape[-1]) for h in hidden]
        return {"mean": jnp.stack([jnp.mean(h) for h in flat]), "var": jnp.stack([jnp.var(h) for h in flat]),
                "dead_fraction": jnp.stack([jnp.mean(jnp.all(h <= 0, axis=0)) for h in flat])}

    return jax.vmap(one_run)(state)


def hidden_stats(graphdef, state, x) -> dict[str, np.ndarray]:
    """Per-run, per-layer mean and variance of hidden activations and the fraction of dead units
    (never positive on ``x``), in evaluation mode."""
    # x is an argument, not a closure: a closed-over array would be baked into the program as a constant.
    stats = jax.jit(lambda s, x: _hidden_stats(graphdef, s, x))(state, x)
    return {k: np.asarray(v) for k, v in stats.items()}


def scan_steps_by_default(model_kind: str) -> bool:
    """Whether an epoch's steps run inside one ``lax.scan`` (else: one compiled step dispatched per step).

    XLA's CPU backend runs convolutions inside a loop some 40 times slower than the same convolution
    dispatched on its own, so on the CPU a CNN's steps are dispatched from Python, asynchronously (no
    host sync per step: metrics stay on the device until the epoch's end). Everywhere else, scan.
    """
    return not (jax.default_backend() == "cpu" and model_kind == "cnn")


DATA_ORDERS = ("shuffle", "fixed", "sequential")


def make_train_epoch(graphdef, tx, schedule, *, batch_size: int, mesh: jax.sharding.Mesh | None = None,
                     layer_stats: bool = False, scan: bool = True, data_order: str = "shuffle"):
    """One epoch for R runs, compiled once.

    ``epoch(state, run_keys (R,), epoch, x_train, y_train, held_out, steps=None) -> (state, step_metrics,
    evals)``: the epoch's batches are gathered on device in the order ``data_order`` names: ``shuffle``,
    a permutation from ``fold_in(fold_in(key, 1), epoch)``, new each epoch; ``fixed``, epoch 0's
    permutation in every epoch; ``sequential``, the training set's own order (every run alike). Step
    t's dropout/RReLU key is ``fold_in(fold_in(key, 2), t)``. The steps run in one ``lax.scan``
    (``step_metrics[name]`` has shape (steps per epoch, R)); ``steps`` (a traced int, so one program
    serves every value) takes only the first ``steps`` of them, the last epoch of a ``--steps`` run:
    later ones change nothing and their metrics are to be dropped. A run that diverges is held at its
    last good step (see ``_make_step``); one whose state is not all finite at the end is put back to
    its state at the epoch's start (finite, as checked then). Then each held-out set
    ``held_out[name] = (x, y)`` is evaluated: ``evals[f"{name}_loss"]``, ``evals[f"{name}_accuracy"]``
    of shape (R,), plus per-layer statistics on the first 512 training examples with ``layer_stats``.
    With ``scan=False`` the same steps are dispatched one compiled step at a time (see
    :func:`scan_steps_by_default`); the results are the same computation.
    """
    if data_order not in DATA_ORDERS:
        raise ValueError(f"data order {data_order!r} is not one of {DATA_ORDERS}")
    step = _make_step(graphdef, tx, schedule)
    batch_sharding = None if mesh is None else _shardings(mesh)[2]

    def order(run_keys, epoch, n):  # (R, steps, B)
        if data_order == "sequential":
            steps = n // batch_size
            ordered = jnp.arange(steps * batch_size).reshape(steps, batch_size)
            return jnp.broadcast_to(ordered, (run_keys.shape[0], steps, batch_size))
        e = epoch if data_order == "shuffle" else 0
        return jax.vmap(lambda k: epoch_indices(jax.random.fold_in(jax.random.fold_in(k, 1), e), n,
                                                batch_size))(run_keys)

    def one_step(state, run_keys, epoch, t, idx, x_train, y_train, active=True):
        if batch_sharding is not None:
            idx = jax.lax.with_sharding_constraint(idx, batch_sharding)
        global_step = epoch * (x_train.shape[0] // batch_size) + t
        keys = jax.vmap(lambda k: jax.random.fold_in(jax.random.fold_in(k, 2), global_step))(run_keys)
        return step(state, x_train, y_train, idx, keys, active)

    def finish(start, state, x_train, held_out):
        state = _hold_diverged(start, state)
        evals = {}
        for name, (x, y) in held_out.items():
            evals[f"{name}_loss"], evals[f"{name}_accuracy"] = _evaluate(graphdef, state, x, y)
        if layer_stats:
            evals.update({f"layer_{k}": v for k, v in _hidden_stats(graphdef, state, x_train[:512]).items()})
        return state, evals

    def epoch_fn(state, run_keys, epoch, x_train, y_train, held_out, steps=None):
        indices = order(run_keys, epoch, x_train.shape[0])
        limit = indices.shape[1] if steps is None else steps
        body = lambda st, xs: one_step(st, run_keys, epoch, xs[0], xs[1], x_train, y_train, xs[0] < limit)
        start = state
        state, metrics = jax.lax.scan(body, state, (jnp.arange(indices.shape[1]), jnp.swapaxes(indices, 0, 1)))
        state, evals = finish(start, state, x_train, held_out)
        return state, metrics, evals

    shardings = {}
    if mesh is not None:
        runs, replicated, _ = _shardings(mesh)
        shardings = dict(in_shardings=(runs, runs, None, replicated, replicated, replicated, None),
                         out_shardings=(runs, None, None))
    if scan:
        return jax.jit(epoch_fn, donate_argnums=0, **shardings)

    # Dispatched steps: the start state is kept (not donated) for the divergence hold at the end.
    order_jit = jax.jit(order, static_argnums=2)
    step_jit = jax.jit(lambda state, run_keys, epoch, t, indices, x, y: one_step(
        state, run_keys, epoch, t, jax.lax.dynamic_index_in_dim(indices, t, axis=1, keepdims=False), x, y))
    finish_jit = jax.jit(lambda start, state, metrics, x, held_out: (*finish(start, state, x, held_out),
                                                                      jax.tree.map(lambda *m: jnp.stack(m), *metrics)))

    def dispatched(state, run_keys, epoch, x_train, y_train, held_out, steps=None):
        indices = order_jit(run_keys, epoch, x_train.shape[0])
        total = indices.shape[1]
        limit = total if steps is None else int(steps)
        start, metrics = state, []
        for t in range(limit):  # steps past the limit are not taken at all here
            state, m = step_jit(state, run_keys, epoch, t, indices, x_train, y_train)
            metrics.append(m)
        metrics += metrics[-1:] * (total - limit)  # placeholders, dropped by the caller: one finish program
        state, evals, metrics = finish_jit(start, state, metrics, x_train, held_out)
        return state, metrics, evals

    dispatched.compiled = (order_jit, step_jit, finish_jit)  # for tests that count compilations
    return dispatched


def run_mesh(runs: int, batch_size: int, devices=None) -> jax.sharding.Mesh | None:
    """A 2-D mesh ('runs', 'data') over ``devices`` (default: all, every host's after
    ``jax.distributed.initialize()``), or None with one device.

    Runs are spread first (independent work, no communication): the 'runs' axis takes
    gcd(runs, devices) devices and the batch is split over the rest. ``jax.devices()`` lists each
    host's devices together, so a row of the mesh (one batch's 'data' devices) stays within a host
    wherever the devices per run divide a host's count: only the runs axis crosses hosts.
    """
    devices = list(devices if devices is not None else jax.devices())
    n = len(devices)
    if n == 1:
        return None
    r = math.gcd(runs, n)
    d = n // r
    if batch_size % d:
        raise ValueError(f"batch size {batch_size} must be divisible by {d}: {runs} run(s) over {n} devices leave "
                         f"{d} devices per run to split each batch over")
    return jax.sharding.Mesh(np.array(devices).reshape(r, d), ("runs", "data"))


def data_mesh(batch_size: int, devices=None) -> jax.sharding.Mesh | None:
    """A mesh that splits every batch over all ``devices`` (one run per program, or runs replicated)."""
    return run_mesh(1, batch_size, devices)
