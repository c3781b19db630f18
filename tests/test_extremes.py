"""True values at extreme inputs, against mpmath, for every registry activation in every float dtype.

At x = 0, +-1e-30, +-20, +-88.7, +-1e4, +-1e15, +-1e30 and +- the largest finite value of the dtype,
the value, the derivative in x, each hyperparameter derivative, the second derivative d2f/dx2, the
mixed derivatives in both orders (d/dx of df/dh and d/dh of f') and the second derivatives in the
hyperparameters (d2f/dh2 and d2f/dh dk, k another hyperparameter) are compared with the same quantities of the plain
formula (``tests/reference_formulas.py``) evaluated by mpmath with enough working precision that no
cancellation or overflow reaches the result (1200 bits plus twice the binary exponent of x), the
derivatives by mpmath's own finite differences at that precision.

Which points: each is rounded to the dtype and the reference is taken at the rounded value, which is
exactly representable. A point beyond the dtype's range (1e15 and 1e30 in float16) is not
representable and is skipped; one that underflows to 0 (1e-30 in float16) is the point 0. Derivatives
are skipped at a kink (x = 0 for relu-like functions: the conventions there have their own tests);
elsewhere the second derivatives of activations with kinks are checked too (elu's alpha e^x for x < 0).

Tolerance, per dtype, |ours - ref(x)| <= rtol |ref(x)| + spread + atol:
  * rtol = 8 eps for float32 and float64; eps for float16 and bfloat16 (computed in float32 and
    rounded once: half an ulp, and a margin).
  * spread = the largest change of the reference over x (1 +- 4 eps_c), eps_c of the compute dtype
    (float32 for the 16-bit formats): the function's own conditioning. A product such as beta * x or
    x / sqrt(2) carries a rounding before an exp or erfc, and e.g. gelu(-20) changes by 400x that.
  * atol = tiny + tiny_c (1 + min(|x|, 128))^2: XLA flushes subnormal results to zero on CPU and GPU,
    so a factor e^-|x| below the smallest normal number tiny_c may be lost together with the power of x
    (at most x^2) it multiplies; beyond |x| = 128 such terms are far below tiny_c in float32 already.
  * Second and mixed derivatives (automatic derivatives of the hand-written first derivatives, through
    the custom derivatives those are written with) are held to this same tolerance: a relative one
    wherever the true value is a normal number of the dtype, however much smaller it is than the first
    derivative it is the derivative of (sigmoid'' at 1e-30, elu's d2f/dx dalpha = e^x at -20).
  * A reference beyond the dtype's largest finite value rounds to +-inf, and then ours must be that inf.

Known gap, listed in ``MIXED_OVERFLOW``: snake's mixed derivative d2f/dx da = 2x cos(2ax) at the
largest x, and d2f/da2 there. Automatic differentiation of the partial meets intermediates 2ax beyond
the largest float, and gives NaN there (the true values are finite, or -inf for d2f/da2).

One jitted call per (activation, dtype) computes every quantity at every point (one compiled program
per activation, static hyperparameters and dtype: float hyperparameters are its arguments); mpmath
values are cached per (activation, hyperparameters, point). mpmath's exp and erf are taken through
``reference_formulas._mp_exp`` and ``_mp_erf``: the same values at the same working precision, without
mpmath's slow paths at thousands of bits (e raised to an integer 1e308 by repeated squaring; erf's
Taylor series where erf rounds to +-1).
"""

from __future__ import annotations

import functools
import inspect

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest

import jaxacts
from jaxacts._src.elementwise import compute_dtype
from tests.reference_formulas import EXTRA_CASES, MPMATH, REFERENCE, kinks

ELEMENTWISE = jaxacts.names(elementwise=True)
CASES = [(n, {}) for n in ELEMENTWISE] + EXTRA_CASES
CASE_IDS = [n + "".join(f"-{k}={v}" for k, v in hp.items()) for n, hp in CASES]
DTYPES = [jnp.float16, jnp.bfloat16, jnp.float32, jnp.float64]
MAGNITUDES = [0.0, 1e-30, 20.0, 88.7, 1e4, 1e15, 1e30, "max"]
SPREAD_ULPS = 4
# (name, quantity kind) whose value at +-max is out of reach of automatic differentiation (see above).
MIXED_OVERFLOW = {("snake", "xh"), ("snake", "hx"), ("snake", "hh")}


def points(dtype) -> np.ndarray:
    """The extreme points representable in ``dtype``, as float64 values of the dtype's numbers."""
    fi = jnp.finfo(dtype)
    out = []
    for m in MAGNITUDES:
        m = float(fi.max) if m == "max" else m
        for s in (1.0, -1.0):
            with np.errstate(over="ignore"):
                v = float(np.asarray(jnp.asarray(s * m, jnp.float64).astype(dtype).astype(jnp.float64)))
            if np.isfinite(v) and v not in out:
                out.append(v)
    return np.asarray(sorted(out))


# ----------------------------------------------------------------------------- mpmath reference


def _prec(x: float) -> int:
    return 1200 + (2 * max(int(mpmath.mag(mpmath.mpf(x))), 0) if x else 0)


@functools.lru_cache(maxsize=None)
def reference(name: str, hp: tuple, quantity: tuple, x: float) -> float:
    """One quantity of the plain formula at x, in float64 (+-inf beyond its range).

    quantity: ("value",), ("x", n) for d^n f/dx^n, ("h", k) for df/dk, ("xh", k) and ("hx", k) for
    d2f/dx dk (the two orders of automatic differentiation; one true value), ("hh", k, j) for d2f/dk dj.
    """
    f = REFERENCE[name]
    takes = inspect.signature(f).parameters
    params = {k: v for k, v in hp if k in takes}
    with mpmath.workprec(_prec(x)):
        xm = mpmath.mpf(x)
        pm = {k: mpmath.mpf(v) if isinstance(v, float) else v for k, v in params.items()}
        kind = quantity[0]
        if kind == "value":
            r = f(MPMATH, xm, **pm)
        elif kind == "x":
            r = mpmath.diff(lambda t: f(MPMATH, t, **pm), xm, quantity[1])
        elif kind == "h":
            k = quantity[1]
            r = mpmath.diff(lambda a: f(MPMATH, xm, **{**pm, k: a}), pm[k])
        elif kind == "hh" and quantity[1] == quantity[2]:
            k = quantity[1]
            r = mpmath.diff(lambda a: f(MPMATH, xm, **{**pm, k: a}), pm[k], 2)
        elif kind == "hh":
            k, j = quantity[1:]
            r = mpmath.diff(lambda a, b: f(MPMATH, xm, **{**pm, k: a, j: b}), (pm[k], pm[j]), (1, 1))
        else:
            k = quantity[1]
            r = mpmath.diff(lambda t, a: f(MPMATH, t, **{**pm, k: a}), (xm, pm[k]), (1, 1))
        if isinstance(r, mpmath.mpc):
            # A finite difference across the edge of a hyperparameter's domain (squareplus's b = 0 at
            # x = 0, where sqrt(b) has the one-sided derivative +inf) leaves the reals.
            return np.inf
        return float(r) if abs(r) < mpmath.mpf(2) ** 1024 else float(mpmath.sign(r)) * np.inf


def spread(name: str, hp: tuple, quantity: tuple, x: float, rel: float) -> float:
    """max |ref(x (1 +- rel)) - ref(x)|: how much the quantity moves under a few ulps of input rounding."""
    r = reference(name, hp, quantity, x)
    if x == 0.0 or not np.isfinite(r):
        return 0.0
    with np.errstate(over="ignore", invalid="ignore"):
        near = [float(np.float64(x) * (1.0 + s * rel)) for s in (1.0, -1.0)]
        moved = [reference(name, hp, quantity, v) for v in near if np.isfinite(v)]
        return max([abs(m - r) for m in moved if np.isfinite(m)], default=0.0)


# ----------------------------------------------------------------------------- ours


def quantities(name: str) -> list[tuple]:
    floats = jaxacts.info(name).differentiable_hyperparameters
    qs = [("value",), ("x", 1)] + [("h", k) for k in floats] + [("x", 2)]
    qs += [(kind, k) for k in floats for kind in ("xh", "hx")]
    return qs + [("hh", k, j) for i, k in enumerate(floats) for j in floats[i:]]


@functools.lru_cache(maxsize=None)
def _compiled(name: str, static: tuple, dtype):
    """All quantities of ours at a vector of points, one jitted program; the float hyperparameters are
    its arguments, so the cases that differ only in those share it (``static``: the others' items)."""
    f = jaxacts.get(name)
    floats = jaxacts.info(name).differentiable_hyperparameters
    static = dict(static)
    qs = quantities(name)
    arg = lambda k: 1 + floats.index(k)

    def scalar(x, *a):
        return f(x, **static, **dict(zip(floats, a)))

    def run(x, *a):
        over_x = (0,) + (None,) * len(a)
        out = {("value",): f(x, **static, **dict(zip(floats, a)))}
        for q in qs[1:]:
            if q == ("x", 1):
                g = jax.grad(scalar)
            elif q == ("x", 2):
                g = jax.grad(jax.grad(scalar))
            elif q[0] == "h":
                g = jax.grad(scalar, argnums=arg(q[1]))
            elif q[0] == "xh":
                g = jax.grad(jax.grad(scalar, argnums=arg(q[1])), argnums=0)
            elif q[0] == "hx":
                g = jax.grad(jax.grad(scalar, argnums=0), argnums=arg(q[1]))
            else:
                g = jax.grad(jax.grad(scalar, argnums=arg(q[1])), argnums=arg(q[2]))
            out[q] = jax.vmap(g, in_axes=over_x)(x, *a)
        return out

    return jax.jit(run)


def hyperparameters_in(name: str, hp: dict, dtype) -> dict:
    """Every hyperparameter with its default filled in; float ones rounded to the compute dtype, as the
    activation uses them."""
    full = {**jaxacts.info(name).hyperparameters, **hp}
    cd = compute_dtype(dtype)
    floats = jaxacts.info(name).differentiable_hyperparameters
    return {k: float(np.asarray(v, cd)) if k in floats else v for k, v in full.items()}


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: jnp.dtype(d).name)
@pytest.mark.parametrize("name,hp", CASES, ids=CASE_IDS)
def test_true_values_at_extremes(name, hp, dtype):
    info = jaxacts.info(name)
    full = hyperparameters_in(name, hp, dtype)
    key = tuple(sorted((k, v) for k, v in full.items() if v is not None))
    floats = info.differentiable_hyperparameters
    cd = compute_dtype(dtype)
    xs = points(dtype)
    args = [jnp.asarray(full[k], cd) for k in floats]
    static = tuple((k, v) for k, v in key if k not in floats)
    got = _compiled(name, static, jnp.dtype(dtype))(jnp.asarray(xs, dtype), *args)
    fi, fc = jnp.finfo(dtype), jnp.finfo(cd)
    rtol = float(fi.eps) * (1.0 if fi.bits == 16 else 8.0)
    at_kink = np.isin(xs, np.asarray(kinks(name, full), np.float64))
    failures = []
    for q, values in got.items():
        out_dtype = values.dtype
        values = np.asarray(values.astype(jnp.float64))
        for i, x in enumerate(xs):
            if q != ("value",) and at_kink[i]:
                continue
            if (name, q[0]) in MIXED_OVERFLOW and abs(x) == float(fi.max):
                continue
            same = ("xh", q[1]) if q[0] == "hx" else q  # the same true value, and one cache entry
            ref = reference(name, key, same, float(x))
            with np.errstate(over="ignore"):  # the dtype of the result: a float hyperparameter's own for df/dh
                expected = float(np.asarray(jnp.asarray(ref, jnp.float64).astype(out_dtype).astype(jnp.float64)))
            if np.isinf(expected):
                ok = values[i] == expected
            else:
                tol = (rtol * abs(ref) + spread(name, key, same, float(x), SPREAD_ULPS * float(fc.eps))
                       + float(fi.tiny) + float(fc.tiny) * (1.0 + min(abs(x), 128.0)) ** 2)
                ok = abs(values[i] - ref) <= tol
            if not ok:
                failures.append(f"{q} at x={x:.6g}: ours {values[i]:.17g}, mpmath {ref:.17g}")
    assert not failures, f"{name}{hp} in {jnp.dtype(dtype).name}:\n" + "\n".join(failures)
