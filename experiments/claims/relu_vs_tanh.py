"""Claim 4: a ReLU network reaches 25% training error about six times faster than a tanh network."""

from __future__ import annotations

import dataclasses

from experiments.claims import common as C
from experiments.claims import speed

ID = "relu_vs_tanh"
TITLE = "ReLU reaches 25% training error ~6x faster than tanh"
CLAIM = ("A four-layer convolutional neural network with ReLUs reaches a 25% training error rate on CIFAR-10 six "
         "times faster than an equivalent network with tanh neurons.")
SOURCE = "Krizhevsky, Sutskever and Hinton 2012, 'ImageNet classification with deep convolutional neural networks', Fig. 1"
LOW, HIGH = 3.0, 12.0  # "about 6x": within a factor of two, fixed before any run
RULE = ("Statistic: the paired ratio (geometric mean over evaluation seeds) of the steps tanh needs over the steps "
        f"ReLU needs to bring the training error to the paper's 25% ({C.WINDOW_RULE}), each activation at its "
        f"learning rate tuned to reach that training error soonest on tuning seeds. Clause 'ReLU is faster': "
        "supported if the 95% interval lies above 1, contradicted if below 1. Clause 'about six times': 'about 6x' "
        f"is read as within a factor of two: supported if the interval lies inside [{LOW:g}, {HIGH:g}], contradicted "
        f"if it lies entirely below {LOW:g} or entirely above {HIGH:g}. Otherwise a clause is inconclusive. A seed "
        "that never reaches the target counts as the budget + 1 step and the interval is then only a bound, which "
        "the verdict respects. " + C.OVERALL_RULE + " The verdict is about the network tested (see 'tested on'), "
        "not the paper's CIFAR-10 network.")


@dataclasses.dataclass(frozen=True)
class Config:
    data: C.DataConfig = C.DataConfig()
    seeds: int = 8
    channels: tuple[int, ...] = (32, 64)
    kernel_size: int = 5
    width: int = 256
    optimizer: str = "momentum"
    lrs: tuple[float, ...] = (0.003, 0.01, 0.03, 0.1)
    tuning: C.Tuning = C.Tuning()
    epochs: int = 12
    batch_size: int = 100
    target_error: float = 0.25
    error_targets: tuple[float, ...] = (0.5, 0.4, 0.3, 0.25, 0.2, 0.15)


QUICK = Config(data=C.DataConfig(train_subset=600), seeds=2, channels=(8,), width=32, lrs=(0.03, 0.1), epochs=3,
               tuning=C.Tuning(seeds=2, max_extensions=1), target_error=0.85, error_targets=(0.88, 0.85))


def run(config: Config) -> dict:
    model = {"kind": "cnn", "channels": config.channels, "kernel_size": config.kernel_size, "width": config.width}
    arms = {"tanh": ("tanh", "glorot_normal"), "ReLU": ("relu", "he_normal")}
    out = speed.compare(config, arms, model, lambda s: C.choose_fastest(s, config.target_error))
    p = speed.pair(out, "tanh", "ReLU", config.target_error, config.error_targets)
    wall = speed.wall_clock(out, "tanh", "ReLU", p)
    faster = speed.ratio_verdict(p, lambda lo, hi: lo > 1.0, lambda lo, hi: hi < 1.0)
    six = speed.ratio_verdict(p, lambda lo, hi: LOW <= lo and hi <= HIGH, lambda lo, hi: hi < LOW or lo > HIGH)
    name = f"steps to training error {config.target_error:g}, tanh / ReLU"
    data = config.data.dataset.upper() if config.data.dataset != "mnist1d" else "MNIST-1D"
    lo, hi = p["ci95"]
    return {
        "tested": f"{data}, CNN conv {list(config.channels)} + dense {config.width} (not the paper's CIFAR-10 4-layer CNN)",
        "protocol": {"data": f"{config.data.dataset} (validation {config.data.val_fraction:g} of training set)",
                     "model": f"CNN: conv {list(config.channels)} (kernel {config.kernel_size}, 2x max pool each), "
                              f"dense {config.width}; He normal init for ReLU, Glorot normal for tanh; no regularization",
                     "optimizer": f"{config.optimizer} (SGD with momentum 0.9), constant lr, batch {config.batch_size}, "
                                  f"{config.epochs} epochs",
                     "learning rates": f"grid {list(config.lrs)} per activation, {config.tuning.rule()}; rule: "
                                       f"{C.rule_fastest_training(config.target_error)}",
                     "seeds": config.seeds, "targets": f"training error {config.target_error:g} (the paper's 25%)"},
        "measurements": {**speed.measurements(out, {"tanh / ReLU": p}), "wall_clock": wall},
        "statistic": {"name": name, "value": p["ratio"]}, "ci95": p["ci95"],
        "interval": C.interval_record("log", config.seeds, (p["steps_slow"], p["steps_fast"])),
        "tuning": out["tuning"],
        "subverdicts": [C.subverdict("ReLU is faster", faster, name, p["ratio"], p["ci95"]),
                        C.subverdict("about six times faster", six, name, p["ratio"], p["ci95"])],
        "effect": f"tanh needs {p['ratio']:.2f}x the steps of ReLU [{lo:.2f}, {hi:.2f}] on {data} (paper: ~6x on "
                  f"CIFAR-10); wall-clock {wall['ratio']:.2f}x",
        "details": speed.details(out, {"tanh / ReLU": p}) + [
            "", f"Wall-clock to the target: {wall['ratio']:.3g} [{wall['ci95'][0]:.3g}, {wall['ci95'][1]:.3g}] (step time "
            f"ratio {wall['step_time_ratio']:.3f}: the median epoch of each sweep)."],
        "plot": speed.plot_data(out, {"tanh / ReLU": p}, "tanh / ReLU"),
    }


def verdict(result: dict) -> str:
    return C.overall(result["subverdicts"])


def figure(result: dict, path: str) -> None:
    speed.figure(result, path, f"{TITLE} (tested on {result['tested']}): training error, and the steps ratio "
                 "against the target")
