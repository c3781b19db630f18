"""Plain textbook formulas for every elementwise activation, independent of the library.

Each takes a namespace ``m`` with ``m.np`` (numpy, jax.numpy, or mpmath scalars) and ``m.sp``
(scipy.special, jax.scipy.special, mpmath), so the same formula gives float64 reference values
(numpy), reference derivatives by ``jax.grad`` of a formula with no custom rule (in x and in every
hyperparameter), and arbitrary-precision values and derivatives (mpmath, ``MPMATH``). They are
written the naive way on purpose: they are what the library must agree with where the naive way is
accurate, which with mpmath's working precision raised far enough is everywhere.
"""

from __future__ import annotations

import types

import jax.numpy as jnp
import jax.scipy.special as jsp
import mpmath
import numpy as np
import scipy.special as ssp

NUMPY = types.SimpleNamespace(np=np, sp=ssp)
JAX = types.SimpleNamespace(np=jnp, sp=jsp)


def _mp_exp(v):
    """``mpmath.exp(v)`` at the working precision, for |v| >= 2^12 as 2^k exp(v - k ln 2).

    That is mpmath's own reduction for non-integer v and below 600 bits; above 600 bits it raises e to an
    integer v (every float beyond 2^53 is one) by repeated squaring, log2|v| products of thousands of bits
    (1024 of them at 1e308, 0.1 s a call). Here k ln 2 is formed with log2|v| + 20 extra bits, so
    v - k ln 2 is within 2^-(prec+19) of its true value and the result is as accurate as mpmath's.
    """
    v = mpmath.mpf(v)
    if abs(v) < 4096:
        return mpmath.exp(v)
    with mpmath.extraprec(int(mpmath.mag(v)) + 20):
        k = mpmath.nint(v / mpmath.ln2)
        r = v - k * mpmath.ln2
    return mpmath.ldexp(mpmath.exp(r), int(k))


def _mp_erf(z):
    """``mpmath.erf(z)``, with erf(z) = sign(z) wherever that is its value at the working precision.

    For |z| >= 1, 0 < 1 - erf(|z|) = erfc(|z|) < e^(-z^2), below a quarter of the spacing 2^-prec of
    the numbers just below 1 once z^2 > (prec + 2) ln 2: erf(z) rounds to +-1. mpmath takes this short
    cut only when |z| rounded down to a power of 2 passes the test, and otherwise sums the Taylor series
    (~e z^2 terms of thousands of bits: 1 s for gelu at x = 88.7 and 3700 bits).
    """
    z = mpmath.mpf(z)
    if abs(z) >= 1 and z * z > (mpmath.mp.prec + 2) * mpmath.ln2:
        return mpmath.mpf(mpmath.sign(z))
    return mpmath.erf(z)


# Scalar mpmath numbers (both branches of a where are evaluated, as in numpy; mpmath never overflows).
MPMATH = types.SimpleNamespace(
    np=types.SimpleNamespace(where=lambda c, a, b: a if c else b, exp=_mp_exp, log=mpmath.log,
                             tanh=mpmath.tanh, sin=mpmath.sin, sqrt=mpmath.sqrt, abs=abs, sign=mpmath.sign,
                             maximum=max, minimum=min, pi=mpmath.pi),
    sp=types.SimpleNamespace(erf=_mp_erf))

SELU_ALPHA = 1.6732632423543772848170429916717  # REFERENCES.md (Klambauer et al. 2017)
SELU_SCALE = 1.0507009873554804934193349852946
# The tanh-form GELU is defined with sqrt(2/pi) rounded to float64, as jax.nn, PyTorch and this library
# compute it: at x = -20 the exact constant would move the value by 3e-14 relative (condition ~ 2u).
_SQRT_2_OVER_PI = float(np.sqrt(2.0 / np.pi))


def _sig(m, x):
    return 1.0 / (1.0 + m.np.exp(-x))


def _softplus(m, x):
    return m.np.log(1.0 + m.np.exp(x))


def _relu6(m, x):
    return m.np.minimum(m.np.maximum(x, 0.0), 6.0)


REFERENCE = {
    "identity": lambda m, x: x,
    "heaviside": lambda m, x, at_zero=0.5: m.np.where(x > 0, 1.0, m.np.where(x < 0, 0.0, at_zero)) + 0 * x,
    "sign": lambda m, x: m.np.sign(x),
    "piecewise_linear": lambda m, x: m.np.where(x < -0.5, 0.0, m.np.where(x > 0.5, 1.0, x + 0.5)),
    "sigmoid": _sig,
    "log_sigmoid": lambda m, x: m.np.log(_sig(m, x)),
    "hard_sigmoid": lambda m, x: _relu6(m, x + 3.0) / 6.0,
    "sparse_sigmoid": lambda m, x: m.np.where(x <= -1, 0.0, m.np.where(x >= 1, 1.0, (x + 1.0) / 2.0)),
    "tanh": lambda m, x: m.np.tanh(x),
    "scaled_tanh": lambda m, x, a=1.7159, b=2 / 3: a * m.np.tanh(b * x),
    "softsign": lambda m, x: x / (1.0 + m.np.abs(x)),
    "hard_tanh": lambda m, x, min_val=-1.0, max_val=1.0: m.np.where(x < min_val, min_val, m.np.where(x > max_val, max_val, x)),
    "relu": lambda m, x: m.np.where(x > 0, x, 0.0),
    "relu6": _relu6,
    "leaky_relu": lambda m, x, negative_slope=0.01: m.np.where(x > 0, x, negative_slope * x),
    "rrelu": lambda m, x, lower=1 / 8, upper=1 / 3: m.np.where(x > 0, x, (lower + upper) / 2 * x),
    "prelu": lambda m, x, slope=0.25: m.np.where(x > 0, x, slope * x),
    "threshold": lambda m, x, threshold=0.0, value=0.0: m.np.where(x > threshold, x, value),
    "elu": lambda m, x, alpha=1.0: m.np.where(x > 0, x, alpha * (m.np.exp(x) - 1.0)),
    "selu": lambda m, x, alpha=SELU_ALPHA, scale=SELU_SCALE: scale * m.np.where(x > 0, x, alpha * (m.np.exp(x) - 1.0)),
    "celu": lambda m, x, alpha=1.0: m.np.maximum(x, 0.0) + m.np.minimum(0.0, alpha * (m.np.exp(x / alpha) - 1.0)),
    "gelu": lambda m, x, approximate=False: (
        0.5 * x * (1.0 + m.np.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x**3)))
        if approximate else 0.5 * x * (1.0 + m.sp.erf(x / m.np.sqrt(2.0)))),
    "silu": lambda m, x, beta=1.0: x * _sig(m, beta * x),
    "hard_swish": lambda m, x: x * _relu6(m, x + 3.0) / 6.0,
    "mish": lambda m, x: x * m.np.tanh(_softplus(m, x)),
    "softplus": lambda m, x, beta=1.0: m.np.log(1.0 + m.np.exp(beta * x)) / beta,
    "squareplus": lambda m, x, b=4.0: (x + m.np.sqrt(x * x + b)) / 2.0,
    "sparse_plus": lambda m, x: m.np.where(x <= -1, 0.0, m.np.where(x >= 1, x, (x + 1.0) ** 2 / 4.0)),
    "lisht": lambda m, x: x * m.np.tanh(x),
    "snake": lambda m, x, frequency=1.0: x + m.np.sin(frequency * x) ** 2 / frequency,
    "tanhshrink": lambda m, x: x - m.np.tanh(x),
    "softshrink": lambda m, x, lambd=0.5: m.np.where(x > lambd, x - lambd, m.np.where(x < -lambd, x + lambd, 0.0)),
    "hardshrink": lambda m, x, lambd=0.5: m.np.where(m.np.abs(x) > lambd, x, 0.0),
}

# Hyperparameter settings tested besides the defaults (name, hyperparameters).
EXTRA_CASES = [
    ("gelu", {"approximate": True}),
    ("leaky_relu", {"negative_slope": 0.2}),
    ("rrelu", {"lower": 0.1, "upper": 0.3}),
    ("elu", {"alpha": 0.5}),
    ("celu", {"alpha": 2.0}),
    ("silu", {"beta": 1.7}),
    ("softplus", {"beta": 2.0}),
    ("squareplus", {"b": 1.0}),
    ("snake", {"frequency": 0.5}),
    ("hard_tanh", {"min_val": -2.0, "max_val": 0.5}),
    ("softshrink", {"lambd": 1.0}),
    ("hardshrink", {"lambd": 1.0}),
    ("threshold", {"threshold": 0.5, "value": -1.0}),
    ("heaviside", {"at_zero": 1.0}),
    ("prelu", {"slope": 0.1}),
    ("selu", {"alpha": 1.5, "scale": 1.2}),
    ("squareplus", {"b": 0.0}),
    ("scaled_tanh", {"a": 0.5, "b": 0.5}),  # the centred sigmoid, sigma(x) - 1/2
    ("scaled_tanh", {"a": 2.0, "b": -1.5}),  # decreasing; b x overflows at the largest x
]


def kinks(name: str, hp: dict) -> list[float]:
    """Where the derivative jumps, for the given hyperparameters (FD and autodiff avoid these)."""
    table = {
        "hard_tanh": [hp.get("min_val", -1.0), hp.get("max_val", 1.0)],
        "softshrink": [-hp.get("lambd", 0.5), hp.get("lambd", 0.5)],
        "hardshrink": [-hp.get("lambd", 0.5), hp.get("lambd", 0.5)],
        "threshold": [hp.get("threshold", 0.0)],
        "squareplus": [0.0] if hp.get("b", 4.0) == 0.0 else [],  # b = 0 is relu
    }
    if name in table:
        return table[name]
    import jaxacts
    return list(jaxacts.info(name).kinks)
