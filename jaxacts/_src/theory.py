"""Mean-field theory of signal propagation: what a deep random network does to mean and variance.

Two views, both computed by the same Gaussian integration:

* the SELU paper's map (Klambauer et al. 2017): a unit whose inputs have mean mu and variance nu,
  with weight sum omega and squared sum tau, gets net input z ~ N(mu*omega, nu*tau);
  (mu, nu) -> (E f(z), Var f(z)).
* the signal-propagation map over random weights (Poole et al. 2016, Schoenholz et al. 2017): with
  weights of variance sigma_w^2/fan_in, statistics pooled over units see z ~ N(0, sigma_w^2 q + sigma_b^2),
  where q is the previous layer's second moment. This is what a finite random network's pooled
  per-layer mean and variance follow (each unit's own omega is random, N(0, sigma_w^2)).

Integrals are Gauss-Legendre on [-12, 12] standard deviations split at the activation's kinks, so
piecewise functions (relu, selu) integrate to ~1e-14 where plain Gauss-Hermite stalls at ~1e-3.
Everything runs in float64 (inside ``jax.enable_x64``) and is differentiable with JAX, so Jacobians
come from ``jax.jacfwd`` through the hand-written derivatives.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import jax.scipy.special as jsp
import numpy as np
import scipy.optimize

from jaxacts._src import registry
from jaxacts._src.activations import SELU_ALPHA, SELU_SCALE

_WIDTH = 12.0  # standard deviations integrated on each side; the tail beyond is < 1e-32
_PIECES = 8  # Gauss-Legendre panels per interval between kinks
_NODES = 24  # nodes per panel
_LEG_X, _LEG_W = np.polynomial.legendre.leggauss(_NODES)


def _x64(fn):
    """Runs ``fn`` with 64-bit JAX types enabled, whatever the global setting."""
    def wrapped(*args, **kwargs):
        with jax.enable_x64(True):
            return fn(*args, **kwargs)
    wrapped.__name__, wrapped.__doc__ = fn.__name__, fn.__doc__
    return wrapped


def _activation(f: str | Callable) -> tuple[Callable, tuple[float, ...]]:
    """A callable and its kinks, from a registry name or a callable (kinks unknown -> none)."""
    if isinstance(f, str):
        return registry.get(f), registry.info(f).kinks
    return f, tuple(getattr(f, "kinks", ()))


def gaussian_expectation(g: Callable, mean, var, breakpoints: Sequence[float] = ()):
    """E[g(z)] for z ~ N(mean, var), accurate to ~1e-13 for g smooth between ``breakpoints``.

    JAX-traceable in mean and var (call in float64 for full accuracy). ``g`` maps an array to an
    array of the same shape (or a trailing axis of values, for several expectations at once).
    """
    mean = jnp.asarray(mean, jnp.result_type(float))
    std = jnp.sqrt(jnp.maximum(jnp.asarray(var, mean.dtype), 1e-300))
    cuts = jnp.clip((jnp.asarray(breakpoints, mean.dtype) - mean) / std, -_WIDTH, _WIDTH)
    edges = jnp.sort(jnp.concatenate([jnp.asarray([-_WIDTH, _WIDTH], mean.dtype), cuts]))
    # Panels: each interval between edges split evenly; the integrand is smooth on every panel.
    frac = jnp.linspace(0.0, 1.0, _PIECES + 1, dtype=mean.dtype)
    lo = edges[:-1, None] + (edges[1:] - edges[:-1])[:, None] * frac[None, :-1]
    hi = edges[:-1, None] + (edges[1:] - edges[:-1])[:, None] * frac[None, 1:]
    half = (0.5 * (hi - lo)).reshape(-1, 1)
    mid = (0.5 * (hi + lo)).reshape(-1, 1)
    u = mid + half * jnp.asarray(_LEG_X, mean.dtype)[None, :]
    w = half * jnp.asarray(_LEG_W, mean.dtype)[None, :] * jnp.exp(-0.5 * u * u) / math.sqrt(2 * math.pi)
    return jnp.sum(w * g(mean + std * u))


# ----------------------------------------------------------------------------- the SELU paper's map


@_x64
def mean_field_map(f, mu, nu, omega=0.0, tau=1.0):
    """One layer of the SELU paper's map: (mu, nu) -> (mean, variance) of f(z), z ~ N(mu*omega, nu*tau).

    ``f`` is a registry name or a callable; returns a float64 array [mu_new, nu_new].
    """
    fn, kinks = _activation(f)
    m, v = mu * omega, nu * tau
    mean = gaussian_expectation(fn, m, v, kinks)
    second = gaussian_expectation(lambda z: fn(z) ** 2, m, v, kinks)
    return jnp.stack([mean, second - mean**2])


@_x64
def selu_map_closed_form(mu, nu, omega=0.0, tau=1.0, alpha=SELU_ALPHA, scale=SELU_SCALE):
    """The SELU paper's closed form of the same map (its eq. 14 and appendix; REFERENCES.md)."""
    m, v = mu * omega, nu * tau
    s = jnp.sqrt(2.0 * v)
    erfc, erf = jsp.erfc, jsp.erf
    gauss = jnp.sqrt(2.0 / jnp.pi) * jnp.sqrt(v) * jnp.exp(-(m**2) / (2.0 * v))
    mean = 0.5 * scale * (-(alpha + m) * erfc(m / s) + alpha * jnp.exp(m + v / 2.0) * erfc((m + v) / s) + gauss + 2 * m)
    second = 0.5 * scale**2 * (
        (m**2 + v) * (erf(m / s) + 1.0)
        + alpha**2 * (-2.0 * jnp.exp(m + v / 2.0) * erfc((m + v) / s) + jnp.exp(2.0 * (m + v)) * erfc((m + 2.0 * v) / s)
                      + erfc(m / s))
        + m * gauss
    )
    return jnp.stack([mean, second - mean**2])


@_x64
def map_jacobian(f, mu, nu, omega=0.0, tau=1.0):
    """2x2 Jacobian d(mu_new, nu_new)/d(mu, nu) of :func:`mean_field_map` (``f="selu_closed_form"`` for the closed form)."""
    if isinstance(f, str) and f == "selu_closed_form":
        m = lambda p: selu_map_closed_form(p[0], p[1], omega, tau)
    else:
        m = lambda p: mean_field_map(f, p[0], p[1], omega, tau)
    return jax.jacfwd(m)(jnp.asarray([mu, nu], jnp.float64))


def spectral_norm(matrix) -> float:
    """Largest singular value."""
    return float(np.linalg.norm(np.asarray(matrix, np.float64), 2))


@_x64
def iterate_map(f, mu0: float, nu0: float, depth: int, omega: float = 0.0, tau: float = 1.0) -> np.ndarray:
    """(depth, 2) array of (mu, nu) after each of ``depth`` layers of :func:`mean_field_map`."""
    def step(p, _):
        p = mean_field_map(f, p[0], p[1], omega, tau)
        return p, p

    _, out = jax.lax.scan(step, jnp.asarray([mu0, nu0], jnp.float64), None, length=depth)
    return np.asarray(out)


# ----------------------------------------------------------------------------- random-weight (pooled) view


@_x64
def pooled_layer(f, second_moment, sigma_w2: float = 1.0, sigma_b2: float = 0.0):
    """Pooled statistics of one random layer: z ~ N(0, sigma_w2 * q + sigma_b2) -> [mean, var, second moment] of f(z)."""
    fn, kinks = _activation(f)
    v = sigma_w2 * second_moment + sigma_b2
    mean = gaussian_expectation(fn, 0.0, v, kinks)
    second = gaussian_expectation(lambda z: fn(z) ** 2, 0.0, v, kinks)
    return jnp.stack([mean, second - mean**2, second])


@_x64
def predict_layers(f, input_second_moment: float, depth: int, sigma_w2: float = 1.0, sigma_b2: float = 0.0,
                   skip: bool = False) -> dict[str, np.ndarray]:
    """Per-layer pooled mean, variance and second moment of a deep random network, as theory predicts.

    With ``skip`` the layer is h + f(Wh): the second moments add (the residual branch is
    uncorrelated with h at random init), so q grows every layer; mean and variance are then NaN
    (the theory tracks the second moment only).
    """
    def step(q, _):
        mean, var, second = pooled_layer(f, q, sigma_w2, sigma_b2)
        if skip:
            q = q + second
            return q, (jnp.nan * q, jnp.nan * q, q)
        return second, (mean, var, second)

    _, (mean, var, second) = jax.lax.scan(step, jnp.float64(input_second_moment), None, length=depth)
    return {"mean": np.asarray(mean), "var": np.asarray(var), "second_moment": np.asarray(second)}


@_x64
def chi_1(f, q: float, sigma_w2: float = 1.0, sigma_b2: float = 0.0) -> float:
    """chi_1 = sigma_w^2 E[f'(sqrt(q*) z)^2] at second moment q of the previous layer (Poole 2016).

    < 1: ordered (perturbations shrink), > 1: chaotic. Uses the hand-written derivative.
    """
    fn, kinks = _activation(f)
    d = registry.derivative(f) if isinstance(f, str) else jax.vmap(jax.grad(fn))
    v = sigma_w2 * q + sigma_b2
    return float(sigma_w2 * gaussian_expectation(lambda z: d(z) ** 2, 0.0, v, kinks))


def fixed_point_second_moment(f, sigma_w2: float = 1.0, sigma_b2: float = 0.0, q0: float = 1.0,
                              iterations: int = 2000, tol: float = 1e-14) -> float:
    """q* with q* = sigma_w^2 E[f(sqrt(sigma_w^2 q* + sigma_b^2) z)^2] + ... found by iterating the map."""
    q = q0
    for _ in range(iterations):
        q_new = float(pooled_layer(f, q, sigma_w2, sigma_b2)[2])
        if abs(q_new - q) < tol * max(1.0, q):
            return q_new
        q = q_new
    return q


def edge_of_chaos(f, sigma_b2: float, bracket: tuple[float, float] = (1.01, 4.0)) -> tuple[float, float]:
    """(sigma_w^2, q*) where chi_1 = 1 at the fixed point, for the given bias variance.

    Here q* is the fixed point of the pre-activation variance, as in Schoenholz et al. 2017.
    """
    def q_star_pre(sw2):
        # fixed point of the pre-activation variance v = sw2 * E[f(sqrt(v) z)^2] + sb2
        return sw2 * fixed_point_second_moment(f, sw2, sigma_b2) + sigma_b2

    def excess(sw2):
        v = q_star_pre(sw2)
        return chi_1(f, (v - sigma_b2) / sw2, sw2, sigma_b2) - 1.0

    sw2 = scipy.optimize.brentq(excess, *bracket, xtol=1e-12)
    return sw2, q_star_pre(sw2)


# ----------------------------------------------------------------------------- self-normalizing constants


def _solve(residual, x0):
    sol = scipy.optimize.root(residual, x0, method="hybr", options={"xtol": 1e-14})
    # "no further improvement" at machine precision is success; judge by the residual itself.
    if np.max(np.abs(residual(sol.x))) > 1e-11:
        raise RuntimeError(f"root finding failed: {sol.message}")
    return sol.x


def selu_constants(fixed_mean: float = 0.0, fixed_var: float = 1.0, *, closed_form: bool = True) -> tuple[float, float]:
    """(alpha, lambda) that make (fixed_mean, fixed_var) a fixed point of the SELU map with omega=0, tau=1.

    Solved from scratch by root finding on the map (the paper's closed form, or quadrature on
    ``lambda * elu_alpha`` when ``closed_form=False``). (0, 1) gives alpha_01, lambda_01.
    """
    def residual(p):
        alpha, lam = p
        if closed_form:
            mu, nu = selu_map_closed_form(fixed_mean, fixed_var, 0.0, 1.0, alpha, lam)
        else:
            f = lambda z: lam * jnp.where(z > 0, z, alpha * jnp.expm1(jnp.minimum(z, 0.0)))
            f.kinks = (0.0,)
            mu, nu = mean_field_map(f, fixed_mean, fixed_var, 1.0, 1.0)  # omega=1 keeps m = fixed_mean
        return [float(mu) - fixed_mean, float(nu) - fixed_var]

    if fixed_mean != 0.0 and closed_form:
        raise ValueError("the closed form is used with omega = 0, where only fixed_mean = 0 is reachable")
    alpha, lam = _solve(residual, [1.6, 1.05])
    return float(alpha), float(lam)


def selu_constants_formula() -> tuple[float, float]:
    """alpha_01 and lambda_01 from the paper's closed-form expressions (its eq. 14)."""
    e, pi = math.e, math.pi
    ec = math.erfc(1 / math.sqrt(2))
    alpha = -math.sqrt(2 / pi) / (ec * math.exp(0.5) - 1)
    lam = (1 - ec * math.sqrt(e)) * math.sqrt(2 * pi) * (
        2 * math.erfc(math.sqrt(2)) * e**2 + pi * ec**2 * e - 2 * (2 + pi) * ec * math.sqrt(e) + pi + 2) ** -0.5
    return alpha, lam


@dataclasses.dataclass(frozen=True)
class SelfNormalizingVariant:
    """lambda * f(x) + beta with (mean 0, variance 1) as a fixed point of the map at omega = 0, tau = 1."""

    name: str
    scale: float  # lambda
    shift: float  # beta
    jacobian: tuple[tuple[float, float], tuple[float, float]]
    spectral_norm: float

    @property
    def attracting(self) -> bool:
        return self.spectral_norm < 1.0

    def __call__(self, x):
        return self.scale * registry.get(self.name)(x) + self.shift

    @property
    def kinks(self):
        return registry.info(self.name).kinks


@_x64
def self_normalizing_variant(name: str) -> SelfNormalizingVariant:
    """Scale and shift of activation ``name`` that make (0, 1) a fixed point; whether it attracts.

    With z ~ N(0, 1) the conditions E[lambda f + beta] = 0 and Var[lambda f + beta] = 1 give
    lambda = 1 / std f(z), beta = -lambda E f(z) in closed form; the Jacobian of the map of the
    scaled function at (0, 1) then tells whether the fixed point attracts.
    """
    fn, kinks = _activation(name)
    mean = float(gaussian_expectation(fn, 0.0, 1.0, kinks))
    second = float(gaussian_expectation(lambda z: fn(z) ** 2, 0.0, 1.0, kinks))
    scale = 1.0 / math.sqrt(second - mean**2)
    shift = -scale * mean
    variant = lambda z: scale * fn(z) + shift
    variant.kinks = kinks
    jac = np.asarray(map_jacobian(variant, 0.0, 1.0))
    return SelfNormalizingVariant(name, scale, shift, tuple(map(tuple, jac.tolist())), spectral_norm(jac))


def alpha_dropout_affine(rate: float, alpha: float = SELU_ALPHA, scale: float = SELU_SCALE) -> tuple[float, float, float]:
    """(alpha', a, b) of alpha dropout: dropped units are set to alpha' = -lambda*alpha, then y = a x + b.

    a = (q + alpha'^2 q (1 - q))^(-1/2), b = -a (1 - q) alpha', with keep probability q = 1 - rate,
    so that mean 0 / variance 1 inputs keep mean 0 / variance 1 (Klambauer et al. 2017).
    """
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"alpha dropout rate must be in [0, 1), got {rate}")
    q = 1.0 - rate
    a_prime = -scale * alpha
    a = (q + a_prime**2 * q * (1.0 - q)) ** -0.5
    return a_prime, a, -a * (1.0 - q) * a_prime
