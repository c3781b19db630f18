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


class ActivationHyperparameter(nnx.Variable):
    """A float hyperparameter of an activation (``elu(alpha=0.5)``), held in the model's state rather
    than in its code: a sweep sets it per run, so every setting trains in one compiled program."""


class Fixed(nnx.Module):
    """A registry activation; the float hyperparameters its spec names are state, the rest are bound."""

    def __init__(self, spec: str):
        name, hp = registry.parse_spec(spec)
        registry.get(name, **{k: (v[0] if isinstance(v, tuple) else v) for k, v in hp.items()})  # validates
        self.name = name
        floats = {k: v for k, v in hp.items() if not isinstance(v, bool)}
        self.fn = registry.get(name, **{k: v for k, v in hp.items() if isinstance(v, bool)})
        first = lambda v: v[0] if isinstance(v, tuple) else v
        self.hyperparameters = nnx.Dict({k: ActivationHyperparameter(jnp.asarray(first(v), jnp.float32))
                                         for k, v in floats.items()})

    def __call__(self, x, *, train: bool = False, key=None):
        return self.fn(x, **{k: v[...].astype(x.dtype) for k, v in self.hyperparameters.items()})


def set_activation_hyperparameters(model: nnx.Module, values: dict) -> None:
    """Sets every activation layer's named hyperparameters in ``model`` (values may be traced)."""
    for _, node in nnx.iter_graph(model):
        if isinstance(node, Fixed):
            for k, v in values.items():
                node.hyperparameters[k] = ActivationHyperparameter(jnp.asarray(v, jnp.float32))


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


def make_activation(spec: str, features: int):
    """The activation layer for ``spec``: a registry name with optional hyperparameters
    (``elu(alpha=0.5)``) or one of :data:`PARAMETRIC` (not maxout, which the models build as a layer
    of its own because it changes the width)."""
    name, hp = registry.parse_spec(spec)
    if name == "rrelu":
        return RReLU(**hp)
    if name in PARAMETRIC:
        return make_parametric(name, features)
    return Fixed(spec)


def make_parametric(name: str, features: int):
    """The learnable activation layers."""
    if name == "prelu":
        return PReLU(features)
    if name == "prelu_shared":
        return PReLU(features, shared=True)
    if name == "silu_learnable":
        return LearnableSwish(features)
    raise ValueError(f"{name!r} is not a learnable activation: {', '.join(PARAMETRIC)}")


def check_activation(spec: str) -> None:
    """Raises a clear ValueError for a spec that neither the registry nor the models know, or whose
    hyperparameters are invalid (every setting of a sweep is checked)."""
    name, hp = registry.parse_spec(spec)
    if name in PARAMETRIC:
        if hp:
            raise ValueError(f"{name!r} learns its parameters and takes no hyperparameters, got {spec!r}")
        return
    try:
        registry.info(name)
    except ValueError as e:
        raise ValueError(f"{e} Models also accept the learnable {', '.join(PARAMETRIC)}.") from None
    if not registry.info(name).elementwise:
        raise ValueError(f"{name!r} is not elementwise; models take it only as 'maxout'")
    if name == "rrelu" and any(isinstance(v, tuple) for v in hp.values()):
        raise ValueError(f"rrelu's bounds cannot be swept, got {spec!r}")
    for setting in registry.expand_spec(spec):
        registry.get_spec(setting)


def dropout(x, *, kind: str, rate: float, train: bool, key):
    """Standard (inverted) or alpha dropout in training; identity in evaluation or at rate 0."""
    if not train or kind == "none" or rate == 0.0:
        return x
    keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
    if kind == "standard":
        return jnp.where(keep, x / (1.0 - rate), 0.0).astype(x.dtype)
    a_prime, a, b = alpha_dropout_affine(rate)
    return (a * jnp.where(keep, x, a_prime) + b).astype(x.dtype)
