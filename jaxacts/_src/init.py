"""Weight initializers by name, and the weight variance each gives (what the theory needs).

Names: lecun_normal, he_normal, glorot_normal, lecun_uniform, he_uniform, glorot_uniform, orthogonal,
and ``uniform:A`` for U(-A, A) (the hand-written 784-1000-10 network of the reference material uses
A = 0.058 and 0.077). The normal ones are jax.nn.initializers' truncated normals, rescaled so the
variance is exactly the target (REFERENCES.md).
"""

from __future__ import annotations

import difflib

import jax
import jax.numpy as jnp
from jax.nn import initializers as jinit

_SCALED = {
    # name: (jax.nn.initializers.variance_scaling scale, mode, distribution)
    "lecun_normal": (1.0, "fan_in", "truncated_normal"),
    "he_normal": (2.0, "fan_in", "truncated_normal"),
    "glorot_normal": (1.0, "fan_avg", "truncated_normal"),
    "lecun_uniform": (1.0, "fan_in", "uniform"),
    "he_uniform": (2.0, "fan_in", "uniform"),
    "glorot_uniform": (1.0, "fan_avg", "uniform"),
}
INITIALIZERS = list(_SCALED) + ["orthogonal", "uniform:A"]


def _parse_uniform(name: str) -> float | None:
    if not name.startswith("uniform:"):
        return None
    try:
        a = float(name.split(":", 1)[1])
    except ValueError:
        raise ValueError(f"initializer {name!r}: expected 'uniform:A' with a number A > 0, e.g. 'uniform:0.058'")
    if not a > 0:
        raise ValueError(f"initializer {name!r}: A must be > 0")
    return a


def _check(name: str) -> None:
    if name in _SCALED or name == "orthogonal" or _parse_uniform(name) is not None:
        return
    close = difflib.get_close_matches(name, INITIALIZERS, n=2, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise ValueError(f"Unknown initializer {name!r}.{hint} Valid: {', '.join(INITIALIZERS)}.")


def initializer(name: str) -> jinit.Initializer:
    """A ``jax.nn.initializers`` function ``init(key, shape, dtype)`` for a kernel of shape (..., fan_in, fan_out)."""
    _check(name)
    if name in _SCALED:
        return jinit.variance_scaling(*_SCALED[name])
    if name == "orthogonal":
        return jinit.orthogonal()
    a = _parse_uniform(name)

    def uniform(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, minval=-a, maxval=a)
    return uniform


def weight_variance_gain(name: str, fan_in: int, fan_out: int) -> float:
    """sigma_w^2 = fan_in * Var(w): 1 for LeCun, 2 for He; the quantity mean-field theory uses."""
    _check(name)
    if name in _SCALED:
        scale, mode, _ = _SCALED[name]
        fan = {"fan_in": fan_in, "fan_avg": (fan_in + fan_out) / 2}[mode]
        return scale * fan_in / fan
    if name == "orthogonal":
        return fan_in / max(fan_in, fan_out)  # rows (or columns) of unit norm
    a = _parse_uniform(name)
    return fan_in * a * a / 3.0
