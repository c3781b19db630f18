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
import functools
import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import jax.scipy.special as jsp
from jax import Array
import numpy as np
import scipy.optimize
import scipy.stats

from jaxacts._src import registry
from jaxacts._src.activations import SELU_ALPHA, SELU_SCALE

_WIDTH = 12.0  # standard deviations integrated on each side; the tail beyond is < 1e-32
_PIECES = 8  # Gauss-Legendre panels per interval between kinks
_NODES = 24  # nodes per panel


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


def _nodes(mean, var, breakpoints=(), pieces: int = _PIECES, nodes: int = _NODES, width: float = _WIDTH,
           sort: bool = True):
    """Quadrature points and weights for E[g(z)], z ~ N(mean, var): Gauss-Legendre panels on
    [-width, width] standard deviations, split at ``breakpoints`` (in z; ``sort=False`` when they are
    sorted already: clipping keeps their order). Returns flat arrays (points, weights)."""
    mean = jnp.asarray(mean, jnp.result_type(float))
    std = jnp.sqrt(jnp.maximum(jnp.asarray(var, mean.dtype), 1e-300))
    cuts = jnp.clip((jnp.asarray(breakpoints, mean.dtype) - mean) / std, -width, width)
    edges = jnp.concatenate([jnp.asarray([-width], mean.dtype), cuts, jnp.asarray([width], mean.dtype)])
    edges = jnp.sort(edges) if sort else edges
    # Panels: each interval between edges split evenly; the integrand is smooth on every panel.
    frac = jnp.linspace(0.0, 1.0, pieces + 1, dtype=mean.dtype)
    lo = edges[:-1, None] + (edges[1:] - edges[:-1])[:, None] * frac[None, :-1]
    hi = edges[:-1, None] + (edges[1:] - edges[:-1])[:, None] * frac[None, 1:]
    half = (0.5 * (hi - lo)).reshape(-1, 1)
    mid = (0.5 * (hi + lo)).reshape(-1, 1)
    leg_x, leg_w = _legendre(nodes)
    u = mid + half * jnp.asarray(leg_x, mean.dtype)[None, :]
    w = half * jnp.asarray(leg_w, mean.dtype)[None, :] * jnp.exp(-0.5 * u * u) / math.sqrt(2 * math.pi)
    return (mean + std * u).reshape(-1), w.reshape(-1)


@functools.cache
def _legendre(nodes: int):
    return np.polynomial.legendre.leggauss(nodes)


def gaussian_expectation(g: Callable, mean, var, breakpoints: Sequence[float] = ()):
    """E[g(z)] for z ~ N(mean, var), accurate to ~1e-13 for g smooth between ``breakpoints``.

    JAX-traceable in mean and var (call in float64 for full accuracy). ``g`` maps an array to an
    array of the same shape (or a trailing axis of values, for several expectations at once).
    """
    z, w = _nodes(mean, var, breakpoints)
    return jnp.sum(w * g(z))


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
    return jax.jit(jax.jacfwd(m))(jnp.asarray([mu, nu], jnp.float64))  # compiled, as chi_1


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
                   skip: bool = False, input_mean: float = 0.0) -> dict[str, np.ndarray]:
    """Per-layer pooled mean, variance and second moment of a deep random network, as mean-field theory
    predicts (width -> infinity).

    Plain layers h -> f(Wh): q' = E f(z)^2, mean' = E f(z), z ~ N(0, sigma_w2 q + sigma_b2).

    With ``skip`` the layer is h -> h + f(Wh). Each unit's branch f(z_i) is independent of h_i, but not
    of mean zero: E[h_i f(z_i)] = mu E f. So the mean over units mu (``input_mean`` for the input) and the
    second moment q both accumulate:

        mu' = mu + E f(z),   q' = q + 2 mu E f(z) + E f(z)^2,   z ~ N(0, sigma_w2 q + sigma_b2).

    (Dropping the cross term 2 mu E f, as an earlier version did, underestimates SELU's second moment
    by orders of magnitude after 20 layers.)
    """
    def step(state, _):
        q, mu = state
        mean, var, second = pooled_layer(f, q, sigma_w2, sigma_b2)
        if skip:
            mu_new, q_new = mu + mean, q + 2.0 * mu * mean + second
            return (q_new, mu_new), (mu_new, q_new - mu_new**2, q_new)
        return (second, mean), (mean, var, second)

    init = (jnp.float64(input_second_moment), jnp.float64(input_mean))
    _, (mean, var, second) = jax.lax.scan(step, init, None, length=depth)
    return {"mean": np.asarray(mean), "var": np.asarray(var), "second_moment": np.asarray(second)}


@_x64
def chi_1(f, q: float, sigma_w2: float = 1.0, sigma_b2: float = 0.0) -> float:
    """chi_1 = sigma_w^2 E[f'(sqrt(q*) z)^2] at second moment q of the previous layer (Poole 2016).

    < 1: ordered (perturbations shrink), > 1: chaotic. Uses the hand-written derivative.
    """
    return float(_chi_1_program(f)(sigma_w2 * q + sigma_b2, sigma_w2))


@functools.lru_cache(maxsize=64)
def _chi_1_program(f):
    """chi_1's quadrature compiled once per activation (op by op, each operation would compile on its own;
    edge_of_chaos calls chi_1 at every step of its root search)."""
    fn, kinks = _activation(f)
    d = registry.derivative(f) if isinstance(f, str) else jax.vmap(jax.grad(fn))
    return jax.jit(lambda v, sigma_w2: sigma_w2 * gaussian_expectation(lambda z: d(z) ** 2, 0.0, v, kinks))


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
    # Each step one compiled program: run op by op, the quadrature and its Jacobian take seconds more.
    moments = jax.jit(lambda: jnp.stack([gaussian_expectation(fn, 0.0, 1.0, kinks),
                                         gaussian_expectation(lambda z: fn(z) ** 2, 0.0, 1.0, kinks)]))
    mean, second = (float(v) for v in moments())
    scale = 1.0 / math.sqrt(second - mean**2)
    shift = -scale * mean
    variant = lambda z: scale * fn(z) + shift
    variant.kinks = kinks
    jac = np.asarray(jax.jit(lambda: map_jacobian(variant, 0.0, 1.0))())
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


# ----------------------------------------------------------------------------- finite width
#
# At width N the units of a layer are independent given the previous layer (their weight columns are), so
# one input's second moment q_l = |h_l|^2 / N is a Markov chain:
#
#     q_{l+1} = (1/N) sum_i phi(sqrt(v) u_i)^2,   v = sigma_w^2 q_l + sigma_b^2,   u_i iid N(0, 1)
#
# (exact for Gaussian weights; other weight distributions change it at order 1/N^2 per layer). Its
# increment has the exact conditional moments E[q'|q] = E phi^2 (the mean-field map) and
# Var[q'|q] = (E phi^4 - (E phi^2)^2) / N. Mean-field theory is the N -> infinity limit of this chain.


@dataclasses.dataclass(frozen=True)
class ScaledActivation:
    """``scale * f(x) + shift`` for a registry spec such as ``"leaky_relu(negative_slope=0.2)"``.

    A callable the theory integrates, with the activation's kinks and its hand-written derivative
    (``scale * f'(x)``). ``ScaledActivation("tanh", 1.593, 0.0)`` is a self-normalizing variant.
    """

    spec: str
    scale: float = 1.0
    shift: float = 0.0

    def __post_init__(self):
        registry.get_spec(self.spec)  # a clear error for unknown names or values

    @property
    def kinks(self) -> tuple[float, ...]:
        return registry.info(registry.parse_spec(self.spec)[0]).kinks

    def __call__(self, x):
        y = registry.get_spec(self.spec)(x)
        return y if (self.scale, self.shift) == (1.0, 0.0) else self.scale * y + self.shift

    def derivative(self, x):
        name, hyperparameters = registry.parse_spec(self.spec)
        return self.scale * registry.derivative(name, **hyperparameters)(x)


def _functions(f) -> tuple[Callable, Callable, tuple[float, ...]]:
    """(value, elementwise derivative, kinks) of a registry spec, a ScaledActivation or a callable
    (a callable's derivative: its ``derivative`` attribute, else ``jax.grad`` elementwise)."""
    if isinstance(f, str):
        f = ScaledActivation(f)
    derivative = getattr(f, "derivative", None)
    if derivative is None:
        derivative = jnp.vectorize(jax.grad(f))
    return f, derivative, tuple(getattr(f, "kinks", ()))


_FW_PIECES, _FW_NODES = 4, 16  # panels per interval and nodes per panel in the finite-width program (~1e-12)
_PARTICLES = 64  # quantile particles of log q over networks
_STEP_POINTS = scipy.stats.norm.ppf((np.arange(8) + 0.5) / 8)  # equal-probability points of one step
_STEP_POINTS = _STEP_POINTS / _STEP_POINTS.std()
_FAR = 1e30  # a padded kink: clipped to the integration edge, where it adds an empty panel


def _padded_kinks(kinks, count: int) -> np.ndarray:
    """The breakpoints of one branch in a program that has ``count``: its kinks, or 0 (the Gaussian's centre,
    which halves the panels of a smooth function), then far points (empty panels)."""
    kinks = tuple(sorted(kinks)) or (0.0,)
    return np.asarray(kinks + (_FAR,) * (count - len(kinks)), np.float64)


def _digamma_minus_log_and_trigamma(k):
    """(psi(k) - log k, psi'(k)) for k > 0: six steps of the recurrence, then the asymptotic series
    (error < 1e-12; a few operations, where jax.scipy.special's polygamma compiles a long series)."""
    shift = jnp.zeros_like(k)
    tri = jnp.zeros_like(k)
    for i in range(6):
        shift = shift - 1.0 / (k + i)
        tri = tri + 1.0 / (k + i) ** 2
    x = k + 6.0
    inv, inv2 = 1.0 / x, 1.0 / (x * x)
    psi_x = jnp.log(x) - 0.5 * inv - inv2 * (1 / 12 - inv2 * (1 / 120 - inv2 * (1 / 252 - inv2 / 240)))
    tri_x = inv + 0.5 * inv2 + inv * inv2 * (1 / 6 - inv2 * (1 / 30 - inv2 * (1 / 42 - inv2 / 30)))
    return psi_x + shift - jnp.log(k), tri_x + tri


def _gamma_log_moments(mean, var, n):
    """E and Var of log(S/n) for S a sum of n iid terms of the given mean and variance, with S/n taken
    as Gamma-distributed with those moments (shape k = n mean^2 / var): log mean + psi(k) - log k, psi'(k).
    Exact in the first two moments of S; the log's moments are then right to O(1/n^2)."""
    k = n * mean**2 / jnp.maximum(var, 1e-300 * mean**2 + 1e-300)
    k = jnp.minimum(k, 1e15)  # a deterministic increment (var 0): psi(k) - log k -> 0, psi'(k) -> 0
    shift, trigamma = _digamma_minus_log_and_trigamma(k)
    return jnp.log(jnp.maximum(mean, 1e-300)) + shift, trigamma


def second_moment_increment(f, q, width: int, sigma_w2: float = 1.0, sigma_b2: float = 0.0) -> dict[str, float]:
    """One step of the finite-width chain of one input's second moment, given q_l = ``q``.

    Exact for Gaussian weights: with v = sigma_w2 q + sigma_b2 and phi = ``f``,

    * ``mean`` = E[q_{l+1} | q_l] = E phi(sqrt(v) z)^2 (the mean-field map),
    * ``var`` = Var[q_{l+1} | q_l] = (E phi^4 - (E phi^2)^2) / N,

    and, taking q_{l+1} as Gamma-distributed with those two moments (shape k = N (E phi^2)^2 / Var phi^2),

    * ``log_mean`` = E[log q_{l+1} | q_l] = log E phi^2 + psi(k) - log k,
    * ``log_var`` = Var[log q_{l+1} | q_l] = psi'(k)  (~ 1/k + 1/(2k^2)).

    For ReLU with sigma_w2 = 2, k = N/5 and log_var -> 5/N (Hanin & Nica 2019).
    """
    branch, scale, shift = _branch_of(f)
    with jax.enable_x64(True):
        mo = np.asarray(_moments_program(branch)(jnp.asarray([sigma_w2 * q + sigma_b2], jnp.float64), scale, shift))[0]
        m2, m4 = mo[1], mo[3]
        log_mean, log_var = _gamma_log_moments(jnp.float64(m2), jnp.float64(m4 - m2**2), width)
    return {"mean": float(m2), "var": float((m4 - m2**2) / width), "log_mean": float(log_mean),
            "log_var": float(log_var)}


def simulate_second_moment_chain(key, f, q0: float, depth: int, width: int, samples: int = 1000,
                                 sigma_w2: float = 1.0, sigma_b2: float = 0.0,
                                 first_sigma_w2: float | None = None) -> np.ndarray:
    """Monte Carlo of the finite-width chain itself: (samples, depth) values of one input's q_l.

    Draws q_{l+1} = (1/N) sum_i phi(sqrt(sigma_w2 q_l + sigma_b2) u_i)^2 with N = ``width`` fresh
    standard normals per layer: the exact law of a random network with Gaussian weights, at a cost of
    N numbers per layer instead of N^2 (a check of :func:`finite_width_layers`' approximations).
    ``first_sigma_w2`` is the first layer's gain when it differs (fan-in of the input).
    """
    fn, _, _ = _functions(f)
    gains = np.full(depth, sigma_w2, np.float64)
    gains[0] = sigma_w2 if first_sigma_w2 is None else first_sigma_w2

    @jax.jit
    def run(key, gains):
        def step(q, xs):
            k, g = xs
            u = jax.random.normal(k, (samples, width), jnp.float64)
            q = jnp.mean(fn(jnp.sqrt(g * q + sigma_b2)[:, None] * u) ** 2, axis=1)
            return q, q

        return jax.lax.scan(step, jnp.full(samples, q0, jnp.float64), (jax.random.split(key, depth), gains))[1]

    with jax.enable_x64(True):
        return np.asarray(run(key, jnp.asarray(gains))).T


def _pre_correlation(c, q, g, sigma_b2):
    """Cosine of two pre-activations whose layer inputs have second moment q each and cosine c."""
    return (g * c * q + sigma_b2) / (g * q + sigma_b2)


def _bivariate_nodes(var, c, kinks, pieces=2, nodes=12, width=8.0):
    """Points (x (n,), y (n, m)) and weights (n, m) for E[g(x, y)], (x, y) ~ N(0, var [[1, c], [c, 1]]):
    x by panels split at the kinks, then y | x ~ N(c x, var (1 - c^2)) split at the kinks too. The default
    (two 12-node panels per interval, +-8 standard deviations) is accurate to ~1e-4, enough for the
    correlations of fluctuations it serves."""
    x, wx = _nodes(0.0, var, kinks, pieces, nodes, width, sort=False)
    y, wy = jax.vmap(lambda xi: _nodes(c * xi, var * (1.0 - c * c), kinks, pieces, nodes, width, sort=False))(x)
    return x, y, wx[:, None] * wy


def correlation_map(f, c, q: float = 1.0, sigma_w2: float = 1.0, sigma_b2: float = 0.0):
    """Mean-field map of the cosine of two inputs' activations: c' = E[phi(x) phi(y)] / E[phi(x)^2] for
    (x, y) Gaussian with variances v = sigma_w2 q + sigma_b2 and covariance sigma_w2 c q + sigma_b2 (both
    inputs at second moment q; Poole et al. 2016). For ReLU it is the arc-cosine kernel
    (sqrt(1 - c^2) + (pi - arccos c) c) / pi (Cho & Saul 2009)."""
    branch, scale, shift = _branch_of(f)
    with jax.enable_x64(True):
        return float(_correlation_program(branch)(jnp.float64(c), jnp.float64(q), jnp.float64(sigma_w2),
                                                  jnp.float64(sigma_b2), jnp.float64(scale), jnp.float64(shift)))


@functools.lru_cache(maxsize=32)
def _correlation_program(branch):
    fn, _, kinks = _functions(branch)
    kinks = tuple(sorted(kinks))

    @jax.jit
    def run(c, q, sigma_w2, sigma_b2, scale, shift):
        phi = lambda z: scale * fn(z) + shift
        v = sigma_w2 * q + sigma_b2
        c_pre = jnp.clip(_pre_correlation(c, q, sigma_w2, sigma_b2), -1.0, 1.0)
        x, y, w = _bivariate_nodes(v, c_pre, kinks, pieces=_PIECES, nodes=_NODES, width=_WIDTH)
        z, wz = _nodes(0.0, v, kinks)
        return jnp.sum(w * phi(x)[:, None] * phi(y)) / jnp.sum(wz * phi(z) ** 2)

    return run


class _Params(NamedTuple):
    """Runtime data of the finite-width program (one program serves every activation of its branches)."""

    index: Array  # () int32: which branch
    scale: Array  # ()
    shift: Array  # ()
    kinks: Array  # (most kinks of any branch,): this branch's, padded with far points
    sigma_b2: Array  # ()
    width: Array  # () N
    batch: Array  # () B
    input_weights: Array  # (R,) weight of each representative input (sums to 1)


class _State(NamedTuple):
    q: Array  # (R,) mean-field second moment of each representative input
    q_rep: Array  # () mean-field second moment of the representative input the finite-width chain starts from
    x: Array  # (M,) particles (equal weights, sorted) of log q of one input over networks, at finite width
    C: Array  # () Cov(log q_a, log q_b) of two inputs of the batch
    c: Array  # () mean cosine of two inputs' activations (over pairs of the batch and networks)
    s2c: Array  # () its variance (the inputs' spread, then the random walk of finite width)


def _branch(f):
    fn, derivative, _ = _functions(f)
    return lambda z: (fn(z), derivative(z))


@functools.lru_cache(maxsize=32)
def _program(branches: tuple, chunk: int):
    """The jitted finite-width recursion over ``chunk`` layers, for activations ``branches`` (runtime
    index). Compiled once per set of branches and per shape of the representative inputs and pairs.

    The activation is evaluated at two call sites only (all 1D integrals at once, all pair integrals at
    once), and slopes come from Stein's identity E[h'(x)] = E[h(x) (x - mu)] / V on the Gauss-Hermite
    nodes rather than from differentiating the program: both keep compile time small."""
    fns = [_branch(b) for b in branches]

    def act(p, z):
        value, slope = jax.lax.switch(p.index, fns, z) if len(fns) > 1 else fns[0](z)
        return p.scale * value + p.shift, p.scale * slope

    def moments(p, v):
        """E phi, E phi^2, E phi^4, E phi'^2, E phi'^4, E z^2 phi'^2, E (phi - E phi)^4 at each pre-activation
        variance of v (n,): (n, 7)."""
        z, w = jax.vmap(lambda vi: _nodes(0.0, vi, p.kinks, _FW_PIECES, _FW_NODES, sort=False))(v)
        y, d = act(p, z)
        y2, d2 = y * y, d * d
        m1 = jnp.sum(w * y, -1)
        centred2 = (y - m1[:, None]) ** 2
        return jnp.stack([m1, jnp.sum(w * y2, -1), jnp.sum(w * y2 * y2, -1), jnp.sum(w * d2, -1),
                          jnp.sum(w * d2 * d2, -1), jnp.sum(w * z * z * d2, -1), jnp.sum(w * centred2**2, -1)],
                         axis=-1)

    def step(p, s: _State, g):
        xs = s.x  # particles of log q over networks, one input at finite width (sorted)
        mu_prev = jnp.mean(xs)
        V_prev = jnp.var(xs)
        v_inputs = g * s.q + p.sigma_b2
        v_rep = g * s.q_rep + p.sigma_b2
        v_typical = g * jnp.exp(xs[xs.shape[0] // 2]) + p.sigma_b2  # the median network's
        m = moments(p, jnp.concatenate([v_inputs, jnp.stack([v_rep, v_typical]), g * jnp.exp(xs) + p.sigma_b2]))
        r = v_inputs.shape[0]
        m_in, m_rep, mt, m_x = m[:r], m[r], m[r + 1], m[r + 2:]
        # Mean field, every representative input; 1/B_eff: the pooled q weighs input a by q_a / (B q_bar).
        q_new = m_in[:, 1]
        q_bar = jnp.sum(p.input_weights * q_new)
        inv_beff = jnp.sum(p.input_weights * (q_new / q_bar) ** 2) / p.batch
        # One input at finite width: every particle's next log q, E and Var from the Gamma form.
        log_mean, log_var = _gamma_log_moments(m_x[:, 1], m_x[:, 2] - m_x[:, 1] ** 2, p.width)
        chi_x = g * m_x[:, 3]
        # Backward step ||g_{l-1}||^2 / ||g_l||^2 = |W v|^2 / |g|^2 with v = phi' * g: a chi^2_N from W (log
        # variance 2/N) times the phi'^2-weighted mean of g^2 (log variance (3 E phi'^4 / (E phi'^2)^2 - 3)/N),
        # taken as Gamma with shape N / (3 r - 1), r = E phi'^4 / (E phi'^2)^2.
        # W is not independent of the forward pass: its component along h_{l-1} is z_l / |h_{l-1}|. Split off,
        # that component adds (z . v)^2 / |h|^2 in place of its share of the chi^2_N, which multiplies the
        # expected ratio by 1 + delta / N, delta = E[z^2 phi'^2] / (E z^2 E phi'^2) - 1 (0 for ReLU and linear
        # units; negative when phi' is small where |z| is large: tanh, SELU). Exact for sigma_b = 0.
        ratio4 = m_x[:, 4] / jnp.maximum(m_x[:, 3] ** 2, 1e-300)
        k_g = jnp.minimum(p.width / jnp.maximum(3.0 * ratio4 - 1.0, 1e-15), 1e15)
        v_x = g * jnp.exp(xs) + p.sigma_b2
        delta = m_x[:, 5] / jnp.maximum(v_x * m_x[:, 3], 1e-300) - 1.0
        shift_g, var_g_back = _digamma_minus_log_and_trigamma(k_g)
        vals = jnp.stack([log_mean, log_var, m_x[:, 0], jnp.log(jnp.maximum(chi_x, 1e-300)),
                          shift_g + jnp.log1p(delta / p.width), var_g_back], axis=1)
        mean = jnp.mean(vals, axis=0)
        # E[h'(x)] by statistical linearization over the particles: Cov(h(x), x) / Var x.
        slope = jnp.where(V_prev > 0, jnp.mean((vals - mean[None, :]) * (xs - mu_prev)[:, None], axis=0)
                          / jnp.where(V_prev > 0, V_prev, 1.0), 0.0)
        mu = mean[0]
        var_g = jnp.mean((vals[:, 0] - mu) ** 2)
        noise = mean[1]
        V = noise + var_g
        # Next particles: each particle's step at K equal-probability points of its (Gaussian) increment, sorted
        # and merged K at a time, then rescaled about the mean to the exact variance.
        z = jnp.asarray(_STEP_POINTS)
        samples = jnp.sort((vals[:, 0:1] + jnp.sqrt(jnp.maximum(vals[:, 1:2], 0.0)) * z[None, :]).reshape(-1))
        merged = jnp.mean(samples.reshape(xs.shape[0], -1), axis=1)
        spread_now = jnp.var(merged)
        x_new = mu + (merged - jnp.mean(merged)) * jnp.sqrt(jnp.where(spread_now > 0, V / jnp.where(
            spread_now > 0, spread_now, 1.0), 0.0))
        # Pairs of inputs: their log q's share the layer's weights, so their noises correlate by
        # rho = Corr(phi(x)^2, phi(y)^2) at the pair's cosine c, taken at the median network's q = e^mu. The
        # cosine of a pair is spread over the pairs of the batch and, at finite width, random-walks (per layer
        # variance Var(XY - c'(X^2 + Y^2)/2) / (N (E phi^2)^2), X, Y two inputs' activations of one unit): it is
        # carried as c ~ N(c, s^2), by two sigma points c -+ s.
        q_t = jnp.exp(xs[xs.shape[0] // 2])
        spread = jnp.maximum(jnp.sqrt(jnp.maximum(s.s2c, 0.0)), 1e-4)
        sigma = jnp.stack([s.c - spread, s.c + spread])
        c_pre = jnp.clip(_pre_correlation(sigma, q_t, g, p.sigma_b2), -1.0, 1.0)
        x, y, wxy = jax.vmap(lambda c: _bivariate_nodes(v_typical, c, p.kinks))(c_pre)  # (2, n), (2, n, n)
        n = x.shape[1]
        values, slopes = act(p, jnp.concatenate([x, y.reshape(x.shape[0], -1)], axis=1))
        fx, dx = values[:, :n, None], slopes[:, :n, None]
        fy, dy = values[:, n:].reshape(y.shape), slopes[:, n:].reshape(y.shape)
        e_ff = jnp.sum(wxy * fx * fy, (1, 2))
        e_f2f2 = jnp.sum(wxy * fx * fx * fy * fy, (1, 2))
        e_f3f = jnp.sum(wxy * fx**3 * fy, (1, 2))
        e_dd = jnp.sum(wxy * dx * dy, (1, 2))
        e_d2d2 = jnp.sum(wxy * dx * dx * dy * dy, (1, 2))
        c_sig = jnp.clip(e_ff / mt[1], -1.0, 1.0)
        c_noise = (e_f2f2 - e_ff**2 - c_sig * (2 * e_f3f - 2 * e_ff * mt[1])
                   + 0.25 * c_sig**2 * (2 * mt[2] + 2 * e_f2f2 - 4 * mt[1] ** 2)) / (p.width * mt[1] ** 2)
        c_new = jnp.clip(jnp.mean(c_sig), -1.0, 1.0)
        s2c_new = (0.5 * (c_sig[1] - c_sig[0]) / spread) ** 2 * s.s2c + jnp.mean(jnp.maximum(c_noise, 0.0))
        rho = jnp.clip(jnp.mean((e_f2f2 - mt[1] ** 2) / jnp.maximum(mt[2] - mt[1] ** 2, 1e-300)), -1.0, 1.0)
        kappa = jnp.mean(e_dd / jnp.maximum(mt[3], 1e-300))
        rho_d = jnp.clip(jnp.mean((e_d2d2 - mt[3] ** 2) / jnp.maximum(mt[4] - mt[3] ** 2, 1e-300)), -1.0, 1.0)
        cov_mean = jnp.mean(e_ff - mt[0] ** 2)
        # The probe's variance is the central moment over batch and units: its fresh noise is that of
        # (phi - m)^2, not phi^2, which differs where the mean is large (sigmoid: the units' shared offsets
        # m sum_j W_ij dominate the pre-activations, and the inputs' centred squares move together).
        var_t = jnp.maximum(mt[1] - mt[0] ** 2, 1e-300)
        rho_c = jnp.clip(jnp.mean((jnp.sum(wxy * (fx - mt[0]) ** 2 * (fy - mt[0]) ** 2, (1, 2)) - var_t**2)
                                  / jnp.maximum(mt[6] - var_t**2, 1e-300)), -1.0, 1.0)
        pooled = lambda r: (inv_beff + (1.0 - inv_beff) * r) / p.width  # B_eff inputs that correlate by r
        var_noise = (mt[6] - var_t**2) / var_t**2 * pooled(rho_c)
        q_noise = (mt[2] - mt[1] ** 2) / mt[1] ** 2 * pooled(rho)
        # Cov(g(x_a), g(x_b)) for jointly Gaussian x_a, x_b of variance V and covariance C: E[g']^2 C to first
        # order in C, and Var g when C = V (the same input): the second-order term interpolates.
        ratio = jnp.clip(s.C / jnp.maximum(V_prev, 1e-300), -1.0, 1.0)
        propagated = slope[0] ** 2 * s.C + (var_g - slope[0] ** 2 * V_prev) * ratio**2
        C = jnp.clip(propagated + rho * noise, -V, V)
        # Fresh noise of the pooled mean over batch and units, and its slope in log q of the previous layer.
        mean_noise = (mt[1] - mt[0] ** 2) * inv_beff + (1.0 - inv_beff) * cov_mean
        out = {"second_moment": q_bar, "mean": jnp.sum(p.input_weights * m_in[:, 0]),
               "pre_var": jnp.sum(p.input_weights * v_inputs), "q_rep": m_rep[1], "chi_rep": g * m_rep[3],
               "log_q_mean": mu, "log_q_var": V, "log_q_pair_cov": C,
               "inv_batch": inv_beff, "chi": g * m_in[:, 3], "log_chi": mean[3], "log_chi_slope": slope[3],
               "chain_slope": slope[0], "grad_shift": mean[4], "grad_var": mean[5], "kappa": kappa,
               "rho_d": rho_d, "grad_r": mt[4] / jnp.maximum(mt[3] ** 2, 1e-300),
               "mean_noise": mean_noise / p.width, "mean_slope": slope[2], "var_noise": var_noise,
               "q_noise": q_noise}
        out["log_q_particles"] = x_new
        return _State(q_new, m_rep[1], x_new, C, c_new, s2c_new), out

    def run(p: _Params, s: _State, gains):
        return jax.lax.scan(lambda s, g: step(p, s, g), s, gains)

    # One network per call: vmapping networks buys little on a CPU, and every batch size would compile anew.
    return jax.jit(run)


_REPRESENTATIVES = 8  # inputs standing for the batch (quantiles of their second moments)
_CHUNK = 50  # layers per call of the compiled recursion


def _branch_of(f) -> tuple[object, float, float]:
    """(branch, scale, shift): what the compiled program dispatches on, and the runtime affine map."""
    if isinstance(f, str):
        return ScaledActivation(f).spec, 1.0, 0.0
    if isinstance(f, ScaledActivation):
        return f.spec, f.scale, f.shift
    return f, 1.0, 0.0


def _quantiles(values: np.ndarray, count: int) -> np.ndarray:
    return np.quantile(values, (np.arange(count) + 0.5) / count) if values.size else np.zeros(count)


def describe_batch(inputs) -> dict[str, np.ndarray]:
    """The batch as the finite-width theory sees it: each input's second moment |x_a|^2 / d, the cosines
    of all pairs of inputs, and the batch size. ``inputs`` is (batch, features), or a number: the second
    moment of a single input."""
    x = np.asarray(inputs, np.float64)
    if x.ndim == 0:
        return {"second_moments": x.reshape(1), "cosines": np.zeros(0), "batch": 1}
    if x.ndim != 2:
        raise ValueError(f"inputs must be (batch, features) or one second moment, got shape {x.shape}")
    q = np.mean(x * x, axis=1)
    norms = np.sqrt(np.maximum(np.sum(x * x, axis=1), 1e-300))
    cos = (x @ x.T) / norms[:, None] / norms[None, :]
    return {"second_moments": q, "cosines": cos[np.triu_indices(len(x), 1)], "batch": len(x)}


@dataclasses.dataclass(frozen=True)
class FiniteWidthNetwork:
    """One network for :func:`finite_width_many`: the arguments of :func:`finite_width_layers`."""

    activation: object  # registry spec, ScaledActivation or callable
    inputs: object  # (batch, features) array or one input's second moment
    depth: int
    width: int
    sigma_w2: float = 1.0
    sigma_b2: float = 0.0
    first_sigma_w2: float | None = None


def finite_width_layers(f, inputs, depth: int, width: int, sigma_w2: float = 1.0, sigma_b2: float = 0.0, *,
                        first_sigma_w2: float | None = None, coverage: float = 0.95,
                        branches: Sequence | None = None) -> dict[str, np.ndarray]:
    """Mean-field lines and finite-width bands of a deep random fully-connected network, per layer.

    ``f`` is a registry spec, a :class:`ScaledActivation` or a callable; ``inputs`` a (batch, features)
    array or one input's second moment; weights of variance ``sigma_w2`` / fan_in (``first_sigma_w2`` for
    the first layer, whose fan-in is the input's), biases of variance ``sigma_b2``; width N. Every statistic
    is the depth probe's (:mod:`jaxacts.probe`): pooled over the batch and the units of one network.

    **Mean field** (N -> infinity), per input a: q_a' = E phi(sqrt(sigma_w2 q_a + sigma_b2) z)^2, z ~ N(0, 1);
    ``second_moment``, ``mean`` and ``var`` average over the batch (8 quantiles of the inputs' q_a).

    **One input at width N** (``log_q_mean``, ``log_q_std``): the chain of :func:`second_moment_increment`,
    x = log q, x_{l+1} = g(x_l) + noise, with g(x) = E[log q' | q = e^x] and s^2(x) = Var[log q' | q = e^x]
    from the Gamma form of the exact increment. Its law over networks is carried by 64 quantile particles:
    each moves to g(x) + s(x) z at 8 equal-probability normal points z, the 512 results are sorted and merged
    8 at a time, and the particles are rescaled about the exact mean E g(x_l) to the exact variance
    E s^2(x_l) + Var g(x_l). So the band follows skewed and two-humped laws (an unstable fixed point sends
    some networks up and leaves others near a lower one), which a Gaussian in log q cannot. For ReLU + He
    (g(x) = x + psi(N/5) - log(N/5)) it is a sum of iid steps: V_L = L psi'(N/5) ~ 5 L / N.

    **The batch** (``pooled_log_q_mean``, ``pooled_log_q_std``): the pooled q of B inputs averages B such
    chains. Two inputs share each layer's weights, so their steps correlate by
    rho(c) = Corr(phi(x)^2, phi(y)^2) at their cosine c, and their covariance of log q follows
    C_{l+1} = E[g']^2 C_l + (Var g - E[g']^2 V_l) (C_l / V_l)^2 + rho_l E s^2 (exact to first order in C and
    at C = V; E[g'] = Cov(g(x), x) / Var x over the particles). The cosine follows :func:`correlation_map` and, at finite width, random-walks: over the
    batch's pairs and over networks it is carried as c ~ N(c_l, s_l^2) (two sigma points; s_0^2 the spread
    of the inputs' cosines; per layer s^2 grows by Var(XY - c (X^2 + Y^2) / 2) / (N (E phi^2)^2), X, Y one
    unit's activations of the two inputs). Neglected: the dependence of rho on q's own fluctuations, and
    higher cumulants of the Gram matrix. With 1/B_eff = sum_a (q_a / (B q))^2 over the batch,
    Var log q = V / B_eff + (1 - 1/B_eff) C and E log q = log q_mf + (mu - log q_mf,1) + (1 - 1/B_eff) (V - C) / 2
    (q_mf,1: the mean-field chain of the single input that mu follows).

    **A spreading batch** (``batch_model``): where the inputs' unshared variance V - C passes 1 at some layer
    (GELU, SiLU and Mish with He weights, their self-normalizing variants, whose unstable fixed point splits
    the inputs of one network), that pooling fails: a few inputs dominate the pooled q, and how strongly the
    inputs co-move depends on each network's state, which one pair correlation along the median network
    misses (the band held 72% of real GELU + He networks at depth 100, width 256, batch 128). There the pooled
    bands (``second_moment_band``, ``var_band``, ``mean_band``, ``pooled_log_q_*``) are the quantiles of
    :func:`simulate_gram_chain`: 128 networks of the exact Gram-matrix chain, 16 inputs each (the same GELU
    networks: 95%), and so are the gradient's (``grad_norm_band``, ``log_grad_norm_*``: the chain's backward
    pass, exact too; at depth 200 and width 256 the analytic gradient band held 9% of the layers of real
    self-normalizing GELU networks, the chain's 99%). ``batch_model`` says which: "analytic" or "gram chain".

    **Gradients**: the mean-field ``grad_norm`` (RMS over the batch of dL/dh_l for L = <r, h_L>,
    r ~ N(0, I_N)) is sqrt(N prod_{j > l} chi_j), chi_j = sigma_w2 E phi'(z_j)^2 along the trajectory. At
    finite width each backward step multiplies ||g||^2 by chi (1 + delta / N) (delta: the part of W along
    the forward signal, see the code) with log variance (3 E phi'^4 / (E phi'^2)^2 - 1) / N (5/N for ReLU),
    |r|^2 ~ chi^2_N, and the forward fluctuations of log q enter through d log chi / d log q. Two inputs share
    a backward step's noise by [2 cos^2 + (r - 1) rho'(1 + 2 cos^2)] / (3 r - 1), cos the cosine of their
    backward signals (carried by E[phi'(x) phi'(y)] / E phi'^2 from 1 at the readout), rho' =
    Corr(phi'(x)^2, phi'(y)^2), r = E phi'^4 / (E phi'^2)^2. This underestimates how strongly the inputs'
    gradient norms co-vary at depth ~ width (ReLU + He, N = 64, L = 64, B = 16: the pooled log grad_norm at
    the first layer is predicted 1.68 +- 0.66, measured 1.14 +- 0.89): the gradient band is rougher than
    the forward one.

    Returns arrays of shape (depth,): ``second_moment``, ``mean``, ``var``, ``pre_var``, ``grad_norm``
    (mean field), ``chi``; ``log_q_mean``, ``log_q_std`` (one input); ``pooled_log_q_mean``,
    ``pooled_log_q_std``, ``log_grad_norm_mean``, ``log_grad_norm_std`` (the batch); and (2, depth) bands
    [low, high] holding ``coverage`` of networks: ``second_moment_band`` (the quantiles of one input's
    particles, moved to the pooled mean and scaled to the pooled spread), ``var_band`` (the second moment's
    band times the mean-field var / q, widened on each side, in quadrature in log space, by the extra fresh
    noise of a central moment: (E(phi - m)^4 - s^4) / s^4 against Var phi^2 / (E phi^2)^2, each times
    (1/B_eff + (1 - 1/B_eff) rho) / N with rho the pair correlation of (phi - m)^2 or phi^2; it matters where
    the mean is large, as for sigmoid), ``mean_band`` (Gaussian: the mean's fresh noise plus its slope in
    the previous log q), ``grad_norm_band``. Compiled once per set of ``branches`` (see
    :func:`finite_width_many`).
    """
    net = FiniteWidthNetwork(f, inputs, depth, width, sigma_w2, sigma_b2, first_sigma_w2)
    return finite_width_many([net], coverage, branches)[0]


def finite_width_many(networks: Sequence[FiniteWidthNetwork], coverage: float = 0.95,
                      branches: Sequence | None = None) -> list[dict[str, np.ndarray]]:
    """:func:`finite_width_layers` for many networks: one compiled program serves all of them (the activation,
    its scale and shift, widths, gains and the batch are runtime data; only the set of activations is
    compiled in: ``branches``, registry specs or callables, by default the networks' own; pass a fixed set
    to reuse one program across calls)."""
    own = tuple(dict.fromkeys(_branch_of(n.activation)[0] for n in networks))
    branches = own if branches is None else tuple(_branch_of(b)[0] for b in branches)
    missing = [b for b in own if b not in branches]
    if missing:
        raise ValueError(f"activations {missing} are not among the program's branches {branches}")
    most = max([1] + [len(_functions(b)[2]) for b in branches])
    run = _program(branches, _CHUNK)
    results = []
    for n in networks:
        branch, scale, shift = _branch_of(n.activation)
        batch = describe_batch(n.inputs)
        q_in = batch["second_moments"]
        used = min(q_in.size, _REPRESENTATIVES)
        reps = _quantiles(q_in, _REPRESENTATIVES) if q_in.size > _REPRESENTATIVES else np.concatenate(
            [q_in, np.full(_REPRESENTATIVES - q_in.size, q_in.mean())])
        input_weights = np.zeros(_REPRESENTATIVES)
        input_weights[:used] = 1.0 / used
        chunks = -(-n.depth // _CHUNK)
        gains = np.full(chunks * _CHUNK, n.sigma_w2, np.float64)
        gains[0] = n.sigma_w2 if n.first_sigma_w2 is None else n.first_sigma_w2
        cos = batch["cosines"]
        c0, s0 = (float(np.mean(cos)), float(np.var(cos))) if cos.size else (0.0, 0.0)
        with jax.enable_x64(True):
            p = _Params(np.int32(branches.index(branch)), np.float64(scale), np.float64(shift),
                        _padded_kinks(_functions(branch)[2], most), np.float64(n.sigma_b2), np.float64(n.width),
                        np.float64(batch["batch"]), input_weights)
            q0 = float(np.mean(q_in))
            # Device arrays from the start, like the state coming back from each chunk: numpy inputs (np.float64
            # scalars are weakly typed Python floats to JAX) would compile the program a second time.
            state = jax.tree.map(lambda v: jnp.asarray(v, jnp.float64), _State(
                reps, q0, np.full(_PARTICLES, math.log(q0)), 0.0, c0, s0))
            outs = []
            for c in range(chunks):
                state, out = run(p, state, jnp.asarray(gains[c * _CHUNK:(c + 1) * _CHUNK]))
                outs.append(out)
            layers = {k: np.concatenate([np.asarray(o[k]) for o in outs])[:n.depth] for k in outs[0]}
        out = _bands(layers, n.width, batch["batch"], coverage)
        unshared = np.max(layers["log_q_var"] - layers["log_q_pair_cov"])
        out["batch_model"] = "analytic"
        if batch["batch"] > 1 and unshared > _UNSHARED_NONLINEAR:
            # The inputs' own spread is wide: the pooled log q averages no longer (a few inputs may dominate, and
            # how strongly the inputs co-move depends on each network's state). Pool the exact Gram chain instead.
            mc = simulate_gram_chain(jax.random.key(0), n.activation, n.inputs, n.depth, n.width, n.sigma_w2,
                                     n.sigma_b2, first_sigma_w2=n.first_sigma_w2, branches=branches)
            out.update(_sampled_bands(mc, coverage), batch_model="gram chain")
        results.append(out)
    return results


def _sampled_bands(mc: dict[str, np.ndarray], coverage: float) -> dict[str, np.ndarray]:
    """Bands and the pooled log q's distribution from (networks, depth) samples of the pooled statistics."""
    levels = [0.5 - coverage / 2, 0.5 + coverage / 2]
    with np.errstate(all="ignore"):
        log_q = np.log(mc["second_moment"])
        return {"second_moment_band": np.quantile(mc["second_moment"], levels, axis=0),
                "var_band": np.quantile(mc["var"], levels, axis=0),
                "mean_band": np.quantile(mc["mean"], levels, axis=0),
                "pooled_log_q_mean": np.mean(log_q, axis=0), "pooled_log_q_std": np.std(log_q, axis=0),
                "grad_norm_band": np.exp(np.quantile(mc["log_grad_norm"], levels, axis=0)),
                "log_grad_norm_mean": np.mean(mc["log_grad_norm"], axis=0),
                "log_grad_norm_std": np.std(mc["log_grad_norm"], axis=0)}


# Monte Carlo networks of the Gram chain. A 95% band's tail quantile from n networks holds its 2.5% of networks to
# +-sqrt(0.025 * 0.975 / n) = +-1.4% at n = 128 (1 SE): the band holds 95% +- 2% of networks, finer than what a
# study's few seeds can resolve. The default study's seven chain-pooled bands held the same share of its measured
# layers as with 256 networks to within 0.013 (networks are keyed by index: 128 are the first half of 256).
_GRAM_NETWORKS = 128
_GRAM_INPUTS = 16  # inputs per Monte Carlo network (a random subset of the batch)
_GRAM_SEGMENT = 16  # layers per call of the chain: the backward pass keeps one segment and each segment's first input
# Chains whose layers' backward residuals (Q^T, u, phi'(z), float32: 12 bytes per network, input, unit and layer)
# stay under this keep them from the forward pass; larger ones run each segment forward again in the backward pass.
# Keeping them makes the default study's chains (1.3 GB at width 256, depth 200) about a fifth faster on a CPU.
_GRAM_KEEP_BYTES = 4 * 2**30
_UNSHARED_NONLINEAR = 1.0  # unshared variance of the inputs' log q beyond which the batch is pooled by the Gram chain


def _jittered_cholesky(m):
    """Lower L with L L^T = m (K x K, positive semi-definite) up to a relative 1e-10 on the diagonal: the inputs'
    cosines, and their gradients', approach 1 with depth, the Gram matrix's singularity."""
    k = m.shape[0]
    size = jnp.maximum(jnp.trace(m) / k, 1e-300)
    return jnp.linalg.cholesky(m / size + 1e-10 * jnp.eye(k, dtype=m.dtype)) * jnp.sqrt(size)


@functools.lru_cache(maxsize=32)
def _gram_programs(branches: tuple, width: int):
    """(first, forward, forward_keeping, backward, backward_from): the jitted Gram chain for networks of
    ``width`` units (static: the shape of each layer's draws) and activations ``branches`` (runtime ``act`` =
    (index, scale, shift, sigma_w2, sigma_b2)). Networks are vmapped; layers are scanned, ``_GRAM_SEGMENT`` a
    call."""
    pairs = [_functions(b)[:2] for b in branches]

    def phi(act, z, which):  # which: 0 the activation, 1 its derivative
        fns = [pair[which] for pair in pairs]
        y = jax.lax.switch(act[0], fns, z) if len(fns) > 1 else fns[0](z)
        return act[1] * y + (act[2] if which == 0 else 0.0)

    def stats(h):
        return jnp.stack([jnp.mean(h * h), jnp.mean(h)])

    def normal(key, shape, dtype):
        # float32 draws (2x faster to generate on a CPU), float64 arithmetic
        return jax.random.normal(key, shape, jnp.float32).astype(dtype)

    def first(act, G0, g0, key):
        """Layer 0, whose fan-in is the input's: z = chol(g0 G0 + sigma_b2) u. Only its output is needed."""
        def one(G, key):
            h = phi(act, _jittered_cholesky(g0 * G + act[4]) @ normal(key, (G.shape[0], width), G.dtype), 0)
            return h, stats(h)
        return jax.vmap(one)(G0, jax.random.split(key, G0.shape[0]))

    def layer(act, H, key):
        """A hidden layer given its input H (K, N): its output, and what the backward pass needs of it: Q^T
        (the orthonormal basis of span(H), Q = H^T L^-T with L L^T = H H^T), the draws u and phi'(z), where
        z = sqrt(sigma_w2 / N) L u + b, u ~ N(0, I)_{K x N}, b ~ N(0, sigma_b2 I_N). Unused parts are not
        computed (XLA drops them)."""
        k_u, k_b = jax.random.split(key)
        u = normal(k_u, H.shape, H.dtype)
        b = jnp.sqrt(act[4]) * normal(k_b, (width,), H.dtype)
        low = _jittered_cholesky(H @ H.T)
        z = jnp.sqrt(act[3] / width) * (low @ u) + b[None, :]
        qt = jax.scipy.linalg.solve_triangular(low, jnp.eye(low.shape[0], dtype=H.dtype), lower=True) @ H
        # kept in float32 for the backward pass's products (u is a float32 draw: exact)
        return phi(act, z, 0), tuple(a.astype(jnp.float32) for a in (qt, u, phi(act, z, 1)))

    def each(fn, H, key):
        return jax.vmap(fn)(H, jax.random.split(key, H.shape[0]))

    def forward(act, H, keys):
        """Hidden layers, one per key; H (networks, K, N)."""
        def step(H, key):
            h = each(lambda Hi, ki: layer(act, Hi, ki)[0], H, key)
            return h, jax.vmap(stats)(h)
        return jax.lax.scan(step, H, keys)

    def forward_keeping(act, H, keys):
        """``forward``, also returning what each layer's backward step needs (for ``backward_from``)."""
        def step(H, key):
            h, saved = each(lambda Hi, ki: layer(act, Hi, ki), H, key)
            return h, (jax.vmap(stats)(h), saved)
        return jax.lax.scan(step, H, keys)

    def backward(act, H, keys, valid, grad, log_scale):
        """The gradient down through the hidden layers of ``keys`` (those ``valid``: a last segment is padded),
        from the gradient at their top output e^log_scale grad (networks, K, N): the layers are run forward
        again from their first input H, keeping what each layer's backward step needs."""
        _, (_, saved) = forward_keeping(act, H, keys)
        return backward_from(act, saved, keys, valid, grad, log_scale)

    def backward_from(act, saved, keys, valid, grad, log_scale):
        """``backward`` given what ``forward_keeping`` kept of the layers."""
        def one(qt, u, d, key, g):
            # W^T v along span(H) is W's part that the forward pass saw: W Q = sqrt(sigma_w2 / N) u^T. The rest,
            # P_perp W^T v, is an independent Gaussian. Rows are inputs, (K, N): large products run along units.
            # The products run in float32 (2.4x as fast on a CPU; the gradient is rescaled every layer, so only
            # its direction travels, to float32's ~1e-7): the default study's gradient bands moved by under 1e-3
            # in log (a ReLU + He chain at width 64 by 4e-3), far inside their Monte Carlo error. v's Gram and
            # its Cholesky stay float64: gradients' cosines approach 1 with depth. HIGHEST: true float32 on
            # GPUs too, which would otherwise round these products to TF32 (~1e-3).
            dot = functools.partial(jnp.matmul, precision=jax.lax.Precision.HIGHEST)
            v = d.astype(g.dtype) * g  # phi'(z) times the gradient
            free = dot(_jittered_cholesky(v @ v.T).astype(jnp.float32),
                       normal(jax.random.fold_in(key, 1), v.shape, jnp.float32))
            # Q (u v) + P_perp free, transposed: [v u^T - free Q] Q^T + free
            both = dot(jnp.concatenate([v.astype(jnp.float32), -free], axis=1), jnp.concatenate([u, qt], axis=1).T)
            return (jnp.sqrt(act[3] / width).astype(jnp.float32) * (dot(both, qt) + free)).astype(g.dtype)

        def step(carry, xs):
            g, log_s = carry
            qt, u, d, key, ok = xs
            new = jax.vmap(one)(qt, u, d, jax.random.split(key, qt.shape[0]), g)
            # rescaled every layer (gradients can grow or vanish geometrically), the scale kept in log space
            s = jnp.sqrt(jnp.maximum(jnp.sum(new * new, axis=(1, 2)) / new.shape[1], 1e-300))
            g, log_s = jnp.where(ok, new / s[:, None, None], g), jnp.where(ok, log_s + jnp.log(s), log_s)
            return (g, log_s), 2 * log_s

        (grad, log_scale), log_g2 = jax.lax.scan(step, (grad, log_scale), (*saved, keys, valid), reverse=True)
        return grad, log_scale, log_g2

    return tuple(jax.jit(f) for f in (first, forward, forward_keeping, backward, backward_from))


def simulate_gram_chain(key, f, inputs, depth: int, width: int, sigma_w2: float = 1.0, sigma_b2: float = 0.0, *,
                        first_sigma_w2: float | None = None, networks: int = _GRAM_NETWORKS,
                        inputs_per_network: int = _GRAM_INPUTS, branches: Sequence | None = None,
                        gradients: bool = True) -> dict[str, np.ndarray]:
    """Monte Carlo of the exact finite-width law of a batch: (networks, depth) pooled statistics of random
    fully-connected networks, drawn from the chain of the inputs' activations instead of from N x N weights.

    Given layer l's activations H (K inputs x N units), the next pre-activations are N iid columns of
    N(0, sigma_w2 G + sigma_b2), G = H H^T / N (Gaussian weights), so z = sqrt(sigma_w2 / N) L u + b with
    L L^T = H H^T, u ~ N(0, I)_{K x N}, b ~ N(0, sigma_b2 I_N): K^2 N operations a layer where the network costs
    K N^2. Each network draws its own ``inputs_per_network`` inputs of ``inputs`` (a (batch, features) array;
    the first layer's gain ``first_sigma_w2``) and pools over them and its units, as the depth probe pools over
    its batch: ``second_moment``, ``mean``, ``var``.

    ``gradients``: also ``log_grad_norm``, the log RMS over the inputs of dL/dh_l for L = <r, sum_a h_L^a>,
    r ~ N(0, I_N), as the probe measures it. Exact too: the backward pass meets the forward pass's own weights.
    With Q = H^T L^-T the orthonormal basis of span(H), W Q = sqrt(sigma_w2 / N) u^T is all of W that the
    forward pass sees, and W's remaining part is independent of it. So the gradient g_{l-1} = W^T v,
    v = phi'(z) * g_l, is sqrt(sigma_w2 / N) (Q u v + P_perp xi) with xi's rows ~ N(0, v^T v), drawn afresh
    (the gradient-independence assumption, drawing all of W afresh, errs at small width: a tanh network of
    width 24 and 4 inputs has log grad_norm 1.33 +- 0.47 at its first layer, this chain 1.32 +- 0.47, fresh
    weights 1.42 +- 0.52). The forward pass keeps what the backward pass needs of every layer (3 depth
    networks x K x N float32s) where that fits in 4 GiB; otherwise the backward pass runs forward again in
    segments of 16 layers, keeping one segment's draws and each segment's first input: memory ~ (48 + depth /
    16) networks x K x N floats. Both give the same numbers.

    Exact in law for those K inputs. Pooling K < B inputs keeps more of the inputs' unshared spread than
    pooling B would (a band from it errs wide where the inputs average) and sees fewer of the largest inputs
    (its centre errs low where a few inputs dominate). Float64 (normal draws made in float32; the backward pass's
    products in float32), one compiled program per width and set of ``branches`` (whatever the depth).
    """
    branch, scale, shift = _branch_of(f)
    branches = (branch,) if branches is None else tuple(_branch_of(b)[0] for b in branches)
    x = np.asarray(inputs, np.float64)
    if x.ndim != 2:
        raise ValueError(f"inputs must be (batch, features), got shape {x.shape}")
    k = min(inputs_per_network, x.shape[0])
    rng = np.random.default_rng(0)
    picks = np.stack([rng.choice(x.shape[0], k, replace=False) for _ in range(networks)])
    grams = np.einsum("nkd,njd->nkj", x[picks], x[picks]) / x.shape[1]
    first, forward, forward_keeping, backward, backward_from = _gram_programs(branches, int(width))
    g0 = sigma_w2 if first_sigma_w2 is None else first_sigma_w2
    hidden = depth - 1
    padded = -(-hidden // _GRAM_SEGMENT) * _GRAM_SEGMENT  # one program whatever the depth: the last segment padded
    starts = range(0, padded, _GRAM_SEGMENT)
    # Q^T, u and phi'(z) of every layer, float32: kept from the forward pass where they fit, else recomputed.
    keep = gradients and padded * networks * k * width * 3 * 4 <= _GRAM_KEEP_BYTES
    with jax.enable_x64(True):
        act = (jnp.int32(branches.index(branch)), jnp.float64(scale), jnp.float64(shift), jnp.float64(sigma_w2),
               jnp.float64(sigma_b2))
        k_first, k_layers, k_readout = jax.random.split(key, 3)
        keys = jax.random.split(k_layers, max(padded, 1))
        valid = jnp.arange(padded) < hidden
        H, out = first(act, jnp.asarray(grams), jnp.float64(g0), k_first)
        outs, inputs_at, kept = [np.asarray(out)[None]], [], []
        for a in starts:  # one host sync per segment
            inputs_at.append(H)
            if keep:
                H, (out, saved) = forward_keeping(act, H, keys[a:a + _GRAM_SEGMENT])
                kept.append(saved)
            else:
                H, out = forward(act, H, keys[a:a + _GRAM_SEGMENT])
            outs.append(np.asarray(out))
        stats = np.concatenate(outs)[:depth]  # (depth, networks, 2)
        result = {"second_moment": stats[..., 0].T, "mean": stats[..., 1].T}
        if gradients:
            r = jax.random.normal(k_readout, (networks, width), jnp.float64)
            log_scale = jnp.log(jnp.linalg.norm(r, axis=1))
            grad = jnp.broadcast_to((r / jnp.exp(log_scale)[:, None])[:, None, :], (networks, k, width))
            logs = [np.asarray(2 * log_scale)[None]]  # every input's gradient at the top is r
            for i, (a, H) in reversed(list(enumerate(zip(starts, inputs_at)))):
                sl = slice(a, a + _GRAM_SEGMENT)
                if keep:
                    saved, kept[i] = kept[i], None  # released as the backward pass goes down
                    grad, log_scale, log_g2 = backward_from(act, saved, keys[sl], valid[sl], grad, log_scale)
                else:
                    grad, log_scale, log_g2 = backward(act, H, keys[sl], valid[sl], grad, log_scale)
                logs.append(np.asarray(log_g2))
            logs = np.concatenate(logs[::-1])  # the hidden layers' inputs, the padding's (dropped), the top
            result["log_grad_norm"] = 0.5 * np.concatenate([logs[:hidden], logs[-1:]]).T
    result["var"] = result["second_moment"] - result["mean"] ** 2
    return result


_LME_S = np.linspace(0.0, 12.0, 25)  # std of the inputs' unshared log q
_LME_LOG2_B = np.arange(12)  # batch 1 to 2048


@functools.cache
def _log_mean_exp_table() -> tuple[np.ndarray, np.ndarray]:
    """E and Var of log((1/B) sum_a e^{s u_a}), u_a iid N(0, 1), on the grid (_LME_S, 2^_LME_LOG2_B), by Monte
    Carlo (1000 draws in float32, fixed seed; ~1 s, once per process). No closed form covers the passage from the
    average (s^2 / 2, variance (e^{s^2} - 1) / B) to the maximum (the random energy model) at s^2 ~ 2 log B."""
    rng = np.random.default_rng(20190101)
    mean = np.zeros((len(_LME_S), len(_LME_LOG2_B)))
    var = np.zeros_like(mean)
    for j, k in enumerate(_LME_LOG2_B):
        u = rng.standard_normal((1000, 2**k), dtype=np.float32)
        u = (u - u.mean(axis=0)) / u.std(axis=0)  # every input's draws with mean 0, std 1: exact at B = 1
        for i, sd in enumerate(_LME_S):
            x = sd * u
            top = x.max(axis=1, keepdims=True)
            lme = top[:, 0] + np.log(np.mean(np.exp(x - top), axis=1))
            mean[i, j], var[i, j] = lme.mean(), lme.var()
    return mean, var


def _log_mean_exp(s2, batch):
    """(E, Var) of log((1/B) sum_a e^{u_a}) for B iid N(0, s2) u_a, interpolated in s^2 and log2 B (beyond the
    table: linear in s)."""
    mean_t, var_t = _log_mean_exp_table()
    sd = np.sqrt(np.maximum(s2, 0.0))
    lb = np.clip(np.log2(np.maximum(batch, 1.0)), 0, _LME_LOG2_B[-1])
    j = np.clip(np.floor(lb).astype(int), 0, len(_LME_LOG2_B) - 2)
    fj = lb - j
    ds = _LME_S[1] - _LME_S[0]
    i = np.clip(np.floor(sd / ds).astype(int), 0, len(_LME_S) - 2)
    # linear in s^2 between grid points (the mean starts as s^2 / 2); beyond the table linear in s
    lo, hi = _LME_S[i] ** 2, _LME_S[i + 1] ** 2
    fi = np.where(sd <= _LME_S[-1], (sd * sd - lo) / (hi - lo), 1.0 + (sd - _LME_S[-1]) / ds)

    def interp(t):
        col = lambda jj: t[i, jj] + fi * (t[i + 1, jj] - t[i, jj])
        return (1 - fj) * col(j) + fj * col(j + 1)

    return interp(mean_t), np.maximum(interp(var_t), 0.0)


def _pool(mean, V, C, inv_batch, particles=None):
    """Mean and variance of log (1/B) sum_a e^{x_a} for B inputs whose x_a have mean ``mean``, variance V and
    pairwise covariance C (B = 1 / inv_batch): x_a = common + u_a, Var u = s^2 = V - C, so the pooled log q is
    the common part plus the log-mean-exp of B draws of u (:func:`_log_mean_exp`, Gaussian u): its mean
    s^2 / 2 while s^2 << 2 log B, then s sqrt(2 log B) - log B (the largest input dominates). Beyond
    s^2 = 2 log B, with ``particles`` (depth, M) of one input's log q, u takes their shape for the mean, so a
    two-humped law is pooled as one (the upper hump dominates once B P(upper) >> 1)."""
    s2 = np.maximum(V - C, 0.0)
    b = 1.0 / np.maximum(inv_batch, 1e-300)
    shift, extra = _log_mean_exp(s2, b)
    beyond = s2 >= 2 * np.log(np.maximum(b, 1.0))
    if particles is not None:  # beyond the Gaussian regime, the particles' own shape
        x = np.sort(particles, axis=1)
        scale = np.sqrt(s2 / np.where(V > 0, V, 1.0))[:, None]
        u = scale * (x - x.mean(axis=1, keepdims=True))
        top = u.max(axis=1, keepdims=True)
        shaped = top[:, 0] + np.log(np.mean(np.exp(u - top), axis=1))
        shift = np.where(beyond, np.minimum(shift, shaped), shift)
    return mean + shift, np.maximum(C + extra, 0.0), beyond


def _pooled_draws(particles, mean, V, C, inv_batch, draws: int = 400, most: int = 256) -> np.ndarray:
    """(layers, draws) samples of the pooled log q where the largest inputs dominate (s^2 = V - C > 2 log B):
    mean + sqrt(C) Z + log((1/B) sum_a e^{u_a}), Z ~ N(0, 1) shared, the u_a B independent draws from one
    input's particles scaled to variance V - C (their skewed or two-humped shape kept); B = 1 / inv_batch,
    at most ``most``. A fixed seed: the same results every run."""
    rng = np.random.default_rng(7)
    b = int(min(most, max(1, round(float(np.median(1.0 / inv_batch))))))
    centred = particles - particles.mean(axis=1, keepdims=True)
    scale = np.sqrt(np.maximum(V - C, 0.0) / np.where(V > 0, V, 1.0))
    pick = rng.integers(0, particles.shape[1], size=(draws, b))
    u = scale[:, None, None] * centred[:, pick]  # (layers, draws, b)
    top = u.max(axis=2, keepdims=True)
    lme = top[..., 0] + np.log(np.mean(np.exp(u - top), axis=2))
    return mean[:, None] + np.sqrt(np.maximum(C, 0.0))[:, None] * rng.standard_normal((1, draws)) + lme


def _bands(t: dict[str, np.ndarray], width: int, batch: int, coverage: float) -> dict[str, np.ndarray]:
    """The per-layer outputs of the compiled recursion -> mean-field lines and finite-width bands."""
    import scipy.special
    import scipy.stats

    zq = scipy.stats.norm.ppf(0.5 + coverage / 2)
    depth = len(t["second_moment"])
    q, m = t["second_moment"], t["mean"]
    with np.errstate(all="ignore"):
        var = q - m * m
        V, C, ib = t["log_q_var"], t["log_q_pair_cov"], t["inv_batch"]
        pooled_mean, pooled_var, beyond = _pool(t["log_q_mean"], V, C, ib, t["log_q_particles"])
        # The inputs' own mean-field offsets (log q_mf - log q_mf,1 for the batch against the input the chain
        # follows): added while the batch averages; once the largest inputs dominate (beyond), network noise
        # and offsets are one spread, which the pooled maximum already holds.
        pooled_mean = pooled_mean + np.where(beyond, 0.0, np.log(q) - np.log(t["q_rep"]))
        sd = np.sqrt(pooled_var)
        # One input's quantiles from its particles; the batch's: the same shape, about the pooled mean and
        # scaled to the pooled spread.
        particles = np.sort(t["log_q_particles"], axis=1)
        probs = (np.arange(particles.shape[1]) + 0.5) / particles.shape[1]
        single = np.stack([[np.interp(pr, probs, row) for row in particles] for pr in (0.5 - coverage / 2,
                                                                                       0.5 + coverage / 2)])
        shrink = np.where(V > 0, np.sqrt(pooled_var / np.where(V > 0, V, 1.0)), 0.0)
        band = np.exp(pooled_mean + shrink * (single - t["log_q_mean"]))
        if np.any(beyond):  # the largest inputs dominate: sample the pooling itself from the particles
            layers = np.flatnonzero(beyond)
            draws = _pooled_draws(particles[layers], t["log_q_mean"][layers], V[layers], C[layers], ib[layers])
            pooled_mean[layers] = draws.mean(axis=1)
            sd[layers] = draws.std(axis=1)
            band[:, layers] = np.exp(np.quantile(draws, [0.5 - coverage / 2, 0.5 + coverage / 2], axis=1))
        # The variance moves with q (band * var / q) plus the extra fresh noise of a central moment, added in
        # quadrature on each side of the centre (0 where the mean is small: var ~ q).
        log_var_band = np.log(band * (var / q))
        centre = np.clip(pooled_mean + np.log(var / q), log_var_band[0], log_var_band[1])
        extra = zq**2 * np.maximum(t["var_noise"] - t["q_noise"], 0.0)
        var_band = np.exp(np.stack([centre - np.sqrt((centre - log_var_band[0]) ** 2 + extra),
                                    centre + np.sqrt((log_var_band[1] - centre) ** 2 + extra)]))
        prev = np.concatenate([[0.0], pooled_var[:-1]])
        mean_sd = np.sqrt(t["mean_noise"] + t["mean_slope"] ** 2 * prev)
        mean_band = np.stack([m - zq * mean_sd, m + zq * mean_sd])

    # Gradients, from the last layer back: index l holds the gradient reaching h_l; layer j's chi acts on it
    # for every j > l.
    n = float(width)
    after = lambda a: np.concatenate([np.cumsum(a[::-1])[::-1][1:], [0.0]])  # sum over j > l
    log_chi = np.log(np.maximum(t["chi"], 1e-300))  # (depth, R) per representative input
    cum = np.stack([after(log_chi[:, a]) for a in range(log_chi.shape[1])], axis=1)
    reps = t["chi"].shape[1]
    weights = np.full(reps, 1.0 / reps)  # equal weights (padding inputs repeat the mean input)
    top = cum.max(axis=1, keepdims=True)
    grad_mf2 = n * np.exp(top[:, 0]) * (np.exp(cum - top) @ weights)
    share = np.exp(cum - top) / (np.exp(cum - top) @ weights)[:, None]
    inv_beff_g = np.minimum((share**2 @ weights) / batch, 1.0)
    readout_mean = scipy.special.digamma(n / 2) - math.log(n / 2)  # E log |r|^2 / N
    readout_var = scipy.special.polygamma(1, n / 2)
    single_shift = readout_mean + after(t["log_chi"] - np.log(np.maximum(t["chi_rep"], 1e-300)) + t["grad_shift"])
    # Backward cosines of pairs: 1 at the readout (every input gets r), times kappa_j going back. Two inputs
    # share a backward step's noise by [2 cos^2 + (r - 1) rho_D (1 + 2 cos^2)] / (3 r - 1): the chi^2_N of W by
    # the squared cosine of their signals, the mask part by rho_D = Corr(phi'(x)^2, phi'(y)^2) at their forward
    # cosine (r = E phi'^4 / (E phi'^2)^2).
    cos = 1.0
    shared = np.zeros(depth)
    for j in range(depth - 1, 0, -1):
        cos = cos * t["kappa"][j]
        r4 = t["grad_r"][j]
        shared[j] = (2 * cos**2 + (r4 - 1) * t["rho_d"][j] * (1 + 2 * cos**2)) / max(3 * r4 - 1, 1e-12)
    noise = t["grad_var"]
    single_var = readout_var + after(noise)
    unshared = after(noise * (1.0 - shared))  # the readout |r|^2 is every input's
    # Forward fluctuations of log q enter through a_j = d log chi_j / d log q_{j-1}:
    # Var(sum_{j>l} a_j dx_{j-1}) with Cov(dx_i, dx_k) = V_i prod_{m=i+1}^{k} e_m, e_m the chain's slope.
    a, e = t["log_chi_slope"], t["chain_slope"]
    forward = np.zeros(depth)
    tail = 0.0  # T_l = sum_{i>l} a_{i+1} prod_{m=l+1}^{i} e_m
    acc = 0.0
    for l in range(depth - 2, -1, -1):
        b = a[l + 1]
        acc = acc + b * b * pooled_var[l] + 2 * b * pooled_var[l] * tail
        forward[l] = acc
        tail = e[l] * (b + tail)  # T_{l-1}
    log_g2_mean, log_g2_var, _ = _pool(np.log(grad_mf2) + single_shift, single_var, single_var - unshared,
                                       inv_beff_g)
    log_g2_var = log_g2_var + forward
    g_sd = np.sqrt(log_g2_var)
    grad_band = np.exp(0.5 * np.stack([log_g2_mean - zq * g_sd, log_g2_mean + zq * g_sd]))
    return {
        "second_moment": q, "mean": m, "var": var, "pre_var": t["pre_var"], "grad_norm": np.sqrt(grad_mf2),
        "log_q_mean": t["log_q_mean"], "log_q_std": np.sqrt(t["log_q_var"]),
        "pooled_log_q_mean": pooled_mean, "pooled_log_q_std": sd,
        "log_grad_norm_mean": 0.5 * log_g2_mean, "log_grad_norm_std": 0.5 * g_sd,
        "second_moment_band": band, "var_band": var_band, "mean_band": mean_band, "grad_norm_band": grad_band,
        "chi": t["chi_rep"],
    }


@functools.lru_cache(maxsize=32)
def _moments_program(branch):
    """Jitted (v (n,), scale, shift) -> (n, 6): E phi, E phi^2, E phi^3, E phi^4, E phi'^2, E phi'^4 at
    pre-activation variances v, for phi = scale * f + shift."""
    fn, derivative, kinks = _functions(branch)
    kinks = tuple(sorted(kinks))

    @jax.jit
    def moments(v, scale, shift):
        z, w = jax.vmap(lambda vi: _nodes(0.0, vi, kinks, _FW_PIECES, _FW_NODES, sort=False))(v)
        y, d = scale * fn(z) + shift, scale * derivative(z)
        return jnp.stack([jnp.sum(w * y**k, -1) for k in (1, 2, 3, 4)]
                         + [jnp.sum(w * d * d, -1), jnp.sum(w * d**4, -1)], axis=-1)

    return moments


_GH2_T, _GH2_W = np.polynomial.hermite_e.hermegauss(7)
_GH2_W = _GH2_W / _GH2_W.sum()


def skip_finite_width_layers(f, input_second_moment: float, depth: int, width: int, sigma_w2: float = 1.0,
                             sigma_b2: float = 0.0, *, input_mean: float = 0.0, first_sigma_w2: float | None = None,
                             first_residual: bool = True, coverage: float = 0.95) -> dict[str, np.ndarray]:
    """Mean-field lines and finite-width bands of a residual network h -> h + phi(W h), per layer.

    One input's state is (q, mu): second moment and mean over the N units. Given h, the branch outputs
    f_i = phi(z_i) are iid over units and independent of h, so with F_k = E phi(z)^k,
    z ~ N(0, sigma_w2 q + sigma_b2), the next state has the exact conditional moments

        E q' = q + 2 mu F_1 + F_2,        Var q' = (4 q (F_2 - F_1^2) + 4 mu (F_3 - F_1 F_2) + F_4 - F_2^2) / N,
        E mu' = mu + F_1,                 Var mu' = (F_2 - F_1^2) / N,
        Cov(q', mu') = (2 mu (F_2 - F_1^2) + F_3 - F_1 F_2) / N.

    The band propagates (log q, mu / sqrt q) as a 2D Gaussian (closure by 7 x 7 Gauss-Hermite points, each
    step mapped by the delta method). Approximation: the inputs of a batch are taken as fully correlated
    (their common accumulated mean soon dominates every input's own part), so the pooled band is one
    input's. Gradients: ||g_l||^2 = ||g_{l+1} + W (phi' g_{l+1})||^2 grows by 1 + chi per layer in mean field,
    with per-layer log variance (4 chi + (3 r - 1) chi^2) / (N (1 + chi)^2).

    ``first_residual``: whether the first layer adds its input (the input's width equals the network's).
    Returns the keys of :func:`finite_width_layers` (``pooled_*`` equal to the single-input ones).
    """
    import scipy.stats

    branch, scale, shift = _branch_of(f)
    moments = _moments_program(branch)
    zq = scipy.stats.norm.ppf(0.5 + coverage / 2)
    n = float(width)
    tt, ww = np.meshgrid(_GH2_T, _GH2_T, indexing="ij")
    t1, t2, w2 = tt.ravel(), ww.ravel(), np.outer(_GH2_W, _GH2_W).ravel()
    q_mf, mu_mf = float(input_second_moment), float(input_mean)
    mean_x = np.array([math.log(q_mf), mu_mf / math.sqrt(q_mf)])
    cov_x = np.zeros((2, 2))
    rows = []
    with jax.enable_x64(True):
        for layer in range(depth):
            g = sigma_w2 if (layer > 0 or first_sigma_w2 is None) else first_sigma_w2
            residual = layer > 0 or first_residual
            chol = np.linalg.cholesky(cov_x + 1e-300 * np.eye(2)) if np.any(cov_x) else np.zeros((2, 2))
            pts = mean_x[:, None] + chol @ np.stack([t1, t2])  # (2, 49)
            q, mu = np.exp(pts[0]), pts[1] * np.exp(0.5 * pts[0])
            v = np.concatenate([[g * q_mf + sigma_b2], g * q + sigma_b2])
            mo = np.asarray(moments(jnp.asarray(v), scale, shift))
            f1, f2, f3, f4, d2, d4 = (mo[:, k] for k in range(6))
            # mean field
            if residual:
                mu_mf, q_mf = mu_mf + f1[0], q_mf + 2 * mu_mf * f1[0] + f2[0]
            else:
                mu_mf, q_mf = f1[0], f2[0]
            chi_mf = g * d2[0]
            f1, f2, f3, f4, d2, d4 = f1[1:], f2[1:], f3[1:], f4[1:], d2[1:], d4[1:]
            vf, c12 = f2 - f1**2, f3 - f1 * f2
            if residual:
                eq, em = q + 2 * mu * f1 + f2, mu + f1
                vq = (4 * q * vf + 4 * mu * c12 + f4 - f2**2) / n
                cqm = (2 * mu * vf + c12) / n
            else:
                eq, em = f2, f1
                vq, cqm = (f4 - f2**2) / n, c12 / n
            vm = vf / n
            # delta method to (log q', mu' / sqrt q')
            ex = np.log(eq) - vq / (2 * eq**2)
            ey = em / np.sqrt(eq) - 0.5 * cqm / eq**1.5 + 0.375 * em * vq / eq**2.5
            j11, j21, j22 = 1 / eq, -em / (2 * eq**1.5), 1 / np.sqrt(eq)
            sxx = j11**2 * vq
            sxy = j11 * (j21 * vq + j22 * cqm)
            syy = j21**2 * vq + 2 * j21 * j22 * cqm + j22**2 * vm
            mean_x = np.array([w2 @ ex, w2 @ ey])
            dx, dy = ex - mean_x[0], ey - mean_x[1]
            cov_x = np.array([[w2 @ (sxx + dx * dx), w2 @ (sxy + dx * dy)],
                              [w2 @ (sxy + dx * dy), w2 @ (syy + dy * dy)]])
            # statistics at the closure's points, for the bands of var and mean
            chol = np.linalg.cholesky(cov_x + 1e-300 * np.eye(2)) if np.any(cov_x) else np.zeros((2, 2))
            pts = mean_x[:, None] + chol @ np.stack([t1, t2])
            log_var = pts[0] + np.log(np.maximum(1 - pts[1] ** 2, 1e-300))
            mean_pts = pts[1] * np.exp(0.5 * pts[0])
            chi = g * d2
            r4 = d4 / np.maximum(d2**2, 1e-300)
            step_var = (4 * chi + (3 * r4 - 1) * chi**2) / (n * (1 + chi) ** 2) if residual else (3 * r4 - 1) / n
            log_step = np.log1p(chi) - step_var / 2 if residual else np.log(chi) - step_var / 2
            rows.append([q_mf, mu_mf, g * q_mf + sigma_b2, chi_mf, mean_x[0], cov_x[0, 0],
                         w2 @ log_var, w2 @ (log_var - w2 @ log_var) ** 2, w2 @ mean_pts,
                         w2 @ (mean_pts - w2 @ mean_pts) ** 2, w2 @ log_step, w2 @ step_var, int(residual)])
    a = np.asarray(rows)
    q, m = a[:, 0], a[:, 1]
    sd = np.sqrt(np.maximum(a[:, 5], 0))
    band = np.exp(np.stack([a[:, 4] - zq * sd, a[:, 4] + zq * sd]))
    var_sd = np.sqrt(np.maximum(a[:, 7], 0))
    var_band = np.exp(np.stack([a[:, 6] - zq * var_sd, a[:, 6] + zq * var_sd]))
    mean_sd = np.sqrt(np.maximum(a[:, 9], 0))
    mean_band = np.stack([a[:, 8] - zq * mean_sd, a[:, 8] + zq * mean_sd])
    # gradients from the readout back: layer j's step acts on the gradient at every l < j
    chi_mf = a[:, 3]
    growth = np.where(a[:, 12] > 0, np.log1p(chi_mf), np.log(np.maximum(chi_mf, 1e-300)))
    after = lambda x: np.concatenate([np.cumsum(x[::-1])[::-1][1:], [0.0]])
    grad_mf2 = n * np.exp(after(growth))
    import scipy.special

    log_g2_mean = math.log(n) + scipy.special.digamma(n / 2) - math.log(n / 2) + after(a[:, 10])
    log_g2_var = scipy.special.polygamma(1, n / 2) + after(a[:, 11])
    g_sd = np.sqrt(log_g2_var)
    return {"second_moment": q, "mean": m, "var": q - m * m, "pre_var": a[:, 2], "grad_norm": np.sqrt(grad_mf2),
            "log_q_mean": a[:, 4], "log_q_std": sd, "pooled_log_q_mean": a[:, 4], "pooled_log_q_std": sd,
            "log_grad_norm_mean": 0.5 * log_g2_mean, "log_grad_norm_std": 0.5 * g_sd,
            "second_moment_band": band, "var_band": var_band, "mean_band": mean_band,
            "grad_norm_band": np.exp(0.5 * np.stack([log_g2_mean - zq * g_sd, log_g2_mean + zq * g_sd])),
            "chi": chi_mf}
