"""Claim 3: tanh converges faster than sigmoid, because its outputs are zero-centred."""

from __future__ import annotations

import dataclasses

import numpy as np

from experiments.claims import common as C
from experiments.claims import speed

ID = "tanh_vs_sigmoid"
TITLE = "tanh converges faster than sigmoid, because zero-centred"
CLAIM = ("Hyperbolic tangent activations converge faster than the logistic sigmoid, because their outputs are "
         "zero-centred.")
SOURCE = "LeCun, Bottou, Orr and Mueller 1998, 'Efficient BackProp', section 4.4"
# sigmoid(x) - 1/2 = tanh(x/2)/2: zero-centred, with sigmoid's slope (1/4 at 0); tanh also has 4x the slope.
CENTRED = "scaled_tanh(a=0.5,b=0.5)"
EQUIVALENT = 1.25  # "centring explains the gap": centred sigmoid within a factor 1.25 of tanh, fixed before any run
RULE = ("Three arms: sigmoid, tanh, and a centred sigmoid (sigmoid - 1/2, the same slope as sigmoid, zero-centred), "
        "each at its learning rate tuned on tuning seeds to train fastest (" + C.RULE_LOWEST_MEAN_TRAINING_ERROR +
        "). The target: the lowest training error in the pre-registered grid that every arm reaches in every tuning "
        "seed at its chosen rate (fixed from the tuning seeds only). Statistic: paired ratios over evaluation seeds "
        f"of the steps to that target ({C.WINDOW_RULE}). Clause 'tanh is faster': sigmoid / tanh; supported if its "
        "95% interval lies above 1, contradicted if below 1. Clause 'zero-centring speeds training': sigmoid / centred "
        "sigmoid; supported above 1, contradicted below 1. Clause 'zero-centring is why tanh is faster': centred "
        f"sigmoid / tanh; supported if its interval lies inside [1/{EQUIVALENT:g}, {EQUIVALENT:g}] (centring alone "
        f"closes the gap), contradicted if it lies entirely above {EQUIVALENT:g} or below 1/{EQUIVALENT:g}. Otherwise "
        "a clause is inconclusive; a censored seed turns the interval into a bound, which the verdict respects. "
        + C.OVERALL_RULE)


@dataclasses.dataclass(frozen=True)
class Config:
    data: C.DataConfig = C.DataConfig()
    seeds: int = 8
    depth: int = 3
    width: int = 128
    optimizer: str = "momentum"
    lrs: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3, 1.0)
    tuning: C.Tuning = C.Tuning()
    epochs: int = 40
    batch_size: int = 100
    target_grid: tuple[float, ...] = (0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2)


QUICK = Config(data=C.DataConfig(train_subset=600), seeds=2, width=32, lrs=(0.1, 1.0), epochs=3,
               tuning=C.Tuning(seeds=2, max_extensions=1), target_grid=(0.9, 0.85, 0.8))


def run(config: Config) -> dict:
    arms = {"sigmoid": ("sigmoid", "glorot_normal"), "tanh": ("tanh", "glorot_normal"),
            "centred sigmoid": (CENTRED, "glorot_normal")}
    out = speed.compare(config, arms, {"depth": config.depth, "width": config.width},
                        C.choose_lowest_mean_training_error)
    target = speed.lowest_common_target(out, config.target_grid)
    targets = [t for t in config.target_grid if t >= target]
    pairs = {"sigmoid / tanh": speed.pair(out, "sigmoid", "tanh", target, targets),
             "sigmoid / centred": speed.pair(out, "sigmoid", "centred sigmoid", target, targets),
             "centred / tanh": speed.pair(out, "centred sigmoid", "tanh", target, targets)}
    above = lambda lo, hi: lo > 1.0
    below = lambda lo, hi: hi < 1.0
    clauses = [("tanh is faster", "sigmoid / tanh", speed.ratio_verdict(pairs["sigmoid / tanh"], above, below)),
               ("zero-centring speeds training", "sigmoid / centred",
                speed.ratio_verdict(pairs["sigmoid / centred"], above, below)),
               ("zero-centring is why tanh is faster", "centred / tanh",
                speed.ratio_verdict(pairs["centred / tanh"], lambda lo, hi: 1 / EQUIVALENT <= lo and hi <= EQUIVALENT,
                                    lambda lo, hi: lo > EQUIVALENT or hi < 1 / EQUIVALENT))]
    subs = [C.subverdict(c, v, f"steps to training error {target:g}, {k}", pairs[k]["ratio"], pairs[k]["ci95"])
            for c, k, v in clauses]
    main, cen = pairs["sigmoid / tanh"], pairs["sigmoid / centred"]
    share = float(np.log(cen["ratio"]) / np.log(main["ratio"])) if main["ratio"] > 1 else float("nan")
    return {
        "tested": f"{config.data.dataset}, MLP {config.depth}x{config.width}, SGD momentum",
        "protocol": {"data": f"{config.data.dataset} (validation {config.data.val_fraction:g} of training set)",
                     "model": f"MLP {config.depth} x {config.width}, Glorot normal init for all three arms",
                     "optimizer": f"{config.optimizer} (SGD with momentum 0.9), constant lr, batch {config.batch_size}, "
                                  f"{config.epochs} epochs",
                     "learning rates": f"grid {list(config.lrs)} per arm, {config.tuning.rule()}",
                     "seeds": config.seeds,
                     "target": f"{target:g}: the lowest of {list(config.target_grid)} every arm reached in every tuning seed"},
        "measurements": {**speed.measurements(out, pairs), "target": target, "centring_share": share},
        "statistic": {"name": f"steps to training error {target:g}, sigmoid / tanh", "value": main["ratio"]},
        "ci95": main["ci95"],
        "interval": C.interval_record("log", config.seeds, (main["steps_slow"], main["steps_fast"])),
        "tuning": out["tuning"], "subverdicts": subs,
        "effect": f"sigmoid needs {main['ratio']:.2f}x the steps of tanh [{main['ci95'][0]:.2f}, {main['ci95'][1]:.2f}]; "
                  f"centring alone gives {cen['ratio']:.2f}x [{cen['ci95'][0]:.2f}, {cen['ci95'][1]:.2f}] "
                  f"({share:.0%} of the log gap)",
        "details": speed.details(out, pairs) + [
            "", f"Share of tanh's advantage (log steps ratio) that centring alone gives: {share:.2f}. The rest is "
            "tanh's slope: tanh(x) = 2 sigmoid(2x) - 1 is both centred and four times as steep at 0."],
        "plot": speed.plot_data(out, pairs, "sigmoid / tanh"),
    }


def verdict(result: dict) -> str:
    return C.overall(result["subverdicts"])


def figure(result: dict, path: str) -> None:
    speed.figure(result, path, f"{TITLE}: training error, and the steps ratio against the target")
