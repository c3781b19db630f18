"""Flax NNX models from any activation: MLP and CNN built from a ``ModelConfig``, the layers with
learned activation parameters, dropout, and the hand-written two-layer sigmoid network.

Data lives in :mod:`jaxacts.data`, training in :mod:`jaxacts.training`.
"""

from jaxacts._src import handwritten as two_layer_sigmoid
from jaxacts._src.layers import PARAMETRIC, LearnableSwish, PReLU, RReLU, dropout
from jaxacts._src.models import CNN, MLP, NORMS, ModelConfig, build_model

__all__ = ["CNN", "LearnableSwish", "MLP", "ModelConfig", "NORMS", "PARAMETRIC", "PReLU", "RReLU", "build_model",
           "dropout", "two_layer_sigmoid"]
