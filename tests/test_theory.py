"""Mean-field theory against the SELU paper, the signal-propagation papers and scipy (REFERENCES.md)."""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate
import scipy.stats

from jaxacts import theory

ALPHA_01 = 1.6732632423543772848170429916717
LAMBDA_01 = 1.0507009873554804934193349852946


def test_gaussian_expectation_matches_closed_forms_and_scipy():
    m, v = 0.3, 1.7
    s = math.sqrt(v)
    relu_mean = m * scipy.stats.norm.cdf(m / s) + s * scipy.stats.norm.pdf(m / s)
    got = float(theory.gaussian_expectation(lambda z: jnp.maximum(z, 0.0), m, v, (0.0,)))
    assert got == pytest.approx(relu_mean, abs=1e-13)
    # A kinked function with the kink away from the mean, against adaptive quadrature.
    f = lambda z: np.where(z > 0.7, z**2, np.exp(z))
    ref, _ = scipy.integrate.quad(lambda z: f(z) * scipy.stats.norm.pdf(z, m, s), -40, 40, points=[0.7], epsabs=1e-14)
    with jax.enable_x64(True):
        got = float(theory.gaussian_expectation(lambda z: jnp.where(z > 0.7, z**2, jnp.exp(z)), m, v, (0.7,)))
    assert got == pytest.approx(ref, abs=1e-11)


@pytest.mark.parametrize("mu,nu,omega,tau", [(0.0, 1.0, 0.0, 1.0), (0.1, 0.8, -0.1, 1.1), (-0.1, 1.5, 0.1, 0.95),
                                             (0.5, 3.0, 0.05, 1.2), (0.0, 0.05, 0.0, 1.0)])
def test_selu_map_quadrature_agrees_with_closed_form(mu, nu, omega, tau):
    quad = np.asarray(theory.mean_field_map("selu", mu, nu, omega, tau))
    closed = np.asarray(theory.selu_map_closed_form(mu, nu, omega, tau))
    np.testing.assert_allclose(quad, closed, rtol=0, atol=1e-10)


def test_selu_constants_derived_from_scratch():
    alpha, lam = theory.selu_constants()
    assert alpha == pytest.approx(ALPHA_01, abs=1e-12) and lam == pytest.approx(LAMBDA_01, abs=1e-12)
    alpha, lam = theory.selu_constants_formula()
    assert alpha == pytest.approx(ALPHA_01, abs=1e-12) and lam == pytest.approx(LAMBDA_01, abs=1e-12)
    alpha, lam = theory.selu_constants(closed_form=False)  # by quadrature on lambda * elu_alpha
    assert alpha == pytest.approx(ALPHA_01, abs=1e-9) and lam == pytest.approx(LAMBDA_01, abs=1e-9)
    alpha02, lam02 = theory.selu_constants(0.0, 2.0)
    assert alpha02 == pytest.approx(1.97126, abs=5e-6) and lam02 == pytest.approx(1.06071, abs=5e-6)


def test_selu_jacobian_at_the_fixed_point():
    for f in ("selu_closed_form", "selu"):
        jac = np.asarray(theory.map_jacobian(f, 0.0, 1.0))
        np.testing.assert_allclose(jac, [[0.0, 0.08883475510689011], [0.0, 0.7826478831968123]], atol=1e-9)
        assert theory.spectral_norm(jac) == pytest.approx(0.787673360465715, abs=1e-9)


def _closed_form_jacobians(points):
    with jax.enable_x64(True):
        def jac(p):
            mu, omega, nu, tau = p
            return jax.jacfwd(lambda q: theory.selu_map_closed_form(q[0], q[1], omega, tau))(jnp.stack([mu, nu]))
        return np.asarray(jax.jit(jax.vmap(jac))(jnp.asarray(points, jnp.float64)))


def test_theorem_1_largest_spectral_norm_over_the_domain():
    axes = [np.linspace(-0.1, 0.1, 5), np.linspace(-0.1, 0.1, 5), np.linspace(0.8, 1.5, 8), np.linspace(0.95, 1.1, 4)]
    points = np.array(list(itertools.product(*axes)))
    norms = np.linalg.norm(_closed_form_jacobians(points), ord=2, axis=(1, 2))
    assert norms.max() == pytest.approx(0.8976083584089181, abs=1e-9)
    np.testing.assert_allclose(points[norms.argmax()], [-0.1, -0.1, 0.8, 1.1])
    # the attracting fixed point lies in the stated box
    assert np.all(norms < 1)


def _selu_var_map_grid(mus, omegas, nus, taus):
    points = np.array(list(itertools.product(mus, omegas, nus, taus)))
    with jax.enable_x64(True):
        out = jax.jit(jax.vmap(lambda p: theory.selu_map_closed_form(p[0], p[2], p[1], p[3])))(jnp.asarray(points))
    return points, np.asarray(out)


def test_theorem_2_variance_shrinks_for_large_variance():
    points, out = _selu_var_map_grid(np.linspace(-1, 1, 9), np.linspace(-0.1, 0.1, 5), np.linspace(3, 16, 27),
                                     np.linspace(0.8, 1.25, 5))
    assert np.all(out[:, 1] < points[:, 2])


def test_theorem_3_variance_grows_for_small_variance():
    points, out = _selu_var_map_grid(np.linspace(-0.1, 0.1, 5), np.linspace(-0.1, 0.1, 5), np.linspace(0.02, 0.16, 15),
                                     np.linspace(0.8, 1.25, 5))
    assert np.all(out[:, 1] > points[:, 2])


@pytest.mark.parametrize("nu0,expected", [
    (16, [9.017, 5.620, 2.258, 1.263, 1.0017]),
    (5, [3.506, 2.653, 1.582, 1.142, 1.0010]),
    (0.5, [0.5775, 0.648, 0.810, 0.939, 0.9995]),
    (0.02, [0.0349, 0.0585, 0.202, 0.594, 0.996]),
])
def test_variance_map_iterates_match_references(nu0, expected):
    nus = theory.iterate_map("selu", 0.0, nu0, 30)[:, 1]
    np.testing.assert_allclose(nus[[0, 1, 4, 9, 29]], expected, rtol=1.5e-3)


def test_signal_propagation_numbers():
    assert theory.chi_1("selu", 1.0) == pytest.approx(1.0715749925, abs=1e-9)
    with jax.enable_x64(True):
        slope = jax.grad(lambda q: theory.pooled_layer("selu", q)[2])(jnp.float64(1.0))
    assert float(slope) == pytest.approx(0.7826478832, abs=1e-9)
    assert theory.chi_1("relu", 1.0, sigma_w2=2.0) == pytest.approx(1.0, abs=1e-12)
    assert theory.chi_1("relu", 1.0, sigma_w2=1.0) == pytest.approx(0.5, abs=1e-12)
    assert float(theory.pooled_layer("tanh", 1.0)[2]) == pytest.approx(0.394294490398, abs=1e-11)
    assert 1.0 / float(theory.pooled_layer("elu", 1.0)[2]) == pytest.approx(1.55051880807, abs=1e-10)
    assert theory.fixed_point_second_moment("selu") == pytest.approx(1.0, abs=1e-10)
    sw2, q = theory.edge_of_chaos("tanh", 0.05)
    assert sw2 == pytest.approx(1.76095, abs=1e-5) and q == pytest.approx(0.57005, abs=1e-5)


def test_relu_second_moment_halves_with_lecun_and_holds_with_he():
    lecun = theory.predict_layers("relu", 1.0, 10)["second_moment"]
    np.testing.assert_allclose(lecun, 0.5 ** np.arange(1, 11), rtol=1e-12)
    he = theory.predict_layers("relu", 1.0, 10, sigma_w2=2.0)["second_moment"]
    np.testing.assert_allclose(he, np.ones(10), rtol=1e-12)


def test_alpha_dropout_constants():
    a_prime, a, b = theory.alpha_dropout_affine(0.05)
    assert a_prime == pytest.approx(-1.7580993408473768599, abs=1e-14)
    assert (a, b) == pytest.approx((0.9548444760, 0.0839355722), abs=1e-10)
    assert theory.alpha_dropout_affine(0.10)[1:] == pytest.approx((0.9212845161, 0.1619709701), abs=1e-10)
    with pytest.raises(ValueError, match=r"rate must be in \[0, 1\)"):
        theory.alpha_dropout_affine(1.0)


@pytest.mark.parametrize("name,attracting", [("elu", True), ("tanh", True), ("gelu", False), ("silu", False)])
def test_self_normalizing_variants(name, attracting):
    v = theory.self_normalizing_variant(name)
    # (0, 1) is a fixed point: check E and Var of the scaled function by adaptive quadrature.
    import jaxacts
    f = jaxacts.get(name)
    g = lambda z: v.scale * float(f(jnp.float32(z))) + v.shift
    mean = scipy.integrate.quad(lambda z: g(z) * scipy.stats.norm.pdf(z), -12, 12, points=[0.0])[0]
    second = scipy.integrate.quad(lambda z: g(z) ** 2 * scipy.stats.norm.pdf(z), -12, 12, points=[0.0])[0]
    assert mean == pytest.approx(0.0, abs=1e-5) and second == pytest.approx(1.0, abs=1e-5)
    assert v.attracting == attracting
