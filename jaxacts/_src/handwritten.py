"""The reference material's hand-written two-layer sigmoid network, with its manual gradients.

Forward: z1 = X W1, a1 = sigmoid(z1), z2 = a1 W2, a2 = sigmoid(z2). Backward: d2 = a2 - y,
d1 = d2 W2^T * a1 (1 - a1), dW2 = a1^T d2, dW1 = X^T d1. These are the exact gradients of the
binary cross-entropy summed over examples and outputs,
L = -sum[y log a2 + (1 - y) log(1 - a2)], because sigmoid + cross-entropy gives dL/dz2 = a2 - y.
"""

from __future__ import annotations

import jax.numpy as jnp

from jaxacts._src.activations import log_sigmoid, sigmoid


def forward(params, x):
    """(z1, a1, z2, a2) for params = (W1, W2) (no biases, as in the reference network)."""
    w1, w2 = params
    z1 = x @ w1
    a1 = sigmoid(z1)
    z2 = a1 @ w2
    return z1, a1, z2, sigmoid(z2)


def loss(params, x, y):
    """Binary cross-entropy summed over examples and outputs, from logits (stable)."""
    z2 = forward(params, x)[2]
    return -jnp.sum(y * log_sigmoid(z2) + (1.0 - y) * log_sigmoid(-z2))


def manual_gradients(params, x, y):
    """(dW1, dW2) by the hand-written backward pass."""
    w1, w2 = params
    _, a1, _, a2 = forward(params, x)
    d2 = a2 - y
    d1 = (d2 @ w2.T) * a1 * (1.0 - a1)
    return x.T @ d1, a1.T @ d2
