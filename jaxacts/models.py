"""Flax NNX models, activation layers, datasets and training (the library side of experiments/train.py)."""

from jaxacts._src import handwritten as two_layer_sigmoid
from jaxacts._src.data import DATASETS, Dataset, DataError, epoch_indices, load_dataset, read_idx
from jaxacts._src.layers import PARAMETRIC, LearnableSwish, PReLU, RReLU, dropout
from jaxacts._src.loop import TrainConfig, TrainingDiverged, fit, param_vector, steps_to_threshold
from jaxacts._src.models import CNN, MLP, ModelConfig, build_model
from jaxacts._src.train import (OPTIMIZERS, SCHEDULES, OptimConfig, TrainState, data_mesh, evaluate, init_state,
                                make_eval_step, make_optimizer, make_train_step)

__all__ = [
    "CNN", "DATASETS", "DataError", "Dataset", "LearnableSwish", "MLP", "ModelConfig", "OPTIMIZERS", "OptimConfig",
    "PARAMETRIC", "PReLU", "RReLU", "SCHEDULES", "TrainConfig", "TrainState", "TrainingDiverged", "build_model",
    "data_mesh", "dropout", "epoch_indices", "evaluate", "fit", "init_state", "load_dataset", "make_eval_step",
    "make_optimizer", "make_train_step", "param_vector", "read_idx", "steps_to_threshold", "two_layer_sigmoid",
]
