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
RULE = ("Statistic: the paired ratio (geometric mean over seeds) of the steps tanh needs over the steps ReLU needs "
        "to bring the training error (moving average over one epoch) to 25%, each with its learning rate tuned to "
        f"train fastest. 'About 6x' is read as within a factor of two: supported if the 95% interval lies inside "
        f"[{LOW:g}, {HIGH:g}]; contradicted if it lies entirely below {LOW:g} or entirely above {HIGH:g}; otherwise "
        "inconclusive. Whether ReLU is faster at all (interval above 1) is reported beside it. A seed that never "
        "reaches the target counts as the budget + 1 step, and the interval is then only a bound, which the verdict "
        "respects (a censored slow side cannot show the ratio is small, a censored fast side that it is large).")


@dataclasses.dataclass(frozen=True)
class Config:
    data: C.DataConfig = C.DataConfig()
    seeds: int = 5
    channels: tuple[int, ...] = (32, 64)
    kernel_size: int = 5
    width: int = 256
    optimizer: str = "momentum"
    lrs: tuple[float, ...] = (0.003, 0.01, 0.03, 0.1)
    epochs: int = 20
    batch_size: int = 100
    tune_error: float = 0.25
    target_error: float = 0.25
    target_loss: float = 0.7
    error_targets: tuple[float, ...] = (0.5, 0.4, 0.3, 0.25, 0.2, 0.15)


QUICK = Config(data=C.DataConfig(train_subset=600), seeds=2, channels=(8,), width=32, lrs=(0.03, 0.1), epochs=2,
               tune_error=0.85, target_error=0.85, target_loss=2.2, error_targets=(0.88, 0.85))


def run(config: Config) -> dict:
    model = {"kind": "cnn", "channels": config.channels, "kernel_size": config.kernel_size, "width": config.width}
    out = speed.compare(config, "tanh", "relu", model)
    return speed.result(config, out, "tanh", "relu",
                        model=f"CNN: conv {list(config.channels)} (kernel {config.kernel_size}, 2x max pool each), "
                              f"dense {config.width}; He normal init for ReLU, Glorot normal for tanh; no regularization",
                        targets=f"training error {config.target_error:g} (the paper's 25%), training loss "
                                f"{config.target_loss:g}",
                        effect=f"wall-clock {out['wall']['ratio']:.2f}x", labels=("tanh", "ReLU"))


def verdict(result: dict) -> str:
    return speed.verdict(result, lambda lo, hi: LOW <= lo and hi <= HIGH, lambda lo, hi: hi < LOW or lo > HIGH)


def figure(result: dict, path: str) -> None:
    speed.figure(result, path, f"{TITLE} ({result['protocol']['data'].split(' ')[0]} CNN): training error, and the "
                 "steps ratio against the target")
