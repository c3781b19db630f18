"""PyTorch as an independent peer: values and gradients of every activation both libraries have, float64.

Conventions at kinks agree with torch 2.13 (leaky_relu'(0) = slope, where jax.nn gives 1). Two torch
quirks: heaviside has no derivative in torch (values only), and hardsigmoid's backward uses 1/6
rounded to float32 even in float64 (compared at float32 precision).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxacts
from tests.reference_formulas import kinks

torch = pytest.importorskip("torch")
F = torch.nn.functional

# registry name -> (torch function of a tensor, our hyperparameters)
TORCH = {
    "identity": (lambda t: t, {}),
    "sigmoid": (torch.sigmoid, {}),
    "log_sigmoid": (F.logsigmoid, {}),
    "hard_sigmoid": (F.hardsigmoid, {}),
    "tanh": (torch.tanh, {}),
    "scaled_tanh": (lambda t: 0.8 * torch.tanh(1.3 * t), {"a": 0.8, "b": 1.3}),
    "softsign": (F.softsign, {}),
    "hard_tanh": (lambda t: F.hardtanh(t, -2.0, 0.5), {"min_val": -2.0, "max_val": 0.5}),
    "relu": (F.relu, {}),
    "relu6": (F.relu6, {}),
    "leaky_relu": (lambda t: F.leaky_relu(t, 0.2), {"negative_slope": 0.2}),
    "rrelu": (lambda t: F.rrelu(t, 0.1, 0.3, training=False), {"lower": 0.1, "upper": 0.3}),
    "prelu": (lambda t: F.prelu(t, torch.tensor([0.25], dtype=t.dtype)), {}),
    "threshold": (lambda t: F.threshold(t, 0.5, -1.0), {"threshold": 0.5, "value": -1.0}),
    "elu": (lambda t: F.elu(t, 0.7), {"alpha": 0.7}),
    "selu": (F.selu, {}),
    "celu": (lambda t: F.celu(t, 2.0), {"alpha": 2.0}),
    "gelu": (F.gelu, {}),
    "silu": (F.silu, {}),
    "hard_swish": (F.hardswish, {}),
    "mish": (F.mish, {}),
    "softplus": (lambda t: F.softplus(t, beta=2.0, threshold=1e9), {"beta": 2.0}),
    "tanhshrink": (F.tanhshrink, {}),
    "softshrink": (lambda t: F.softshrink(t, 0.7), {"lambd": 0.7}),
    "hardshrink": (lambda t: F.hardshrink(t, 0.7), {"lambd": 0.7}),
    "sign": (torch.sign, {}),
    "heaviside": (lambda t: torch.heaviside(t, torch.tensor(0.5, dtype=t.dtype)), {}),
}
TORCH_CASES = sorted(TORCH)


@pytest.mark.parametrize("name", TORCH_CASES + ["gelu_tanh"])
def test_values_and_gradients_match_pytorch(name):
    if name == "gelu_tanh":
        torch_fn, hp, name = (lambda t: F.gelu(t, approximate="tanh")), {"approximate": True}, "gelu"
    else:
        torch_fn, hp = TORCH[name]
    x = np.linspace(-12.0, 12.0, 2401)
    for k in kinks(name, hp):
        x = x[np.abs(x - k) > 1e-3]
    t = torch.tensor(x, dtype=torch.float64, requires_grad=name != "heaviside")
    y_t = torch_fn(t)
    f = jaxacts.get(name, **hp)
    y = np.asarray(f(jnp.asarray(x)))
    np.testing.assert_allclose(y, y_t.detach().numpy(), rtol=1e-12, atol=1e-14)
    if name == "heaviside":
        return
    y_t.sum().backward()
    g = np.asarray(jax.vmap(jax.grad(lambda v: f(v)))(jnp.asarray(x)))
    rtol = 1e-7 if name == "hard_sigmoid" else 1e-10
    np.testing.assert_allclose(g, t.grad.numpy(), rtol=rtol, atol=1e-12)


def test_glu_matches_pytorch():
    x = np.random.default_rng(0).normal(size=(5, 8))
    np.testing.assert_allclose(np.asarray(jaxacts.glu(jnp.asarray(x))), F.glu(torch.tensor(x), dim=-1).numpy(),
                               rtol=1e-12)


def test_kink_conventions_against_pytorch():
    def torch_grad(fn, v):
        t = torch.tensor([v], dtype=torch.float64, requires_grad=True)
        fn(t).sum().backward()
        return float(t.grad[0])

    ours = lambda n, v, **hp: float(jax.grad(jaxacts.get(n, **hp))(jnp.float64(v)))
    assert ours("relu", 0.0) == torch_grad(F.relu, 0.0) == 0.0
    assert ours("leaky_relu", 0.0) == torch_grad(F.leaky_relu, 0.0) == 0.01
    assert ours("elu", 0.0) == torch_grad(F.elu, 0.0) == 1.0
    assert ours("relu6", 6.0) == torch_grad(F.relu6, 6.0) == 0.0
    assert ours("hard_tanh", 1.0) == torch_grad(F.hardtanh, 1.0) == 0.0
    assert ours("hard_swish", 3.0) == torch_grad(F.hardswish, 3.0) == 1.0
    assert ours("hard_swish", -3.0) == torch_grad(F.hardswish, -3.0) == 0.0
