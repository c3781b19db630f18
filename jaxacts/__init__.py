"""jaxacts: activation functions in JAX, with hand-written derivatives, models and experiments.

Every activation is a pure function ``jaxacts.<name>(x, **hyperparameters)``; the registry gives
them by name: ``jaxacts.get("selu")``, ``jaxacts.derivative("selu")``, ``jaxacts.names()``,
``jaxacts.info("selu")`` (formula, range, properties, paper).
"""

from jaxacts._src import rng as _rng
from jaxacts._src.activations import (
    SELU_ALPHA,
    SELU_SCALE,
    celu,
    elu,
    gelu,
    glu,
    hard_sigmoid,
    hard_swish,
    hard_tanh,
    hardshrink,
    heaviside,
    identity,
    leaky_relu,
    lisht,
    log_sigmoid,
    maxout,
    mish,
    piecewise_linear,
    prelu,
    relu,
    relu6,
    rrelu,
    scaled_tanh,
    selu,
    sigmoid,
    sign,
    silu,
    snake,
    softplus,
    softshrink,
    softsign,
    sparse_plus,
    sparse_sigmoid,
    squareplus,
    tanh,
    tanhshrink,
    threshold,
)
from jaxacts._src.registry import ActivationInfo, derivative, get, info, names

swish = silu
hard_silu = hard_swish

__version__ = "0.1.0"

__all__ = [
    "ActivationInfo", "SELU_ALPHA", "SELU_SCALE", "celu", "derivative", "elu", "gelu", "get", "glu",
    "hard_sigmoid", "hard_silu", "hard_swish", "hard_tanh", "hardshrink", "heaviside", "identity", "info",
    "leaky_relu", "lisht", "log_sigmoid", "maxout", "mish", "names", "piecewise_linear", "prelu", "relu",
    "relu6", "rrelu", "scaled_tanh", "selu", "sigmoid", "sign", "silu", "snake", "softplus", "softshrink",
    "softsign", "sparse_plus", "sparse_sigmoid", "squareplus", "swish", "tanh", "tanhshrink", "threshold",
]

_rng.unroll_threefry_on_cpu()  # same random bits, drawn 1.3-2x faster on CPUs (jaxacts/_src/rng.py)
