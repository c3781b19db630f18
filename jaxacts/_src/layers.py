"""Activation layers for Flax NNX models: fixed activations from the registry, and the parametric ones.

Every activation layer is called as ``layer(x, train=..., key=...)``: randomness (RReLU, dropout) comes
from the explicit ``key``, so a training step is a pure function of its inputs and vmaps over seeds.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from jaxacts._src import activations as A
from jaxacts._src import registry
from jaxacts._src.theory import alpha_dropout_affine

# Names the models accept beyond the registry's: activations with learnable parameters.
PARAMETRIC = ("prelu", "prelu_shared", "silu_learnable", "maxout")


class Fixed(nnx.Module):
    """A registry activation with its hyperparameters bound (no parameters)."""

    def __init__(self, name: str, **hyperparameters):
        self.name = name
        self.fn = registry.get(name, **hyperparameters)

    def __call__(self, x, *, train: bool = False, key=None):
        return self.fn(x)


class PReLU(nnx.Module):
    """Parametric ReLU with a learned slope, one per channel (last axis) or one shared.

    The slope starts at 0.25 as in He et al. 2015 and PyTorch (Flax's own PReLU starts at 0.01).
    """

    def __init__(self, features: int, *, shared: bool = False, init: float = 0.25):
        self.slope = nnx.Param(jnp.full((1,) if shared else (features,), init, jnp.float32))

    def __call__(self, x, *, train: bool = False, key=None):
        return A.prelu(x, self.slope[...].astype(x.dtype))


class RReLU(nnx.Module):
    """Randomized leaky ReLU: in training a slope per element from U(lower, upper) drawn from ``key``;
    in evaluation the mean slope (PyTorch's parametrisation, see :func:`jaxacts.rrelu`)."""

    def __init__(self, lower: float = 1.0 / 8.0, upper: float = 1.0 / 3.0):
        registry.get("rrelu", lower=lower, upper=upper)  # validates the bounds
        self.lower, self.upper = lower, upper

    def __call__(self, x, *, train: bool = False, key=None):
        return A.rrelu(x, lower=self.lower, upper=self.upper, key=key, training=train)


class LearnableSwish(nnx.Module):
    """Swish x * sigmoid(beta x) with a learned beta per channel, starting at 1 (SiLU)."""

    def __init__(self, features: int):
        self.beta = nnx.Param(jnp.ones((features,), jnp.float32))

    def __call__(self, x, *, train: bool = False, key=None):
        beta = jnp.broadcast_to(self.beta[...].astype(x.dtype), x.shape)
        return x * A.sigmoid(beta * x)


def make_activation(name: str, features: int):
    """The activation layer for ``name``: a registry name or one of :data:`PARAMETRIC` (not maxout,
    which the models build as a layer of its own because it changes the width)."""
    if name == "prelu":
        return PReLU(features)
    if name == "prelu_shared":
        return PReLU(features, shared=True)
    if name == "silu_learnable":
        return LearnableSwish(features)
    if name == "rrelu":
        return RReLU()
    return Fixed(name)


def check_activation(name: str) -> None:
    """Raises a clear ValueError for a name that neither the registry nor the models know."""
    if name in PARAMETRIC:
        return
    try:
        registry.info(name)
    except ValueError as e:
        raise ValueError(f"{e} Models also accept the learnable {', '.join(PARAMETRIC)}.") from None
    if not registry.info(name).elementwise:
        raise ValueError(f"{name!r} is not elementwise; models take it only as 'maxout'")


def dropout(x, *, kind: str, rate: float, train: bool, key):
    """Standard (inverted) or alpha dropout in training; identity in evaluation or at rate 0."""
    if not train or kind == "none" or rate == 0.0:
        return x
    keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
    if kind == "standard":
        return jnp.where(keep, x / (1.0 - rate), 0.0).astype(x.dtype)
    a_prime, a, b = alpha_dropout_affine(rate)
    return (a * jnp.where(keep, x, a_prime) + b).astype(x.dtype)
