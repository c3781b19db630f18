"""Activation layers for Flax NNX models: any registry activation, with fixed, swept or learned hyperparameters,
or a choice among several (``sigmoid|tanh|relu``) made per run at run time.

Every activation layer is called as ``layer(x, train=..., key=...)``: randomness (RReLU, dropout) comes
from the explicit ``key``, so a training step is a pure function of its inputs and vmaps over seeds.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from jaxacts._src import registry
from jaxacts._src.theory import alpha_dropout_affine

# Names the models accept beyond the registry's spellings: maxout (a layer of its own, it changes the
# width) and the learnable activations below.
PARAMETRIC = ("prelu", "prelu_shared", "silu_learnable", "maxout")

# Model names that are spellings of a spec with learned hyperparameters (the one mechanism of Fixed).
# PReLU learns the leaky slope from 0.25 (He et al. 2015, PyTorch), one per channel; learnable Swish
# learns beta from 1 (SiLU), one per channel. The name means "learned": a plain value given with it
# (``prelu(slope=0.3)``) is the initial value of the learned hyperparameter, not a fixed one.
LEARNABLE = {
    "prelu": "prelu(slope=learn(0.25, per_channel))",
    "prelu_shared": "prelu(slope=learn(0.25))",
    "silu_learnable": "silu(beta=learn(1.0, per_channel))",
}


def _as_learned(value, like: registry.Learned):
    """A plain number, or a sweep of them, as the initial value(s) of a hyperparameter learned like
    ``like`` (per channel or shared); ``learn(...)`` values and bools (refused later) stay as given."""
    if isinstance(value, tuple):
        return tuple(_as_learned(v, like) for v in value)
    if isinstance(value, (registry.Learned, bool)):
        return value
    return registry.Learned(value, like.per_channel)


def resolve_spec(spec: str) -> str:
    """The spec a model name stands for: ``"prelu"`` -> ``"prelu(slope=learn(0.25, per_channel))"``,
    ``"prelu(slope=0.3)"`` -> ``"prelu(slope=learn(0.3, per_channel))"`` (a value given to a learnable
    name starts the learned hyperparameter there; ``[0.1, 0.3]`` sweeps that start); any other spec
    unchanged."""
    name, hp = registry.parse_spec(spec)
    if name not in LEARNABLE:
        return spec
    base, template = registry.parse_spec(LEARNABLE[name])
    merged = {**template, **{k: _as_learned(v, template[k]) if k in template else v for k, v in hp.items()}}
    return registry.format_spec(base, merged)


def _first(v):
    return v[0] if isinstance(v, tuple) else v


class ActivationHyperparameter(nnx.Variable):
    """A float hyperparameter of an activation (``elu(alpha=0.5)``), held in the model's state rather
    than in its code: a sweep sets it per run, so every setting trains in one compiled program."""


class Fixed(nnx.Module):
    """A registry activation with the hyperparameters its spec names.

    Float hyperparameters given as numbers are state (:class:`ActivationHyperparameter`: a sweep sets
    them per run); those given as ``learn(initial)`` or ``learn(initial, per_channel)`` are ``nnx.Param``
    attributes of this layer named like the hyperparameter (shape (1,) shared, or (features,) one per
    channel of the last axis), trained with the weights through the activation's hand-written partial
    derivative; bool ones (gelu's ``approximate``) are bound. Stochastic activations (rrelu) draw
    from the ``key`` of the call in training.

    A learned value may leave the range its activation allows (celu's alpha > 0, ...): values known
    at construction are checked, values reached in training are not.
    """

    def __init__(self, spec: str, features: int | None = None):
        spec = resolve_spec(spec)
        name, hp = registry.parse_spec(spec)
        info = registry.info(name)
        registry.get(name, **{k: _first(v) for k, v in hp.items()})  # validates names and values
        differentiable = info.differentiable_hyperparameters
        learned = {k: _first(v) for k, v in hp.items() if isinstance(_first(v), registry.Learned)}
        for k, v in learned.items():
            if k not in differentiable:
                raise ValueError(f"activation {spec!r}: {k} cannot be learned; {name}'s float hyperparameters "
                                 f"are {list(differentiable)}")
            if v.per_channel and features is None:
                raise ValueError(f"activation {spec!r}: a per-channel {k} needs the number of features")
        self.name = info.name
        self.stochastic = info.stochastic
        self.fn = registry.get(name, **{k: v for k, v in hp.items() if k not in differentiable})
        self.hyperparameters = nnx.Dict({k: ActivationHyperparameter(jnp.asarray(_first(v), jnp.float32))
                                         for k, v in hp.items() if k in differentiable and k not in learned})
        self.learned = tuple(learned)
        for k, v in learned.items():
            if hasattr(self, k):
                raise ValueError(f"activation {spec!r}: a learned {k!r} would shadow the layer's attribute")
            setattr(self, k, nnx.Param(jnp.full((features,) if v.per_channel else (1,), float(v), jnp.float32)))

    def set_hyperparameters(self, values: dict) -> None:
        """Sets the named hyperparameters (values may be traced); a learned one takes the value as its
        initial value (all channels). Names this layer does not have are ignored."""
        for k, v in values.items():
            if k in self.learned:
                param = getattr(self, k)
                param.value = jnp.broadcast_to(jnp.asarray(v, jnp.float32), param.shape)
            elif k in self.hyperparameters:
                self.hyperparameters[k] = ActivationHyperparameter(jnp.asarray(v, jnp.float32))

    def __call__(self, x, *, train: bool = False, key=None):
        hp = {k: v[...] for k, v in self.hyperparameters.items()}
        for k in self.learned:
            value = getattr(self, k)[...]
            hp[k] = value.reshape(()) if value.shape == (1,) else value  # per channel: broadcast by the activation
        if self.stochastic:
            hp.update(key=key, training=train)
        return self.fn(x, **hp)


CHOICE = "|"  # 'sigmoid|tanh|elu(alpha=0.5)': one alternative per run, chosen at run time


def alternatives(spec: str) -> list[str]:
    """The alternatives of a choice spec ('sigmoid|tanh' -> ['sigmoid', 'tanh']); [spec] for any other."""
    return registry.split_top_level(spec, CHOICE)


def expand(spec: str) -> list[str]:
    """Every setting of a spec: each alternative's settings in order (a sweep inside one expands there)."""
    return [setting for alt in alternatives(spec) for setting in registry.expand_spec(resolve_spec(alt))]


def choice_hyperparameters(spec: str, setting: str) -> dict:
    """The values a run of ``setting`` gives a :class:`Choice` layer of ``spec``: ``choice`` (the index of
    the alternative that has the setting) and each alternative's float hyperparameters as ``"i.name"``
    (the setting's own values for its alternative, each other alternative's first setting for the rest,
    so that every run carries the same names)."""
    alts = alternatives(spec)
    settings = [registry.expand_spec(resolve_spec(a)) for a in alts]
    setting = registry.expand_spec(resolve_spec(setting))[0]  # canonical spelling: 'f(a=0.5, b=0.5)'
    index = next((i for i, s in enumerate(settings) if setting in s), None)
    if index is None:
        raise ValueError(f"{setting!r} is not a setting of {spec!r}")
    values = {"choice": float(index)}
    for i, s in enumerate(settings):
        hp = registry.parse_spec(setting if i == index else s[0])[1]
        values.update({f"{i}.{k}": v for k, v in hp.items() if not isinstance(v, bool)})
    return values


class Choice(nnx.Module):
    """One of several activation layers, chosen per run by the ``choice`` index held in the model's state
    (an :class:`ActivationHyperparameter`): runs of different activations train in one compiled program, as
    the depth probe's networks do. Every alternative is evaluated and one selected (``lax.select_n``, which
    is what ``lax.switch`` becomes under vmap over runs anyway, and which a stochastic alternative's key
    passes through untouched); elementwise activations are cheap beside the matmuls."""

    def __init__(self, spec: str, features: int | None = None):
        self.options = nnx.List([Fixed(alt, features) for alt in alternatives(spec)])
        self.choice = ActivationHyperparameter(jnp.zeros((), jnp.float32))

    def set_hyperparameters(self, values: dict) -> None:
        if "choice" in values:
            self.choice = ActivationHyperparameter(jnp.asarray(values["choice"], jnp.float32))
        for i, option in enumerate(self.options):
            option.set_hyperparameters({k.split(".", 1)[1]: v for k, v in values.items()
                                        if k.split(".", 1)[0] == str(i)})

    def __call__(self, x, *, train: bool = False, key=None):
        outs = [option(x, train=train, key=key) for option in self.options]
        index = jnp.clip(self.choice[...].astype(jnp.int32), 0, len(outs) - 1)
        return jax.lax.select_n(index, *outs)


def set_activation_hyperparameters(model: nnx.Module, values: dict) -> None:
    """Sets every activation layer's named hyperparameters in ``model`` (values may be traced); a learned
    one takes the value as its initial value (all channels). A :class:`Choice` takes ``choice`` and its
    alternatives' ``"i.name"`` values (see :func:`choice_hyperparameters`)."""
    choices = [node for _, node in nnx.iter_graph(model) if isinstance(node, Choice)]
    inside = {id(option) for c in choices for option in c.options}
    for c in choices:
        c.set_hyperparameters(values)
    for _, node in nnx.iter_graph(model):
        if isinstance(node, Fixed) and id(node) not in inside:
            node.set_hyperparameters(values)


def PReLU(features: int, *, shared: bool = False, init: float = 0.25) -> Fixed:
    """Parametric ReLU: the leaky slope learned, one per channel (last axis) or one shared.

    The slope starts at 0.25 as in He et al. 2015 and PyTorch (Flax's own PReLU starts at 0.01); it
    is the layer's ``slope`` parameter. The same layer as the spec ``prelu(slope=learn(0.25, per_channel))``.
    """
    return Fixed(f"prelu(slope=learn({float(init)!r}{'' if shared else ', per_channel'}))", features)


def RReLU(lower: float = 1.0 / 8.0, upper: float = 1.0 / 3.0) -> Fixed:
    """Randomized leaky ReLU: in training a slope per element from U(lower, upper) drawn from ``key``;
    in evaluation the mean slope (PyTorch's parametrisation, see :func:`jaxacts.rrelu`)."""
    return Fixed(registry.format_spec("rrelu", {"lower": float(lower), "upper": float(upper)}))


def LearnableSwish(features: int, *, init: float = 1.0) -> Fixed:
    """Swish x * sigmoid(beta x) with a learned ``beta`` per channel, starting at 1 (SiLU): the spec
    ``silu(beta=learn(1.0, per_channel))``."""
    return Fixed(f"silu(beta=learn({float(init)!r}, per_channel))", features)


def make_activation(spec: str, features: int) -> Fixed | Choice:
    """The activation layer for ``spec``: a registry name with optional hyperparameters, numbers,
    sweeps or learned values (``elu(alpha=learn(1.0))``), or one of the learnable names of
    :data:`LEARNABLE` (not maxout, which the models build as a layer of its own because it changes
    the width); or a choice of such specs, ``sigmoid|tanh``, made per run (:class:`Choice`)."""
    return Choice(spec, features) if len(alternatives(spec)) > 1 else Fixed(spec, features)


def check_activation(spec: str) -> None:
    """Raises a clear ValueError for a spec that neither the registry nor the models know, or whose
    hyperparameters are invalid (every setting of a sweep, every alternative of a choice is checked)."""
    alts = alternatives(spec)
    if len(alts) > 1:
        if "maxout" in [registry.parse_spec(a)[0] for a in alts]:
            raise ValueError(f"maxout changes the layer's width and cannot be one alternative of {spec!r}")
        for alt in alts:
            check_activation(alt)
        return
    if not alts:
        raise ValueError(f"empty activation spec {spec!r}")
    spec = resolve_spec(spec)
    name, hp = registry.parse_spec(spec)
    if name == "maxout":
        if hp:
            raise ValueError(f"maxout in a model takes its pieces from ModelConfig.maxout_pieces, got {spec!r}")
        return
    try:
        info = registry.info(name)
    except ValueError as e:
        raise ValueError(f"{e} Models also accept the learnable {', '.join(PARAMETRIC)}.") from None
    if not info.elementwise:
        raise ValueError(f"{name!r} is not elementwise; models take it only as 'maxout'")
    for k, v in hp.items():
        if isinstance(_first(v), registry.Learned) and k not in info.differentiable_hyperparameters:
            raise ValueError(f"activation {spec!r}: {k} cannot be learned; {name}'s float hyperparameters "
                             f"are {list(info.differentiable_hyperparameters)}")
    for setting in registry.expand_spec(spec):
        registry.get(name, **registry.parse_spec(setting)[1])


def dropout(x, *, kind: str, rate: float, train: bool, key):
    """Standard (inverted) or alpha dropout in training; identity in evaluation or at rate 0."""
    if not train or kind == "none" or rate == 0.0:
        return x
    keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
    if kind == "standard":
        return jnp.where(keep, x / (1.0 - rate), 0.0).astype(x.dtype)
    a_prime, a, b = alpha_dropout_affine(rate)
    return (a * jnp.where(keep, x, a_prime) + b).astype(x.dtype)
