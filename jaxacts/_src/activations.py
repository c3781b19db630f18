"""Activation functions, each followed by its hand-written derivative.

Conventions shared by all of them:

* ``x`` is any array; integers become the default float; the output has ``x``'s dtype.
* Hyperparameters are keyword-only with defaults; the docstring says which library a default follows.
* The derivative at a kink is stated next to its rule. At a kink at 0 we follow jax.nn and PyTorch
  (relu'(0) = 0, elu'(0) = alpha). Clipping functions (relu6, hard_tanh, ...) have derivative 0 at
  their corners, as both libraries.
* Forms are safe by construction: no ``exp`` of a large argument, no ``x**2`` that can overflow,
  no ``0 * inf``; NaN in gives NaN out.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
from jax import Array, lax
from jax.typing import ArrayLike

from jaxacts._src.elementwise import as_float, elementwise

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


def _sigmoid_slope(x: Array) -> Array:
    """sigmoid'(x) = sigmoid(x) sigmoid(-x): both factors exact, so both tails keep full precision."""
    return lax.logistic(x) * lax.logistic(-x)


def _between(x: Array, low, high) -> Array:
    """Indicator of the open interval (low, high) in x's dtype."""
    return ((x > low) & (x < high)).astype(x.dtype)


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

    XLA's logistic: neither tail overflows and the left tail keeps full relative precision.
    Derivative: :math:`\sigma(x)(1 - \sigma(x))` with :math:`1 - \sigma(x)` computed as
    :math:`\sigma(-x)`, so the right tail does not round to 0 early.

    >>> sigmoid(jnp.array([0.0], jnp.float32))
    Array([0.5], dtype=float32)
    """
    return _sigmoid(x)


@sigmoid.defderivative
def _sigmoid_derivative(x, y):
    return y * lax.logistic(-x)


@elementwise
def log_sigmoid(x: ArrayLike) -> Array:
    r"""Log-sigmoid: :math:`\log \sigma(x) = -\mathrm{softplus}(-x) = \min(x, 0) - \log(1 + e^{-|x|})`.

    Derivative: :math:`\sigma(-x)`.
    """
    e = _exp_neg_abs(x)
    return jnp.minimum(x, 0.0) - jnp.log1p(e)


@log_sigmoid.defderivative
def _log_sigmoid_derivative(x, y):
    return lax.logistic(-x)


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
    r"""Hyperbolic tangent: :math:`\tanh x`. Derivative: :math:`1 - \tanh^2 x` from the saved output."""
    return jnp.tanh(x)


@tanh.defderivative
def _tanh_derivative(x, y):
    return 1.0 - y * y


@elementwise
def softsign(x: ArrayLike) -> Array:
    r"""Softsign: :math:`x / (1 + |x|)`. Derivative: :math:`1 / (1 + |x|)^2`."""
    return x / (1.0 + jnp.abs(x))


@softsign.defderivative
def _softsign_derivative(x, y):
    r = 1.0 / (1.0 + jnp.abs(x))
    return r * r


@elementwise(checks=[(lambda p: p["min_val"] < p["max_val"], "min_val must be < max_val")])
def hard_tanh(x: ArrayLike, *, min_val: float = -1.0, max_val: float = 1.0) -> Array:
    r"""Hard tanh: :math:`\min(\max(x, \text{min\_val}), \text{max\_val})` (PyTorch's arguments).

    Derivative: 1 on (min_val, max_val), 0 elsewhere including the corners.
    """
    return jnp.clip(x, min_val, max_val)


@hard_tanh.defderivative
def _hard_tanh_derivative(x, y, *, min_val, max_val):
    return _between(x, min_val, max_val)


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


@elementwise(checks=[(lambda p: p["lower"] <= p["upper"], "lower must be <= upper"),
                     _nonnegative("lower"),
                     (lambda p: not p["training"] or p["key"] is not None, "training=True needs a PRNG key")])
def rrelu(x: ArrayLike, *, lower: float = 1.0 / 8.0, upper: float = 1.0 / 3.0,
          key: Array | None = None, training: bool = False) -> Array:
    r"""Randomized leaky ReLU (Xu et al. 2015, arXiv 1505.00853): :math:`x` for x > 0, :math:`a x` otherwise.

    In training each element draws its own slope :math:`a \sim U(\text{lower}, \text{upper})` from
    ``key``; in evaluation :math:`a = (\text{lower} + \text{upper})/2`. We follow PyTorch's
    parametrisation (slope drawn directly, defaults 1/8 and 1/3, eval slope 0.229); the paper instead
    divides by :math:`U(3, 8)` and uses 2/11 at test time -- pass ``lower=1/8, upper=1/3`` vs. the
    paper's bounds on the divisor accordingly. Derivative: 1 for x > 0, the same slope for x <= 0.
    """
    return jnp.where(x > 0, x, _rrelu_slope(x, lower, upper, key, training) * x)


def _rrelu_slope(x, lower, upper, key, training):
    if training:
        return jax.random.uniform(key, x.shape, x.dtype, minval=lower, maxval=upper)
    return jnp.asarray((lower + upper) / 2.0, x.dtype)


@rrelu.defderivative
def _rrelu_derivative(x, y, *, lower, upper, key, training):
    return jnp.where(x > 0, 1.0, _rrelu_slope(x, lower, upper, key, training)).astype(x.dtype)


@jax.custom_jvp
def _prelu(x: Array, slope: Array) -> Array:
    return jnp.where(x > 0, x, slope * x)


@_prelu.defjvp
def _prelu_jvp(primals, tangents):
    (x, slope), (tx, tslope) = primals, tangents
    # d/dx = 1 for x > 0 else slope (PyTorch's value at 0); d/dslope = x for x <= 0 else 0.
    y = _prelu(x, slope)
    return y, jnp.where(x > 0, tx, slope * tx + x * tslope)


def prelu(x: ArrayLike, slope: ArrayLike = 0.25) -> Array:
    r"""Parametric ReLU (He et al. 2015, arXiv 1502.01852): :math:`x` for x > 0, :math:`a x` otherwise.

    ``slope`` (a) is an array broadcastable to ``x`` (one per channel, or a scalar) and is
    differentiable: this is the function the learnable PReLU layer calls. Default 0.25 follows
    He et al. and PyTorch (Flax uses 0.01). Derivative in x: 1 for x > 0, ``a`` for x <= 0; in a: x for
    x <= 0, else 0.
    """
    x = as_float(x)
    # Explicit broadcast: a per-channel slope meets x of higher rank (and rank promotion may be strict).
    slope = jnp.broadcast_to(jnp.asarray(slope, x.dtype), x.shape)
    return _prelu(x, slope)


def prelu_derivative(x: ArrayLike, slope: ArrayLike = 0.25) -> Array:
    """The hand-written derivative of :func:`prelu` in ``x``."""
    x = as_float(x)
    return jnp.where(x > 0, 1.0, jnp.broadcast_to(jnp.asarray(slope, x.dtype), x.shape)).astype(x.dtype)


@elementwise
def threshold(x: ArrayLike, *, threshold: float = 0.0, value: float = 0.0) -> Array:
    r"""Threshold (PyTorch): :math:`x` for x > threshold, ``value`` otherwise.

    Defaults 0, 0 (Keras' ReLU threshold; PyTorch requires both). Derivative: 1 for x > threshold, 0
    otherwise (0 at the threshold, as PyTorch).
    """
    return jnp.where(x <= threshold, value, x).astype(x.dtype)


@threshold.defderivative
def _threshold_derivative(x, y, *, threshold, value):
    return (x > threshold).astype(x.dtype)


# ----------------------------------------------------------------------------- exponential units


@elementwise(checks=[_nonnegative("alpha")])
def elu(x: ArrayLike, *, alpha: float = 1.0) -> Array:
    r"""Exponential linear unit (Clevert et al. 2015): :math:`x` for x > 0, :math:`\alpha(e^x - 1)` otherwise.

    Derivative: 1 for x > 0, :math:`\alpha e^x = f(x) + \alpha` for x <= 0 (from the saved output;
    elu'(0) = alpha as jax.nn and PyTorch).
    """
    return jnp.where(x > 0, x, alpha * jnp.expm1(jnp.minimum(x, 0.0)))


@elu.defderivative
def _elu_derivative(x, y, *, alpha):
    return jnp.where(x > 0, 1.0, y + alpha).astype(x.dtype)


@elementwise(checks=[_nonnegative("alpha"), _positive("scale")])
def selu(x: ArrayLike, *, alpha: float = SELU_ALPHA, scale: float = SELU_SCALE) -> Array:
    r"""Scaled ELU (Klambauer et al. 2017, arXiv 1706.02515): :math:`\lambda x` for x > 0, :math:`\lambda\alpha(e^x - 1)` otherwise.

    alpha_01 = 1.6732632423543772..., lambda_01 = 1.0507009873554804... make (mean 0, variance 1) an
    attracting fixed point of a layer with LeCun-normal weights. Derivative: :math:`\lambda` for
    x > 0, :math:`\lambda\alpha e^x = f(x) + \lambda\alpha` for x <= 0 (from the saved output;
    left value at 0 as jax.nn and PyTorch).

    >>> round(float(selu(jnp.array(1.0))), 6)
    1.050701
    """
    return scale * jnp.where(x > 0, x, alpha * jnp.expm1(jnp.minimum(x, 0.0)))


@selu.defderivative
def _selu_derivative(x, y, *, alpha, scale):
    return jnp.where(x > 0, scale, y + scale * alpha).astype(x.dtype)


@elementwise(checks=[_positive("alpha")])
def celu(x: ArrayLike, *, alpha: float = 1.0) -> Array:
    r"""Continuously differentiable ELU (Barron 2017): :math:`x` for x > 0, :math:`\alpha(e^{x/\alpha} - 1)` otherwise.

    Derivative: 1 for x > 0, :math:`e^{x/\alpha} = f(x)/\alpha + 1` otherwise (continuous at 0).
    """
    return jnp.where(x > 0, x, alpha * jnp.expm1(jnp.minimum(x, 0.0) / alpha))


@celu.defderivative
def _celu_derivative(x, y, *, alpha):
    return jnp.where(x > 0, 1.0, y / alpha + 1.0).astype(x.dtype)


# ----------------------------------------------------------------------------- smooth rectifiers


@elementwise
def gelu(x: ArrayLike, *, approximate: bool = False) -> Array:
    r"""Gaussian error linear unit (Hendrycks & Gimpel 2016): :math:`x\,\Phi(x)`.

    Exact by default, as PyTorch and Keras (jax.nn defaults to the tanh form). Exact form:
    :math:`\tfrac12 x\,\mathrm{erfc}(-x/\sqrt2)`, precise in the left tail. ``approximate=True``:
    :math:`\tfrac12 x (1 + \tanh u)`, :math:`u = \sqrt{2/\pi}(x + 0.044715 x^3)`, written as
    :math:`x\,\sigma(2u)` with u computed from x clipped to [-100, 100] (where the sigmoid is already
    0 or 1), so x^3 never overflows. Derivative: :math:`\Phi(x) + x\varphi(x)` (exact), and
    :math:`\sigma(2u) + 2x\sigma'(2u)u'` (approximate).
    """
    if approximate:
        return x * _sigmoid(2.0 * _gelu_u(x))
    return 0.5 * x * lax.erfc(-x / _SQRT_2)


def _gelu_u(x):
    xc = jnp.clip(x, -100.0, 100.0)
    return _SQRT_2_OVER_PI * (xc + 0.044715 * xc * xc * xc)


@gelu.defderivative
def _gelu_derivative(x, y, *, approximate):
    if approximate:
        xc = jnp.clip(x, -100.0, 100.0)
        u2 = 2.0 * _gelu_u(x)
        du2 = 2.0 * _SQRT_2_OVER_PI * (1.0 + 3.0 * 0.044715 * xc * xc)
        return _sigmoid(u2) + x * _sigmoid_slope(u2) * du2
    # exp(-x^2/2): x*x may be inf for huge |x|, exp(-inf) = 0 and x * 0 stays finite.
    return 0.5 * lax.erfc(-x / _SQRT_2) + x * _INV_SQRT_2PI * jnp.exp(-0.5 * x * x)


@elementwise
def silu(x: ArrayLike, *, beta: float = 1.0) -> Array:
    r"""SiLU / Swish (Elfwing et al. 2017; Ramachandran et al. 2017): :math:`x\,\sigma(\beta x)`.

    beta = 1 is SiLU (jax.nn, PyTorch, Keras). Derivative:
    :math:`\sigma(\beta x) + \beta x\,\sigma(\beta x)(1 - \sigma(\beta x))`.
    """
    return x * _sigmoid(beta * x)


@silu.defderivative
def _silu_derivative(x, y, *, beta):
    bx = beta * x
    return _sigmoid(bx) + beta * (x * _sigmoid_slope(bx))  # beta * x may be inf where the slope is 0


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


# exp(20)^2 ~ 2e17: tanh(softplus(x)) is 1 to float64 precision there, and no overflow in float32.
_MISH_CLIP = 20.0


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
    :math:`\mathrm{sech}^2 = 4(n + 1)/(n + 2)^2` (no cancellation). Minimum -0.30884 at x = -1.19243.
    """
    _, n, r = _mish_parts(x)
    return x * (n * r)


@mish.defderivative
def _mish_derivative(x, y):
    e, n, r = _mish_parts(x)
    sech2 = 4.0 * (n + 1.0) * r * r
    return n * r + x * sech2 * (e / (1.0 + e))


@elementwise(checks=[_positive("beta")])
def softplus(x: ArrayLike, *, beta: float = 1.0) -> Array:
    r"""Softplus: :math:`\tfrac1\beta \log(1 + e^{\beta x})`, computed as :math:`(\max(\beta x, 0) + \log(1 + e^{-|\beta x|}))/\beta`.

    beta = 1 matches jax.nn and Keras; PyTorch's ``beta`` is the same parameter (its linear
    ``threshold`` shortcut is unnecessary here: the form is exact). Derivative: :math:`\sigma(\beta x)`.
    """
    e = _exp_neg_abs(beta * x)
    return jnp.maximum(x, 0.0) + jnp.log1p(e) / beta  # not max(beta x, 0) / beta: beta x may overflow


@softplus.defderivative
def _softplus_derivative(x, y, *, beta):
    return _sigmoid(beta * x)


@elementwise(checks=[_nonnegative("b")])
def squareplus(x: ArrayLike, *, b: float = 4.0) -> Array:
    r"""Squareplus (Barron 2021, arXiv 2112.11687): :math:`(x + \sqrt{x^2 + b})/2`.

    For x < 0 written as :math:`b / (2(\sqrt{x^2+b} - x))` (no cancellation), and
    :math:`\sqrt{x^2 + b}` taken as |x| where x^2 would overflow. Derivative:
    :math:`\tfrac12(1 + x/\sqrt{x^2+b})`, for x < 0 as :math:`b / (2 h (h - x))`.
    """
    h = _squareplus_root(x, b)
    return jnp.where(x >= 0, 0.5 * x + 0.5 * h, b / (2.0 * (h - x)))


def _squareplus_root(x, b):
    """sqrt(x^2 + b) without overflow: |x| itself beyond sqrt(max)/4, where b is below the ulp of x^2."""
    big = math.sqrt(float(jnp.finfo(x.dtype).max)) / 4.0
    ax = jnp.abs(x)
    small = jnp.where(ax > big, 0.0, x)
    return jnp.where(ax > big, ax, jnp.sqrt(small * small + b))


@squareplus.defderivative
def _squareplus_derivative(x, y, *, b):
    h = _squareplus_root(x, b)
    return jnp.where(x >= 0, 0.5 + 0.5 * (x / h), b / (2.0 * h * (h - x)))


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
    t = jnp.tanh(x)
    return t + x * (1.0 - t * t)


@elementwise(checks=[_positive("frequency")])
def snake(x: ArrayLike, *, frequency: float = 1.0) -> Array:
    r"""Snake (Liu Ziyin et al. 2020, arXiv 2006.08195): :math:`x + \sin^2(a x)/a`.

    Derivative: :math:`1 + \sin(2 a x)`.
    """
    s = jnp.sin(frequency * x)
    return x + s * s / frequency


@snake.defderivative
def _snake_derivative(x, y, *, frequency):
    # 1 + sin(2ax) written as 1 + 2 sin(ax) cos(ax): 2ax overflows at the largest finite x.
    ax = frequency * x
    return 1.0 + 2.0 * jnp.sin(ax) * jnp.cos(ax)


# ----------------------------------------------------------------------------- shrinkage


@elementwise
def tanhshrink(x: ArrayLike) -> Array:
    r"""Tanhshrink (PyTorch): :math:`x - \tanh x`. Derivative: :math:`\tanh^2 x`."""
    return x - jnp.tanh(x)


@tanhshrink.defderivative
def _tanhshrink_derivative(x, y):
    t = jnp.tanh(x)
    return t * t


@elementwise(checks=[_nonnegative("lambd")])
def softshrink(x: ArrayLike, *, lambd: float = 0.5) -> Array:
    r"""Soft shrinkage (PyTorch): :math:`x - \lambda` for x > λ, :math:`x + \lambda` for x < -λ, else 0.

    Written as :math:`x - \mathrm{clip}(x, -\lambda, \lambda)`. Derivative: 1 for |x| > λ, else 0
    (0 at ±λ, as PyTorch).
    """
    return x - jnp.clip(x, -lambd, lambd)


@softshrink.defderivative
def _softshrink_derivative(x, y, *, lambd):
    return (jnp.abs(x) > lambd).astype(x.dtype)


@elementwise(checks=[_nonnegative("lambd")])
def hardshrink(x: ArrayLike, *, lambd: float = 0.5) -> Array:
    r"""Hard shrinkage (PyTorch): :math:`x` for |x| > λ, else 0.

    Derivative: 1 for |x| > λ, else 0 (0 at ±λ, as PyTorch).
    """
    return jnp.where(jnp.abs(x) <= lambd, 0.0, x).astype(x.dtype)


@hardshrink.defderivative
def _hardshrink_derivative(x, y, *, lambd):
    return (jnp.abs(x) > lambd).astype(x.dtype)


# ----------------------------------------------------------------------------- not elementwise


def _split_pieces(x: Array, num_pieces: int, axis: int) -> Array:
    axis = axis % x.ndim
    size = x.shape[axis]
    if num_pieces < 1 or size % num_pieces:
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
    return take(x), take(t)


def maxout(x: ArrayLike, *, num_pieces: int = 2, axis: int = -1) -> Array:
    r"""Maxout (Goodfellow et al. 2013, arXiv 1302.4389): :math:`\max_{j} x_{i,j}` over groups of ``num_pieces``.

    ``axis`` (size ``units * num_pieces``) is split into consecutive groups of ``num_pieces`` and each
    group is reduced by max, so the output has ``units`` there. The layer that owns the k linear
    pieces lives with the models. Derivative: 1 at the first maximal entry of each group, 0 elsewhere.

    >>> maxout(jnp.array([1.0, 3.0, -2.0, -5.0], jnp.float32), num_pieces=2)
    Array([ 3., -2.], dtype=float32)
    """
    return _maxout(as_float(x), num_pieces, axis)


def glu(x: ArrayLike, *, axis: int = -1) -> Array:
    r"""Gated linear unit (Dauphin et al. 2016): :math:`a\,\sigma(b)` where (a, b) are the halves of ``x`` along ``axis``.

    Derivative by composition of the hand-written sigmoid: d/da = σ(b), d/db = a σ(b)(1 - σ(b)).
    """
    x = as_float(x)
    if x.shape[axis] % 2:
        raise ValueError(f"glu: axis {axis} has odd size {x.shape[axis]}; it must be even (two halves)")
    a, b = jnp.split(x, 2, axis=axis)
    return a * sigmoid(b)

