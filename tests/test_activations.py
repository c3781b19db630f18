"""Every registered activation against independent references, driven by the registry.

Adding an activation to the registry adds it to every test here; the first test fails until it has
a plain reference formula in ``reference_formulas.py``.
"""

from __future__ import annotations

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

import jaxacts
from jaxacts import specs
from tests.reference_formulas import EXTRA_CASES, JAX, NUMPY, REFERENCE, kinks

ELEMENTWISE = jaxacts.names(elementwise=True)
CASES = [(n, {}) for n in ELEMENTWISE] + EXTRA_CASES
CASE_IDS = [n + "".join(f"-{k}={v}" for k, v in hp.items()) for n, hp in CASES]
SMOOTH = [(n, hp) for n, hp in CASES if jaxacts.info(n).smooth and not kinks(n, hp)]
SMOOTH_IDS = [n + "".join(f"-{k}={v}" for k, v in hp.items()) for n, hp in SMOOTH]
DTYPES = [jnp.float16, jnp.bfloat16, jnp.float32, jnp.float64]


N_KINKS = max(len(kinks(n, hp)) for n, hp in CASES)
LENGTH = 4001 + N_KINKS  # the longest grid below and the kinks


def grid(name, hp, n=4001, lo=-20.0, hi=20.0, gap=1e-3, extra=()):
    """A float64 grid of ``n`` points on [lo, hi] that stays ``gap`` away from the kinks, then ``extra``,
    padded to ``LENGTH`` points with copies of ``lo`` (far from every kink).

    The padding adds no point: the set checked is the grid's. Every array in the tests below has the
    one length ``LENGTH``, whatever the activation and the test: eager JAX compiles each primitive once
    per shape and dtype, and with one shape those compiles serve every test instead of only its own.
    """
    x = np.linspace(lo, hi, n)
    for k in kinks(name, hp):
        assert abs(lo - k) > gap
        x = x[np.abs(x - k) > gap]
    x = np.concatenate([x, np.asarray(extra, np.float64)])
    return np.concatenate([x, np.full(LENGTH - len(x), lo)])


def reference_numpy(name, hp, x):
    with np.errstate(all="ignore"):
        return np.asarray(REFERENCE[name](NUMPY, np.asarray(x, np.float64), **hp), np.float64)


def reference_grad(name, hp, x):
    f = lambda v: REFERENCE[name](JAX, v, **hp)
    return np.asarray(jax.vmap(jax.grad(f))(jnp.asarray(x, jnp.float64)))


def ours(name, hp):
    return jaxacts.get(name, **hp)


def grad_of(f):
    return jax.vmap(jax.grad(lambda v: f(v)))


def test_every_activation_has_a_reference_formula_and_docstring():
    missing = set(ELEMENTWISE) - set(REFERENCE)
    assert not missing, f"add plain reference formulas for {sorted(missing)}"
    for name in jaxacts.names():
        doc = jaxacts.info(name).fn.__doc__ or ""
        assert "Derivative" in doc and len(doc) > 40, f"{name} needs a docstring with its formula and derivative"
        assert jaxacts.info(name).formula


def test_public_names_have_docstrings():
    for name in jaxacts.__all__:
        obj = getattr(jaxacts, name)
        if callable(obj):
            assert (obj.__doc__ or "").strip(), name


@pytest.mark.parametrize("name,hp", CASES, ids=CASE_IDS)
def test_values_match_float64_closed_form(name, hp):
    x = grid(name, hp, gap=0.0, extra=kinks(name, hp))
    got = np.asarray(ours(name, hp)(jnp.asarray(x, jnp.float64)))
    np.testing.assert_allclose(got, reference_numpy(name, hp, x), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name,hp", CASES, ids=CASE_IDS)
def test_derivative_matches_autodiff_of_plain_formula(name, hp):
    x = grid(name, hp)
    f = ours(name, hp)
    got = np.asarray(grad_of(f)(jnp.asarray(x)))
    np.testing.assert_allclose(got, reference_grad(name, hp, x), rtol=1e-10, atol=1e-12)
    # The registry's derivative is the same hand-written rule that jax.grad uses.
    np.testing.assert_allclose(np.asarray(jaxacts.derivative(name, **hp)(jnp.asarray(x))), got, rtol=0, atol=0)


@pytest.mark.parametrize("name,hp", CASES, ids=CASE_IDS)
def test_derivative_matches_central_finite_differences(name, hp):
    x = grid(name, hp, n=801)
    f = ours(name, hp)
    h = 1e-6
    fd = (np.asarray(f(jnp.asarray(x + h))) - np.asarray(f(jnp.asarray(x - h)))) / (2 * h)
    np.testing.assert_allclose(np.asarray(grad_of(f)(jnp.asarray(x))), fd, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name,hp", SMOOTH, ids=SMOOTH_IDS)
def test_second_derivative_of_smooth_activations(name, hp):
    x = grid(name, hp, n=801, lo=-12.0, hi=12.0)
    f = ours(name, hp)
    second = jax.vmap(jax.grad(jax.grad(lambda v: f(v))))
    got = np.asarray(second(jnp.asarray(x)))
    ref = jax.vmap(jax.grad(jax.grad(lambda v: REFERENCE[name](JAX, v, **hp))))(jnp.asarray(x))
    np.testing.assert_allclose(got, np.asarray(ref), rtol=1e-8, atol=1e-10)
    h = 1e-5
    d = grad_of(f)
    fd = (np.asarray(d(jnp.asarray(x + h))) - np.asarray(d(jnp.asarray(x - h)))) / (2 * h)
    np.testing.assert_allclose(got, fd, rtol=1e-5, atol=1e-6)
    # jax.hessian goes through the same rule.
    np.testing.assert_allclose(float(jax.hessian(lambda v: f(v))(jnp.float64(0.3))), float(second(jnp.array([0.3]))[0]))


# Values and derivatives at extreme inputs (0, +-1e-30, ..., +-max in every dtype) are compared with
# mpmath in tests/test_extremes.py.


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16, jnp.float32], ids=lambda d: jnp.dtype(d).name)
@pytest.mark.parametrize("name,hp", CASES, ids=CASE_IDS)
def test_low_precision_is_close_to_float64(name, hp, dtype):
    x = jnp.asarray(grid(name, hp, n=2001, gap=0.02), dtype)  # representable points, kinks avoided
    x64 = x.astype(jnp.float64)
    f = ours(name, hp)
    eps = float(jnp.finfo(dtype).eps)
    tiny = float(jnp.finfo(dtype).tiny)
    y, y64 = f(x).astype(jnp.float64), f(x64)
    np.testing.assert_array_less(np.abs(y - y64), 2 * eps * (np.abs(y64) + np.abs(x64)) + tiny)
    d, d64 = grad_of(f)(x).astype(jnp.float64), grad_of(f)(x64)
    np.testing.assert_array_less(np.abs(d - d64), 4 * eps * (np.abs(d64) + np.abs(x64) + 1.0) + tiny)


NAN_CASES = [(n, {}) for n in jaxacts.names()] + [("gelu", {"approximate": True}),
                                                  ("rrelu", {"training": True, "key": 0})]  # key: the seed of a PRNG key


@functools.lru_cache(maxsize=None)
def _nan_program(name, static_items, dtype):
    """Every quantity of ``name`` at a vector of points: the value, the derivative in each variable
    (x, then the float hyperparameters) and every second derivative in each ordered pair of them, in
    reverse mode, plus the second derivative in x in forward-over-reverse mode."""
    f = jaxacts.get(name)
    floats = jaxacts.info(name).differentiable_hyperparameters
    static = {k: jax.random.key(v) if k == "key" else v for k, v in static_items}
    elementwise = jaxacts.info(name).elementwise
    # maxout and glu take pairs: the points go in as the first entry of a pair with a fixed 0.3.
    scalar = (lambda v, *h: f(v, **static, **dict(zip(floats, h)))) if elementwise else \
        (lambda v: f(jnp.stack([v, jnp.asarray(0.3, v.dtype)])).sum())
    n = 1 + len(floats)
    out = {"value": scalar}
    for i in range(n):
        out[f"d{i}"] = jax.grad(scalar, argnums=i)
        for j in range(n):
            out[f"d{i}d{j}"] = jax.grad(jax.grad(scalar, argnums=i), argnums=j)
    out["forward d0d0"] = jax.jacfwd(jax.grad(scalar))
    axes = (0,) + (None,) * len(floats)
    return jax.jit(lambda x, *h: {k: jax.vmap(g, in_axes=axes)(x, *h) for k, g in out.items()})


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: jnp.dtype(d).name)
@pytest.mark.parametrize("name,hp", NAN_CASES, ids=[n + "".join(f"-{k}" for k in hp) for n, hp in NAN_CASES])
def test_nan_in_gives_nan_out_in_every_derivative(name, hp, dtype):
    # Issue 21, item 5: jax.grad(squareplus)(nan) was 0.882, relu'(nan) 0, identity'(nan) 1.
    info = jaxacts.info(name)
    full = {**info.hyperparameters, **hp}
    floats = info.differentiable_hyperparameters
    h = [jnp.asarray(full[k], jnp.float32 if jnp.finfo(dtype).bits < 32 else dtype) for k in floats]
    static = tuple((k, v) for k, v in hp.items() if k not in floats)
    x = jnp.array([jnp.nan, 0.7, -0.7], dtype)  # 0.7: no kink of any activation at these
    got = _nan_program(name, static, jnp.dtype(dtype))(x, *h)
    assert set(got) >= {"value", "d0", "d0d0"} and len(got) == 2 + (1 + len(floats)) * (2 + len(floats))
    for quantity, values in got.items():
        values = np.asarray(values.astype(jnp.float32))
        assert np.isnan(values[0]), f"{name} {quantity} at NaN in {jnp.dtype(dtype).name}: {values[0]}"
        assert np.all(np.isfinite(values[1:])), f"{name} {quantity} at +-0.7: {values[1:]}"


@pytest.mark.parametrize("name,hp", CASES, ids=CASE_IDS)
def test_transformations_agree(name, hp):
    f = ours(name, hp)
    x = jnp.linspace(-4.0, 4.0, 24, dtype=jnp.float32).reshape(4, 6) + 0.01
    y = f(x)
    # compiled code may fuse differently from eager code: agreement to float32 rounding
    chex.assert_trees_all_close(jax.jit(f)(x), y, rtol=1e-6, atol=1e-7)
    chex.assert_trees_all_close(jax.vmap(f)(x), y, rtol=1e-6, atol=1e-7)
    t = jnp.ones_like(x) * 0.5
    y_jvp, t_out = jax.jvp(f, (x,), (t,))
    d = jaxacts.derivative(name, **hp)(x)
    chex.assert_trees_all_close(y_jvp, y, rtol=1e-6, atol=1e-7)
    chex.assert_trees_all_close(t_out, 0.5 * d, rtol=1e-6, atol=1e-7)
    y_vjp, pullback = jax.vjp(f, x)
    chex.assert_trees_all_close(pullback(t)[0], 0.5 * d, rtol=1e-6, atol=1e-7)
    chex.assert_shape(y, x.shape)


@pytest.mark.requires_devices(2)
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_sharded_input_gives_sharded_equal_result(name):
    devices = jax.devices()  # every device present: 4 forced CPU devices by default (conftest.py), or the GPUs
    mesh = jax.sharding.Mesh(np.array(devices), ("batch",))
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("batch"))
    x = jnp.linspace(-5.0, 5.0, 16 * len(devices), dtype=jnp.float32).reshape(len(devices) * 4, 4)
    xs = jax.device_put(x, sharding)
    f = jax.jit(jaxacts.get(name))
    y = f(xs)
    assert y.sharding.is_equivalent_to(sharding, y.ndim)
    # Compiled and eager code may differ by an ulp (fused transcendental approximations).
    chex.assert_trees_all_close(y, jaxacts.get(name)(x), rtol=1e-6, atol=1e-6)
    g = jax.jit(jax.grad(lambda v: jaxacts.get(name)(v).sum()))(xs)
    chex.assert_trees_all_close(g, jax.grad(lambda v: jaxacts.get(name)(v).sum())(x), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dtype", [jnp.int32, jnp.bool_])
def test_non_float_input_becomes_default_float(dtype):
    y = jaxacts.relu(jnp.array([1, 0], dtype))
    assert jnp.issubdtype(y.dtype, jnp.floating)


# ----------------------------------------------------------------------------- metadata


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_metadata_matches_the_function(name):
    info = jaxacts.info(name)
    f = jaxacts.get(name)
    x = np.linspace(-30.0, 30.0, 60001)
    y = np.asarray(f(jnp.asarray(x)))
    low, high = info.output_range
    assert np.all(y >= low - 1e-9) and np.all(y <= high + 1e-9), (y.min(), y.max())
    if info.monotonic:
        assert np.all(np.diff(y) >= -1e-12)
    else:
        assert np.any(np.diff(y) < 0)
    if info.zero_centred:
        assert float(f(jnp.float64(0.0))) == 0.0 and y.min() < 0 < y.max()
    if info.minimum is not None:
        x_min, f_min = info.minimum
        res = scipy.optimize.minimize_scalar(lambda v: float(f(jnp.float64(v))), bounds=(-3, 3), method="bounded",
                                             options={"xatol": 1e-10})
        assert abs(res.fun - f_min) < 1e-6 and abs(res.x - x_min) < 1e-4, (res.x, res.fun)
        assert low == pytest.approx(f_min)
    assert info.bounded_below == np.isfinite(low) and info.bounded_above == np.isfinite(high)


def test_minima_from_references_md():
    # REFERENCES.md, "Activation facts".
    assert jaxacts.info("mish").minimum == pytest.approx((-1.192431, -0.3088434), abs=1e-6)
    assert jaxacts.info("swish").minimum == pytest.approx((-1.2784645, -0.2784645), abs=1e-7)
    assert jaxacts.info("gelu").minimum == pytest.approx((-0.75179, -0.169971), abs=1e-5)
    assert jaxacts.info("hard_swish").minimum == (-1.5, -0.375)
    res = scipy.optimize.minimize_scalar(lambda v: float(jaxacts.gelu(jnp.float64(v), approximate=True)),
                                         bounds=(-3, 3), method="bounded", options={"xatol": 1e-10})
    assert res.fun == pytest.approx(-0.170041, abs=1e-6) and res.x == pytest.approx(-0.75246, abs=1e-4)


def test_selu_constants_and_kink_conventions():
    assert jaxacts.SELU_ALPHA == 1.6732632423543772848170429916717
    assert jaxacts.SELU_SCALE == 1.0507009873554804934193349852946
    d = lambda name, x, **hp: float(jax.grad(jaxacts.get(name, **hp))(jnp.float64(x)))
    assert d("relu", 0.0) == 0.0
    assert d("relu6", 0.0) == 0.0 and d("relu6", 6.0) == 0.0
    assert d("leaky_relu", 0.0) == 0.01  # PyTorch's convention; jax.nn gives 1
    assert d("elu", 0.0) == 1.0 and d("selu", 0.0) == pytest.approx(jaxacts.SELU_SCALE * jaxacts.SELU_ALPHA)
    assert d("hard_tanh", 1.0) == 0.0 and d("hard_tanh", -1.0) == 0.0
    assert d("hard_swish", -3.0) == 0.0 and d("hard_swish", 3.0) == 1.0  # jax.nn's convention
    assert d("heaviside", 0.0) == 0.0 and float(jaxacts.heaviside(0.0)) == 0.5
    assert d("softshrink", 0.5) == 0.0 and d("hardshrink", 0.5) == 0.0


# ----------------------------------------------------------------------------- the registry's errors


def test_unknown_name_lists_valid_names_and_suggests_close_ones():
    with pytest.raises(ValueError, match=r"Unknown activation 'seluu'.*Did you mean 'selu'.*Valid names:.*relu"):
        jaxacts.get("seluu")
    with pytest.raises(ValueError, match="Did you mean 'leaky_relu'"):
        jaxacts.get("leakyrelu")


def test_aliases_and_case():
    assert jaxacts.get("Swish") is jaxacts.silu
    assert jaxacts.info("hard-silu").name == "hard_swish"
    assert jaxacts.get("step")(jnp.array([1.0]))[0] == 1.0


@pytest.mark.parametrize("name,hp,message", [
    ("elu", {"alpha": -1.0}, "alpha must be >= 0"),
    ("rrelu", {"lower": 0.5, "upper": 0.1}, "lower must be <= upper"),
    ("softplus", {"beta": 0.0}, "beta must be > 0"),
    ("celu", {"alpha": 0.0}, "alpha must be > 0"),
    ("hard_tanh", {"min_val": 1.0, "max_val": -1.0}, "min_val must be < max_val"),
])
def test_bad_hyperparameters_are_clear_errors(name, hp, message):
    with pytest.raises(ValueError, match=message):
        jaxacts.get(name, **hp)
    with pytest.raises(ValueError, match=message):
        jaxacts.get(name)(jnp.ones(3), **hp)


def test_unknown_hyperparameter_names_the_valid_ones():
    with pytest.raises(TypeError, match=r"unknown hyperparameter.*\['alpha'\]"):
        jaxacts.get("elu", slope=0.1)


# ----------------------------------------------------------------------------- issue 8's defects


@pytest.mark.parametrize("v", [1e15, 1e17, 1e19, 3.4e38])
def test_mish_derivative_is_one_for_large_x(v):
    # The clipped sech^2 term was multiplied by the unclipped x: 1.017, 2.699, 170.9, 5.78e21.
    assert float(jax.grad(jaxacts.mish)(jnp.float32(v))) == 1.0
    assert float(jax.grad(jaxacts.mish)(jnp.float64(v))) == 1.0


def test_squareplus_second_derivative_is_finite_and_positive():
    for x in [1e4, 5e3, 1e6, 1e15, -1e4, -1e15]:
        h = float(jax.grad(jax.grad(jaxacts.squareplus))(jnp.float32(x)))
        expected = 0.5 * 4.0 / (x * x + 4.0) ** 1.5  # f'' = b / (2 (x^2 + b)^(3/2)), b = 4
        assert np.isfinite(h) and h >= 0.0 and h == pytest.approx(expected, rel=1e-5, abs=1e-37), (x, h)
    x = jnp.logspace(0, 30, 61, dtype=jnp.float64)
    second = jax.jit(jax.vmap(jax.hessian(lambda v: jaxacts.squareplus(v))))(x)  # one compile, not one per op
    assert bool(jnp.all(second >= 0))  # convex: 0.5 + 0.5 x/h cancelled to negative values
    np.testing.assert_allclose(np.asarray(second), np.asarray(2.0 / (x * x + 4.0) ** 1.5), rtol=1e-12)


def test_squareplus_with_b_zero_has_gradient_one_half_at_zero():
    assert float(jax.grad(lambda v: jaxacts.squareplus(v, b=0.0))(0.0)) == 0.5
    g = jax.vmap(jax.grad(lambda v: jaxacts.squareplus(v, b=0.0)))(jnp.array([-2.0, -1e-30, 1e-30, 2.0]))
    chex.assert_trees_all_equal(g, jnp.array([0.0, 0.0, 1.0, 1.0]))


@pytest.mark.parametrize("name", ["selu", "relu", "tanh", "sigmoid", "softplus", "mish", "gelu", "maxout", "glu"])
def test_complex_input_is_a_type_error(name):
    # It was cast to real, dropping the imaginary part, with only a hidden DeprecationWarning.
    with pytest.raises(TypeError, match="complex"):
        jaxacts.get(name)(jnp.array([1.0 + 1.0j, 2.0 - 1.0j]))
    with pytest.raises(TypeError, match="complex"):
        jaxacts.elu(jnp.ones(2), alpha=1.0 + 1.0j)


def test_api_edges_are_clear_errors():
    with pytest.raises(ValueError, match="axis 5 is out of range for a 2-d input"):
        jaxacts.maxout(jnp.ones((2, 4)), axis=5)
    with pytest.raises(ValueError, match="0-d"):
        jaxacts.maxout(jnp.float32(1.0))
    with pytest.raises(ValueError, match="axis 7 is out of range"):
        jaxacts.glu(jnp.ones((2, 4)), axis=7)
    with pytest.raises(TypeError, match="named by a string"):
        jaxacts.get(123)
    with pytest.raises(TypeError, match="named by a string"):
        jaxacts.get(None)
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match="negative_slope must be finite"):
            jaxacts.leaky_relu(jnp.ones(2), negative_slope=bad)
        with pytest.raises(ValueError, match="must be finite"):
            jaxacts.get("leaky_relu", negative_slope=bad)
    # A concrete array is checked elementwise; a traced one is checked for dtype and shape only.
    with pytest.raises(ValueError, match="alpha must be > 0"):
        jaxacts.celu(jnp.ones(2), alpha=jnp.array([1.0, -1.0]))
    y = jax.jit(lambda a: jaxacts.celu(jnp.ones(2), alpha=a))(jnp.float32(-1.0))  # documented: not checked
    chex.assert_shape(y, (2,))
    with pytest.raises(TypeError, match="complex"):
        jax.jit(lambda a: jaxacts.celu(jnp.ones(2), alpha=a))(jnp.complex64(1.0))


def test_structural_errors():
    with pytest.raises(ValueError, match="training=True needs a PRNG key"):
        jaxacts.rrelu(jnp.ones(3), training=True)
    with pytest.raises(ValueError, match="num_pieces=3 must divide"):
        jaxacts.maxout(jnp.ones((2, 4)), num_pieces=3)
    with pytest.raises(ValueError, match="odd size"):
        jaxacts.glu(jnp.ones((2, 3)))
    with pytest.raises(ValueError, match="not elementwise"):
        jaxacts.derivative("maxout")


def one_line_error(kind, match, call):
    """``call()`` raises ``kind`` with a one-line message matching ``match``."""
    with pytest.raises(kind, match=match) as e:
        call()
    assert "\n" not in str(e.value), str(e.value)


@pytest.mark.parametrize("value", [1e400, float("inf"), float("-inf"), float("nan")])
def test_non_finite_hyperparameter_says_it_must_be_finite(value):
    # Issue 21, item 4: a spec with alpha=1e400 said "alpha='inf' is not a number" (formatted to 'inf',
    # which did not parse back).
    one_line_error(ValueError, "elu: alpha must be finite", lambda: jaxacts.elu(jnp.ones(2), alpha=value))
    one_line_error(ValueError, "alpha must be finite", lambda: jaxacts.get("elu", alpha=value))
    text = "1e400" if value == 1e400 else repr(value)
    from jaxacts.models import ModelConfig

    for spec in (f"elu(alpha={text})", f"elu(alpha=[0.5, {text}])", f"elu(alpha=learn({text}))"):
        one_line_error(ValueError, r"alpha=.*not finite; give (a )?finite number", lambda: ModelConfig(activation=spec))


@pytest.mark.parametrize("bad", ["False", "yes", 1.0, 0.5, 1, 0, None, np.float32(1.0)])
def test_bool_hyperparameters_take_only_bools(bad):
    # Issue 21, item 7: gelu(approximate='False') used the tanh approximation (any truthy value did).
    x = jnp.linspace(-2.0, 2.0, 5)
    one_line_error(TypeError, "gelu: approximate must be True or False", lambda: jaxacts.gelu(x, approximate=bad))
    one_line_error(TypeError, "approximate must be True or False", lambda: jaxacts.get("gelu", approximate=bad))
    one_line_error(TypeError, "rrelu: training must be True or False", lambda: jaxacts.rrelu(x, training=bad))
    for ok in (True, False, np.bool_(True)):
        jaxacts.gelu(x, approximate=ok)


@pytest.mark.parametrize("spec", ["gelu(approximate=1.0)", "gelu(approximate=1)", "gelu(approximate=0.5)",
                                  "gelu(approximate=[0.0, 1.0])", "rrelu(training=1)", "elu(alpha=True)"])
def test_specs_take_bools_only_for_bool_hyperparameters(spec):
    from jaxacts.models import ModelConfig

    one_line_error(ValueError, "must be (True or False|a real number)", lambda: ModelConfig(activation=spec))
    one_line_error(ValueError, "must be (True or False|a real number)", lambda: specs.get_spec(spec))
    ModelConfig(activation="gelu(approximate=True)")
    assert specs.parse_spec("maxout(num_pieces=2)")[1] == {"num_pieces": 2}  # an int stays an int
    assert specs.parse_spec("elu(alpha=1)")[1] == {"alpha": 1.0}  # a float hyperparameter: a float


@pytest.mark.parametrize("call,kind,match", [
    (lambda: jaxacts.maxout(jnp.ones(4), num_pieces=2.0), TypeError, "maxout: num_pieces must be an integer"),
    (lambda: jaxacts.maxout(jnp.ones(4), num_pieces=True), TypeError, "maxout: num_pieces must be an integer"),
    (lambda: jaxacts.maxout(jnp.ones(4), axis=1.0), TypeError, "maxout: axis must be an integer"),
    (lambda: jaxacts.get("maxout", axis=1.0), TypeError, "maxout: axis must be an integer"),
    (lambda: jaxacts.glu(jnp.ones(4), axis="a"), TypeError, "glu: axis must be an integer"),
    (lambda: jaxacts.elu(jnp.ones(2), alpha="a"), TypeError, "elu: alpha must be a real number"),
    (lambda: jaxacts.elu(jnp.ones(2), alpha=None), TypeError, "elu: alpha must be a real number"),
    (lambda: jaxacts.get("elu", alpha="0.5"), TypeError, "elu: alpha must be a real number"),
    (lambda: jaxacts.elu(jnp.ones(2), alpha=1j), TypeError, "elu: alpha is complex"),
    (lambda: jaxacts.softplus(jnp.ones(2), beta=jnp.array([True, False])), TypeError, "beta must be a real number"),
    (lambda: jaxacts.relu("abc"), TypeError, "relu: the input must be a real number or array, got 'abc'"),
    (lambda: jaxacts.relu(None), TypeError, "relu: the input must be a real number or array"),
    (lambda: jaxacts.relu([1.0, "a"]), TypeError, "relu: the input must be a real number or array"),
    (lambda: jaxacts.maxout("abcd"), TypeError, "maxout: the input must be a real number or array"),
])
def test_library_calls_with_values_of_the_wrong_kind_are_one_line_errors(call, kind, match):
    # Issue 21, "unclear": numpy's "ufunc 'isfinite' not supported", "data type 'abc' not understood",
    # "axis 1.0 is out of range", "num_pieces=2.0 must divide".
    one_line_error(kind, match, call)


def test_array_likes_are_converted_as_in_jax_nn():
    chex.assert_trees_all_equal(jaxacts.relu([1.0, -2.0]), jnp.array([1.0, 0.0]))
    chex.assert_trees_all_equal(jaxacts.elu((0.0, -1.0), alpha=2.0), jaxacts.elu(jnp.array([0.0, -1.0]), alpha=2.0))
    chex.assert_trees_all_equal(jaxacts.maxout([1.0, 3.0]), jnp.array([3.0]))


# ----------------------------------------------------------------------------- rrelu, maxout, glu, prelu


def test_rrelu_is_reproducible_bounded_and_uses_the_mean_slope_in_eval():
    x = -jnp.ones((1000,), jnp.float32)
    key = jax.random.key(3)
    a = jaxacts.rrelu(x, key=key, training=True)
    chex.assert_trees_all_equal(a, jaxacts.rrelu(x, key=key, training=True))
    assert not bool(jnp.all(a == jaxacts.rrelu(x, key=jax.random.key(4), training=True)))
    slopes = -a
    assert float(slopes.min()) >= 1 / 8 and float(slopes.max()) <= 1 / 3
    assert float(slopes.mean()) == pytest.approx((1 / 8 + 1 / 3) / 2, abs=0.01)
    assert float(slopes.std()) > 0.05  # really random per element
    chex.assert_trees_all_close(jaxacts.rrelu(x), jnp.full_like(x, -(1 / 8 + 1 / 3) / 2))
    # the gradient in training is the slope that was drawn
    g = jax.grad(lambda v: jaxacts.rrelu(v, key=key, training=True).sum())(x)
    chex.assert_trees_all_close(g, slopes)


def test_maxout_shape_value_and_gradient():
    x = jax.random.normal(jax.random.key(0), (5, 12))
    y = jaxacts.maxout(x, num_pieces=3)
    chex.assert_shape(y, (5, 4))
    chex.assert_trees_all_close(y, x.reshape(5, 4, 3).max(-1))
    weights = jnp.arange(4.0, dtype=x.dtype)[None, :]
    g = jax.grad(lambda v: (jaxacts.maxout(v, num_pieces=3) * jnp.broadcast_to(weights, (5, 4))).sum())(x)
    one_hot = jax.nn.one_hot(x.reshape(5, 4, 3).argmax(-1), 3, dtype=x.dtype) * weights[:, :, None]
    chex.assert_trees_all_close(g, one_hot.reshape(5, 12))
    y0 = jaxacts.maxout(jnp.ones((6, 2)), num_pieces=3, axis=0)
    chex.assert_shape(y0, (2, 2))
    # ties: the whole gradient goes to the first maximal piece
    chex.assert_trees_all_close(jax.grad(lambda v: jaxacts.maxout(v).sum())(jnp.ones(2)), jnp.array([1.0, 0.0]))


def test_glu_matches_its_definition():
    x = jax.random.normal(jax.random.key(1), (3, 8), jnp.float64)
    a, b = x[:, :4], x[:, 4:]
    chex.assert_trees_all_close(jaxacts.glu(x), a / (1 + jnp.exp(-b)))


def test_prelu_slope_is_differentiable():
    x = jnp.array([-2.0, -0.5, 1.0, 3.0])
    gx, ga = jax.grad(lambda v, a: jaxacts.prelu(v, slope=a).sum(), argnums=(0, 1))(x, jnp.float32(0.25))
    chex.assert_trees_all_close(gx, jnp.array([0.25, 0.25, 1.0, 1.0]))
    chex.assert_trees_all_close(ga, jnp.float32(-2.5))
    per_channel = jnp.array([0.1, 0.2])
    gc = jax.grad(lambda a: jaxacts.prelu(-jnp.ones((3, 2)), slope=a).sum())(per_channel)
    chex.assert_trees_all_close(gc, jnp.array([-3.0, -3.0]))


# ----------------------------------------------------------------------------- scaled_tanh


def test_scaled_tanh_at_one_half_is_the_centred_sigmoid():
    # a tanh(b x) with a = b = 1/2 is sigma(x) - 1/2 (sigma(x) = (1 + tanh(x/2))/2): the sigmoid's slope
    # 1/4 at 0, zero-centred. Float32 against sigma(x) - 1/2 in float64, written without tanh and without
    # cancellation, -expm1(-|x|) / (2 (1 + e^{-|x|})) with x's sign: relative float32 rounding, also near 0.
    # Then against sigma(x) - 1/2 computed in float32, which cancels near 0: XLA's float32 logistic is within
    # a few ulps of 1/2 there (2.5 measured), absolute.
    centred = functools.partial(jaxacts.scaled_tanh, a=0.5, b=0.5)
    x64 = np.concatenate([-np.logspace(-30, 2, 400), [0.0], np.logspace(-30, 2, 400), np.linspace(-30.0, 30.0, 601)])
    x = jnp.asarray(x64, jnp.float32)
    xr = np.asarray(x.astype(jnp.float64))  # the float32 points, exactly
    eps = float(jnp.finfo(jnp.float32).eps)
    expected = np.sign(xr) * -np.expm1(-np.abs(xr)) / (2.0 * (1.0 + np.exp(-np.abs(xr))))
    got = np.asarray(centred(x).astype(jnp.float64))
    np.testing.assert_allclose(got, expected, rtol=2 * eps, atol=0)
    got_sigmoid32 = np.asarray((jaxacts.sigmoid(x) - jnp.float32(0.5)).astype(jnp.float64))
    np.testing.assert_allclose(got, got_sigmoid32, rtol=2 * eps, atol=2 * eps)
    # Derivatives: sigma' and sigma'' in float64, over the whole range where they are normal numbers.
    xd = jnp.asarray(np.concatenate([np.linspace(-700.0, 700.0, 1401), np.logspace(-30, 0, 31)]))
    for order in (1, 2):
        ours, theirs = centred, jaxacts.sigmoid
        for _ in range(order):
            ours, theirs = jax.grad(ours), jax.grad(theirs)
        # compiled: op by op, each primitive would compile for this test's one shape
        np.testing.assert_allclose(np.asarray(jax.jit(jax.vmap(ours))(xd)), np.asarray(jax.jit(jax.vmap(theirs))(xd)),
                                   rtol=1e-13, atol=0)
    assert float(jax.grad(centred)(0.0)) == 0.25 == float(jax.grad(jaxacts.sigmoid)(0.0))
    assert jaxacts.info("scaled_tanh").output_range == (-1.7159, 1.7159)


def test_scaled_tanh_against_jax_nn_tanh():
    for hp in ({}, {"a": 1.0, "b": 1.0}, {"a": 0.5, "b": 0.5}, {"a": -2.0, "b": 1.5}):
        a, b = hp.get("a", 1.7159), hp.get("b", 2.0 / 3.0)
        x = jnp.linspace(-4.0 / b, 4.0 / b, 801, dtype=jnp.float64)  # |bx| <= 4: autodiff's 1 - tanh^2 is accurate
        f = jaxacts.get("scaled_tanh", **hp)
        plain = lambda v: a * jax.nn.tanh(b * v)
        np.testing.assert_allclose(np.asarray(f(x)), np.asarray(plain(x)), rtol=1e-15, atol=0)
        np.testing.assert_allclose(np.asarray(grad_of(f)(x)), np.asarray(grad_of(plain)(x)), rtol=1e-12, atol=1e-15)
    x = jnp.linspace(-30.0, 30.0, 601, dtype=jnp.float64)
    chex.assert_trees_all_equal(jaxacts.scaled_tanh(x, a=1.0, b=1.0), jax.nn.tanh(x))
    assert float(jaxacts.scaled_tanh(1.0)) == pytest.approx(1.0, abs=3e-6)  # LeCun et al.: f(+-1) = +-1
    # Any finite a and b: 0 gives the zero function, negative values flip the sign.
    chex.assert_trees_all_equal(jaxacts.scaled_tanh(x, a=0.0), jnp.zeros_like(x))
    chex.assert_trees_all_equal(jaxacts.scaled_tanh(x, b=0.0), jnp.zeros_like(x))
    chex.assert_trees_all_close(jaxacts.scaled_tanh(x, b=-0.5), -jaxacts.scaled_tanh(x, b=0.5), rtol=1e-15)
    with pytest.raises(ValueError, match="b must be finite"):
        jaxacts.scaled_tanh(x, b=float("inf"))
