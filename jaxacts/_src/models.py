"""Flax NNX models built from any activation: an MLP and a CNN (1-D signals or 2-D images).

Models are called as ``model(x, train=..., key=...)``: ``key`` feeds dropout and RReLU in training,
so a training step stays a pure function of its inputs. Hyperparameters come from ``ModelConfig``.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
from flax import nnx

from jaxacts._src import init as initializers
from jaxacts._src import layers

NORMS = ("none", "batch", "layer")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Architecture of an MLP or CNN.

    Attributes:
      kind: ``mlp`` or ``cnn``.
      activation: a registry spec (``elu``, ``elu(alpha=0.5)``, a sweep ``elu(alpha=[0.5, 1.0])``, learned
        hyperparameters ``leaky_relu(negative_slope=learn(0.25, per_channel))``), or ``prelu``,
        ``prelu_shared``, ``silu_learnable`` (spellings of learned specs, see ``layers.LEARNABLE``; a value given
        with one, ``prelu(slope=0.3)``, is the learned value's start), ``maxout``.
      init: weight initializer name (``jaxacts.initializers``), for every dense and conv kernel;
        ``torch_default`` (PyTorch's default) also draws every bias from U(+-1/sqrt(fan_in)).
      bias_init: constant the hidden layers' biases start at (the head's start at 0), with every init
        but ``torch_default``.
      depth, width: hidden layers of the MLP (0: a linear classifier, logistic regression), units per
        layer (also the CNN's dense head width).
      norm: ``none``, ``batch`` or ``layer`` normalization before each activation.
      skip: residual connections h + f(Wh) between layers of equal width.
      dropout: ``none``, ``standard`` or ``alpha`` (for SELU nets), after each activation.
      dropout_rate: drop probability.
      maxout_pieces: linear pieces per Maxout unit (the layer's parameter count grows this many times).
      channels: CNN conv block output channels; each block is conv -> norm -> activation -> 2x max pool.
      kernel_size: CNN kernel size along each spatial axis.
    """

    kind: str = "mlp"
    activation: str = "relu"
    init: str = "he_normal"
    bias_init: float = 0.0
    depth: int = 2
    width: int = 128
    norm: str = "none"
    skip: bool = False
    dropout: str = "none"
    dropout_rate: float = 0.0
    maxout_pieces: int = 2
    channels: tuple[int, ...] = (32, 64)
    kernel_size: int = 3

    def __post_init__(self):
        if self.kind not in ("mlp", "cnn"):
            raise ValueError(f"model kind {self.kind!r} is not one of ('mlp', 'cnn')")
        layers.check_activation(self.activation)
        initializers.initializer(self.init)
        if self.bias_init != 0 and initializers.bias_initializer(self.init, 1) is not None:
            raise ValueError(f"init {self.init!r} draws the biases too (U(+-1/sqrt(fan_in)), as PyTorch); "
                             f"drop bias_init ({self.bias_init}) or choose another init")
        if self.norm not in NORMS:
            raise ValueError(f"norm {self.norm!r} is not one of {NORMS}")
        if self.dropout not in ("none", "standard", "alpha"):
            raise ValueError(f"dropout {self.dropout!r} is not one of ('none', 'standard', 'alpha')")
        if not 0.0 <= self.dropout_rate < 1.0:
            raise ValueError(f"dropout_rate must be in [0, 1), got {self.dropout_rate}")
        if self.depth < 0 or self.width < 1 or self.maxout_pieces < 1 or self.kernel_size < 1:
            raise ValueError("depth must be >= 0 (0: a linear classifier), width, maxout_pieces and kernel_size >= 1")
        if self.kind == "cnn" and (not self.channels or min(self.channels) < 1):
            raise ValueError(f"channels must be positive integers, got {self.channels}")


def _bias_init(config: ModelConfig, fan_in: int, constant: float):
    """A layer's bias initializer: the one ``config.init`` implies (torch_default), else ``constant``."""
    return initializers.bias_initializer(config.init, fan_in) or jax.nn.initializers.constant(constant)


def _norm(kind: str, features: int, rngs: nnx.Rngs):
    if kind == "batch":
        return nnx.BatchNorm(features, rngs=rngs)
    if kind == "layer":
        return nnx.LayerNorm(features, rngs=rngs)
    return None


class _Block(nnx.Module):
    """Linear map (dense or conv) -> optional norm -> activation (or maxout) -> dropout [-> + skip]."""

    def __init__(self, linear, features: int, config: ModelConfig, rngs: nnx.Rngs, skip: bool):
        self.linear = linear
        self.norm = _norm(config.norm, features * (config.maxout_pieces if config.activation == "maxout" else 1), rngs)
        self.maxout = config.activation == "maxout"
        self.pieces = config.maxout_pieces
        self.act = None if self.maxout else layers.make_activation(config.activation, features)
        self.dropout, self.rate, self.skip = config.dropout, config.dropout_rate, skip

    def __call__(self, x, *, train: bool, key):
        k_act, k_drop = jax.random.split(key) if key is not None else (None, None)
        z = self.linear(x)
        if self.norm is not None:
            z = self.norm(z, use_running_average=not train) if isinstance(self.norm, nnx.BatchNorm) else self.norm(z)
        h = jnp.max(z.reshape(z.shape[:-1] + (-1, self.pieces)), axis=-1) if self.maxout else self.act(z, train=train, key=k_act)
        h = layers.dropout(h, kind=self.dropout, rate=self.rate, train=train, key=k_drop)
        return x + h if self.skip else h


class MLP(nnx.Module):
    """Multilayer perceptron: ``depth`` blocks of ``width`` units, then a linear head.

    With ``activation="maxout"`` each block's linear map has ``width * maxout_pieces`` outputs,
    reduced by max over groups of ``maxout_pieces``: that many times the parameters of a plain block.
    """

    def __init__(self, in_features: int, num_classes: int, config: ModelConfig, *, rngs: nnx.Rngs):
        kernel_init = initializers.initializer(config.init)
        out = config.width * (config.maxout_pieces if config.activation == "maxout" else 1)
        # Batch norm subtracts the mean: a bias before it has zero gradient (and Adam would amplify its
        # rounding noise), so it is left out there; batch norm's own shift takes its place.
        use_bias = config.norm != "batch"
        blocks, features = [], in_features
        for _ in range(config.depth):
            linear = nnx.Linear(features, out, kernel_init=kernel_init, bias_init=_bias_init(config, features, config.bias_init),
                                use_bias=use_bias, rngs=rngs)
            blocks.append(_Block(linear, config.width, config, rngs, skip=config.skip and features == config.width))
            features = config.width
        self.blocks = nnx.List(blocks)
        self.head = nnx.Linear(features, num_classes, kernel_init=kernel_init, bias_init=_bias_init(config, features, 0.0),
                               rngs=rngs)

    def __call__(self, x, *, train: bool = False, key=None, return_hidden: bool = False):
        h = x.reshape(x.shape[0], -1).astype(self.head.kernel.dtype)  # inputs take the parameters' dtype
        hidden = []
        keys = jax.random.split(key, len(self.blocks)) if key is not None else [None] * len(self.blocks)
        for block, k in zip(self.blocks, keys):
            h = block(h, train=train, key=k)
            hidden.append(h)
        logits = self.head(h)
        return (logits, hidden) if return_hidden else logits


class CNN(nnx.Module):
    """Convolutional net for 1-D signals (length, channels) or 2-D images (height, width, channels).

    Each conv block is conv ('SAME') -> norm -> activation -> dropout -> 2x max pool (while the
    spatial size allows), then a dense block of ``width`` units and a linear head.
    """

    def __init__(self, input_shape: tuple[int, ...], num_classes: int, config: ModelConfig, *, rngs: nnx.Rngs):
        if len(input_shape) not in (2, 3):
            raise ValueError(f"CNN input must be (length, channels) or (height, width, channels), got {input_shape}")
        self.spatial = len(input_shape) - 1
        self.input_shape = tuple(input_shape)
        kernel_init = initializers.initializer(config.init)
        pieces = config.maxout_pieces if config.activation == "maxout" else 1
        blocks, in_ch, size, pools = [], input_shape[-1], list(input_shape[:-1]), []
        for ch in config.channels:
            fan_in = in_ch * config.kernel_size ** self.spatial
            conv = nnx.Conv(in_ch, ch * pieces, (config.kernel_size,) * self.spatial, kernel_init=kernel_init,
                            bias_init=_bias_init(config, fan_in, config.bias_init), use_bias=config.norm != "batch",
                            rngs=rngs)
            blocks.append(_Block(conv, ch, config, rngs, skip=config.skip and in_ch == ch))
            pool = min(size) >= 2
            pools.append(pool)
            size = [s // 2 for s in size] if pool else size
            in_ch = ch
        self.blocks = nnx.List(blocks)
        self.pools = tuple(pools)
        flat = in_ch * math.prod(size)
        dense = nnx.Linear(flat, config.width * pieces, kernel_init=kernel_init,
                           bias_init=_bias_init(config, flat, config.bias_init), use_bias=config.norm != "batch", rngs=rngs)
        self.dense = _Block(dense, config.width, dataclasses.replace(config, skip=False), rngs, skip=False)
        self.head = nnx.Linear(config.width, num_classes, kernel_init=kernel_init,
                               bias_init=_bias_init(config, config.width, 0.0), rngs=rngs)

    def __call__(self, x, *, train: bool = False, key=None, return_hidden: bool = False):
        keys = jax.random.split(key, len(self.blocks) + 1) if key is not None else [None] * (len(self.blocks) + 1)
        h, hidden = x.reshape((x.shape[0],) + self.input_shape).astype(self.head.kernel.dtype), []
        for block, pool, k in zip(self.blocks, self.pools, keys):
            h = block(h, train=train, key=k)
            hidden.append(h)
            if pool:
                h = nnx.max_pool(h, (2,) * self.spatial, strides=(2,) * self.spatial)
        h = self.dense(h.reshape(h.shape[0], -1), train=train, key=keys[-1])
        hidden.append(h)
        logits = self.head(h)
        return (logits, hidden) if return_hidden else logits


def build_model(config: ModelConfig, input_shape: tuple[int, ...], num_classes: int, key) -> nnx.Module:
    """An MLP or CNN for inputs of ``input_shape`` (one example, without the batch axis)."""
    rngs = nnx.Rngs(params=key)
    if config.kind == "mlp":
        return MLP(math.prod(input_shape), num_classes, config, rngs=rngs)
    return CNN(cnn_input_shape(tuple(input_shape)), num_classes, config, rngs=rngs)


def cnn_input_shape(input_shape: tuple[int, ...]) -> tuple[int, ...]:
    """How a CNN sees one example: (length,) -> (length, 1); (h, w) -> (h, w, 1); (h, w, c) unchanged."""
    if len(input_shape) == 1:
        return (input_shape[0], 1)
    if len(input_shape) == 2:
        return tuple(input_shape) + (1,)
    return tuple(input_shape)
