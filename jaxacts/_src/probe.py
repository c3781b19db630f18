"""Per-layer statistics of a deep random network: how mean, variance and gradients travel with depth.

``layer_stats(key, config, inputs)`` builds a random fully-connected (or convolutional) network of
the configured depth and records, for every layer, the pooled mean and variance of pre-activations
and activations, the per-unit std across the batch (averaged over units), the fraction of dead units
(units whose activation has a zero derivative on every input of the batch: they pass no gradient),
and the norm of the gradient reaching the layer.

How it is computed, so that one compiled program serves many networks and memory stays small:

* What changes shapes or code is static, a :class:`ProbeShape`: width, depth, architecture, and
  what the program can do: the activations and weight distributions it can apply, whether it
  applies dropout. Everything else is runtime data, a :class:`ProbeParams`: which activation (an
  index, dispatched with ``lax.switch``) and its numeric hyperparameters, scale and shift, which
  distribution (an index) and the weight std of the first and later layers, the dropout constants
  (rate 0 skips it). Networks of equal shape therefore run on one compiled program
  (:func:`seeded_network_stats` under ``jax.jit`` with the shape static); :func:`probe_shape` gives
  the shape that runs a list of configurations.
* Layers run in ``lax.scan`` over per-layer PRNG keys, so compile time does not grow with depth.
* The gradient reaching layer l is read by a "tap": an identity on h_l whose backward pass writes
  ||dL/dh_l||^2 into the cotangent of a per-layer scalar, so ``jax.grad`` w.r.t. a (depth,) vector
  gives every layer's squared gradient norm without a (depth, batch, width) buffer.
* Without rematerialization (the default for small networks) every layer's weights are drawn once,
  all layers at once before the scan, and the backward pass reads them there with every layer's other
  residuals: memory grows like depth.
  With ``ProbeShape.remat`` (chosen by :func:`probe_shape` when those residuals would pass
  ``REMAT_ABOVE_BYTES``) the scan is nested: an outer scan over blocks of about sqrt(depth) layers,
  each block rematerialized (``jax.checkpoint``) in the backward pass, and inside a block every
  layer checkpointed too, saving only its pre-activation. The backward pass then keeps the
  block-boundary carries plus one block's carries and pre-activations (about 3 sqrt(depth) hidden
  states per seed) and regenerates each layer's weights from its key: memory grows like
  sqrt(depth), for running each layer's forward pass twice and drawing its weights three times.
  Both give the same statistics (tests/test_depth_study.py checks them against a plain reference).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.ad_checkpoint import checkpoint_name

from jaxacts._src import init as initializers
from jaxacts._src import registry

ARCHITECTURES = ("plain", "skip", "conv")
DROPOUTS = ("none", "alpha", "standard")


# ----------------------------------------------------------------------------- activations as data


def _numeric_hyperparameters(name: str) -> list[str]:
    """The hyperparameters of ``name`` that are numbers (traced); the others (flags, keys) stay static."""
    return [k for k, v in registry.info(name).hyperparameters.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)]


def split_activation(spec: str) -> tuple[str, tuple[float, ...]]:
    """'leaky_relu(negative_slope=0.2)' -> ('leaky_relu', (0.2,)): the branch (the canonical name with its
    non-numeric hyperparameters, part of the compiled code) and its numeric hyperparameters in signature
    order, defaults filled in (runtime data). Raises ValueError for unknown names or invalid values."""
    registry.get_spec(spec)  # validates the name and the values
    name, given = registry.parse_spec(spec)
    entry = registry.info(name)
    if not entry.elementwise:
        raise ValueError(f"activation {spec!r}: the probe needs an elementwise activation (width stays fixed)")
    numeric = _numeric_hyperparameters(entry.name)
    branch = registry.format_spec(entry.name, {k: v for k, v in given.items() if k not in numeric})
    values = tuple(float(given.get(k, entry.hyperparameters[k])) for k in numeric)
    return branch, values


def _apply_branch(branch: str, z: Array, hyperparameters: Array) -> Array:
    name, static = registry.parse_spec(branch)
    numeric = _numeric_hyperparameters(name)
    return registry.get(name, **static)(z, **{k: hyperparameters[i] for i, k in enumerate(numeric)})


def _apply_branch_derivative(branch: str, z: Array, hyperparameters: Array) -> Array:
    """The activation's derivative at ``z``, elementwise: the registry's hand-written rule (a jvp with unit
    tangent for an entry without one)."""
    name, static = registry.parse_spec(branch)
    values = {k: hyperparameters[i] for i, k in enumerate(_numeric_hyperparameters(name))}
    if registry.info(name).derivative is not None:
        return registry.derivative(name, **static)(z, **values)
    fn = registry.get(name, **static)
    return jax.jvp(lambda x: fn(x, **values), (z,), (jnp.ones_like(z),))[1]


# ----------------------------------------------------------------------------- configuration


@dataclasses.dataclass(frozen=True)
class ProbeConfig:
    """One network to probe.

    Attributes:
      activation: registry name, optionally with hyperparameters: ``"leaky_relu(negative_slope=0.2)"``.
      init: initializer name (see ``jaxacts.initializers``).
      width: units per layer (channels for ``conv``).
      depth: number of layers.
      architecture: ``plain`` (h -> f(Wh)), ``skip`` (h -> h + f(Wh)), ``conv`` (3x3 circular convolutions).
      dropout: ``none``, ``alpha`` (alpha dropout, for SELU) or ``standard`` (inverted), in training mode.
      dropout_rate: probability of dropping a unit.
      scale, shift: the layer computes ``scale * f(z) + shift`` (for self-normalizing variants).
    """

    activation: str = "selu"
    init: str = "lecun_normal"
    width: int = 256
    depth: int = 100
    architecture: str = "plain"
    dropout: str = "none"
    dropout_rate: float = 0.0
    scale: float = 1.0
    shift: float = 0.0

    def __post_init__(self):
        split_activation(self.activation)  # raises a clear error for unknown names or values
        initializers.initializer(self.init)
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture {self.architecture!r} is not one of {ARCHITECTURES}")
        if self.dropout not in DROPOUTS:
            raise ValueError(f"dropout {self.dropout!r} is not one of {DROPOUTS}")
        if not 0.0 <= self.dropout_rate < 1.0:
            raise ValueError(f"dropout_rate must be in [0, 1), got {self.dropout_rate}")
        if self.width < 1 or self.depth < 1:
            raise ValueError(f"width and depth must be >= 1, got width={self.width}, depth={self.depth}")


@dataclasses.dataclass(frozen=True)
class ProbeShape:
    """What the compiled program depends on (static under ``jax.jit``).

    Attributes:
      width, depth, architecture: as in :class:`ProbeConfig`.
      activations: branches the program can apply (canonical names with their non-numeric
        hyperparameters, from :func:`split_activation`); :class:`ProbeParams` picks one by index.
      distributions: weight distributions the program can draw (of ``initializers.DISTRIBUTIONS``).
      dropout: whether the program applies dropout (its kind and rate are runtime data; rate 0 skips it).
      remat: trade compute for memory: rematerialize blocks of layers in the backward pass, so
        memory grows like sqrt(depth), for one more forward pass and two more weight draws per layer.
        Without it every layer keeps its residuals, weights included (memory ~ depth).
      block: layers per rematerialized block; 0 picks about sqrt(depth).
      seeds_at_once: how many seeds :func:`seeded_network_stats` runs side by side (vmapped), each of them
        running its share of the seeds one after another; 0: all at once. The same statistics either way
        (to float rounding): side by side suits a GPU, one after another a CPU (about 10-30% faster there, and
        one seed's memory), one per device where the seeds are sharded.
    """

    width: int
    depth: int
    architecture: str = "plain"
    activations: tuple[str, ...] = ("selu",)
    distributions: tuple[str, ...] = ("truncated_normal",)
    dropout: bool = False
    remat: bool = False
    block: int = 0
    seeds_at_once: int = 0

    @property
    def hidden_layers(self) -> int:
        return self.depth - 1

    @property
    def block_size(self) -> int:
        return self.block or max(1, math.ceil(math.sqrt(self.hidden_layers)))

    @property
    def hyperparameter_count(self) -> int:
        return max([len(_numeric_hyperparameters(registry.parse_spec(b)[0])) for b in self.activations] + [0])

    def kernel_shape(self, fan_in: int) -> tuple[int, ...]:
        return (3, 3, fan_in, self.width) if self.architecture == "conv" else (fan_in, self.width)


class ProbeParams(NamedTuple):
    """The runtime data of one network: arrays, so networks of one :class:`ProbeShape` share a program."""

    activation: Array  # () int32: index into ProbeShape.activations
    hyperparameters: Array  # (ProbeShape.hyperparameter_count,) numeric hyperparameters, zero-padded
    scale: Array  # ()
    shift: Array  # ()
    distribution: Array  # () int32: index into ProbeShape.distributions
    weight_std: Array  # (2,): std of the first layer's weights and of the later layers'
    dropout: Array  # (4,): keep probability, dropped value, a, b: y = a * where(keep, x, dropped) + b


# Programs whose residuals without rematerialization would exceed this rematerialize (probe_shape's default):
# below it, drawing every layer's weights once and keeping them is the faster choice.
REMAT_ABOVE_BYTES = 4 * 2**30


def residual_bytes(config: ProbeConfig, input_shape: tuple[int, ...], seeds: int = 1, dtype=jnp.float32) -> int:
    """About what the backward pass keeps without rematerialization: per layer and seed the weights and
    four hidden-sized arrays (the carry, pre-activation, activation derivative, dropout mask)."""
    receptive = 9 if config.architecture == "conv" else 1
    hidden = math.prod(input_shape[:-1]) * config.width
    return seeds * config.depth * (receptive * config.width**2 + 4 * hidden) * np.dtype(dtype).itemsize


def probe_shape(configs: ProbeConfig | Sequence[ProbeConfig], input_shape: tuple[int, ...] | None = None,
                seeds: int = 1, dtype=jnp.float32, remat: bool | None = None,
                seeds_at_once: int | None = None) -> ProbeShape:
    """The static shape of one program that runs every config of ``configs`` (of equal width, depth and
    architecture): the activations, weight distributions and dropout they use, in order of appearance.

    ``remat`` defaults to whether :func:`residual_bytes` for ``input_shape`` (inputs of the width's
    size if None) and ``seeds`` exceeds ``REMAT_ABOVE_BYTES``.
    """
    configs = [configs] if isinstance(configs, ProbeConfig) else list(configs)
    first = configs[0]
    for c in configs:
        if (c.width, c.depth, c.architecture) != (first.width, first.depth, first.architecture):
            raise ValueError(f"one program runs configs of one width, depth and architecture: {first} and {c}")
    if remat is None:
        input_shape = (1, first.width) if input_shape is None else tuple(input_shape)
        remat = residual_bytes(first, input_shape, seeds, dtype) > REMAT_ABOVE_BYTES
    return ProbeShape(
        first.width, first.depth, first.architecture,
        activations=tuple(dict.fromkeys(split_activation(c.activation)[0] for c in configs)),
        distributions=tuple(dict.fromkeys(initializers.distribution(c.init) for c in configs)),
        dropout=any(c.dropout != "none" and c.dropout_rate > 0 for c in configs), remat=remat,
        seeds_at_once=_default_seeds_at_once() if seeds_at_once is None else seeds_at_once)


def _default_seeds_at_once() -> int:
    """One seed per device at a time on CPUs, all at once elsewhere (see ``ProbeShape.seeds_at_once``)."""
    return jax.device_count() if jax.default_backend() == "cpu" else 0


def _dropout_constants(kind: str, rate: float) -> tuple[float, float, float, float]:
    if kind == "none" or rate == 0.0:
        return 1.0, 0.0, 1.0, 0.0
    if kind == "standard":  # inverted dropout: x / (1 - rate) where kept, else 0
        return 1.0 - rate, 0.0, 1.0 / (1.0 - rate), 0.0
    from jaxacts._src.theory import alpha_dropout_affine

    a_prime, a, b = alpha_dropout_affine(rate)
    return 1.0 - rate, a_prime, a, b


def probe_params(config: ProbeConfig, shape: ProbeShape, features: int, dtype=jnp.float32) -> ProbeParams:
    """The runtime data of ``config`` for a program of ``shape`` and inputs with ``features`` on the last axis."""
    branch, values = split_activation(config.activation)
    distribution = initializers.distribution(config.init)
    dropout = _dropout_constants(config.dropout, config.dropout_rate)
    needs_dropout = dropout[0] < 1.0
    if branch not in shape.activations or distribution not in shape.distributions or needs_dropout > shape.dropout:
        raise ValueError(f"{config} needs a program with {branch!r}, {distribution!r} weights"
                         f"{' and dropout' if needs_dropout else ''}; {shape} lacks one")
    hyperparameters = np.zeros(shape.hyperparameter_count)
    hyperparameters[:len(values)] = values
    std = [initializers.weight_std(config.init, shape.kernel_shape(fan_in)) for fan_in in (features, shape.width)]
    dtype = np.dtype(dtype)
    return ProbeParams(
        activation=np.int32(shape.activations.index(branch)),
        hyperparameters=hyperparameters.astype(dtype),
        scale=np.asarray(config.scale, dtype), shift=np.asarray(config.shift, dtype),
        distribution=np.int32(shape.distributions.index(distribution)),
        weight_std=np.asarray(std, dtype),
        dropout=np.asarray(dropout, dtype),
    )


# ----------------------------------------------------------------------------- the network


@jax.custom_vjp
def _tap(h: Array, tap: Array) -> Array:
    """Identity on ``h``; the cotangent of ``tap`` (a scalar) becomes the squared norm of h's cotangent."""
    return h


def _tap_fwd(h, tap):
    return h, None


def _tap_bwd(_, g):
    return g, jnp.sum(g * g)


_tap.defvjp(_tap_fwd, _tap_bwd)


def _stats(z: Array, h: Array, slope: Array) -> dict[str, Array]:
    """Pooled statistics of one layer; ``slope`` is d h / d z of the activation (scale included), elementwise."""
    units = h.reshape(-1, h.shape[-1])  # (examples [x positions], units)
    return {
        "pre_mean": jnp.mean(z),
        "pre_var": jnp.var(z),
        "mean": jnp.mean(h),
        "var": jnp.var(h),
        "second_moment": jnp.mean(h * h),
        "unit_std": jnp.mean(jnp.std(units, axis=0)),
        # A unit is dead when its activation passes no gradient: a zero derivative on every input
        # (for ReLU: a non-positive pre-activation everywhere; never for SELU, tanh or leaky ReLU).
        "dead_fraction": jnp.mean(jnp.all(slope.reshape(units.shape) == 0, axis=0)),
    }


def _weights(shape: ProbeShape, params: ProbeParams, key: Array, fan_in: int, std: Array,
             dtype) -> tuple[Array, Array]:
    """One layer's weights, drawn from ``key``, and the key of its dropout mask."""
    w_key, d_key = jax.random.split(key)
    kernel = shape.kernel_shape(fan_in)
    samplers = [functools.partial(initializers.unit_sample, d, shape=kernel, dtype=dtype)
                for d in shape.distributions]
    return jax.lax.switch(params.distribution, samplers, w_key) * std, d_key


def _layer(shape: ProbeShape, params: ProbeParams, h: Array, w: Array,
           d_key: Array) -> tuple[Array, Array, Array]:
    """One layer with weights ``w``: (pre-activation z, output h', the activation's derivative at z times the
    scale)."""
    if shape.architecture == "conv":
        # Circular padding: every position sees all 9 * fan_in inputs, as the theory assumes.
        # (Zero 'SAME' padding starves the borders and the variance settles near 0.6 instead of 1.)
        # As a matmul over each position's 3 x 3 patch, which XLA:CPU runs several times faster than its
        # convolution at these sizes (the same sums, in another order).
        hp = jnp.pad(h, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="wrap")
        rows, cols = h.shape[1:3]
        patches = jnp.concatenate([hp[:, i:i + rows, j:j + cols, :] for i in range(3) for j in range(3)], axis=-1)
        z = patches @ w.reshape(-1, w.shape[-1])
    else:
        z = h @ w
    # Saved for the backward pass (the activation's derivative needs it); the weights are not.
    z = checkpoint_name(z, "preactivation")
    branches = [functools.partial(_apply_branch, b) for b in shape.activations]
    out = params.scale * jax.lax.switch(params.activation, branches, z, params.hyperparameters) + params.shift
    # For the dead-unit statistic only: no gradient flows through it.
    derivatives = [functools.partial(_apply_branch_derivative, b) for b in shape.activations]
    slope = params.scale * jax.lax.switch(params.activation, derivatives, jax.lax.stop_gradient(z),
                                          params.hyperparameters)
    keep_prob, dropped, a, b = params.dropout

    def dropout(x):
        keep = jax.random.bernoulli(d_key, keep_prob, x.shape)
        return a * jnp.where(keep, x, dropped) + b

    if shape.dropout:
        out = jax.lax.cond(keep_prob < 1, dropout, lambda x: x, out)
    if shape.architecture == "skip" and h.shape == out.shape:
        out = h + out
    return z, out, slope


def network_stats(key: Array, shape: ProbeShape, params: ProbeParams, inputs: Array) -> dict[str, Array]:
    """Per-layer statistics, each an array of shape (depth,), for one random network (see the module doc).

    ``inputs`` is (batch, features) for dense networks, (batch, H, W, channels) for ``conv``.
    """
    dtype = inputs.dtype
    k_first, k_layers, k_readout = jax.random.split(key, 3)
    n = shape.hidden_layers
    keys = jax.random.split(k_layers, n)

    def draw(key, fan_in, std):
        return _weights(shape, params, key, fan_in, std, dtype)

    def hidden_layer(h, w, d_key, tap):
        z, h_new, slope = _layer(shape, params, h, w, d_key)
        h_new = _tap(h_new, tap)
        return h_new, _stats(z, h_new, slope)

    def hidden_layers(h0, taps):
        if not shape.remat or n == 0:
            # Every layer's weights drawn at once, before the scan, rather than one layer per step: one large
            # computation that XLA spreads over the cores, which the backward pass then reads as it is (in the
            # step, the scan would also copy each layer's weights into its residuals). Twice as fast on a CPU.
            ws, d_keys = jax.vmap(lambda k: draw(k, shape.width, params.weight_std[1]))(keys)
            return jax.lax.scan(lambda h, xs: hidden_layer(h, *xs), h0, (ws, d_keys, taps))
        size = shape.block_size
        blocks = -(-n // size)
        # The last block may hold padding: layer indices >= n are skipped (lax.cond, not computed).
        index = jnp.arange(blocks * size).reshape(blocks, size)

        def step(h, xs):
            i, tap = xs
            run = lambda h: hidden_layer(h, *draw(keys[jnp.minimum(i, n - 1)], shape.width, params.weight_std[1]), tap)
            skipped = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), jax.eval_shape(run, h)[1])
            return jax.lax.cond(i < n, run, lambda h: (h, skipped), h)

        # Within a block each layer keeps only its pre-activation (and its carry) for the backward
        # pass; its weights, the largest residual, are drawn again from its key.
        step = jax.checkpoint(step, policy=jax.checkpoint_policies.save_only_these_names("preactivation"))

        @jax.checkpoint  # the backward pass reruns one block at a time from its first carry
        def block(h, xs):
            return jax.lax.scan(step, h, xs)

        h_last, stats = jax.lax.scan(block, h0, (index, jnp.pad(taps, (0, blocks * size - n)).reshape(blocks, size)))
        return h_last, jax.tree.map(lambda a: a.reshape((blocks * size,) + a.shape[2:])[:n], stats)

    def network(taps):
        z0, h0, slope0 = _layer(shape, params, inputs, *draw(k_first, inputs.shape[-1], params.weight_std[0]))
        h0 = _tap(h0, taps[0])
        h_last, rest = hidden_layers(h0, taps[1:])
        stats = jax.tree.map(lambda a, b: jnp.concatenate([a[None], b]), _stats(z0, h0, slope0), rest)
        readout = jax.random.normal(k_readout, h_last.shape[-1:], dtype)
        return jnp.sum(h_last @ readout), stats

    squared, stats = jax.grad(network, has_aux=True)(jnp.zeros(shape.depth, dtype))
    stats["grad_norm"] = jnp.sqrt(squared / inputs.shape[0])
    return stats


def seeded_network_stats(keys: Array, shape: ProbeShape, params: ProbeParams, inputs: Array) -> dict[str, Array]:
    """:func:`network_stats` for several seeds (``keys``): arrays of shape (seeds, depth).

    Jit it with ``shape`` static; every network of that shape then runs on the same compiled program.
    ``shape.seeds_at_once`` = k (dividing the seed count) runs k seeds side by side, each of them its share
    (consecutive seeds, a device's own where the seeds are sharded) one after another.
    """
    one = lambda k: network_stats(k, shape, params, inputs)
    seeds, at_once = keys.shape[0], shape.seeds_at_once
    if not at_once or at_once >= seeds or seeds % at_once:
        return jax.vmap(one)(keys)
    stats = jax.vmap(lambda share: jax.lax.map(one, share))(keys.reshape(at_once, seeds // at_once))
    return jax.tree.map(lambda a: a.reshape((seeds,) + a.shape[2:]), stats)


def layer_stats(key: Array, config: ProbeConfig, inputs: Array) -> dict[str, Array]:
    """Per-layer statistics, each an array of shape (depth,), for one random network.

    ``inputs`` is (batch, features) for dense networks, (batch, H, W, channels) for ``conv``.
    Includes ``grad_norm``: the RMS per example of dL/dh_l for L = <r, h_L> with a fixed random r,
    the signal that backpropagation carries to layer l.
    """
    shape = probe_shape(config, inputs.shape, 1, inputs.dtype)
    return network_stats(key, shape, probe_params(config, shape, inputs.shape[-1], inputs.dtype), inputs)


def seeded_layer_stats(keys: Array, config: ProbeConfig, inputs: Array) -> dict[str, Array]:
    """:func:`layer_stats` for several seeds (``keys``, run as :func:`seeded_network_stats` runs them): arrays
    of shape (seeds, depth)."""
    shape = probe_shape(config, inputs.shape, keys.shape[0], inputs.dtype)
    return seeded_network_stats(keys, shape, probe_params(config, shape, inputs.shape[-1], inputs.dtype), inputs)
