"""Activation functions, each followed by its hand-written derivative.

Conventions shared by all of them:

* ``x`` is any array; integers become the default float; the output has ``x``'s dtype.
* Hyperparameters are keyword-only with defaults; the docstring says which library a default follows.
* The derivative at a kink is stated next to its rule. At a kink at 0 we follow jax.nn and PyTorch
  (relu'(0) = 0, elu'(0) = alpha). Clipping functions (relu6, hard_tanh, ...) have derivative 0 at
  their corners, as both libraries.
* Every float hyperparameter is differentiable: its partial derivative is written beside the
  x-derivative (``@fn.defpartial("alpha")``). bool and int hyperparameters are static.
* Forms are safe by construction: no ``exp`` of a large argument, no ``x**2`` that can overflow,
  no ``0 * inf``, no inf or NaN in a branch that ``where`` discards (its gradient would be NaN);
  NaN in gives NaN out. Complex input is a TypeError.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array, lax
from jax.typing import ArrayLike

from jaxacts._src.elementwise import as_float, check_types, elementwise, nan_at_nan

# Klambauer et al. 2017, arXiv 1706.02515 (32 digits, as the paper's code, jax.nn and PyTorch).
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

_SQRT_2 = 1.4142135623730951
_SQRT_2_OVER_PI = 0.7978845608028654
_INV_SQRT_2PI = 0.3989422804014327

_positive = lambda name: (lambda p: p[name] > 0, f"{name} must be > 0")
_nonnegative = lambda name: (lambda p: p[name] >= 0, f"{name} must be >= 0")


def _exp_neg_abs(x: Array) -> Array:
    """exp(-|x|) in (0, 1]: the term of softplus-like forms that never overflows."""
    return jnp.exp(-jnp.abs(x))


def _sigmoid(x: Array) -> Array:
    # lax.logistic is XLA's own stable logistic (full relative precision in the left tail).
    return lax.logistic(x)


def _logistic_pair(z: Array) -> tuple[Array, Array, Array]:
    """(sigmoid(z), sigmoid(-z), e) from one e = exp(-z): s = 1/(1 + e) (XLA's own logistic), and
    sigmoid(-z) = e s where e < 1 (z > 0: the right tail, where 1 - s would round it to 0), 1 - s
    where e >= 1 (s <= 1/2: exact; and no inf * 0 where e overflows, z < -88.7 in float32).

    Both keep full relative precision in both tails. A value and a derivative written with this share
    the exp: XLA merges identical exps into one, which it computes once and keeps (it does not
    recompute an exp in each consumer); the condition on e rather than z saves a read of z. NaN in
    gives NaN out.
    """
    e = jnp.exp(-z)
    s = 1.0 / (1.0 + e)
    return s, jnp.where(e < 1.0, e * s, 1.0 - s), e


def _logistic_parts(z: Array) -> tuple[Array, Array]:
    """(sigmoid(z), sigmoid'(z)) from one exp(-|z|): e = exp(-|z|), r = 1/(1 + e),
    sigmoid(z) = r or e r (z >= 0 or not), sigmoid'(z) = e r^2. Every factor is exact in its tail,
    so both tails keep full relative precision, and so does the derivative of each (unlike
    lax.logistic's, sigma (1 - sigma), which is 0 in the right tail)."""
    e = _exp_neg_abs(z)
    r = 1.0 / (1.0 + e)
    er = e * r
    return jnp.where(z >= 0, r, er), er * r


def _where_nonzero(factor: Array, x: Array) -> Array:
    """x where ``factor`` is not 0, else 0: for a term x * factor whose factor underflowed, so that
    differentiating it never meets inf * 0 (x may be near the largest float there)."""
    return jnp.where(factor != 0, x, 0.0)


def _horner(coefficients, t: Array) -> Array:
    """sum_k coefficients[k] t^k."""
    acc = jnp.full_like(t, coefficients[-1])
    for c in reversed(coefficients[:-1]):
        acc = acc * t + c
    return acc


def _between(x: Array, low, high) -> Array:
    """Indicator of the open interval (low, high) in x's dtype."""
    return ((x > low) & (x < high)).astype(x.dtype)


# Second derivatives. They are automatic derivatives of the hand-written first derivatives, and where
# autodiff of a rule's cheap form cancels (1 - tanh^2 x is 0 beyond |x| ~ 9 in float32 where the true
# value is 1e-8; sigma'' = sigma' (1 - 2 sigma) is 0.25 - 0.25 at x = 1e-30), the rule is a custom_jvp
# whose value is the cheap form and whose derivative is written by hand in a tail-exact form. The value
# is all the first-order path (jax.grad, training) computes, so it costs nothing there.


def _sech2(x: Array) -> Array:
    """sech^2 x = 1 - tanh^2 x = 4e/(1 + e)^2 with e = e^{-2|x|}: exact in both tails."""
    return 4.0 * _logistic_parts(2.0 * x)[1]


def _second_order(jvp_coefficients):
    """Decorator: ``rule(x, *hyperparameters)`` becomes a custom_jvp whose derivative is
    ``sum_i coefficient_i * tangent_i``, with ``jvp_coefficients(x, *hyperparameters)`` giving one
    coefficient per argument (d rule / d x, d rule / d h, ...), written by hand."""
    def wrap(rule):
        rule = jax.custom_jvp(rule)

        @rule.defjvp
        def _jvp(primals, tangents):
            coefficients = jvp_coefficients(*primals)
            return rule(*primals), functools.reduce(jnp.add, [c * t for c, t in zip(coefficients, tangents)])

        return rule
    return wrap


# ----------------------------------------------------------------------------- linear and steps


@elementwise
def identity(x: ArrayLike) -> Array:
    r"""Identity (linear) activation: :math:`f(x) = x`.

    Derivative: 1 everywhere.

    >>> identity(jnp.array([-1.0, 2.0], jnp.float32))
    Array([-1.,  2.], dtype=float32)
    """
    return x


@identity.defderivative
def _identity_derivative(x, y):
    return jnp.ones_like(x)


@elementwise
def heaviside(x: ArrayLike, *, at_zero: float = 0.5) -> Array:
    r"""Unit step (Heaviside): :math:`f(x) = 0` for x < 0, ``at_zero`` at 0, 1 for x > 0.

    Derivative: 0 everywhere (the Dirac delta at 0 is not representable; no gradient flows,
    as in ``jnp.heaviside``). Default ``at_zero = 0.5`` (the half-maximum convention).

    >>> heaviside(jnp.array([-2.0, 0.0, 3.0], jnp.float32))
    Array([0. , 0.5, 1. ], dtype=float32)
    """
    y = jnp.where(x > 0, 1.0, jnp.where(x < 0, 0.0, at_zero)).astype(x.dtype)
    return jnp.where(jnp.isnan(x), x, y)


@heaviside.defderivative
def _heaviside_derivative(x, y, *, at_zero):
    return jnp.zeros_like(x)


@heaviside.defpartial("at_zero")
def _heaviside_d_at_zero(x, y, *, at_zero):
    return (x == 0).astype(x.dtype)


@elementwise
def sign(x: ArrayLike) -> Array:
    r"""Sign: :math:`f(x) = -1, 0, 1` for x < 0, x = 0, x > 0.

    Derivative: 0 everywhere (delta at 0 not represented).
    """
    return jnp.sign(x)


@sign.defderivative
def _sign_derivative(x, y):
    return jnp.zeros_like(x)


@elementwise
def piecewise_linear(x: ArrayLike) -> Array:
    r"""Piecewise linear unit: 0 for x < -1/2, x + 1/2 on [-1/2, 1/2], 1 for x > 1/2.

    :math:`f(x) = \min(\max(x + 1/2, 0), 1)`. Derivative: 1 on (-1/2, 1/2), 0 outside and at the
    two corners (as clipping functions in jax.nn and PyTorch).
    """
    return jnp.clip(x + 0.5, 0.0, 1.0)


@piecewise_linear.defderivative
def _piecewise_linear_derivative(x, y):
    return _between(x, -0.5, 0.5)


# ----------------------------------------------------------------------------- sigmoids


@elementwise
def sigmoid(x: ArrayLike) -> Array:
    r"""Logistic sigmoid: :math:`\sigma(x) = 1 / (1 + e^{-x})`.

    :math:`1/(1 + e)` with :math:`e = e^{-x}` (XLA's logistic): neither tail overflows and the left
    tail keeps full relative precision.
    Derivative: :math:`\sigma(x)\sigma(-x)` with :math:`\sigma(-x) = e\,\sigma(x)` from the same exp,
    so the right tail does not round to 0 as :math:`1 - \sigma(x)` would, and value and derivative
    cost one exp together, as jax.nn's.

    >>> sigmoid(jnp.array([0.0], jnp.float32))
    Array([0.5], dtype=float32)
    """
    return _logistic_pair(x)[0]


@sigmoid.defderivative(propagates_nan=True)
def _sigmoid_derivative(x, y):
    return _sigmoid_slope(x)


# sigma'' = sigma' (1 - 2 sigma) = -sigma' tanh(x/2): no cancellation at 0 (sigma''(1e-30) = -1.25e-31).
# From x alone, not from the saved output y: XLA merges this sigma(x) with y's all the same, and a
# second derivative never meets the tangent of y (autodiff of 1/(1 + e) is inf * 0 where e overflows).
@_second_order(lambda x: (-_logistic_parts(x)[1] * jnp.tanh(0.5 * x),))
def _sigmoid_slope(x):
    s, s_neg, _ = _logistic_pair(x)
    return s * s_neg


@elementwise
def log_sigmoid(x: ArrayLike) -> Array:
    r"""Log-sigmoid: :math:`\log \sigma(x) = -\mathrm{softplus}(-x) = \min(x, 0) - \log(1 + e^{-|x|})`.

    Derivative: :math:`\sigma(-x)`.
    """
    e = _exp_neg_abs(x)
    return jnp.minimum(x, 0.0) - jnp.log1p(e)


@log_sigmoid.defderivative(propagates_nan=True)
def _log_sigmoid_derivative(x, y):
    return _logistic_parts(-x)[0]  # explicit e form: its own derivative keeps both tails


@elementwise
def hard_sigmoid(x: ArrayLike) -> Array:
    r"""Hard sigmoid (MobileNetV3): :math:`\mathrm{relu6}(x + 3) / 6`.

    Follows jax.nn and PyTorch (Keras 2 used slope 0.2; Keras 3 uses this one). Derivative: 1/6 on
    (-3, 3), 0 elsewhere including the corners.
    """
    return jnp.clip(x + 3.0, 0.0, 6.0) / 6.0


@hard_sigmoid.defderivative
def _hard_sigmoid_derivative(x, y):
    return _between(x, -3.0, 3.0) / 6.0


@elementwise
def sparse_sigmoid(x: ArrayLike) -> Array:
    r"""Sparse sigmoid (jax.nn): 0 for x <= -1, (x + 1)/2 between, 1 for x >= 1.

    Derivative: 1/2 on (-1, 1), 0 elsewhere including the corners.
    """
    return 0.5 * jnp.clip(x + 1.0, 0.0, 2.0)


@sparse_sigmoid.defderivative
def _sparse_sigmoid_derivative(x, y):
    return 0.5 * _between(x, -1.0, 1.0)


@elementwise
def tanh(x: ArrayLike) -> Array:
    r"""Hyperbolic tangent: :math:`\tanh x`.

    Derivative: :math:`1 - \tanh^2 x = 4e/(1 + e)^2` with :math:`e = e^{-2|x|}` (1 - tanh^2 from the
    output rounds to 0 beyond |x| ~ 9 in float32, where the true value is still 1e-8).
    """
    return jnp.tanh(x)


@tanh.defderivative(propagates_nan=True)
def _tanh_derivative(x, y):
    return _tanh_slope(x)


# tanh'' = -2 tanh(x) sech^2(x) (autodiff of 4e/(1 + e)^2 cancels to 0 at x = 1e-30).
@_second_order(lambda x: (-2.0 * jnp.tanh(x) * _sech2(x),))
def _tanh_slope(x):
    return _sech2(x)


@elementwise
def scaled_tanh(x: ArrayLike, *, a: float = 1.7159, b: float = 2.0 / 3.0) -> Array:
    r"""Scaled hyperbolic tangent (LeCun, Bottou, Orr & Müller 1998, "Efficient BackProp", section 4.4):
    :math:`a \tanh(b x)`.

    The defaults are the paper's recommended sigmoid :math:`1.7159 \tanh(2x/3)`, chosen so that
    f(±1) = ±1 (1.7159 is the paper's rounding of 1/tanh(2/3) = 1.7159047: f(1) = 0.9999973) and |f''|
    is largest near ±1 (at ±0.987). ``scaled_tanh(a=1/2, b=1/2)`` is exactly the centred logistic
    sigmoid :math:`\sigma(x) - 1/2` (as :math:`\sigma(x) = (1 + \tanh(x/2))/2`): the sigmoid's slope
    1/4 at 0, but zero-centred, with range (-1/2, 1/2). Any finite a and b are allowed (a = 0 or b = 0
    give the zero function; a negative a or b flips the sign); the output lies in (-|a|, |a|).

    Derivative: :math:`a b\,\mathrm{sech}^2(b x)`, with :math:`\mathrm{sech}^2 = 4e/(1 + e)^2`,
    :math:`e = e^{-2|bx|}` (not :math:`1 - \tanh^2`, which rounds to 0 in the tails). In a:
    :math:`\tanh(b x)`; in b: :math:`a x\,\mathrm{sech}^2(b x)`. Their own derivatives (second, mixed in
    both orders, in a and b) are written by hand too, from :math:`\partial_z \mathrm{sech}^2 z = -2\tanh z\,
    \mathrm{sech}^2 z`, with :math:`x\,\mathrm{sech}^2` and :math:`x^2\,\mathrm{sech}^2` taken as one exp
    where sech^2 alone is below the smallest normal number: all exact in the tails.

    >>> scaled_tanh(jnp.array([-1.0, 0.0, 1.0], jnp.float64)).round(6)
    Array([-0.999997,  0.      ,  0.999997], dtype=float64)
    """
    return a * jnp.tanh(b * x)


def _scaled_tanh_parts(x, b):
    """(tanh z, sech^2 z, x sech^2 z, x^2 sech^2 z) at z = b x. The two products are taken as one exp,
    4 |x|^k e^{-2|z|}, where sech^2 z alone is below the smallest normal number (XLA flushes it to 0)
    and they are not: x^2 sech^2 = 9.5e-35 at x = 88.7, b = 1/2 in float32, where sech^2 is 1.2e-38.
    Neither branch meets inf * 0 or log 0 (x is 0 in the direct one past underflow, |x| is 1 in the
    exp one before it, and never inf)."""
    z = b * x
    s = _sech2(z)
    normal = s >= jnp.finfo(s.dtype).tiny
    xs = jnp.where(normal, x, 0.0)
    log_ax = jnp.log(jnp.where(normal, 1.0, jnp.minimum(jnp.abs(x), jnp.finfo(x.dtype).max)))
    tail = lambda k: jnp.exp(k * log_ax + (math.log(4.0) - 2.0 * jnp.abs(z)))  # 4 |x|^k e^{-2|z|}
    return (jnp.tanh(z), s, jnp.where(normal, xs * s, jnp.sign(x) * tail(1.0)),
            jnp.where(normal, xs * (xs * s), tail(2.0)))


@scaled_tanh.defderivative
def _scaled_tanh_derivative(x, y, *, a, b):
    return _scaled_tanh_slope(x, a, b)


def _scaled_tanh_mixed(x, a, b):
    """d2f/dx db = d/db (a b sech^2(bx)) = a sech^2(z) (1 - 2 z tanh z), z = b x, both orders. Past
    sech^2's underflow (tanh z = sign z there) as one exp, -4 (2|z| - 1) e^{-2|z|}: its sech^2 term is
    1/(2|z|) of the whole, 1% at z = 44, lost with sech^2."""
    t, s, xs, _ = _scaled_tanh_parts(x, b)
    normal = s >= jnp.finfo(s.dtype).tiny
    zc = jnp.where(normal, 1.0, jnp.minimum(jnp.abs(b * x), 1e4))  # e^-20000 = 0 in every dtype
    tail = -jnp.exp(jnp.log(2.0 * zc - 1.0) + (math.log(4.0) - 2.0 * zc))
    return a * jnp.where(normal, s - 2.0 * b * (xs * t), tail)


# f'' = -2 a b^2 tanh(bx) sech^2(bx); d/da f' = b sech^2(bx); d/db f' as above.
@_second_order(lambda x, a, b: (-2.0 * (a * b * b) * (jnp.tanh(b * x) * _sech2(b * x)), b * _sech2(b * x),
                                _scaled_tanh_mixed(x, a, b)))
def _scaled_tanh_slope(x, a, b):
    return (a * b) * _sech2(b * x)


@scaled_tanh.defpartial("a")
def _scaled_tanh_d_a(x, y, *, a, b):
    return _scaled_tanh_a_slope(x, b)


# d/dx tanh(bx) = b sech^2(bx); d/db tanh(bx) = x sech^2(bx) (autodiff of tanh would give 1 - tanh^2: 0).
@_second_order(lambda x, b: (b * _sech2(b * x), _scaled_tanh_parts(x, b)[2]))
def _scaled_tanh_a_slope(x, b):
    return jnp.tanh(b * x)


@scaled_tanh.defpartial("b")
def _scaled_tanh_d_b(x, y, *, a, b):
    return _scaled_tanh_b_slope(x, a, b)


def _scaled_tanh_b_coefficients(x, a, b):
    """d/dx (a x sech^2(bx)) as above; d/da = x sech^2(bx); d2f/db2 = -2 a x^2 tanh(bx) sech^2(bx)."""
    t, _, xs, xxs = _scaled_tanh_parts(x, b)
    return _scaled_tanh_mixed(x, a, b), xs, -2.0 * a * (xxs * t)


@_second_order(_scaled_tanh_b_coefficients)
def _scaled_tanh_b_slope(x, a, b):
    return a * _scaled_tanh_parts(x, b)[2]  # a x sech^2(bx), x sech^2 exact past sech^2's underflow


@elementwise
def softsign(x: ArrayLike) -> Array:
    r"""Softsign: :math:`x / (1 + |x|)`. Derivative: :math:`1 / (1 + |x|)^2`."""
    return x / (1.0 + jnp.abs(x))


@softsign.defderivative(propagates_nan=True)
def _softsign_derivative(x, y):
    return _softsign_slope(x)


# f'' = -2 sign(x) / (1 + |x|)^3, 0 at x = 0: the mean of its one-sided values, as a central difference
# (autodiff of |x| takes the right one there, -2).
@_second_order(lambda x: (-2.0 * jnp.sign(x) / (1.0 + jnp.abs(x)) ** 3,))
def _softsign_slope(x):
    r = 1.0 / (1.0 + jnp.abs(x))
    return r * r


@elementwise(checks=[(lambda p: p["min_val"] < p["max_val"], "min_val must be < max_val")])
def hard_tanh(x: ArrayLike, *, min_val: float = -1.0, max_val: float = 1.0) -> Array:
    r"""Hard tanh: :math:`\min(\max(x, \text{min\_val}), \text{max\_val})` (PyTorch's arguments).

    Derivative: 1 on (min_val, max_val), 0 elsewhere including the corners. In ``min_val``: 1 for
    x <= min_val; in ``max_val``: 1 for x >= max_val (the corners follow the bound, so that the three
    derivatives sum to 1 there as everywhere).
    """
    return jnp.clip(x, min_val, max_val)


@hard_tanh.defderivative
def _hard_tanh_derivative(x, y, *, min_val, max_val):
    return _between(x, min_val, max_val)


@hard_tanh.defpartial("min_val")
def _hard_tanh_d_min_val(x, y, *, min_val, max_val):
    return (x <= min_val).astype(x.dtype)


@hard_tanh.defpartial("max_val")
def _hard_tanh_d_max_val(x, y, *, min_val, max_val):
    return (x >= max_val).astype(x.dtype)


# ----------------------------------------------------------------------------- rectifiers


@elementwise
def relu(x: ArrayLike) -> Array:
    r"""Rectified linear unit: :math:`\max(x, 0)`.

    Derivative: 1 for x > 0, 0 for x <= 0 (relu'(0) = 0, as jax.nn and PyTorch).

    >>> relu(jnp.array([-1.0, 0.0, 2.0], jnp.float32))
    Array([0., 0., 2.], dtype=float32)
    """
    return jnp.maximum(x, 0.0)


@relu.defderivative
def _relu_derivative(x, y):
    return (x > 0).astype(x.dtype)


@elementwise
def relu6(x: ArrayLike) -> Array:
    r"""ReLU capped at 6: :math:`\min(\max(x, 0), 6)`. Derivative: 1 on (0, 6), 0 elsewhere and at 0 and 6."""
    return jnp.clip(x, 0.0, 6.0)


@relu6.defderivative
def _relu6_derivative(x, y):
    return _between(x, 0.0, 6.0)


@elementwise
def leaky_relu(x: ArrayLike, *, negative_slope: float = 0.01) -> Array:
    r"""Leaky ReLU: :math:`x` for x > 0, :math:`a x` otherwise (a = ``negative_slope``).

    Default 0.01 follows jax.nn and PyTorch (Keras uses 0.2/0.3). Derivative: 1 for x > 0, ``a`` for
    x <= 0 -- at 0 this follows PyTorch (slope); jax.nn gives 1 there.
    """
    return jnp.where(x > 0, x, negative_slope * x)


@leaky_relu.defderivative
def _leaky_relu_derivative(x, y, *, negative_slope):
    return jnp.where(x > 0, 1.0, negative_slope).astype(x.dtype)


@leaky_relu.defpartial("negative_slope")
def _leaky_relu_d_slope(x, y, *, negative_slope):
    return jnp.where(x > 0, 0.0, x)


@elementwise(checks=[(lambda p: p["lower"] <= p["upper"], "lower must be <= upper"),
                     _nonnegative("lower"),
                     (lambda p: not p["training"] or p["key"] is not None, "training=True needs a PRNG key")])
def rrelu(x: ArrayLike, *, lower: float = 1.0 / 8.0, upper: float = 1.0 / 3.0,
          key: Array | None = None, training: bool = False) -> Array:
    r"""Randomized leaky ReLU (Xu et al. 2015, arXiv 1505.00853): :math:`x` for x > 0, :math:`a x` otherwise.

    In training each element draws its own slope :math:`a = l + (u - l) U`, :math:`U \sim U(0, 1)` from
    ``key`` (l = ``lower``, u = ``upper``); in evaluation :math:`a = (l + u)/2`. We follow PyTorch's
    parametrisation (slope drawn directly, defaults 1/8 and 1/3, eval slope 0.229); the paper instead
    divides by :math:`U(3, 8)` and uses 2/11 at test time -- pass ``lower=1/8, upper=1/3`` vs. the
    paper's bounds on the divisor accordingly. Derivative: 1 for x > 0, the same slope for x <= 0.
    The bounds are differentiable through that reparametrisation (the draw U held fixed):
    d/dl = (1 - U) x and d/du = U x for x <= 0 (x/2 each in evaluation), 0 for x > 0.
    """
    return jnp.where(x > 0, x, _rrelu_slope(x, lower, upper, key, training) * x)


def _rrelu_fraction(x, key, training):
    """U of the slope l + (u - l) U: uniform per element in training, 1/2 in evaluation."""
    if training:
        return jax.random.uniform(key, x.shape, x.dtype)
    return jnp.asarray(0.5, x.dtype)


def _rrelu_slope(x, lower, upper, key, training):
    if training:  # the same arithmetic as jax.random.uniform(key, shape, minval=lower, maxval=upper)
        return _rrelu_fraction(x, key, training) * (upper - lower) + lower
    return (lower + upper) / 2.0


@rrelu.defderivative
def _rrelu_derivative(x, y, *, lower, upper, key, training):
    return jnp.where(x > 0, 1.0, _rrelu_slope(x, lower, upper, key, training)).astype(x.dtype)


@rrelu.defpartial("lower")
def _rrelu_d_lower(x, y, *, lower, upper, key, training):
    return jnp.where(x > 0, 0.0, (1.0 - _rrelu_fraction(x, key, training)) * x)


@rrelu.defpartial("upper")
def _rrelu_d_upper(x, y, *, lower, upper, key, training):
    return jnp.where(x > 0, 0.0, _rrelu_fraction(x, key, training) * x)


@elementwise
def prelu(x: ArrayLike, *, slope: float = 0.25) -> Array:
    r"""Parametric ReLU (He et al. 2015, arXiv 1502.01852): :math:`x` for x > 0, :math:`a x` otherwise.

    The leaky ReLU with PReLU's initial slope: default 0.25 follows He et al. and PyTorch (Flax uses
    0.01). ``slope`` may be an array, one per channel of the last axis; in models ``prelu`` learns it
    (``prelu(slope=learn(0.25, per_channel))``). Derivative in x: 1 for x > 0, ``a`` for x <= 0; in a:
    x for x <= 0, else 0.
    """
    return jnp.where(x > 0, x, slope * x)


@prelu.defderivative
def _prelu_derivative(x, y, *, slope):
    return jnp.where(x > 0, 1.0, slope).astype(x.dtype)


@prelu.defpartial("slope")
def _prelu_d_slope(x, y, *, slope):
    return jnp.where(x > 0, 0.0, x)


@elementwise
def threshold(x: ArrayLike, *, threshold: float = 0.0, value: float = 0.0) -> Array:
    r"""Threshold (PyTorch): :math:`x` for x > threshold, ``value`` otherwise.

    Defaults 0, 0 (Keras' ReLU threshold; PyTorch requires both). Derivative: 1 for x > threshold, 0
    otherwise (0 at the threshold, as PyTorch). In ``value``: 1 for x <= threshold, else 0; in
    ``threshold``: 0 (the jump at x = threshold is a delta, not represented).
    """
    return jnp.where(x <= threshold, value, x).astype(x.dtype)


@threshold.defderivative
def _threshold_derivative(x, y, *, threshold, value):
    return (x > threshold).astype(x.dtype)


@threshold.defpartial("threshold")
def _threshold_d_threshold(x, y, *, threshold, value):
    return jnp.zeros_like(x)


@threshold.defpartial("value")
def _threshold_d_value(x, y, *, threshold, value):
    return (x <= threshold).astype(x.dtype)


# ----------------------------------------------------------------------------- exponential units


def _expm1_neg(x: Array) -> Array:
    """e^x - 1 of the non-positive part of x (never overflows)."""
    return jnp.expm1(jnp.minimum(x, 0.0))


@jax.custom_jvp
def _expm1(u: Array) -> Array:
    """e^u - 1 whose derivative is e^u, for derivative rules that are differentiated again.

    JAX differentiates expm1 to expm1(u) + 1, which cancels in the left tail (float32: 5.96e-8 for
    e^-17, 0 for e^-20; float64: 0 from u = -40). The value is expm1's, so it costs nothing where the
    rule is not differentiated; value functions keep plain expm1 (their derivative is hand-written).
    """
    return jnp.expm1(u)


@_expm1.defjvp
def _expm1_jvp(primals, tangents):
    (u,), (t,) = primals, tangents
    return _expm1(u), jnp.exp(u) * t


def _expm1_neg_rule(x: Array) -> Array:
    """_expm1_neg for derivative rules: the same value, an exact derivative e^x (x < 0)."""
    return _expm1(jnp.minimum(x, 0.0))


@elementwise(checks=[_nonnegative("alpha")])
def elu(x: ArrayLike, *, alpha: float = 1.0) -> Array:
    r"""Exponential linear unit (Clevert et al. 2015): :math:`x` for x > 0, :math:`\alpha(e^x - 1)` otherwise.

    Derivative: 1 for x > 0, :math:`\alpha e^x` for x <= 0 (elu'(0) = alpha as jax.nn and PyTorch;
    not :math:`f(x) + \alpha`, which cancels to 0 in float32 by x = -17). In alpha: :math:`e^x - 1`
    for x <= 0, else 0.
    """
    return jnp.where(x > 0, x, alpha * _expm1_neg(x))


@elu.defderivative(propagates_nan=True)
def _elu_derivative(x, y, *, alpha):
    return jnp.where(x > 0, 1.0, alpha * jnp.exp(jnp.minimum(x, 0.0)))  # not y + alpha: it cancels in the tail


@elu.defpartial("alpha")
def _elu_d_alpha(x, y, *, alpha):
    return jnp.where(x > 0, 0.0, _expm1_neg_rule(x))


@elementwise(checks=[_nonnegative("alpha"), _positive("scale")])
def selu(x: ArrayLike, *, alpha: float = SELU_ALPHA, scale: float = SELU_SCALE) -> Array:
    r"""Scaled ELU (Klambauer et al. 2017, arXiv 1706.02515): :math:`\lambda x` for x > 0, :math:`\lambda\alpha(e^x - 1)` otherwise.

    alpha_01 = 1.6732632423543772..., lambda_01 = 1.0507009873554804... make (mean 0, variance 1) an
    attracting fixed point of a layer with LeCun-normal weights. Derivative: :math:`\lambda` for
    x > 0, :math:`\lambda\alpha e^x` for x <= 0 (left value at 0 as jax.nn and PyTorch; not
    :math:`f(x) + \lambda\alpha`, which rounds to a small negative number in the tail). In alpha: :math:`\lambda(e^x - 1)` for x <= 0, else 0;
    in lambda (``scale``): f / lambda.

    >>> round(float(selu(jnp.array(1.0))), 6)
    1.050701
    """
    return scale * jnp.where(x > 0, x, alpha * _expm1_neg(x))


@selu.defderivative(propagates_nan=True)
def _selu_derivative(x, y, *, alpha, scale):
    return jnp.where(x > 0, scale, scale * alpha * jnp.exp(jnp.minimum(x, 0.0)))


@selu.defpartial("alpha")
def _selu_d_alpha(x, y, *, alpha, scale):
    return jnp.where(x > 0, 0.0, scale * _expm1_neg_rule(x))


@selu.defpartial("scale")
def _selu_d_scale(x, y, *, alpha, scale):
    return jnp.where(x > 0, x, alpha * _expm1_neg_rule(x))


# u^2 * sum_k c_k u^k = expm1(u) - u e^u, c_k = -(k + 1)/(k + 2)! (the Taylor series; |u| <= 1/2).
_CELU_SERIES = (-0.5, -0.3333333333333333, -0.125, -0.03333333333333333, -0.006944444444444444,
                -0.0011904761904761906, -0.00017361111111111112, -2.2045855379188714e-05, -2.48015873015873e-06,
                -2.505210838544172e-07, -2.296443268665491e-08, -1.9270852604185937e-09, -1.4911969277048643e-10,
                -1.0706029224547743e-11, -7.169215998581078e-13, -4.498331606952833e-14)


@elementwise(checks=[_positive("alpha")])
def celu(x: ArrayLike, *, alpha: float = 1.0) -> Array:
    r"""Continuously differentiable ELU (Barron 2017): :math:`x` for x > 0, :math:`\alpha(e^{x/\alpha} - 1)` otherwise.

    Derivative: 1 for x > 0, :math:`e^{x/\alpha}` otherwise (continuous at 0). In
    alpha: :math:`e^u - 1 - u e^u` with :math:`u = x/\alpha` for x <= 0 (its Taylor series for
    :math:`|u| < 1/2`, where the two terms cancel), else 0.
    """
    return jnp.where(x > 0, x, alpha * jnp.expm1(jnp.minimum(x, 0.0) / alpha))


@celu.defderivative(propagates_nan=True)
def _celu_derivative(x, y, *, alpha):
    return jnp.where(x > 0, 1.0, jnp.exp(jnp.minimum(x, 0.0) / alpha))


@celu.defpartial("alpha", propagates_nan=True)
def _celu_d_alpha(x, y, *, alpha):
    u = jnp.maximum(jnp.minimum(x, 0.0) / alpha, -1e3)  # e^-1000 = 0 in every dtype; keeps u e^u from -inf * 0
    small = u > -0.5
    us = jnp.where(small, u, 0.0)  # the series never sees a large u (its powers would overflow)
    ul = jnp.where(small, -1.0, u)
    series = us * us * _horner(_CELU_SERIES, us)
    # Differentiated (d2f/dx dalpha, d2f/dalpha2): e^u - (e^u + u e^u) leaves -u e^u exactly, where
    # jnp.expm1's derivative expm1(u) + 1 would cancel (2.5% off at x = -20, alpha = 0.5).
    direct = _expm1(ul) - ul * jnp.exp(ul)
    return jnp.where(x > 0, 0.0, jnp.where(small, series, direct))


# ----------------------------------------------------------------------------- smooth rectifiers


@elementwise
def gelu(x: ArrayLike, *, approximate: bool = False) -> Array:
    r"""Gaussian error linear unit (Hendrycks & Gimpel 2016): :math:`x\,\Phi(x)`.

    Exact by default, as PyTorch and Keras (jax.nn defaults to the tanh form). Exact form:
    :math:`\tfrac12 x\,\mathrm{erfc}(-x/\sqrt2)`, precise in the left tail. ``approximate=True``:
    :math:`\tfrac12 x (1 + \tanh u)`, :math:`u = \sqrt{2/\pi}(x + 0.044715 x^3)`, written as
    :math:`x\,\sigma(2u)` with u computed from x clipped to [-100, 100] (where the sigmoid is already
    0 or 1), so x^3 never overflows. Derivative: :math:`\Phi(x) + x\varphi(x)` (exact), and
    :math:`\sigma(2u) + 2x\sigma'(2u)u'` (approximate). ``approximate`` is static (no derivative).
    """
    if approximate:
        return x * _sigmoid(2.0 * _gelu_u(x))
    return 0.5 * x * lax.erfc(-x / _SQRT_2)


def _gelu_u(x):
    xc = jnp.clip(x, -100.0, 100.0)
    return _SQRT_2_OVER_PI * (xc + 0.044715 * xc * xc * xc)


@gelu.defderivative(propagates_nan=True)
def _gelu_derivative(x, y, *, approximate):
    if approximate:
        xc = jnp.clip(x, -100.0, 100.0)
        u2 = 2.0 * _gelu_u(x)
        du2 = 2.0 * _SQRT_2_OVER_PI * (1.0 + 3.0 * 0.044715 * xc * xc)
        s, slope = _logistic_parts(u2)
        return s + _where_nonzero(slope, x) * slope * du2
    # exp(-x^2/2): x*x may be inf for huge |x|, exp(-inf) = 0 and x * 0 stays finite.
    return 0.5 * lax.erfc(-x / _SQRT_2) + x * _INV_SQRT_2PI * jnp.exp(-0.5 * x * x)


@elementwise
def silu(x: ArrayLike, *, beta: float = 1.0) -> Array:
    r"""SiLU / Swish (Elfwing et al. 2017; Ramachandran et al. 2017): :math:`x\,\sigma(\beta x)`.

    beta = 1 is SiLU (jax.nn, PyTorch, Keras). Derivative:
    :math:`\sigma(\beta x) + \beta x\,\sigma(\beta x)\sigma(-\beta x)` (both tails exact). In beta:
    :math:`x^2 \sigma(\beta x)\sigma(-\beta x)`, written :math:`e x^2/(1 + e)^2`, :math:`e = e^{-\beta|x|}`.
    """
    # x / (1 + e) rather than x sigma(beta x): sigma would be a second array that XLA keeps (besides e,
    # which the derivative shares), and one rounding less. e = inf (beta x < -88.7) gives -0.
    return x / (1.0 + _logistic_pair(beta * x)[2])


@silu.defderivative(propagates_nan=True)
def _silu_derivative(x, y, *, beta):
    return _silu_slope(x, beta)


@silu.defpartial("beta", propagates_nan=True)
def _silu_d_beta(x, y, *, beta):
    return _silu_beta_slope(x, beta)


def _silu_second(x, beta):
    """(z, sigma'(z) K) for z = beta x, K = 2 - z tanh(z/2): f'' = beta sigma' K, d2f/dx dbeta = x sigma' K,
    d2f/dbeta2 = x^3 sigma''(z) = -x^3 sigma'(z) tanh(z/2). x is 0 where sigma' underflows (no inf * 0)."""
    z = beta * x
    slope = _logistic_parts(z)[1]
    xs = _where_nonzero(slope, x)
    zs = beta * xs
    return xs, slope * (2.0 - zs * jnp.tanh(0.5 * zs)), slope


@_second_order(lambda x, beta: (lambda xs, sk, _: (beta * sk, xs * sk))(*_silu_second(x, beta)))
def _silu_slope(x, beta):
    s, s_neg, _ = _logistic_pair(beta * x)
    slope = s * s_neg
    return s + beta * (_where_nonzero(slope, x) * slope)


def _silu_beta_coefficients(x, beta):
    """d2f/dx dbeta = x sigma' K; d2f/dbeta2 = -x^3 sigma'(z) tanh(z/2), with x^3 e^{-|z|} as one exp:
    e^{-|z|} alone is subnormal at z = 88.7 in float32 (flushed to 0) where x^3 e^{-|z|} is 2e-33."""
    xs, sk, slope = _silu_second(x, beta)
    z = beta * x
    r = 1.0 / (1.0 + _exp_neg_abs(z))
    cube = jnp.where(slope > 0, xs * (xs * (xs * slope)),  # x^3 sigma'(z); the exp-log form only past
                     jnp.sign(x) * jnp.exp(3.0 * jnp.log(jnp.abs(x)) - jnp.abs(z)) * (r * r))  # underflow
    return xs * sk, -cube * jnp.tanh(0.5 * z)


@_second_order(_silu_beta_coefficients)
def _silu_beta_slope(x, beta):
    slope = _logistic_parts(beta * x)[1]
    xs = _where_nonzero(slope, x)  # |x| < 745/beta there: xs * xs does not overflow
    return xs * (xs * slope)


@elementwise
def hard_swish(x: ArrayLike) -> Array:
    r"""Hard swish / hard SiLU (Howard et al. 2019, MobileNetV3): :math:`x\,\mathrm{relu6}(x + 3)/6`.

    Derivative: 0 for x <= -3, (2x + 3)/6 on (-3, 3), 1 for x >= 3 -- the outer value at the corners,
    as jax.nn and PyTorch 2.13.
    """
    return x * (jnp.clip(x + 3.0, 0.0, 6.0) / 6.0)  # x * 6 could overflow


@hard_swish.defderivative
def _hard_swish_derivative(x, y):
    return jnp.where(x <= -3.0, 0.0, jnp.where(x >= 3.0, 1.0, (2.0 * x + 3.0) / 6.0)).astype(x.dtype)


# Beyond 24, tanh(softplus(x)) = 1 - 2e^{-2x} is 1 and x sech^2(softplus(x)) sigma(x) ~ 4x e^{-2x} < 2^-60:
# both are below half an ulp of 1 in float64; e^24 (e^24 + 2) ~ 7e20 does not overflow float32.
_MISH_CLIP = 24.0


def _mish_parts(x):
    """n = e^x (e^x + 2) so that tanh(softplus(x)) = n / (n + 2): one exp for value and derivative."""
    e = jnp.exp(jnp.minimum(x, _MISH_CLIP))
    n = e * (e + 2.0)
    return e, n, 1.0 / (n + 2.0)


@elementwise
def mish(x: ArrayLike) -> Array:
    r"""Mish (Misra 2019, arXiv 1908.08681): :math:`x \tanh(\mathrm{softplus}(x))`.

    With :math:`n = e^x(e^x + 2)`, :math:`\tanh(\mathrm{softplus}(x)) = n/(n + 2)`: a single exp.
    Derivative: :math:`\tanh(\mathrm{sp}(x)) + x\,\mathrm{sech}^2(\mathrm{sp}(x))\,\sigma(x)` with
    :math:`\mathrm{sech}^2 = 4(n + 1)/(n + 2)^2` (no cancellation); the second term is 0 beyond
    x = 24, where it is below float64's resolution (the exp is clipped there, the x factor is not).
    Minimum -0.30884 at x = -1.19243.
    """
    _, n, _ = _mish_parts(x)
    return x * (n / (n + 2.0))  # a division, not n * r: exactly 1 once n + 2 rounds to n


@mish.defderivative(propagates_nan=True)
def _mish_derivative(x, y):
    return _mish_slope(x)


def _mish_second(x):
    """f'' = sech^2(sp) sigma(x) (2 + x (sigma(-x) - 2 T sigma(x))), T = tanh(sp(x)), sp = softplus,
    from one e = e^{-|x|} without clipping (the first derivative clips at 24; f''(88.7) = -6.3e-75 is a
    float64 number): with n = e^x (e^x + 2), n + 1 = (1 + e^x)^2 and n + 2 = e^{2x} + 2e^x + 2, for x > 0
    divided through by e^{4x} (sech^2 = 4(1 + e)^2 e^2 / (1 + 2e + 2e^2)^2, T = (1 + 2e)/(1 + 2e + 2e^2))."""
    e = _exp_neg_abs(x)
    pos = x > 0
    den = jnp.where(pos, 1.0 + 2.0 * e * (1.0 + e), 2.0 + e * (e + 2.0))
    sech2 = 4.0 * ((1.0 + e) / den) ** 2 * jnp.where(pos, e * e, 1.0)
    tanh_sp = jnp.where(pos, 1.0 + 2.0 * e, e * (e + 2.0)) / den
    sig, sig_neg = _logistic_parts(x)[0], _logistic_parts(-x)[0]
    factor = sech2 * sig
    xs = _where_nonzero(factor, x)
    return (factor * (2.0 + xs * (sig_neg - 2.0 * tanh_sp * sig)),)


@_second_order(_mish_second)
def _mish_slope(x):
    e, n, r = _mish_parts(x)
    sech2 = 4.0 * (n + 1.0) * r * r
    return n / (n + 2.0) + jnp.where(x > _MISH_CLIP, 0.0, x * sech2 * (e / (1.0 + e)))


@elementwise(checks=[_positive("beta")])
def softplus(x: ArrayLike, *, beta: float = 1.0) -> Array:
    r"""Softplus: :math:`\tfrac1\beta \log(1 + e^{\beta x})`, computed as :math:`(\max(\beta x, 0) + \log(1 + e^{-|\beta x|}))/\beta`.

    beta = 1 matches jax.nn and Keras; PyTorch's ``beta`` is the same parameter (its linear
    ``threshold`` shortcut is unnecessary here: the form is exact). Derivative: :math:`\sigma(\beta x)`.
    In beta: :math:`(x\sigma(\beta x) - f)/\beta = -(\log(1 + e)/\beta + |x|\,e/(1 + e))/\beta` with
    :math:`e = e^{-\beta|x|}` (two terms of one sign: no cancellation).
    """
    e = _exp_neg_abs(beta * x)
    return jnp.maximum(x, 0.0) + jnp.log1p(e) / beta  # not max(beta x, 0) / beta: beta x may overflow


@softplus.defderivative(propagates_nan=True)
def _softplus_derivative(x, y, *, beta):
    return _logistic_parts(beta * x)[0]


@softplus.defpartial("beta", propagates_nan=True)
def _softplus_d_beta(x, y, *, beta):
    return _softplus_beta_slope(x, beta)


def _softplus_beta_coefficients(x, beta):
    """d/dx of df/dbeta = x sigma'(beta x) (its two terms cancel at x = 1e-30 under autodiff);
    d2f/dbeta2 = x^2 sigma'(beta x)/beta - 2 (df/dbeta)/beta, two terms of one sign."""
    slope = _logistic_parts(beta * x)[1]
    xs = _where_nonzero(slope, x)
    return xs * slope, (xs * (xs * slope) - 2.0 * _softplus_beta_slope(x, beta)) / beta


@_second_order(_softplus_beta_coefficients)
def _softplus_beta_slope(x, beta):
    e = _exp_neg_abs(beta * x)
    return -(jnp.log1p(e) / beta + jnp.abs(x) * (e / (1.0 + e))) / beta


def _squareplus_parts(x, b):
    """(h, q) with h = sqrt(x^2 + b) and q = b / (2 h (h + |x|)), safe to differentiate twice.

    (XLA rewrites (a/b)/c as a/(b c), so a denominator is guarded as the product it becomes.)

    Beyond sqrt(max)/4, where b is below the ulp of x^2, h = |x| and q = (b/4)/|x|/|x| (no square
    overflows). At h = 0 (b = 0 and x = 0) q takes its limit over b, 1/2, so that f'(0) = 1/2 for
    every b >= 0. No branch that ``where`` discards is inf or NaN.
    """
    big = math.sqrt(float(jnp.finfo(x.dtype).max)) / 4.0
    s = jnp.abs(x)
    large = s > big
    s_small = jnp.where(large, 0.0, s)
    hsq = s_small * s_small + b
    pos = hsq > 0  # 0 only if b = 0 and x^2 underflows: then h = |x| itself
    h_small = jnp.where(pos, jnp.sqrt(jnp.where(pos, hsq, 1.0)), s_small)
    den = 2.0 * h_small * (h_small + s_small)  # <= max/4; 0 only if b = 0 and x = 0 (or it underflows)
    ok = den > 0
    q_small = jnp.where(ok, b / jnp.where(ok, den, 1.0), jnp.where(s > 0, 0.0, 0.5))
    s_large = jnp.where(large, s, 1.0)
    q_large = (0.25 * b / s_large) / s_large
    return jnp.where(large, s, h_small), jnp.where(large, q_large, q_small)


@elementwise(checks=[_nonnegative("b")])
def squareplus(x: ArrayLike, *, b: float = 4.0) -> Array:
    r"""Squareplus (Barron 2021, arXiv 2112.11687): :math:`(x + \sqrt{x^2 + b})/2`, :math:`h = \sqrt{x^2 + b}`.

    Written as :math:`\max(x, 0) + b / (2(h + |x|))` (no cancellation, no overflow: (x + h)/2 would
    overflow at the largest x), and h taken as |x| where x^2 would overflow. Derivative: :math:`\tfrac12(1 + x/h)`, written as :math:`1 - q` for x >= 0 and
    :math:`q` for x < 0 with :math:`q = b / (2h(h + |x|))` (no cancellation, so the second derivative
    stays positive); f'(0) = 1/2 also when b = 0. In b: :math:`1/(4h)`.
    """
    # The value is never differentiated (the rule below is), so it needs no guards against inf in
    # discarded branches: h = |x| where x^2 would overflow; den = 0 only for b = 0 at x = 0.
    s = jnp.abs(x)
    h = jnp.where(s > math.sqrt(float(jnp.finfo(x.dtype).max)) / 4.0, s, jnp.sqrt(s * s + b))
    den = 2.0 * (h + s)
    return jnp.maximum(x, 0.0) + b / jnp.maximum(den, jnp.finfo(x.dtype).tiny)


@squareplus.defderivative
def _squareplus_derivative(x, y, *, b):
    return _squareplus_slope(x, b)


def _squareplus_reciprocal(x, b):
    """(1/h, h > 0): products with 1/h, one factor at a time (b/h <= sqrt(b), |x|/h <= 1), give the
    powers of 1/h below without an overflowing or underflowing h^3 (XLA merges nested divisions into
    one by h^3: 0/0 at h = 1e-30 in float32, 0 for 1/h^3 at 1e15)."""
    h, _ = _squareplus_parts(x, b)
    ok = h > 0
    return 1.0 / jnp.where(ok, h, 1.0), ok


def _squareplus_slope_coefficients(x, b):
    """f'' = b/(2h^3) and d/db f' = -x/(4h^3) (autodiff of q in b cancels to 0 at x = 1e-30); 0 where
    h = 0 (b = 0 and x = 0: the kink of relu)."""
    r, ok = _squareplus_reciprocal(x, b)
    return (jnp.where(ok, ((0.5 * b * r) * r) * r, 0.0),
            jnp.where(ok, -((0.25 * (x * r)) * r) * r, 0.0))


@_second_order(_squareplus_slope_coefficients)
def _squareplus_slope(x, b):
    _, q = _squareplus_parts(x, b)
    return jnp.where(x >= 0, 1.0 - q, q)


@squareplus.defpartial("b")
def _squareplus_d_b(x, y, *, b):
    return _squareplus_b_slope(x, b)


def _squareplus_b_coefficients(x, b):
    """d/dx 1/(4h) = -x/(4h^3); d/db 1/(4h) = -1/(8h^3), also where b is below x^2's resolution (h = |x|
    does not move with b there, but the true derivative does); -inf at h = 0."""
    r, ok = _squareplus_reciprocal(x, b)
    r = jnp.where(ok, r, jnp.inf)
    return jnp.where(ok, -((0.25 * (x * r)) * r) * r, 0.0), -((0.125 * r) * r) * r


@_second_order(_squareplus_b_coefficients)
def _squareplus_b_slope(x, b):
    h, _ = _squareplus_parts(x, b)
    return 0.25 / h  # inf at x = 0 when b = 0, as 1/(4 sqrt(b))


@elementwise
def sparse_plus(x: ArrayLike) -> Array:
    r"""Sparse plus (jax.nn; Martins et al.): 0 for x <= -1, :math:`(x + 1)^2/4` between, x for x >= 1.

    Derivative: 0, (x + 1)/2, 1 -- continuous, so no convention is needed.
    """
    xc = jnp.clip(x, -1.0, 1.0)  # the square never sees a large x
    return jnp.where(x >= 1.0, x, 0.25 * (xc + 1.0) * (xc + 1.0))


@sparse_plus.defderivative
def _sparse_plus_derivative(x, y):
    return 0.5 * (jnp.clip(x, -1.0, 1.0) + 1.0)


@elementwise
def lisht(x: ArrayLike) -> Array:
    r"""LiSHT (Roy et al. 2019): :math:`x \tanh x`. Derivative: :math:`\tanh x + x(1 - \tanh^2 x)`."""
    return x * jnp.tanh(x)


@lisht.defderivative
def _lisht_derivative(x, y):
    return _lisht_slope(x)


# f'' = 2 sech^2(x) (1 - x tanh x) with sech^2 exact: autodiff of 1 - tanh^2 is 0 beyond |x| ~ 19 in
# float64 (true f''(20) = -6.5e-16). The first derivative keeps the cheap 1 - tanh^2 (below an ulp of tanh there).
@_second_order(lambda x: (2.0 * _sech2(x) * (1.0 - _where_nonzero(_sech2(x), x) * jnp.tanh(x)),))
def _lisht_slope(x):
    t = jnp.tanh(x)
    u = 1.0 - t * t
    return t + _where_nonzero(u, x) * u


@elementwise(checks=[_positive("frequency")])
def snake(x: ArrayLike, *, frequency: float = 1.0) -> Array:
    r"""Snake (Liu Ziyin et al. 2020, arXiv 2006.08195): :math:`x + \sin^2(a x)/a`.

    Derivative: :math:`1 + \sin(2 a x)`. In a (``frequency``): :math:`(x \sin(2ax) - \sin^2(ax)/a)/a`.
    """
    s = jnp.sin(frequency * x)
    return x + s * s / frequency


@snake.defderivative
def _snake_derivative(x, y, *, frequency):
    # 1 + sin(2ax) written as 1 + 2 sin(ax) cos(ax): 2ax overflows at the largest finite x.
    ax = frequency * x
    return 1.0 + 2.0 * jnp.sin(ax) * jnp.cos(ax)


# (x sin(2ax) - sin^2(ax)/a)/a = x^2 q(ax) with q(t) = sin(2t)/t - (sin t/t)^2 = sum_k c_k t^(2k) (Taylor
# series; 10 terms reach 5e-20 at |t| = 1/2).
_SNAKE_SERIES = (1.0, -1.0, 0.2222222222222222, -0.022222222222222223, 0.0012698412698412698,
                 -4.7031158142269256e-05, 1.2215885231758248e-06, -2.3492086984150476e-08,
                 3.4803091828371076e-10, -4.094481391573068e-12, 3.918164011074706e-14)


@snake.defpartial("frequency")
def _snake_d_frequency(x, y, *, frequency):
    # For |ax| < 1/2 the two terms nearly cancel (a x^2 out of 2 a x^2): the value keeps all but a bit,
    # but their derivatives in a do not (d2f/da2 at x = 1e-8, a = 0.1 came out -2.67e-31 for the true
    # -2.0e-33), so there x^2 q(ax) by its series. Each branch sees only its own x (0 in the other).
    small = jnp.abs(frequency * x) < 0.5
    xs = jnp.where(small, x, 0.0)
    ts = frequency * xs
    series = xs * xs * _horner(_SNAKE_SERIES, ts * ts)
    xd = jnp.where(small, 0.0, x)
    ax = frequency * xd
    s = jnp.sin(ax)
    direct = (xd * (2.0 * s * jnp.cos(ax)) - s * s / frequency) / frequency  # x sin(2ax) never overflows
    return jnp.where(small, series, direct)


# ----------------------------------------------------------------------------- shrinkage

# x - tanh x = sum_k c_k x^(2k+3) (Taylor series; c_k from the Bernoulli numbers), used for |x| < 1/2.
_TANHSHRINK_SERIES = (0.3333333333333333, -0.13333333333333333, 0.05396825396825397, -0.021869488536155203,
                      0.008863235529902197, -0.003592128036572481, 0.0014558343870513183, -0.000590027440945586,
                      0.00023912911424355248, -9.691537956929451e-05, 3.927832388331683e-05,
                      -1.5918905069328964e-05, 6.451689215655431e-06, -2.6147711512907546e-06,
                      1.0597268320104654e-06, -4.294911078273806e-07, 1.7406618963571648e-07,
                      -7.054636946400968e-08)


@elementwise
def tanhshrink(x: ArrayLike) -> Array:
    r"""Tanhshrink (PyTorch): :math:`x - \tanh x`, by its Taylor series for :math:`|x| < 1/2` (where the
    difference cancels). Derivative: :math:`\tanh^2 x`."""
    small = jnp.abs(x) < 0.5
    xs = jnp.where(small, x, 0.0)
    x2 = xs * xs
    return jnp.where(small, xs * x2 * _horner(_TANHSHRINK_SERIES, x2), x - jnp.tanh(x))


@tanhshrink.defderivative
def _tanhshrink_derivative(x, y):
    return _tanhshrink_slope(x)


# f'' = 2 tanh(x) sech^2(x), sech^2 exact in the tails (autodiff of tanh^2 forms 1 - tanh^2 there: 0).
@_second_order(lambda x: (2.0 * jnp.tanh(x) * _sech2(x),))
def _tanhshrink_slope(x):
    t = jnp.tanh(x)
    return t * t


@elementwise(checks=[_nonnegative("lambd")])
def softshrink(x: ArrayLike, *, lambd: float = 0.5) -> Array:
    r"""Soft shrinkage (PyTorch): :math:`x - \lambda` for x > λ, :math:`x + \lambda` for x < -λ, else 0.

    Written as :math:`x - \mathrm{clip}(x, -\lambda, \lambda)`. Derivative: 1 for |x| > λ, else 0
    (0 at ±λ, as PyTorch). In λ: -1 for x > λ, 1 for x < -λ, else 0.
    """
    return x - jnp.clip(x, -lambd, lambd)


@softshrink.defderivative
def _softshrink_derivative(x, y, *, lambd):
    return (jnp.abs(x) > lambd).astype(x.dtype)


@softshrink.defpartial("lambd")
def _softshrink_d_lambd(x, y, *, lambd):
    return jnp.where(x > lambd, -1.0, jnp.where(x < -lambd, 1.0, 0.0)).astype(x.dtype)


@elementwise(checks=[_nonnegative("lambd")])
def hardshrink(x: ArrayLike, *, lambd: float = 0.5) -> Array:
    r"""Hard shrinkage (PyTorch): :math:`x` for |x| > λ, else 0.

    Derivative: 1 for |x| > λ, else 0 (0 at ±λ, as PyTorch). In λ: 0 (the jumps at ±λ are deltas).
    """
    return jnp.where(jnp.abs(x) <= lambd, 0.0, x).astype(x.dtype)


@hardshrink.defderivative
def _hardshrink_derivative(x, y, *, lambd):
    return (jnp.abs(x) > lambd).astype(x.dtype)


@hardshrink.defpartial("lambd")
def _hardshrink_d_lambd(x, y, *, lambd):
    return jnp.zeros_like(x)


# ----------------------------------------------------------------------------- not elementwise


def _check_axis(name: str, x: Array, axis: int) -> int:
    """``axis`` as a non-negative index into x's axes; ValueError for a 0-d x or an axis out of range."""
    if x.ndim == 0:
        raise ValueError(f"{name}: the input is 0-d (a scalar); it needs an axis to split")
    if not -x.ndim <= axis < x.ndim:  # an int: check_types has run
        raise ValueError(f"{name}: axis {axis!r} is out of range for a {x.ndim}-d input "
                         f"(allowed: -{x.ndim} .. {x.ndim - 1})")
    return int(axis) % x.ndim


def _split_pieces(x: Array, num_pieces: int, axis: int) -> Array:
    axis = _check_axis("maxout", x, axis)
    size = x.shape[axis]
    if num_pieces < 1 or size % num_pieces:  # an int: check_types has run
        raise ValueError(
            f"maxout: axis {axis} has size {size}, which num_pieces={num_pieces} must divide "
            f"(allowed: a positive divisor of {size})"
        )
    return x.reshape(x.shape[:axis] + (size // num_pieces, num_pieces) + x.shape[axis + 1:]), axis


@functools.partial(jax.custom_jvp, nondiff_argnums=(1, 2))
def _maxout(x: Array, num_pieces: int, axis: int) -> Array:
    pieces, axis = _split_pieces(x, num_pieces, axis)
    return jnp.max(pieces, axis=axis + 1)


@_maxout.defjvp
def _maxout_jvp(num_pieces, axis, primals, tangents):
    (x,), (t,) = primals, tangents
    pieces, ax = _split_pieces(x, num_pieces, axis)
    # The gradient goes to the first maximal piece only (as torch.max's index); jnp.max splits ties.
    index = jnp.expand_dims(jnp.argmax(pieces, axis=ax + 1), ax + 1)
    take = lambda a: jnp.take_along_axis(_split_pieces(a, num_pieces, axis)[0], index, axis=ax + 1).squeeze(ax + 1)
    y = take(x)  # a NaN piece is the group's argmax: the tangent through it is NaN, as for elementwise ones
    return y, take(t) * nan_at_nan(jnp.ones_like(y), y)


def maxout(x: ArrayLike, *, num_pieces: int = 2, axis: int = -1) -> Array:
    r"""Maxout (Goodfellow et al. 2013, arXiv 1302.4389): :math:`\max_{j} x_{i,j}` over groups of ``num_pieces``.

    ``axis`` (size ``units * num_pieces``) is split into consecutive groups of ``num_pieces`` and each
    group is reduced by max, so the output has ``units`` there. The layer that owns the k linear
    pieces lives with the models. Derivative: 1 at the first maximal entry of each group, 0 elsewhere.
    Its hyperparameters are integers (static): it has no hyperparameter derivative.

    >>> maxout(jnp.array([1.0, 3.0, -2.0, -5.0], jnp.float32), num_pieces=2)
    Array([ 3., -2.], dtype=float32)
    """
    check_types("maxout", {"num_pieces": 2, "axis": -1}, {"num_pieces": num_pieces, "axis": axis})
    x = as_float(x, "maxout")
    _check_axis("maxout", x, axis)
    return _maxout(x, int(num_pieces), int(axis))


def glu(x: ArrayLike, *, axis: int = -1) -> Array:
    r"""Gated linear unit (Dauphin et al. 2016): :math:`a\,\sigma(b)` where (a, b) are the halves of ``x`` along ``axis``.

    Derivative by composition of the hand-written sigmoid: d/da = σ(b), d/db = a σ(b)(1 - σ(b)).
    Its one hyperparameter, ``axis``, is an integer (static): no hyperparameter derivative.
    """
    check_types("glu", {"axis": -1}, {"axis": axis})
    x = as_float(x, "glu")
    axis = _check_axis("glu", x, axis)
    if x.shape[axis] % 2:
        raise ValueError(f"glu: axis {axis} has odd size {x.shape[axis]}; it must be even (two halves)")
    a, b = jnp.split(x, 2, axis=axis)
    return identity(a) * sigmoid(b)  # identity: d/da is sigma(b), and NaN where a is NaN
