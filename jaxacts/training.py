"""Training with Optax: configs, the compiled train step and epoch, sweeps of settings x seeds in one
program, and ``fit`` (logs, checkpoints, resume, divergence, choosing a setting on a validation split)."""

from jaxacts._src.loop import (SELECTION_RULE, TrainConfig, TrainingDiverged, TrainingInterrupted, choose_setting,
                               config_differences, config_from_dict, fit, param_vector, read_log, saved_config,
                               setting_rows, steps_to_threshold, stop_requests)
from jaxacts._src.train import (DIVERGENCE_RULE, OPTIMIZERS, SCHEDULES, OptimConfig, TrainState, data_mesh,
                                hidden_stats, init_state, make_evaluate, make_optimizer, make_train_epoch,
                                make_train_step, put_replicated, run_hyperparameters, run_keys, run_mesh,
                                runs_sharding, scan_steps_by_default, sweep_settings)

__all__ = [
    "DIVERGENCE_RULE", "OPTIMIZERS", "OptimConfig", "SCHEDULES", "SELECTION_RULE", "TrainConfig", "TrainState",
    "TrainingDiverged", "TrainingInterrupted", "choose_setting", "config_differences", "config_from_dict",
    "data_mesh", "fit", "hidden_stats", "init_state", "make_evaluate", "make_optimizer", "make_train_epoch",
    "make_train_step", "param_vector", "put_replicated", "read_log", "run_hyperparameters", "run_keys", "run_mesh",
    "runs_sharding", "saved_config",
    "scan_steps_by_default",
    "setting_rows", "steps_to_threshold", "stop_requests", "sweep_settings",
]
