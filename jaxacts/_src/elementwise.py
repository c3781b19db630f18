"""The mechanism behind every elementwise activation: a value, a hand-written derivative.

An activation is written once as a plain function of a float array and keyword-only
hyperparameters; ``@elementwise`` turns it into a ``jax.custom_jvp`` function whose derivative is
the one written by hand below it (``@fn.defderivative``). Because the rule is a JVP, ``jax.grad``,
``jax.jvp``, ``jax.vjp``, ``jax.hessian`` and ``jax.linearize`` all use it, and second derivatives
come from differentiating the hand-written derivative.

float16 and bfloat16 are computed in float32 and rounded once at the end: the safe forms below
rely on ``exp``/``log1p`` ranges that the short formats do not have.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax import Array
from jax.typing import ArrayLike

# A check is (predicate over the bound hyperparameters, message saying what is allowed).
Check = tuple[Callable[[dict[str, Any]], bool], str]


def as_float(x: ArrayLike) -> Array:
    """``x`` as a JAX array of a floating dtype (integers and bools become the default float)."""
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(float))
    return x


def compute_dtype(dtype) -> jnp.dtype:
    """The dtype an activation computes in: float32 for the 16-bit formats, else ``dtype``."""
    return jnp.dtype(jnp.float32) if jnp.dtype(dtype).itemsize < 4 else jnp.dtype(dtype)


def run_checks(name: str, checks: Sequence[Check], params: dict[str, Any]) -> None:
    """Raises ValueError for hyperparameters that break a check; traced values are not checked."""
    for predicate, message in checks:
        try:
            ok = bool(predicate(params))
        except jax.errors.ConcretizationTypeError:
            continue  # a traced hyperparameter (vmapped, learned): its value is not known here
        if not ok:
            shown = ", ".join(f"{k}={v!r}" for k, v in params.items() if not isinstance(v, jax.Array))
            raise ValueError(f"{name}: {message} (got {shown})")


def bind(name: str, signature: inspect.Signature, given: dict[str, Any]) -> dict[str, Any]:
    """Hyperparameters with defaults filled in; an unknown keyword is a TypeError naming the valid ones."""
    allowed = [p.name for p in signature.parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY]
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise TypeError(
            f"{name}() got unknown hyperparameter(s) {unknown}; "
            f"it takes {allowed if allowed else 'none'}"
        )
    params = {k: signature.parameters[k].default for k in allowed}
    params.update(given)
    return params


class Elementwise:
    """An elementwise activation with a hand-written derivative attached as its JVP rule.

    Calling it computes the value; ``.derivative(x, **hyperparameters)`` computes the hand-written
    derivative itself (elementwise, same shape and dtype as ``x``).
    """

    def __init__(self, value: Callable[..., Array], checks: Sequence[Check] = ()):
        functools.update_wrapper(self, value)
        self._value = value
        self._signature = inspect.signature(value)
        self._names = [
            p.name for p in self._signature.parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY
        ]
        self._checks = tuple(checks)
        self._derivative: Callable[..., Array] | None = None
        # Hyperparameters are non-differentiable arguments; x is the only primal.
        self._core = jax.custom_jvp(self._primal, nondiff_argnums=tuple(range(1, 1 + len(self._names))))
        self._core.defjvp(self._jvp)

    @property
    def hyperparameters(self) -> dict[str, Any]:
        """Hyperparameter names and their defaults, in signature order."""
        return {k: self._signature.parameters[k].default for k in self._names}

    def defderivative(self, derivative: Callable[..., Array]) -> Callable[..., Array]:
        """Registers ``derivative(x, y, **hyperparameters) -> dy/dx`` (``y`` is the saved output)."""
        self._derivative = derivative
        return derivative

    def _kwargs(self, hp: tuple) -> dict[str, Any]:
        return dict(zip(self._names, hp))

    def _primal(self, x: Array, *hp) -> Array:
        xc = x.astype(compute_dtype(x.dtype))
        return self._value(xc, **self._kwargs(hp)).astype(x.dtype)

    def _jvp(self, *args):
        *hp, (x,), (t,) = args
        kwargs = self._kwargs(tuple(hp))
        xc = x.astype(compute_dtype(x.dtype))
        y = self._value(xc, **kwargs)
        dy = self._derivative(xc, y, **kwargs)
        return y.astype(x.dtype), (dy * t.astype(dy.dtype)).astype(t.dtype)

    def _prepare(self, x: ArrayLike, hyperparameters: dict[str, Any]) -> tuple[Array, dict[str, Any]]:
        params = bind(self.__name__, self._signature, hyperparameters)
        run_checks(self.__name__, self._checks, params)
        return as_float(x), params

    def __call__(self, x: ArrayLike, **hyperparameters) -> Array:
        x, params = self._prepare(x, hyperparameters)
        return self._core(x, *params.values())

    def derivative(self, x: ArrayLike, **hyperparameters) -> Array:
        """The hand-written derivative d activation / dx, elementwise."""
        x, params = self._prepare(x, hyperparameters)
        xc = x.astype(compute_dtype(x.dtype))
        return self._derivative(xc, self._value(xc, **params), **params).astype(x.dtype)

    def __repr__(self) -> str:
        return f"<activation {self.__name__}{self._signature}>"


def elementwise(value: Callable[..., Array] | None = None, *, checks: Sequence[Check] = ()):
    """Decorator: ``@elementwise`` or ``@elementwise(checks=[...])`` over a value function."""
    if value is None:
        return lambda v: Elementwise(v, checks)
    return Elementwise(value, checks)
