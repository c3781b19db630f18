"""Derivatives in every float hyperparameter, for every registry activation (float64, dense grid).

``jax.grad`` in a hyperparameter uses the partial derivative written beside the x-derivative; it is
checked against ``jax.grad`` of the plain formula (``reference_formulas.py``, no custom rule) and against
central finite differences, and ``jaxacts.derivative(name, wrt=...)`` must be that same rule. Smooth
activations also get their mixed second derivatives d2f/dx dh checked both ways.
"""

from __future__ import annotations

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxacts
from jaxacts._src import layers
from tests.reference_formulas import EXTRA_CASES, JAX, REFERENCE, kinks

CASES = [(n, {}) for n in jaxacts.names(elementwise=True)] + EXTRA_CASES
PARTIALS = [(n, hp, k) for n, hp in CASES for k in jaxacts.info(n).differentiable_hyperparameters]
PARTIAL_IDS = [n + "".join(f"-{a}={v}" for a, v in hp.items()) + f"-d{k}" for n, hp, k in PARTIALS]
SMOOTH = [(n, hp, k) for n, hp, k in PARTIALS if jaxacts.info(n).smooth and not kinks(n, hp)]
SMOOTH_IDS = [n + "".join(f"-{a}={v}" for a, v in hp.items()) + f"-d{k}" for n, hp, k in SMOOTH]


def grid(name, hp, n=801, lo=-12.0, hi=12.0, gap=1e-3):
    """The grid away from the kinks, padded back to ``n`` points with copies of ``lo`` (no new point):
    one length for every case, so that the compiled programs below serve several cases."""
    x = np.linspace(lo, hi, n)
    for k in kinks(name, hp):
        x = x[np.abs(x - k) > gap]
    if name == "heaviside" or (name == "threshold"):
        x = x[np.abs(x) > gap]
    return np.concatenate([x, np.full(n - len(x), lo)])


def value_of(name, hp, k):
    return float({**jaxacts.info(name).hyperparameters, **hp}[k])


def split(name, hp, k):
    """(names of the other float hyperparameters given in ``hp``, their values, the non-float items)."""
    floats = jaxacts.info(name).differentiable_hyperparameters
    other = tuple(sorted(q for q in hp if q in floats and q != k))
    static = tuple(sorted((q, v) for q, v in hp.items() if q not in floats))
    return other, tuple(float(hp[q]) for q in other), static


def ours_in(name, k, other=(), static=()):
    """(x, a, *o) -> activation(x; k = a, other = o) with the static hyperparameters fixed (the others:
    the activation's defaults)."""
    f = jaxacts.get(name)
    return lambda x, a, *o: f(x, **dict(static), **dict(zip(other, o)), **{k: a})


def plain_in(name, k, other=(), static=()):
    """The same for the plain formula, whose defaults are its own."""
    return lambda x, a, *o: REFERENCE[name](JAX, x, **dict(static), **dict(zip(other, o)), **{k: a})


def per_point(g, n_other):
    return jax.jit(jax.vmap(g, in_axes=(0, None) + (None,) * n_other))


@functools.lru_cache(maxsize=None)
def program(kind, name, k, other, static):
    """One jitted program, compiled once per key: the cases that differ only in the values of float
    hyperparameters (passed as arguments) share it. ``kind``: the quantities it returns."""
    ours, plain = ours_in(name, k, other, static), plain_in(name, k, other, static)
    n = len(other)
    if kind == "dh":  # df/dk, ours and the plain formula's
        return per_point(lambda *v: (jax.grad(ours, argnums=1)(*v), jax.grad(plain, argnums=1)(*v)), n)
    if kind == "value":
        return jax.jit(ours)
    if kind == "dxdh":  # d/dx of df/dk: ours, the plain formula's; d/dk of df/dx (ours)
        mixed = lambda f: jax.grad(jax.grad(f, argnums=1), argnums=0)
        return per_point(lambda *v: (mixed(ours)(*v), mixed(plain)(*v), jax.grad(jax.grad(ours), argnums=1)(*v)), n)
    assert kind == "dx"
    return per_point(jax.grad(ours), n)


@pytest.mark.parametrize("name,hp,k", PARTIALS, ids=PARTIAL_IDS)
def test_hyperparameter_derivative_matches_plain_formula_and_finite_differences(name, hp, k):
    x = jnp.asarray(grid(name, hp))
    a = value_of(name, hp, k)
    other, o, static = split(name, hp, k)
    ours, ref = program("dh", name, k, other, static)(x, a, *o)
    np.testing.assert_allclose(np.asarray(ours), np.asarray(ref), rtol=1e-10, atol=1e-12)
    if a != 0.0:  # squareplus's b = 0 is the edge of its domain: no central difference there
        step = 1e-6 * max(abs(a), 1.0)
        f = program("value", name, k, other, static)
        fd = (np.asarray(f(x, a + step, *o)) - np.asarray(f(x, a - step, *o))) / (2 * step)
        np.testing.assert_allclose(np.asarray(ours), fd, rtol=1e-6, atol=1e-7)
    # The registry's derivative(wrt=k) is the very rule jax.grad used (eager vs compiled: an ulp).
    np.testing.assert_allclose(np.asarray(jaxacts.derivative(name, wrt=k, **hp)(x)), np.asarray(ours),
                               rtol=1e-15, atol=1e-15 * float(np.max(np.abs(np.asarray(ours)), where=np.isfinite(np.asarray(ours)), initial=0.0)))


@pytest.mark.parametrize("name,hp,k", SMOOTH, ids=SMOOTH_IDS)
def test_mixed_second_derivatives_of_smooth_activations(name, hp, k):
    x = jnp.asarray(grid(name, hp))
    a = value_of(name, hp, k)
    other, o, static = split(name, hp, k)
    ours, ref, other_order = program("dxdh", name, k, other, static)(x, a, *o)
    np.testing.assert_allclose(np.asarray(ours), np.asarray(ref), rtol=1e-9, atol=1e-11)
    # Both orders agree (d/dh of f' and d/dx of df/dh), and match finite differences of f' in h.
    np.testing.assert_allclose(np.asarray(other_order), np.asarray(ours), rtol=1e-9, atol=1e-11)
    step = 1e-5 * max(abs(a), 1.0)
    d = program("dx", name, k, other, static)
    fd = (np.asarray(d(x, a + step, *o)) - np.asarray(d(x, a - step, *o))) / (2 * step)
    np.testing.assert_allclose(np.asarray(ours), fd, rtol=1e-5, atol=1e-6)


def test_elu_alpha_gradient_is_not_zero():
    # Issue 8, defect 1: with hyperparameters as nondiff_argnums this was 0.0.
    x = jnp.array([-1.0, -0.5, 2.0])
    g = jax.grad(lambda a: jaxacts.elu(x, alpha=a).sum())(1.0)
    assert float(g) == pytest.approx(float(jnp.expm1(-1.0) + jnp.expm1(-0.5)), rel=1e-12)
    assert float(g) == pytest.approx(-1.0256, abs=1e-4)


def test_per_channel_hyperparameters_broadcast_and_get_their_gradient():
    x = jax.random.normal(jax.random.key(0), (5, 3), jnp.float64)
    beta = jnp.array([0.5, 1.0, 2.0])
    g = jax.grad(lambda b: jaxacts.silu(x, beta=b).sum())(beta)
    chex.assert_shape(g, (3,))
    for c in range(3):
        gc = jax.grad(lambda b: jaxacts.silu(x[:, c], beta=b).sum())(beta[c])
        assert float(g[c]) == pytest.approx(float(gc), rel=1e-12)
    with pytest.raises(ValueError, match="does not broadcast"):
        jaxacts.silu(x, beta=jnp.ones(4))


def test_hyperparameter_gradients_under_jit_and_vmap():
    x = jnp.linspace(-3.0, 3.0, 7)
    alphas = jnp.array([0.5, 1.0, 2.0])
    g = jax.jit(jax.vmap(jax.grad(lambda a: jaxacts.celu(x, alpha=a).sum())))(alphas)
    for i, a in enumerate([0.5, 1.0, 2.0]):
        assert float(g[i]) == pytest.approx(float(jax.grad(lambda b: jaxacts.celu(x, alpha=b).sum())(a)), rel=1e-12)


def test_derivative_wrt_names_the_allowed_ones():
    with pytest.raises(ValueError, match=r"allowed: \['x', 'alpha'\]"):
        jaxacts.derivative("elu", wrt="beta")
    assert jaxacts.info("gelu").differentiable_hyperparameters == ()  # approximate is a bool: static
    assert jaxacts.info("maxout").differentiable_hyperparameters == ()
    assert jaxacts.info("rrelu").differentiable_hyperparameters == ("lower", "upper")


def test_rrelu_bounds_are_differentiable_through_the_draw():
    x = -jnp.ones((1000,))
    key = jax.random.key(0)
    y = jaxacts.rrelu(x, key=key, training=True)
    u = (-y - 1 / 8) / (1 / 3 - 1 / 8)  # the uniform draw behind each slope
    gl, gu = jax.grad(lambda lo, up: jaxacts.rrelu(x, lower=lo, upper=up, key=key, training=True).sum(),
                      argnums=(0, 1))(1 / 8, 1 / 3)
    assert float(gl) == pytest.approx(float(-(1 - u).sum()), rel=1e-9)
    assert float(gu) == pytest.approx(float(-u.sum()), rel=1e-9)


# ----------------------------------------------------------------------------- learned in models


@pytest.mark.parametrize("spec,name,shape", [
    ("prelu", "slope", (4,)),
    ("prelu_shared", "slope", (1,)),
    ("silu_learnable", "beta", (4,)),
    ("elu(alpha=learn(0.7))", "alpha", (1,)),
    ("leaky_relu(negative_slope=learn(0.25, per_channel))", "negative_slope", (4,)),
    ("softplus(beta=learn(2.0, per_channel))", "beta", (4,)),
])
def test_learned_hyperparameters_are_params_with_the_activations_gradient(spec, name, shape):
    from flax import nnx

    layer = layers.make_activation(spec, 4)
    param = getattr(layer, name)
    assert isinstance(param, nnx.Param)
    chex.assert_shape(param[...], shape)
    x = jax.random.normal(jax.random.key(1), (6, 4), jnp.float32)
    grads = nnx.grad(lambda m: m(x).sum())(layer)
    fn_name, hp = __import__("jaxacts._src.registry", fromlist=["x"]).parse_spec(layers.resolve_spec(spec))
    f = jaxacts.get(fn_name)
    v = param[...]
    expected = jax.grad(lambda p: f(x, **{name: p.reshape(()) if p.shape == (1,) else p}).sum())(v)
    chex.assert_trees_all_close(getattr(grads, name)[...], expected, rtol=1e-6)


def test_learn_syntax_round_trips_and_rejects_nonsense():
    from jaxacts._src import registry

    name, hp = registry.parse_spec("leaky_relu(negative_slope=learn(0.25, per_channel))")
    assert isinstance(hp["negative_slope"], registry.Learned) and hp["negative_slope"].per_channel
    assert registry.format_spec(name, hp) == "leaky_relu(negative_slope=learn(0.25, per_channel))"
    assert registry.expand_spec("elu(alpha=learn([0.5, 1.0]))") == ["elu(alpha=learn(0.5))", "elu(alpha=learn(1.0))"]
    with pytest.raises(ValueError, match="per_channel|shared"):
        registry.parse_spec("elu(alpha=learn(0.5, channels))")
    with pytest.raises(ValueError, match="cannot be learned"):
        layers.check_activation("gelu(approximate=learn(1.0))")
    with pytest.raises(ValueError, match="learned by a model"):
        registry.get_spec("elu(alpha=learn(0.5))")
    with pytest.raises(ValueError, match="alpha must be > 0"):
        layers.check_activation("celu(alpha=learn(-1.0))")
