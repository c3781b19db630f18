"""The smoothness measure of claim 10 (top Hessian eigenvalue by power iteration on Hessian-vector
products) against dense Hessians, closed forms and finite differences (float64: conftest enables it); and
the seed split of claim 9's tuning."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from experiments.claims import ranking as R
from experiments.claims import smooth_depth as S


def test_hvp_matches_dense_hessian_of_a_quadratic():
    a = np.random.default_rng(0).normal(size=(5, 5))
    a = a + a.T  # symmetric: the Hessian of 0.5 x'Ax + sin-free terms is A
    loss = lambda x: 0.5 * x @ jnp.asarray(a) @ x + jnp.sum(x)
    v = jnp.arange(5.0)
    np.testing.assert_allclose(S.hessian_vector_product(loss, jnp.ones(5), v), a @ np.arange(5.0), rtol=1e-12)


def test_power_iteration_finds_largest_magnitude_eigenvalue_of_a_quadratic():
    q = np.linalg.qr(np.random.default_rng(1).normal(size=(6, 6)))[0]
    eig = np.array([-1.0, 0.5, 2.0, 3.0, -0.2, 7.0])  # closed form: the spectrum is chosen
    a = q @ np.diag(eig) @ q.T
    lam, res = S.top_hessian_eigenvalue(lambda x: 0.5 * x @ jnp.asarray(a) @ x, jnp.zeros(6), jax.random.key(0), 200)
    np.testing.assert_allclose(lam, 7.0, rtol=1e-10)
    assert res < 1e-8


def _tiny_loss():
    """Cross-entropy of a 4-3-3 tanh MLP on 7 examples, as a function of its flat parameters."""
    rng = np.random.default_rng(2)
    params = {"w1": rng.normal(size=(4, 3)), "b1": rng.normal(size=3) * 0.1, "w2": rng.normal(size=(3, 3)),
              "b2": np.zeros(3)}
    x, y = jnp.asarray(rng.normal(size=(7, 4))), jnp.asarray(rng.integers(0, 3, 7))
    flat, unravel = ravel_pytree(jax.tree.map(jnp.asarray, params))

    def loss(f):
        p = unravel(f)
        logits = jnp.tanh(x @ p["w1"] + p["b1"][None]) @ p["w2"] + p["b2"][None]
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    return loss, flat


def test_power_iteration_matches_dense_eigvalsh_on_a_tiny_model():
    loss, flat = _tiny_loss()
    dense = np.linalg.eigvalsh(np.asarray(jax.hessian(loss)(flat)))
    top = dense[np.argmax(np.abs(dense))]
    lam, res = S.top_hessian_eigenvalue(loss, flat, jax.random.key(3), 2000)
    np.testing.assert_allclose(lam, top, rtol=1e-6)
    assert res < 1e-3


def test_hvp_matches_finite_differences_of_the_gradient():
    loss, flat = _tiny_loss()
    v = jax.random.normal(jax.random.key(4), flat.shape, flat.dtype)
    h = 1e-5
    g = jax.grad(loss)
    fd = (g(flat + h * v) - g(flat - h * v)) / (2 * h)
    np.testing.assert_allclose(S.hessian_vector_product(loss, flat, v), fd, rtol=1e-6, atol=1e-9)


def test_seed_slice_keeps_the_named_seeds():
    import dataclasses
    from experiments.claims import common as C
    P, Sd, E = 2, 5, 3
    arr = np.arange(P * Sd * E, dtype=float).reshape(P, Sd, E)
    sweep = C.Sweep(settings=[{"lr": 1.0, "activation": "relu"}, {"lr": 2.0, "activation": "relu"}], seeds=Sd,
                    steps_per_epoch=1, train_loss=arr, train_error=arr, evals={"val_accuracy": arr},
                    final_train={"loss": arr[..., 0]}, diverged=np.zeros((P, Sd), bool), seconds=0.0,
                    epoch_seconds=np.zeros(E), graphdef=None, state=None)
    part = R.seed_slice(sweep, 3, 5)
    assert part.seeds == 2
    np.testing.assert_array_equal(part.evals["val_accuracy"], arr[:, 3:5])
    assert dataclasses.replace(part).diverged.shape == (P, 2)
