"""Mean-field theory against the SELU paper, the signal-propagation papers and scipy (REFERENCES.md)."""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate
import scipy.special
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


# ----------------------------------------------------------------------------- finite width
#
# References: real random networks in plain numpy (Gaussian weights, many seeds) and closed forms. For ReLU
# with He weights, q_{l+1} / q_l = (2/N) chi^2_K with K ~ Binomial(N, 1/2) active units (Hanin & Nica 2019), so
# the per-layer log step has mean E[psi(K/2)] + log(4/N) and variance E[psi'(K/2)] + Var[psi(K/2)] exactly.

import scipy.special  # noqa: E402

_SELU = lambda z: LAMBDA_01 * np.where(z > 0, z, ALPHA_01 * np.expm1(np.minimum(z, 0.0)))
NUMPY_ACTIVATIONS = {  # value and derivative, written plainly
    "relu": (lambda z: np.maximum(z, 0.0), lambda z: (z > 0).astype(z.dtype)),
    "tanh": (np.tanh, lambda z: 1.0 - np.tanh(z) ** 2),
    "selu": (_SELU, lambda z: LAMBDA_01 * np.where(z > 0, 1.0, ALPHA_01 * np.exp(np.minimum(z, 0.0)))),
    "sigmoid": (scipy.special.expit, lambda z: scipy.special.expit(z) * (1.0 - scipy.special.expit(z))),
}
BRANCHES = ("relu", "tanh", "selu", "sigmoid")  # one compiled finite-width program for every test


def numpy_networks(name, sigma_w2, width, depth, inputs, seeds, seed=0, grads=False):
    """Real random networks h -> phi(h W), W ~ N(0, sigma_w2 / fan_in), in numpy: per seed and layer the pooled
    second moment over the batch and the units (and the RMS over the batch of the gradient of <r, h_L>)."""
    f, df = NUMPY_ACTIVATIONS[name]
    rng = np.random.default_rng(seed)
    h = np.broadcast_to(np.asarray(inputs, np.float32), (seeds,) + np.shape(inputs))
    q = np.zeros((seeds, depth))
    kept = []
    for layer in range(depth):
        fan = h.shape[-1]
        w = rng.standard_normal((seeds, fan, width), dtype=np.float32) * np.float32(math.sqrt(sigma_w2 / fan))
        z = h @ w
        h = f(z)
        q[:, layer] = np.mean(h.astype(np.float64) ** 2, axis=(1, 2))
        if grads:
            kept.append((w, z))
    if not grads:
        return q
    g = np.broadcast_to(rng.standard_normal((seeds, 1, width), dtype=np.float32), h.shape)
    norms = np.zeros((seeds, depth))
    for layer in range(depth - 1, -1, -1):
        norms[:, layer] = np.sqrt(np.sum(g.astype(np.float64) ** 2, axis=(1, 2)) / h.shape[1])
        if layer > 0:
            w, z = kept[layer]
            g = (df(z) * g) @ np.swapaxes(w, 1, 2)
    return q, norms


def relu_log_step_exact(width):
    """Mean and variance of log(q_{l+1} / q_l) for ReLU + He at width N, from the Binomial(N, 1/2) mixture."""
    k = np.arange(1, width + 1)
    p = scipy.stats.binom.pmf(k, width, 0.5)
    p /= p.sum()
    psi = scipy.special.digamma(k / 2)
    mean = np.sum(p * psi) + math.log(4.0 / width)
    var = np.sum(p * scipy.special.polygamma(1, k / 2)) + np.sum(p * psi**2) - np.sum(p * psi) ** 2
    return mean, var


def test_second_moment_increment_is_exact_for_relu():
    for n in (64, 256, 1024):
        step = theory.second_moment_increment("relu", 1.7, n, sigma_w2=2.0)
        # E relu(z)^2 = v/2 = q, E relu(z)^4 = 3 v^2 / 2 = 6 q^2 for v = 2q: Var = 5 q^2 / N
        assert step["mean"] == pytest.approx(1.7, rel=1e-12)
        assert step["var"] == pytest.approx(5 * 1.7**2 / n, rel=1e-12)
        mean, var = relu_log_step_exact(n)
        # the Gamma form of the log step: right to O(1/N^2) (its mean 5e-4 high, its variance 2% low at N = 64)
        assert step["log_mean"] - math.log(1.7) == pytest.approx(mean, abs=3.0 / n**2)
        assert step["log_var"] == pytest.approx(var, rel=1.5 / n)


def test_relu_log_q_variance_is_5_depth_over_width():
    # Hanin & Nica 2019: Var log q_L ~ 5 L / N for large N; exactly L times the per-layer variance.
    depth, width = 400, 2048
    layers = theory.finite_width_layers("relu", 1.0, depth, width, 2.0, branches=BRANCHES)
    mean, var = relu_log_step_exact(width)
    assert layers["log_q_std"][-1] ** 2 == pytest.approx(depth * var, rel=2e-3)
    assert layers["log_q_std"][-1] ** 2 == pytest.approx(5 * depth / width, rel=5e-3)
    assert layers["log_q_mean"][-1] == pytest.approx(depth * mean, rel=2e-3)
    np.testing.assert_allclose(layers["second_moment"], 1.0, rtol=1e-11)  # preserved on average only
    # depth / width = 1: mean field says log q = 0 for every network; the networks spread by sqrt(5)
    layers = theory.finite_width_layers("relu", 1.0, 256, 256, 2.0, branches=BRANCHES)
    assert layers["log_q_std"][-1] ** 2 == pytest.approx(5.0, rel=0.02)


def test_correlation_map_of_relu_is_the_arc_cosine_kernel():
    for c in (-0.9, -0.3, 0.0, 0.4, 0.95):
        expected = (math.sqrt(1 - c * c) + (math.pi - math.acos(c)) * c) / math.pi  # Cho & Saul 2009
        assert theory.correlation_map("relu", c, 1.3, 2.0) == pytest.approx(expected, abs=1e-10)


def test_scalar_chain_monte_carlo_matches_the_particles():
    # SELU + He: a nonlinear g (the second moment grows, then ReLU-like); the particles against the chain itself.
    samples = theory.simulate_second_moment_chain(jax.random.key(0), "selu", 1.0, 64, 64, 4000, sigma_w2=2.0)
    predicted = theory.finite_width_layers("selu", 1.0, 64, 64, 2.0, branches=BRANCHES)
    logs = np.log(samples)
    for layer in (3, 15, 63):
        assert logs[:, layer].mean() == pytest.approx(predicted["log_q_mean"][layer], abs=0.05 * logs[:, layer].std())
        assert logs[:, layer].std() == pytest.approx(predicted["log_q_std"][layer], rel=0.05)


CASES = [("relu", 2.0), ("tanh", 1.0), ("selu", 1.0), ("selu", 2.0)]  # ReLU + He, tanh + LeCun, SELU + LeCun / He


def _check_against_networks(shapes, batch, seeds, tolerance):
    """Mean and std of the pooled log q at the last layer: numpy networks against the theory, within
    ``tolerance`` of the measured std (both)."""
    rows = []
    for name, sigma_w2 in CASES:
        for depth, width in shapes:
            x = np.random.default_rng(depth + width).standard_normal((batch, width))
            q = numpy_networks(name, sigma_w2, width, depth, x, seeds, seed=depth * width)
            th = theory.finite_width_layers(name, x if batch > 1 else float(np.mean(x * x)), depth, width, sigma_w2,
                                            branches=BRANCHES)
            logs = np.log(q[:, -1])
            rows.append((name, sigma_w2, depth, width, logs.mean(), th["pooled_log_q_mean"][-1], logs.std(),
                         th["pooled_log_q_std"][-1]))
    for name, sigma_w2, depth, width, m, m_th, sd, sd_th in rows:
        where = f"{name} sigma_w2={sigma_w2} depth={depth} width={width} batch={batch}: {m:.4f} +- {sd:.4f} " \
                f"measured, {m_th:.4f} +- {sd_th:.4f} predicted"
        assert sd_th == pytest.approx(sd, rel=tolerance), where
        assert abs(m - m_th) <= tolerance * sd, where
    return rows


def test_log_q_spread_matches_real_networks():
    # A batch of 4 inputs, depth / width = 0.0625, 0.25 and 1, 400 networks each (the standard error of a std
    # is 3.5%; the slow test below takes 3000 networks and 10%).
    _check_against_networks([(4, 64), (16, 64), (32, 32)], 4, 400, 0.15)


@pytest.mark.slow
@pytest.mark.parametrize("batch", [1, 16])
def test_log_q_spread_matches_real_networks_within_10_percent(batch):
    # 1500 networks each (standard error of a std 1.8%), depth / width 0.05, 0.25, 0.5 and 1 (~3 min on 2 cores).
    rows = _check_against_networks([(5, 100), (25, 100), (50, 100), (64, 64)], batch, 1500, 0.10)
    for name, sigma_w2, depth, width, m, m_th, sd, sd_th in rows:  # pytest -s shows the agreement table
        print(f"{name} sigma_w2={sigma_w2} L={depth} N={width} B={batch}: mean {m:.3f} / {m_th:.3f}, "
              f"std {sd:.3f} / {sd_th:.3f} (measured / predicted)")


def test_selu_band_stays_narrow_at_depth_1000_width_100():
    # The attracting fixed point pulls fluctuations back: the spread of log q levels off within ~20 layers.
    depth, width = 1000, 100
    th = theory.finite_width_layers("selu", 1.0, depth, width, 1.0, branches=BRANCHES)
    std = th["log_q_std"]
    assert std[-1] < 0.25 and std[-1] == pytest.approx(std[99], rel=0.01)
    assert np.all(th["second_moment_band"][1] / th["second_moment_band"][0] < 2.6)
    # Real networks, one input each: log q over networks and over layers 100..1000 (the stationary law;
    # log q decorrelates within ~10 layers, so 4 x 900 layers hold ~400 independent values).
    q = numpy_networks("selu", 1.0, width, depth, np.random.default_rng(5).standard_normal((1, width)), 4, seed=7)
    logs = np.log(q[:, 100:])
    assert logs.std() == pytest.approx(std[-1], rel=0.1)
    assert abs(logs.mean() - th["log_q_mean"][-1]) < 0.15 * std[-1]
    # and the scalar chain itself, 1000 networks at layer 1000
    chain = np.log(theory.simulate_second_moment_chain(jax.random.key(1), "selu", 1.0, depth, width, 1000)[:, -1])
    assert chain.std() == pytest.approx(std[-1], rel=0.07)


def test_gradient_norm_band_of_one_input_matches_real_networks():
    # One input: the spread of log grad_norm at the first layer (23 backward steps and the readout).
    depth, width, seeds = 24, 64, 500
    for name, sigma_w2 in (("relu", 2.0), ("selu", 1.0)):
        x = np.random.default_rng(3).standard_normal((1, width))
        _, grads = numpy_networks(name, sigma_w2, width, depth, x, seeds, seed=11, grads=True)
        th = theory.finite_width_layers(name, float(np.mean(x * x)), depth, width, sigma_w2, branches=BRANCHES)
        logs = np.log(grads[:, 0])
        assert logs.std() == pytest.approx(th["log_grad_norm_std"][0], rel=0.15), name
        assert abs(logs.mean() - th["log_grad_norm_mean"][0]) < 0.2 * logs.std(), name
    # Mean field, E ||g_0||^2 = N prod chi, holds for ReLU + He (chi = 1; for SELU the O(depth / N) corrections
    # of gradient independence lift it 26% here).
    assert np.mean(grads[:, 0] ** 2) > 0 and theory.finite_width_layers(
        "relu", 1.0, depth, width, 2.0, branches=BRANCHES)["grad_norm"][0] == pytest.approx(8.0, rel=1e-10)


def test_variance_band_of_a_large_mean_activation_matches_real_networks():
    # Sigmoid's units sit near 0.5: the probe's variance (a central moment over batch and units) is a small
    # difference q - m^2, and its fluctuation is the sampling noise of the centred square, ~sqrt(2 / N) per
    # layer and shared by the inputs (the shared offsets 0.5 sum_j W_ij), not q's. Scaling q's band, as the
    # theory once did, held 45% of these networks.
    depth, width, batch, seeds = 12, 128, 32, 300
    rng = np.random.default_rng(5)
    x = rng.standard_normal((batch, width))
    h = np.broadcast_to(x, (seeds, batch, width))
    var = np.zeros((seeds, depth))
    for layer in range(depth):
        h = scipy.special.expit(h @ (rng.standard_normal((seeds, width, width)) / math.sqrt(width)))
        var[:, layer] = np.var(h, axis=(1, 2))
    band = theory.finite_width_layers("sigmoid", x, depth, width, 1.0, branches=BRANCHES)["var_band"]
    inside = np.mean((var >= band[0]) & (var <= band[1]))
    assert 0.9 <= inside <= 0.99, inside


def test_gram_chain_of_a_linear_network_is_a_product_of_chi_squares():
    # One input through identity layers of gain g: q_L = q_0 prod_l g chi^2_N / N, so log q_L has mean
    # log q_0 + L (log g + psi(N/2) - log(N/2)) and variance L psi'(N/2).
    depth, width, g = 10, 16, 1.5
    x = np.full((1, 4), math.sqrt(2.0))  # q_0 = 2
    mc = theory.simulate_gram_chain(jax.random.key(1), "identity", x, depth, width, g, networks=4000)
    logs = np.log(mc["second_moment"][:, -1])
    mean = math.log(2.0) + depth * (math.log(g) + scipy.special.digamma(width / 2) - math.log(width / 2))
    var = depth * scipy.special.polygamma(1, width / 2)
    assert abs(logs.mean() - mean) < 4 * math.sqrt(var / 4000), (logs.mean(), mean)
    assert logs.var() == pytest.approx(var, rel=0.1)
    np.testing.assert_allclose(mc["var"], mc["second_moment"] - mc["mean"] ** 2)
    # Backward, every input's gradient is W_{l+1}^T ... W_L^T r: log grad_norm_l^2 = log |r|^2 + (L - 1 - l)
    # log(g chi^2_N / N), whatever the forward pass (the coupled weights are a product of Gaussians all the same).
    for layer in (0, depth // 2):
        steps = depth - 1 - layer
        logs = 2 * mc["log_grad_norm"][:, layer]
        mean = (scipy.special.digamma(width / 2) + math.log(2)
                + steps * (math.log(g) + scipy.special.digamma(width / 2) - math.log(width / 2)))
        var = (steps + 1) * scipy.special.polygamma(1, width / 2)
        assert abs(logs.mean() - mean) < 4 * math.sqrt(var / 4000), (layer, logs.mean(), mean)
        assert logs.var() == pytest.approx(var, rel=0.1), layer


def test_gram_chain_is_the_law_of_real_networks():
    # Every input of the batch in the chain (K = B): the pooled log q of real numpy networks, in mean and spread.
    depth, width, batch, seeds = 15, 32, 8, 600
    x = np.random.default_rng(2).standard_normal((batch, width))
    q = numpy_networks("tanh", 1.5, width, depth, x, seeds, seed=4)
    mc = theory.simulate_gram_chain(jax.random.key(3), "tanh", x, depth, width, 1.5, networks=600,
                                    inputs_per_network=batch)
    for layer in (4, depth - 1):
        real, chain = np.log(q[:, layer]), np.log(mc["second_moment"][:, layer])
        assert abs(real.mean() - chain.mean()) < 4 * real.std() * math.sqrt(2 / seeds), layer
        assert chain.std() == pytest.approx(real.std(), rel=0.15), layer


def test_gram_chain_gradients_meet_the_forward_weights_as_real_networks_do():
    # A small tanh network, where drawing the backward weights afresh (the gradient-independence assumption)
    # is measurably wrong: log grad_norm at the first layer 1.42 +- 0.52 with fresh weights against 1.33 +- 0.47
    # in real networks. The chain reuses the forward pass's part of W, and must match the real law.
    depth, width, batch, seeds = 12, 24, 4, 4000
    x = np.random.default_rng(5).standard_normal((batch, 20))
    _, norms = numpy_networks("tanh", 1.5, width, depth, x, seeds, seed=6, grads=True)
    mc = theory.simulate_gram_chain(jax.random.key(2), "tanh", x, depth, width, 1.5, networks=seeds,
                                    inputs_per_network=batch)
    for layer in (0, 5):
        real, chain = np.log(norms[:, layer]), mc["log_grad_norm"][:, layer]
        assert abs(real.mean() - chain.mean()) < 4 * real.std() * math.sqrt(2 / seeds), layer
        assert chain.std() == pytest.approx(real.std(), rel=0.06), layer


def test_a_spreading_batch_is_pooled_by_the_gram_chain():
    # GELU + He: a network's inputs leave the ReLU-like regime at different depths, so their log q spread
    # widely within one network (unshared variance > 1) and the batch is pooled by the Gram chain. Its band holds
    # real networks (the analytic pooling fails only at larger depth, width and batch: the next test).
    depth, width, batch, seeds = 40, 64, 32, 300
    rng = np.random.default_rng(3)
    x = rng.standard_normal((batch, width))
    th = theory.finite_width_layers("gelu", x, depth, width, 2.0, branches=("gelu",))
    assert th["batch_model"] == "gram chain"
    h = np.broadcast_to(x, (seeds, batch, width)).astype(np.float32)
    q = np.zeros((seeds, depth))
    for layer in range(depth):
        h = h @ (rng.standard_normal((seeds, width, width), dtype=np.float32) * np.float32(math.sqrt(2.0 / width)))
        h = h * scipy.special.ndtr(h)
        q[:, layer] = np.mean(h.astype(np.float64) ** 2, axis=(1, 2))
    inside = np.mean((q >= th["second_moment_band"][0]) & (q <= th["second_moment_band"][1]))
    assert 0.9 <= inside <= 0.99, inside
    assert theory.finite_width_layers("relu", x, depth, width, 2.0, branches=BRANCHES)["batch_model"] == "analytic"


def test_gram_chain_band_holds_gelu_he_networks_where_the_analytic_pooling_fails(monkeypatch):
    # The depth study's GELU + He: depth 100, width 256, batch 128. 64 real networks (JAX, float32; ~10 s).
    from jaxacts._src import theory as private

    depth, width, batch, seeds = 100, 256, 128, 64
    x = np.random.default_rng(1).standard_normal((batch, width))

    def network(key):
        def layer(h, k):
            h = jax.nn.gelu(h @ (jax.random.normal(k, (width, width), jnp.float32) * jnp.float32(math.sqrt(2.0 / width))), approximate=False)
            return h, jnp.mean(h * h)
        return jax.lax.scan(layer, jnp.asarray(x, jnp.float32), jax.random.split(key, depth))[1]

    q = np.asarray(jax.jit(jax.vmap(network))(jax.random.split(jax.random.key(5), seeds)), np.float64)
    inside = lambda band: np.mean((q >= band[0]) & (q <= band[1]))
    gram = theory.finite_width_layers("gelu", x, depth, width, 2.0)
    assert gram["batch_model"] == "gram chain" and inside(gram["second_moment_band"]) >= 0.9
    monkeypatch.setattr(private, "_UNSHARED_NONLINEAR", math.inf)
    analytic = theory.finite_width_layers("gelu", x, depth, width, 2.0)
    assert analytic["batch_model"] == "analytic" and inside(analytic["second_moment_band"]) < 0.85


def test_skip_connections_track_the_mean():
    # h -> h + selu(W h): E[h_i f(z_i)] = mu E f != 0, so q' = q + 2 mu E f + E f^2 with mu' = mu + E f.
    width, batch, depth = 256, 32, 20
    rng = np.random.default_rng(0)
    measured = []
    for _ in range(4):
        h = rng.standard_normal((batch, width))
        q = []
        for _ in range(depth):
            h = h + _SELU(h @ (rng.standard_normal((width, width)) / math.sqrt(width)))
            q.append(np.mean(h * h))
        measured.append(q)
    measured = np.exp(np.mean(np.log(measured), axis=0))
    mf = theory.predict_layers("selu", 1.0, depth, skip=True)["second_moment"]
    np.testing.assert_allclose(measured[[9, 19]], mf[[9, 19]], rtol=0.3)
    # the old map without the cross term: 182 and 1.50e4 at layers 10 and 20, off by 3x and 100x
    q = 1.0
    for _ in range(20):
        q = q + float(theory.pooled_layer("selu", q)[2])
    assert measured[19] > 50 * q
    band = theory.skip_finite_width_layers("selu", 1.0, depth, width, 1.0)
    assert np.all((measured >= band["second_moment_band"][0]) & (measured <= band["second_moment_band"][1]))


def test_finite_width_program_compiles_once_for_every_activation_and_width():
    theory.finite_width_layers("relu", 1.0, 10, 32, 2.0, branches=BRANCHES)
    before = jaxacts_theory_program_cache()
    for name, width in (("tanh", 48), ("selu", 200), ("relu", 17)):
        theory.finite_width_layers(name, np.ones((3, 5)), 60, width, 1.0, branches=BRANCHES)
    assert jaxacts_theory_program_cache() == before


def jaxacts_theory_program_cache():
    from jaxacts._src import theory as private

    return private._program(BRANCHES, private._CHUNK)._cache_size()


def test_gram_chain_gives_the_same_numbers_with_its_residuals_kept_or_recomputed(monkeypatch):
    from jaxacts._src import theory as private

    x = np.random.default_rng(0).standard_normal((8, 5))
    run = lambda: theory.simulate_gram_chain(jax.random.key(0), "tanh", x, 23, 16, 1.0, networks=4,
                                             inputs_per_network=4, branches=BRANCHES)
    kept = run()
    monkeypatch.setattr(private, "_GRAM_KEEP_BYTES", 0)  # every segment run forward again in the backward pass
    recomputed = run()
    assert set(kept) == set(recomputed)
    for name in kept:
        np.testing.assert_allclose(recomputed[name], kept[name], rtol=1e-12, atol=0, err_msg=name)


def test_gram_chain_compiles_once_per_width_whatever_the_depth_and_activation():
    from jaxacts._src import theory as private

    x = np.random.default_rng(0).standard_normal((8, 5))
    run = lambda name, depth: theory.simulate_gram_chain(jax.random.key(0), name, x, depth, 16, 1.0, networks=4,
                                                         inputs_per_network=4, branches=BRANCHES)
    run("relu", 5)
    programs = private._gram_programs(BRANCHES, 16)
    before = [p._cache_size() for p in programs]
    for name, depth in (("tanh", 23), ("selu", 40), ("sigmoid", 2)):
        out = run(name, depth)
        assert out["second_moment"].shape == out["log_grad_norm"].shape == (4, depth)
    assert [p._cache_size() for p in programs] == before
