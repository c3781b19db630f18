"""The mechanism behind every elementwise activation: a value, hand-written derivatives.

An activation is written once as a plain function of a float array and keyword-only
hyperparameters; ``@elementwise`` turns it into a ``jax.custom_jvp`` function whose derivatives are
the ones written by hand below it: ``@fn.defderivative`` in x, ``@fn.defpartial("alpha")`` in each
float hyperparameter. Because the rules form a JVP, ``jax.grad``, ``jax.jvp``, ``jax.vjp``,
``jax.hessian`` and ``jax.linearize`` all use them, in x and in the hyperparameters alike, and second
derivatives (mixed ones included) come from differentiating the hand-written derivatives.

Which hyperparameters are differentiable follows from their defaults: a float default makes a
differentiable input (a primal of the custom_jvp, which may be a traced or learned array that
broadcasts to x); anything else (bool, int, a PRNG key) is static.

float16 and bfloat16 are computed in float32 and rounded once at the end: the safe forms below
rely on ``exp``/``log1p`` ranges that the short formats do not have. Hyperparameters are computed
in the same dtype (float32 for the short formats).

Validation: every hyperparameter whose value is known when the activation is called is checked
(each activation's own checks, and that float ones are finite). A traced hyperparameter (inside
``jit``, ``vmap`` or ``grad``, or a learned parameter in a model) has no value at trace time: only its
dtype (real) and shape (broadcasts to x) are checked, and its value is not.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.typing import ArrayLike

# A check is (predicate over the bound hyperparameters, message saying what is allowed).
Check = tuple[Callable[[dict[str, Any]], Any], str]

# What a predicate raises when a hyperparameter is traced: its value is unknown, so it is not checked.
_TRACED = (jax.errors.ConcretizationTypeError, jax.errors.TracerArrayConversionError)


def _reject_complex(what: str, dtype) -> None:
    if jnp.issubdtype(dtype, jnp.complexfloating):
        raise TypeError(f"{what} is complex ({jnp.dtype(dtype).name}); activations take real values and would "
                        f"drop the imaginary part: pass jnp.real(z) and jnp.imag(z) explicitly")


def as_float(x: ArrayLike, name: str = "activation") -> Array:
    """``x`` as a JAX array of a floating dtype (integers and bools become the default float).

    Array-likes (lists, tuples, numpy arrays, Python numbers) are converted, as jax.nn does. Raises
    TypeError for complex input (rather than dropping its imaginary part) and for anything that is not
    numeric (a string, None, an object array), naming ``name``.
    """
    if not isinstance(x, jax.Array):  # a list, tuple, numpy array or Python number: numeric, or a clear error
        try:
            dtype = np.asarray(x).dtype
            numeric = jnp.issubdtype(dtype, jnp.number) or jnp.issubdtype(dtype, jnp.bool_)
        except (TypeError, ValueError):  # ragged lists
            numeric = False
        if not numeric or x is None:
            raise TypeError(f"{name}: the input must be a real number or array, got {_short(x)} ({type(x).__name__})")
    x = jnp.asarray(x)
    _reject_complex(f"{name}: the input", x.dtype)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(float))
    return x


def _short(v: Any) -> str:
    """repr(v), cut to one short line for an error message."""
    text = " ".join(repr(v).split())
    return text if len(text) <= 60 else text[:57] + "..."


def check_types(name: str, defaults: dict[str, Any], params: dict[str, Any]) -> None:
    """TypeError unless each hyperparameter has the kind of its default: a bool default takes only a
    real bool (True/False), an int default only an int (not a bool, not a float such as 2.0), a float
    default a real number or real array (not a bool, string, None or complex). Others (a PRNG key) are
    not checked here.

    Checked before any work, so that e.g. ``gelu(approximate='False')`` cannot silently mean True.
    """
    for k, default in defaults.items():
        v = params[k]
        if isinstance(default, bool):
            if not isinstance(v, (bool, np.bool_)):
                raise TypeError(f"{name}: {k} must be True or False, got {_short(v)} ({type(v).__name__})")
        elif isinstance(default, int):
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
                raise TypeError(f"{name}: {k} must be an integer, got {_short(v)} ({type(v).__name__})")
        elif isinstance(default, float):
            dtype = _real_number_dtype(v)
            if dtype is None:
                raise TypeError(f"{name}: {k} must be a real number (or a real array that broadcasts to the "
                                f"input), got {_short(v)} ({type(v).__name__})")
            _reject_complex(f"{name}: {k}", dtype)


def _real_number_dtype(v: Any):
    """The dtype of a numeric hyperparameter value (complex included: the caller names that case),
    or None if ``v`` is a bool, a string, None or anything else that is not a number or numeric array."""
    if isinstance(v, (bool, np.bool_, str, bytes)) or v is None:
        return None
    if isinstance(v, (int, float, complex)):
        return np.result_type(v)
    dtype = getattr(v, "dtype", None)  # numpy and JAX arrays and scalars, tracers included
    if dtype is None:
        try:
            dtype = np.asarray(v).dtype  # a list or tuple of numbers
        except (TypeError, ValueError):
            return None
    if not (jnp.issubdtype(dtype, jnp.integer) or jnp.issubdtype(dtype, jnp.inexact)):
        return None  # bool arrays, object arrays, PRNG keys
    return dtype


def compute_dtype(dtype) -> jnp.dtype:
    """The dtype an activation computes in: float32 for the 16-bit formats, else ``dtype``."""
    return jnp.dtype(jnp.float32) if jnp.dtype(dtype).itemsize < 4 else jnp.dtype(dtype)


def run_checks(name: str, checks: Sequence[Check], params: dict[str, Any]) -> None:
    """Raises ValueError for hyperparameters that break a check.

    A predicate may be elementwise over array hyperparameters (every element must pass). A check
    that involves a traced value is skipped: its value is not known at trace time.
    """
    for predicate, message in checks:
        try:
            ok = bool(np.all(np.asarray(predicate(params))))
        except _TRACED:
            continue
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


def _nan_mask(x: Array, dtype) -> Array:
    return jnp.where(jnp.isnan(x), jnp.nan, 1.0).astype(dtype)


@jax.custom_jvp
def nan_at_nan(d: Array, x: Array, *hyperparameters: Array) -> Array:
    """``d``, and NaN where ``x`` is NaN: a derivative at a NaN input is NaN.

    Rules such as relu's ``x > 0`` or identity's 1 would give a number there (a NaN input would get a
    zero or finite gradient, and training would not see it). Applied by the machinery to every
    hand-written derivative not registered with ``propagates_nan=True``, as a ``where`` (not a product with a NaN mask: XLA rewrites
    ``float(x > 0) * mask`` as ``select(x > 0, mask, 0)``, which drops the NaN).

    Its own derivative (the second derivatives: d2f/dx2, mixed, d2f/dh2) is the derivative of ``d``
    times a mask (1, NaN at a NaN input), plus each tangent of x and of the hyperparameters times
    ``mask - 1`` (0, NaN at a NaN input): products, linear in the tangents, because reverse mode
    transposes only what is linear in them (a ``where`` with a NaN branch there is a constant that it
    drops). The terms in x and h make the second derivatives NaN also where ``d`` does not move
    (relu's rule is constant in x, leaky_relu's partial in the slope): that is why ``x`` and the
    hyperparameters are arguments.
    """
    return jnp.where(jnp.isnan(x), jnp.nan, d).astype(d.dtype)


@nan_at_nan.defjvp
def _nan_at_nan_jvp(primals, tangents):
    d, x, *_ = primals
    mask = _nan_mask(x, d.dtype)
    at_nan = mask - 1.0  # 0, NaN where x is NaN
    tangent = functools.reduce(jnp.add, [t.astype(d.dtype) * at_nan for t in tangents[1:]], tangents[0] * mask)
    return nan_at_nan(d, x), tangent


def _is_symbolic_zero(t) -> bool:
    return isinstance(t, jax.custom_derivatives.SymbolicZero)


class Elementwise:
    """An elementwise activation with hand-written derivatives attached as its JVP rule.

    Calling it computes the value; ``.derivative(x, **hyperparameters)`` computes the hand-written
    derivative in x, and ``.derivative(x, wrt="alpha", ...)`` the one in a float hyperparameter
    (elementwise, same shape and dtype as ``x``).
    """

    def __init__(self, value: Callable[..., Array], checks: Sequence[Check] = ()):
        functools.update_wrapper(self, value)
        self._value = value
        self._signature = inspect.signature(value)
        keyword = [p for p in self._signature.parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY]
        self._names = [p.name for p in keyword]
        # Float defaults make differentiable hyperparameters; the rest (bool, int, key) are static.
        self._float_names = tuple(p.name for p in keyword if isinstance(p.default, float))
        self._static_names = tuple(p.name for p in keyword if not isinstance(p.default, float))
        finite = [((lambda p, k=k: np.isfinite(p[k])), f"{k} must be finite") for k in self._float_names]
        self._checks = tuple(finite) + tuple(checks)
        self._derivative: Callable[..., Array] | None = None
        self._partials: dict[str, Callable[..., Array]] = {}
        self._propagates_nan: set[str] = set()  # 'x' and float names whose rules are NaN at a NaN x by themselves
        self._core = jax.custom_jvp(self._primal, nondiff_argnums=tuple(range(len(self._static_names))))
        self._core.defjvp(self._jvp, symbolic_zeros=True)

    @property
    def hyperparameters(self) -> dict[str, Any]:
        """Hyperparameter names and their defaults, in signature order."""
        return {k: self._signature.parameters[k].default for k in self._names}

    @property
    def differentiable_hyperparameters(self) -> tuple[str, ...]:
        """The float hyperparameters: differentiable inputs, each with a hand-written partial derivative."""
        return self._float_names

    def defderivative(self, derivative: Callable[..., Array] | None = None, *, propagates_nan: bool = False):
        """Registers ``derivative(x, y, **hyperparameters) -> dy/dx`` (``y`` is the saved output).

        ``@fn.defderivative`` or ``@fn.defderivative(propagates_nan=True)``: the latter for a rule whose
        arithmetic is already NaN wherever x is NaN, in its value and in its own derivatives (an exp,
        a division or a max of x: XLA's max and min propagate NaN), so that the machinery leaves out
        the ``where`` of ``nan_at_nan``, a compare and a select per element, and its read of x.
        The NaN test holds every rule to NaN out either way.
        """
        def register(rule: Callable[..., Array]) -> Callable[..., Array]:
            self._derivative = rule
            if propagates_nan:
                self._propagates_nan.add("x")
            return rule

        return register if derivative is None else register(derivative)

    def defpartial(self, name: str, *, propagates_nan: bool = False) -> Callable[[Callable[..., Array]], Callable[..., Array]]:
        """Decorator registering ``partial(x, y, **hyperparameters) -> d activation / d name``
        (``propagates_nan`` as in ``defderivative``)."""
        if name not in self._float_names:
            raise ValueError(f"{self.__name__}: {name!r} is not a float hyperparameter ({self._float_names})")

        def register(partial: Callable[..., Array]) -> Callable[..., Array]:
            self._partials[name] = partial
            if propagates_nan:
                self._propagates_nan.add(name)
            return partial

        return register

    def _nan_at_nan(self, wrt: str, d: Array, x: Array, hp) -> Array:
        """The rule for ``wrt``'s output ``d``, NaN where x is NaN (by ``nan_at_nan`` unless the rule is so already)."""
        return d if wrt in self._propagates_nan else nan_at_nan(d, x, *hp)

    def missing_rules(self) -> list[str]:
        """Derivatives not written yet: 'x' and/or float hyperparameter names (the registry requires none)."""
        missing = [] if self._derivative is not None else ["x"]
        return missing + [k for k in self._float_names if k not in self._partials]

    def _kwargs(self, static: tuple, hp: tuple) -> dict[str, Any]:
        return {**dict(zip(self._static_names, static)), **dict(zip(self._float_names, hp))}

    def _split(self, args: tuple) -> tuple[tuple, Array, tuple]:
        n = len(self._static_names)
        return args[:n], args[n], args[n + 1:]

    def _primal(self, *args) -> Array:
        static, x, hp = self._split(args)
        xc = x.astype(compute_dtype(x.dtype))
        return self._value(xc, **self._kwargs(static, hp)).astype(x.dtype)

    def _jvp(self, *args):
        *static, primals, tangents = args
        x, *hp = primals
        tx, *thp = tangents
        kwargs = self._kwargs(tuple(static), tuple(hp))
        xc = x.astype(compute_dtype(x.dtype))
        terms = []
        if _is_symbolic_zero(tx):
            y = self._value(xc, **kwargs)
        else:
            y = self._value(xc, **kwargs)
            dy = self._nan_at_nan("x", self._derivative(xc, y, **kwargs), xc, hp)
            terms.append(dy * tx.astype(dy.dtype))
        for name, t in zip(self._float_names, thp):
            if not _is_symbolic_zero(t):
                terms.append(self._nan_at_nan(name, self._partials[name](xc, y, **kwargs), xc, hp) * t)
        tangent = functools.reduce(jnp.add, terms) if terms else jnp.zeros_like(y)
        return y.astype(x.dtype), tangent.astype(x.dtype)

    def _float_hyperparameter(self, name: str, value: Any, x: Array) -> Array:
        """A float hyperparameter as an array of x's compute dtype, scalar or broadcast to x's shape."""
        a = jnp.asarray(value).astype(compute_dtype(x.dtype))
        if a.ndim and a.shape != x.shape:
            try:
                shape = jnp.broadcast_shapes(a.shape, x.shape)
            except ValueError:
                shape = None
            if shape != x.shape:
                raise ValueError(f"{self.__name__}: {name} of shape {a.shape} does not broadcast to the input's "
                                 f"shape {x.shape} (give a scalar, or one value per channel of the last axis)")
            a = jnp.broadcast_to(a, x.shape)  # explicit: rank promotion may be strict
        return a

    def validate(self, params: dict[str, Any]) -> None:
        """TypeError for a hyperparameter of the wrong kind, ValueError for a value its checks reject."""
        check_types(self.__name__, self.hyperparameters, params)
        run_checks(self.__name__, self._checks, params)

    def _prepare(self, x: ArrayLike, hyperparameters: dict[str, Any]) -> tuple[Array, dict[str, Any]]:
        params = bind(self.__name__, self._signature, hyperparameters)
        self.validate(params)
        x = as_float(x, self.__name__)
        for k in self._float_names:
            params[k] = self._float_hyperparameter(k, params[k], x)
        return x, params

    def __call__(self, x: ArrayLike, **hyperparameters) -> Array:
        x, params = self._prepare(x, hyperparameters)
        return self._core(*(params[k] for k in self._static_names), x, *(params[k] for k in self._float_names))

    def derivative(self, x: ArrayLike, *, wrt: str = "x", **hyperparameters) -> Array:
        """The hand-written derivative d activation / d ``wrt`` (x or a float hyperparameter), elementwise."""
        if wrt != "x" and wrt not in self._float_names:
            raise ValueError(f"{self.__name__}: cannot differentiate with respect to {wrt!r}; "
                             f"allowed: {['x', *self._float_names]}")
        x, params = self._prepare(x, hyperparameters)
        xc = x.astype(compute_dtype(x.dtype))
        y = self._value(xc, **params)
        rule = self._derivative if wrt == "x" else self._partials[wrt]
        return jnp.broadcast_to(self._nan_at_nan(wrt, rule(xc, y, **params), xc, ()), x.shape).astype(x.dtype)

    def __repr__(self) -> str:
        return f"<activation {self.__name__}{self._signature}>"


def elementwise(value: Callable[..., Array] | None = None, *, checks: Sequence[Check] = ()):
    """Decorator: ``@elementwise`` or ``@elementwise(checks=[...])`` over a value function."""
    if value is None:
        return lambda v: Elementwise(v, checks)
    return Elementwise(value, checks)
