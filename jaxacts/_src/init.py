"""Weight initializers by name, and the weight variance each gives (what the theory needs).

Names: lecun_normal, he_normal, glorot_normal, lecun_uniform, he_uniform, glorot_uniform,
torch_default, orthogonal, and ``uniform:A`` for U(-A, A) (the hand-written 784-1000-10 network of the
reference material uses A = 0.058 and 0.077). ``torch_default`` is PyTorch's default for ``nn.Linear``
and ``nn.Conv*``: weights U(+-1/sqrt(fan_in)) (``kaiming_uniform_(a=sqrt(5))``) and, the one name that
sets biases too, biases U(+-1/sqrt(fan_in)) (:func:`bias_initializer`); for the others biases are a
constant (``ModelConfig.bias_init``). The normal ones are jax.nn.initializers' truncated normals, rescaled so the
variance is exactly the target (REFERENCES.md).

Every initializer is one of three distributions with unit entry variance, times a std that depends on
the name and the kernel shape: ``initializer(name)(key, shape)`` equals
``unit_sample(distribution(name), key, shape) * weight_std(name, shape)`` up to rounding. The depth
probe uses that split to make the initializer runtime data of one compiled program.
"""

from __future__ import annotations

import difflib
import math

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
    # PyTorch's nn.Linear / nn.Conv default, kaiming_uniform_(a=sqrt(5)): gain^2 = 2 / (1 + 5) = 1/3, so
    # the bound sqrt(3 * (1/3) / fan_in) = 1 / sqrt(fan_in).
    "torch_default": (1.0 / 3.0, "fan_in", "uniform"),
}
INITIALIZERS = list(_SCALED) + ["orthogonal", "uniform:A"]
DISTRIBUTIONS = ("truncated_normal", "uniform", "orthogonal")
_TRUNCATED_STD = 0.87962566103423978  # std of a standard normal truncated to (-2, 2)


def _parse_uniform(name: str) -> float | None:
    if not name.startswith("uniform:"):
        return None
    try:
        a = float(name.split(":", 1)[1])
    except ValueError:
        raise ValueError(f"initializer {name!r}: expected 'uniform:A' with a number A > 0, e.g. 'uniform:0.058'")
    if not 0 < a < float("inf"):
        raise ValueError(f"initializer {name!r}: A must be a finite number > 0")
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


def bias_initializer(name: str, fan_in: int) -> jinit.Initializer | None:
    """The bias initializer the weight initializer ``name`` implies for a layer with ``fan_in`` inputs
    (per output: in_features, or in_channels x kernel size), or None where biases are a constant.

    Only ``torch_default`` has one: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), PyTorch's ``nn.Linear`` and
    ``nn.Conv*`` bias default."""
    _check(name)
    if name != "torch_default":
        return None
    bound = 1.0 / math.sqrt(fan_in)

    def uniform(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, minval=-bound, maxval=bound)
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


def distribution(name: str) -> str:
    """Which of :data:`DISTRIBUTIONS` the initializer ``name`` draws from."""
    _check(name)
    if name in _SCALED:
        return _SCALED[name][2]
    return "orthogonal" if name == "orthogonal" else "uniform"


def _fans(shape: tuple[int, ...]) -> tuple[float, float]:
    # jax.nn.initializers' convention: (..., fan_in, fan_out), leading axes are the receptive field.
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def weight_std(name: str, shape: tuple[int, ...]) -> float:
    """The std of one entry of ``initializer(name)(key, shape)``."""
    _check(name)
    if name in _SCALED:
        scale, mode, _ = _SCALED[name]
        fan_in, fan_out = _fans(shape)
        return math.sqrt(scale / {"fan_in": fan_in, "fan_avg": (fan_in + fan_out) / 2}[mode])
    if name == "orthogonal":
        # Orthonormal rows or columns of the (prod(shape[:-1]), shape[-1]) matrix: entry variance 1 / max.
        return 1.0 / math.sqrt(max(math.prod(shape[:-1]), shape[-1]))
    return _parse_uniform(name) / math.sqrt(3.0)


def unit_sample(distribution: str, key: jax.Array, shape: tuple[int, ...], dtype=jnp.float32) -> jax.Array:
    """A draw of one of :data:`DISTRIBUTIONS` with mean 0 and unit entry variance (jax.nn's sampling)."""
    if distribution == "truncated_normal":
        return jax.random.truncated_normal(key, -2, 2, shape, dtype) / jnp.asarray(_TRUNCATED_STD, dtype)
    if distribution == "uniform":
        return jax.random.uniform(key, shape, dtype, -1) * jnp.asarray(math.sqrt(3.0), dtype)
    if distribution == "orthogonal":
        side = max(math.prod(shape[:-1]), shape[-1])
        return jinit.orthogonal()(key, shape, dtype) * jnp.asarray(math.sqrt(side), dtype)
    raise ValueError(f"distribution {distribution!r} is not one of {DISTRIBUTIONS}")
