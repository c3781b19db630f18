"""Flax NNX models, activation layers, datasets and training (the library side of experiments/train.py)."""

from jaxacts._src import handwritten as two_layer_sigmoid
from jaxacts._src.data import DATASETS, Dataset, DataError, epoch_indices, load_dataset, read_idx
from jaxacts._src.layers import PARAMETRIC, LearnableSwish, PReLU, RReLU, dropout
from jaxacts._src.loop import (SELECTION_RULE, TrainConfig, TrainingDiverged, TrainingInterrupted, choose_setting,
                               config_from_dict, fit, param_vector, steps_to_threshold)
from jaxacts._src.models import CNN, MLP, ModelConfig, build_model
from jaxacts._src.train import (OPTIMIZERS, SCHEDULES, OptimConfig, TrainState, data_mesh, hidden_stats, init_state,
                                make_evaluate, make_optimizer, make_train_epoch, make_train_step, run_hyperparameters,
                                run_mesh, sweep_settings)

__all__ = [
    "CNN", "DATASETS", "DataError", "Dataset", "LearnableSwish", "MLP", "ModelConfig", "OPTIMIZERS", "OptimConfig",
    "PARAMETRIC", "PReLU", "RReLU", "SCHEDULES", "SELECTION_RULE", "TrainConfig", "TrainState", "TrainingDiverged", "TrainingInterrupted",
    "build_model", "choose_setting", "config_from_dict", "data_mesh", "dropout", "epoch_indices", "fit", "hidden_stats", "init_state",
    "load_dataset", "make_evaluate", "make_optimizer", "make_train_epoch", "make_train_step", "param_vector",
    "read_idx", "run_hyperparameters", "run_mesh", "steps_to_threshold", "sweep_settings", "two_layer_sigmoid",
]
