"""Per-layer statistics of a deep random network: how mean, variance and gradients travel with depth.

``layer_stats(key, config, inputs)`` builds a random fully-connected (or convolutional) network of
the configured depth and records, for every layer, the pooled mean and variance of pre-activations
and activations, the per-unit std across the batch (averaged over units), the fraction of dead units,
and the norm of the gradient reaching the layer. Layers are applied with ``jax.lax.scan`` over
per-layer PRNG keys and each layer's weights are drawn inside the scan step, so compile time and
memory do not grow with depth. ``jax.vmap`` runs several seeds at once.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from jax import Array

from jaxacts._src import init as initializers
from jaxacts._src import layers, registry

ARCHITECTURES = ("plain", "skip", "conv")
DROPOUTS = ("none", "alpha", "standard")


@dataclasses.dataclass(frozen=True)
class ProbeConfig:
    """One network to probe.

    Attributes:
      activation: registry name.
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
        registry.info(self.activation)  # raises a clear error for unknown names
        initializers.initializer(self.init)
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture {self.architecture!r} is not one of {ARCHITECTURES}")
        if self.dropout not in DROPOUTS:
            raise ValueError(f"dropout {self.dropout!r} is not one of {DROPOUTS}")
        if not 0.0 <= self.dropout_rate < 1.0:
            raise ValueError(f"dropout_rate must be in [0, 1), got {self.dropout_rate}")
        if self.width < 1 or self.depth < 1:
            raise ValueError(f"width and depth must be >= 1, got width={self.width}, depth={self.depth}")


def _stats(z: Array, h: Array) -> dict[str, Array]:
    units = h.reshape(-1, h.shape[-1])  # (examples [x positions], units)
    return {
        "pre_mean": jnp.mean(z),
        "pre_var": jnp.var(z),
        "mean": jnp.mean(h),
        "var": jnp.var(h),
        "second_moment": jnp.mean(h * h),
        "unit_std": jnp.mean(jnp.std(units, axis=0)),
        "dead_fraction": jnp.mean(jnp.all(units <= 0, axis=0)),
    }


def layer_stats(key: Array, config: ProbeConfig, inputs: Array) -> dict[str, Array]:
    """Per-layer statistics, each an array of shape (depth,), for one random network.

    ``inputs`` is (batch, features) for dense networks, (batch, H, W, channels) for ``conv``.
    Includes ``grad_norm``: the RMS per example of dL/dh_l for L = <r, h_L> with a fixed random r,
    the signal that backpropagation carries to layer l.
    """
    act = registry.get(config.activation)
    init = initializers.initializer(config.init)
    dtype = inputs.dtype
    k_first, k_layers, k_readout = jax.random.split(key, 3)

    def apply(h, layer_key, fan_in, probe):
        w_key, d_key = jax.random.split(layer_key)
        if config.architecture == "conv":
            w = init(w_key, (3, 3, fan_in, config.width), dtype)
            # Circular padding: every position sees all 9 * fan_in inputs, as the theory assumes.
            # (Zero 'SAME' padding starves the borders and the variance settles near 0.6 instead of 1.)
            hp = jnp.pad(h, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="wrap")
            z = jax.lax.conv_general_dilated(hp, w, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))
        else:
            z = h @ init(w_key, (fan_in, config.width), dtype)
        out = config.scale * act(z) + config.shift
        out = layers.dropout(out, kind=config.dropout, rate=config.dropout_rate, train=True, key=d_key) + probe
        if config.architecture == "skip" and h.shape == out.shape:
            out = h + out
        return z, out

    def network(probes):
        z0, h0 = apply(inputs, k_first, inputs.shape[-1], probes[0])
        first = _stats(z0, h0)

        def step(h, xs):
            layer_key, probe = xs
            z, h_new = apply(h, layer_key, config.width, probe)
            return h_new, _stats(z, h_new)

        h_last, rest = jax.lax.scan(step, h0, (jax.random.split(k_layers, config.depth - 1), probes[1:]))
        stats = jax.tree.map(lambda a, b: jnp.concatenate([a[None], b]), first, rest)
        readout = jax.random.normal(k_readout, h_last.shape[-1:], dtype)
        loss = jnp.sum(h_last @ readout)
        return loss, stats

    hidden_shape = inputs.shape[:-1] + (config.width,)
    probes = jnp.zeros((config.depth,) + hidden_shape, dtype)
    grads, stats = jax.grad(network, has_aux=True)(probes)
    stats["grad_norm"] = jnp.sqrt(jnp.sum(grads * grads, axis=tuple(range(1, grads.ndim))) / inputs.shape[0])
    return stats


def seeded_layer_stats(keys: Array, config: ProbeConfig, inputs: Array) -> dict[str, Array]:
    """:func:`layer_stats` for several seeds at once (vmap over ``keys``): arrays of shape (seeds, depth)."""
    return jax.vmap(lambda k: layer_stats(k, config, inputs))(keys)
