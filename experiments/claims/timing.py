"""Timing the timing claims share: interleaved calls in blocks, a median per function per block, and
ratios of those medians paired by block (so an interval over blocks, as over seeds elsewhere), on the
device present; the package's own compiled train step for a model, run as its training loop runs it.

The per-call timer is :func:`benchmarks.activations.interleaved_medians` (the activation benchmark's):
each block calls every function ``calls`` times round-robin, after one untimed call each, so that load
on the machine hits every function alike within a block.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.activations import interleaved_medians
from jaxacts import training as T
from jaxacts.models import ModelConfig


def device() -> str:
    """The device the timings ran on, in words (platform and kind)."""
    d = jax.devices()[0]
    return f"{d.platform} ({getattr(d, 'device_kind', str(d))}), {jax.device_count()} device(s)"


def blocked_medians(fns: dict[str, Callable], args: tuple, blocks: int, calls: int) -> dict[str, np.ndarray]:
    """{name: (blocks,) median seconds per call within each block}; the functions are called interleaved
    (``interleaved_medians``) in every block, the blocks one after another."""
    out = {k: [] for k in fns}
    for _ in range(blocks):
        for k, v in interleaved_medians(fns, args, calls).items():
            out[k].append(v)
    return {k: np.asarray(v, np.float64) for k, v in out.items()}


def train_step_runner(model: ModelConfig, example_shape: tuple[int, ...], num_classes: int, *, batch_size: int,
                      steps: int, optimizer: str = "adam", lr: float = 1e-3, seed: int = 0) -> Callable[[], object]:
    """A call that runs ``steps`` steps of the package's compiled train step (``jaxacts.training``) for one
    run of ``model`` on one fixed random batch (the same work every call). As the training loop runs them:
    inside one compiled loop where the package scans an epoch's steps, else each step dispatched from
    Python (a CNN on the CPU) and waited for once at the end."""
    tx, schedule = T.make_optimizer(T.OptimConfig(optimizer=optimizer, lr=lr), 10_000)
    keys, init_keys = T.run_keys(seed, 1, 1)
    graphdef, state = T.init_state(init_keys, model, example_shape, num_classes, tx)
    step = T.make_train_step(graphdef, tx, schedule)
    k_x, k_y = jax.random.split(jax.random.key(seed + 1))
    x = jax.random.normal(k_x, (batch_size,) + tuple(example_shape), jnp.float32)
    y = jax.random.randint(k_y, (batch_size,), 0, num_classes, jnp.int32)
    indices = jnp.arange(batch_size, dtype=jnp.int32)[None]

    if T.scan_steps_by_default(model.kind):
        @jax.jit
        def loop(s):
            return jax.lax.fori_loop(0, steps, lambda i, c: step(c, x, y, indices, keys)[0], s)

        def run():
            return loop(state)
    else:
        box = [state]  # the compiled step donates its input: each call carries on from the last one's state

        def run():
            for _ in range(steps):
                box[0], _ = step(box[0], x, y, indices, keys)
            return box[0]
    jax.block_until_ready(run())  # compiles; fails here, not mid-timing
    return run

