"""Claim 8: ELU learns faster than ReLU, but each step costs more.

``python -m experiments.claims --only elu_speed`` (about 3 minutes on two idle CPU cores). Steps to a
training-error target (learning rates tuned per activation on tuning seeds, evaluated on fresh seeds), and
the wall time of a training step and of an evaluation pass, each activation in its own compiled program,
timed alternately in one process on the device present. Clevert et al. 2015: ELU reached 20% top-5 error
on ImageNet in 160k iterations against ReLU's 200k, at about 5.8% more time per iteration.
"""

from __future__ import annotations

import dataclasses
import time

import jax
import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from experiments.claims import common as C  # noqa: E402
from experiments.claims import speed  # noqa: E402
from jaxacts import training as T  # noqa: E402
from jaxacts.models import ModelConfig  # noqa: E402

ID = "elu_speed"
TITLE = "ELU learns faster than ReLU but costs more per step"
CLAIM = ("ELUs lead to faster learning than ReLUs (ImageNet: 20% top-5 error after 160k iterations instead of 200k), "
         "although an ELU network takes somewhat more time per iteration (about 5.8%).")
SOURCE = "Clevert, Unterthiner and Hochreiter 2015, 'Fast and accurate deep network learning by exponential linear units'"
RULE = ("Two arms, ELU (alpha 1) and ReLU, both with He normal init, each at its learning rate tuned on tuning seeds "
        "to train fastest (" + C.RULE_LOWEST_MEAN_TRAINING_ERROR + "). The target: the lowest training error in the "
        "pre-registered grid that both arms reach in every tuning seed at their chosen rates (fixed from the tuning "
        "seeds only). Clause 'ELU learns faster': the paired ratio (geometric mean over evaluation seeds) of the steps "
        f"ReLU needs over the steps ELU needs to reach the target ({C.WINDOW_RULE}); supported if its 95% interval lies "
        "above 1, contradicted if below 1 (a censored seed turns the interval into a bound, which the verdict "
        "respects). Clause 'ELU costs more per step': the wall time of a training epoch (the same steps, batches and "
        "optimizer, one run, each activation compiled in its own program, timed alternately in one process after "
        "warm-up, the order swapped every repeat), as the paired ratio ELU / ReLU, geometric mean over timing repeats; "
        "supported if its 95% interval lies above 1, contradicted if below 1. That interval covers timing noise in "
        "this process on this device, not variation across machines. The same ratio for an evaluation pass over the "
        "test set (inference) is reported, not judged (the paper's figure is per training iteration). Otherwise a "
        "clause is inconclusive. " + C.OVERALL_RULE)
ARMS = {"ELU": ("elu", "he_normal"), "ReLU": ("relu", "he_normal")}


@dataclasses.dataclass(frozen=True)
class Config:
    data: C.DataConfig = C.DataConfig()
    seeds: int = 8
    depth: int = 4
    width: int = 128
    optimizer: str = "momentum"
    lrs: tuple[float, ...] = (0.003, 0.01, 0.03, 0.1)
    tuning: C.Tuning = C.Tuning(seeds=2, max_extensions=2)
    epochs: int = 10
    batch_size: int = 100
    target_grid: tuple[float, ...] = (0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1)
    timing_repeats: int = 30


QUICK = Config(data=C.DataConfig(train_subset=600), seeds=2, depth=2, width=32, lrs=(0.03, 0.1), epochs=3,
               tuning=C.Tuning(seeds=2, max_extensions=1), target_grid=(0.9, 0.85, 0.8), timing_repeats=3)


def time_alternately(calls: dict[str, callable], repeats: int, warmup: int = 2) -> dict[str, np.ndarray]:
    """Seconds of each call (which must block until its work is done), ``repeats`` times: each repeat times
    every call once, the order rotated every repeat (so drifting load falls on both alike); ``warmup``
    untimed rounds first (compilation, caches)."""
    names = list(calls)
    for _ in range(warmup):
        for n in names:
            calls[n]()
    out = {n: [] for n in names}
    for r in range(repeats):
        shift = r % len(names)
        for n in names[shift:] + names[:shift]:
            t0 = time.perf_counter()
            calls[n]()
            out[n].append(time.perf_counter() - t0)
    return {n: np.asarray(v) for n, v in out.items()}


def timing_programs(data, config: Config, activation: str, lr: float) -> tuple[callable, callable]:
    """(train_epoch, evaluate) for one run of the claim's MLP with ``activation`` alone (no run-time choice):
    each call runs a training epoch on the training set / an evaluation pass over the test set and blocks."""
    model = ModelConfig(activation=activation, init="he_normal", depth=config.depth, width=config.width)
    steps = data.x_train.shape[0] // config.batch_size
    tx, shape = T.make_optimizer(T.OptimConfig(optimizer=config.optimizer, lr=lr), 10 ** 6)
    keys, init_keys = T.run_keys(0, 1, 1, 0)
    graphdef, state = T.init_state(init_keys, model, data.example_shape, data.num_classes, tx)
    epoch_fn = T.make_train_epoch(graphdef, tx, shape, batch_size=config.batch_size,
                                  scan=T.scan_steps_by_default(model.kind))
    evaluate = T.make_evaluate(graphdef)
    x, y = jax.device_put(data.x_train), jax.device_put(data.y_train)
    xt, yt = jax.device_put(data.x_test), jax.device_put(data.y_test)
    box = {"state": state, "epoch": 0}

    def train_epoch():
        box["state"], metrics, _ = epoch_fn(box["state"], keys, box["epoch"], x, y, {})
        jax.block_until_ready((box["state"], metrics))
        box["epoch"] += 1

    def infer():
        jax.block_until_ready(evaluate(box["state"], xt, yt))

    assert steps > 0
    return train_epoch, infer


def run(config: Config) -> dict:
    model = {"depth": config.depth, "width": config.width}
    out = speed.compare(config, ARMS, model, C.choose_lowest_mean_training_error)
    target = speed.lowest_common_target(out, config.target_grid)
    targets = [t for t in config.target_grid if t >= target]
    p = speed.pair(out, "ReLU", "ELU", target, targets)
    learns = speed.ratio_verdict(p, lambda lo, hi: lo > 1.0, lambda lo, hi: hi < 1.0)

    data = C.load(config.data)
    programs = {a: timing_programs(data, config, ARMS[a][0], out["chosen_lr"][a]) for a in ARMS}
    train_s = time_alternately({a: programs[a][0] for a in ARMS}, config.timing_repeats)
    infer_s = time_alternately({a: programs[a][1] for a in ARMS}, config.timing_repeats)
    train_ratio, train_ci = C.paired_ratio(train_s["ELU"], train_s["ReLU"])
    infer_ratio, infer_ci = C.paired_ratio(infer_s["ELU"], infer_s["ReLU"])
    costs = C.interval_verdict(train_ci, lambda lo, hi: lo > 1.0, lambda lo, hi: hi < 1.0)
    steps_per_epoch = data.x_train.shape[0] // config.batch_size
    wall = {"ratio": p["ratio"] / train_ratio, "ci95": [c / train_ratio for c in p["ci95"]]}

    device = jax.devices()[0]
    device_name = f"{device.platform} ({getattr(device, 'device_kind', str(device))})"
    name = f"steps to training error {target:g}, ReLU / ELU"
    time_name = "training epoch wall time, ELU / ReLU"
    lo, hi = p["ci95"]
    subs = [C.subverdict("ELU learns faster", learns, name, p["ratio"], p["ci95"]),
            C.subverdict("ELU costs more per training step", costs, time_name, train_ratio, train_ci)]
    return {
        "tested": f"MNIST-1D, MLP {config.depth}x{config.width}, {config.optimizer}; timed on {device_name}",
        "protocol": {"data": f"{config.data.dataset} (validation {config.data.val_fraction:g} of training set)",
                     "model": f"MLP {config.depth} x {config.width}, He normal init for both; ELU alpha 1",
                     "optimizer": f"{config.optimizer} (SGD with momentum 0.9), constant lr, batch {config.batch_size}, "
                                  f"{config.epochs} epochs",
                     "learning rates": f"grid {list(config.lrs)} per activation, {config.tuning.rule()}; rule: "
                                       f"{C.RULE_LOWEST_MEAN_TRAINING_ERROR}",
                     "seeds": config.seeds,
                     "target": f"{target:g}: the lowest of {list(config.target_grid)} both arms reached in every "
                               "tuning seed",
                     "timing": f"{config.timing_repeats} alternating repeats after 2 warm-up rounds, one run per "
                               f"program: a training epoch ({steps_per_epoch} steps, no evaluation) and an evaluation "
                               f"pass over the {data.x_test.shape[0]} test examples; device {device_name}, "
                               f"{jax.device_count()} device(s)",
                     "device": device_name},
        "measurements": {**speed.measurements(out, {"ReLU / ELU": p}), "target": target,
                         "timing": {"device": device_name, "train_epoch_seconds": {a: C.as_list(v) for a, v in train_s.items()},
                                    "eval_seconds": {a: C.as_list(v) for a, v in infer_s.items()},
                                    "train_ratio": {"value": train_ratio, "ci95": train_ci},
                                    "inference_ratio": {"value": infer_ratio, "ci95": infer_ci},
                                    "steps_per_epoch": steps_per_epoch},
                         "wall_clock_to_target": wall},
        "statistic": {"name": name, "value": p["ratio"]}, "ci95": p["ci95"],
        "interval": C.interval_record("log", config.seeds, (p["steps_slow"], p["steps_fast"])),
        "tuning": out["tuning"], "subverdicts": subs,
        "effect": f"ReLU needs {p['ratio']:.2f}x ELU's steps [{lo:.2f}, {hi:.2f}] (paper 1.25); ELU step "
                  f"{train_ratio:.3f}x ReLU's [{train_ci[0]:.3f}, {train_ci[1]:.3f}] (paper ~1.058), inference "
                  f"{infer_ratio:.3f}x, on {device.platform}",
        "details": speed.details(out, {"ReLU / ELU": p}) + [
            "", f"Time per training epoch ({steps_per_epoch} steps) on {device_name}: ELU "
            f"{np.median(train_s['ELU']) * 1e3:.3g} ms, ReLU {np.median(train_s['ReLU']) * 1e3:.3g} ms (medians); ratio "
            f"ELU / ReLU {train_ratio:.4f} [{train_ci[0]:.4f}, {train_ci[1]:.4f}] over {config.timing_repeats} repeats.",
            f"Evaluation pass (inference) over the test set: ELU {np.median(infer_s['ELU']) * 1e3:.3g} ms, ReLU "
            f"{np.median(infer_s['ReLU']) * 1e3:.3g} ms; ratio {infer_ratio:.4f} [{infer_ci[0]:.4f}, {infer_ci[1]:.4f}] "
            "(reported, not judged).",
            f"Wall-clock to the target, ReLU / ELU (steps ratio over the step-time ratio): {wall['ratio']:.3g} "
            f"[{wall['ci95'][0]:.3g}, {wall['ci95'][1]:.3g}] (above 1: ELU arrives first in wall time too; the interval "
            "is the steps ratio's, scaled by the step-time ratio's point estimate)."],
        "plot": {**speed.plot_data(out, {"ReLU / ELU": p}, "ReLU / ELU"),
                 "timing": {"train": {a: C.as_list(v) for a, v in train_s.items()},
                            "inference": {a: C.as_list(v) for a, v in infer_s.items()}, "device": device_name}},
    }


def verdict(result: dict) -> str:
    return C.overall(result["subverdicts"])


def figure(result: dict, path: str) -> None:
    plot = result["plot"]
    fig, (ax_err, ax_ratio, ax_time) = plt.subplots(1, 3, figsize=(15, 4))
    speed.draw_curves(plot, ax_err, ax_ratio)
    timing = plot["timing"]
    for i, kind in enumerate(("train", "inference")):
        ratio = np.asarray(timing[kind]["ELU"], float) / np.asarray(timing[kind]["ReLU"], float)
        ax_time.scatter(np.full(ratio.shape, i) + np.linspace(-0.15, 0.15, len(ratio)), ratio, s=12)
        ax_time.errorbar(i + 0.3, np.exp(np.log(ratio).mean()), yerr=np.log(ratio).std(), fmt="o", color="k", capsize=3)
    ax_time.axhline(1.0, color="0.5", lw=1)
    ax_time.set_xticks([0, 1], ["training epoch", "evaluation pass"])
    ax_time.set_ylabel(f"wall time ELU / ReLU per repeat\n({timing['device']})")
    for ax in (ax_err, ax_ratio, ax_time):
        ax.grid(alpha=0.3)
    fig.suptitle(f"{TITLE} (tested on {result['tested']})", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
