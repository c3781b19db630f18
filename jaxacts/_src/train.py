"""Training: pure init/step functions over a state pytree, vmapped over seeds, sharded over devices.

``init_state(keys, ...)`` builds S models at once (one per key); ``make_train_step`` returns one
jit-compiled function ``step(state, x, y, indices, keys) -> (state, metrics)`` that trains all S
seeds together (``jax.vmap`` over the leading seed axis) on batches gathered on device from
``indices``. With a mesh, the batch axis of ``indices`` is sharded over devices and XLA splits the
work; the result equals the one-device result within float tolerance.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from jaxacts._src.models import ModelConfig, build_model

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop")
SCHEDULES = ("constant", "cosine", "warmup_cosine")


class TrainState(NamedTuple):
    """Everything a training step changes; each leaf has a leading seed axis of size S."""

    params: Any  # nnx.State of nnx.Param: the learned weights
    rest: Any  # nnx.State of everything else (batch-norm statistics)
    opt_state: Any  # optax state
    step: jax.Array  # int32, steps taken


@dataclasses.dataclass(frozen=True)
class OptimConfig:
    optimizer: str = "adam"
    lr: float = 1e-3
    schedule: str = "constant"
    warmup_steps: int = 0
    weight_decay: float = 0.0
    clip_norm: float = 0.0  # 0: no clipping

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer {self.optimizer!r} is not one of {OPTIMIZERS}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule {self.schedule!r} is not one of {SCHEDULES}")
        if not self.lr > 0:
            raise ValueError(f"learning rate must be > 0, got {self.lr}")
        if self.weight_decay < 0 or self.clip_norm < 0 or self.warmup_steps < 0:
            raise ValueError("weight_decay, clip_norm and warmup_steps must be >= 0")


def make_optimizer(config: OptimConfig, total_steps: int) -> tuple[optax.GradientTransformation, optax.Schedule]:
    """The optax transformation and its learning-rate schedule."""
    total = max(total_steps, 1)
    if config.schedule == "constant":
        schedule = optax.constant_schedule(config.lr)
    elif config.schedule == "cosine":
        schedule = optax.cosine_decay_schedule(config.lr, total)
    else:
        schedule = optax.warmup_cosine_decay_schedule(0.0, config.lr, min(config.warmup_steps, total - 1), total)
    base = {
        "sgd": lambda: optax.sgd(schedule),
        "momentum": lambda: optax.sgd(schedule, momentum=0.9),
        "nesterov": lambda: optax.sgd(schedule, momentum=0.9, nesterov=True),
        "adam": lambda: optax.adam(schedule),
        "adamw": lambda: optax.adamw(schedule, weight_decay=config.weight_decay),
        "rmsprop": lambda: optax.rmsprop(schedule),
    }[config.optimizer]()
    chain = []
    if config.clip_norm > 0:
        chain.append(optax.clip_by_global_norm(config.clip_norm))
    if config.weight_decay > 0 and config.optimizer != "adamw":
        chain.append(optax.add_decayed_weights(config.weight_decay))
    return optax.chain(*chain, base), schedule


def init_state(keys: jax.Array, model_config: ModelConfig, example_shape, num_classes: int,
               tx: optax.GradientTransformation) -> tuple[nnx.GraphDef, TrainState]:
    """S freshly initialised models and optimizer states, one per key (leading axis S)."""
    graphdef, _, _ = nnx.split(nnx.eval_shape(lambda: build_model(model_config, example_shape, num_classes, keys[0])),
                               nnx.Param, ...)

    def one(key):
        _, params, rest = nnx.split(build_model(model_config, example_shape, num_classes, key), nnx.Param, ...)
        return TrainState(params, rest, tx.init(params), jnp.zeros((), jnp.int32))

    return graphdef, jax.jit(jax.vmap(one))(keys)


def _loss_and_logits(graphdef, params, rest, x, y, *, train, key):
    # copy=True: fresh Variables in this trace, so batch norm may update its statistics here.
    model = nnx.merge(graphdef, params, rest, copy=True)
    logits = model(x, train=train, key=key)
    loss = optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), y).mean()
    _, _, new_rest = nnx.split(model, nnx.Param, ...)
    return loss, (logits, new_rest)


def _global_norm(tree) -> jax.Array:
    return jnp.sqrt(sum(jnp.sum(jnp.square(x.astype(jnp.float32))) for x in jax.tree.leaves(tree)))


def make_train_step(graphdef, tx, schedule, mesh: jax.sharding.Mesh | None = None):
    """The compiled step for S seeds: (state, x_all, y_all, indices (S, B), keys (S,)) -> (state, metrics)."""

    def one_seed(state: TrainState, x_all, y_all, indices, key):
        x, y = x_all[indices], y_all[indices]
        grad_fn = jax.value_and_grad(_loss_and_logits, argnums=1, has_aux=True)
        (loss, (logits, rest)), grads = grad_fn(graphdef, state.params, state.rest, x, y, train=True, key=key)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        metrics = {
            "loss": loss,
            "accuracy": jnp.mean(jnp.argmax(logits, -1) == y),
            "lr": jnp.asarray(schedule(state.step), jnp.float32),
            "grad_norm": _global_norm(grads),
            "param_norm": _global_norm(params),
        }
        return TrainState(params, rest, opt_state, state.step + 1), metrics

    batched = jax.vmap(one_seed, in_axes=(0, None, None, 0, 0))

    def step(state, x_all, y_all, indices, keys):
        if indices.shape[0] > 1:
            return batched(state, x_all, y_all, indices, keys)
        # One seed: unbatched matmuls are faster on CPU than batched ones of batch size 1.
        state, metrics = one_seed(jax.tree.map(lambda a: a[0], state), x_all, y_all, indices[0], keys[0])
        return jax.tree.map(lambda a: a[None], (state, metrics))

    if mesh is None:
        return jax.jit(step, donate_argnums=0)
    replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    batch = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(None, "data"))
    return jax.jit(step, donate_argnums=0, in_shardings=(replicated, replicated, replicated, batch, replicated),
                   out_shardings=(replicated, replicated))


def make_eval_step(graphdef):
    """(state, x, y) -> per-seed (sum of losses, number correct) on one chunk, in evaluation mode."""

    def one_seed(state, x, y):
        model = nnx.merge(graphdef, state.params, state.rest)
        logits = model(x, train=False).astype(jnp.float32)
        losses = optax.softmax_cross_entropy_with_integer_labels(logits, y)
        return jnp.sum(losses), jnp.sum(jnp.argmax(logits, -1) == y)

    return jax.jit(jax.vmap(one_seed, in_axes=(0, None, None)))


def evaluate(eval_step, state, x: jax.Array, y: jax.Array, chunk: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Per-seed mean loss and accuracy over (x, y), in chunks to bound memory."""
    total_loss, correct = 0.0, 0.0
    for i in range(0, x.shape[0], chunk):
        l, c = eval_step(state, x[i: i + chunk], y[i: i + chunk])
        total_loss, correct = total_loss + np.asarray(l, np.float64), correct + np.asarray(c, np.float64)
    return total_loss / x.shape[0], correct / x.shape[0]


def hidden_stats(graphdef, state, x) -> dict[str, np.ndarray]:
    """Per-seed, per-layer mean and variance of hidden activations and the fraction of dead units
    (never positive on ``x``), in evaluation mode."""

    def one_seed(s):
        model = nnx.merge(graphdef, s.params, s.rest)
        _, hidden = model(x, train=False, return_hidden=True)
        flat = [h.reshape(-1, h.shape[-1]) for h in hidden]
        return {"mean": jnp.stack([jnp.mean(h) for h in flat]), "var": jnp.stack([jnp.var(h) for h in flat]),
                "dead_fraction": jnp.stack([jnp.mean(jnp.all(h <= 0, axis=0)) for h in flat])}

    return {k: np.asarray(v) for k, v in jax.jit(jax.vmap(one_seed))(state).items()}


def data_mesh(batch_size: int, devices=None) -> jax.sharding.Mesh | None:
    """A 1-D mesh named 'data' over ``devices`` (default: all), or None with one device."""
    devices = list(devices if devices is not None else jax.devices())
    if len(devices) == 1:
        return None
    if batch_size % len(devices):
        raise ValueError(f"batch size {batch_size} must be divisible by the {len(devices)} devices it is sharded over")
    return jax.sharding.Mesh(np.array(devices), ("data",))
