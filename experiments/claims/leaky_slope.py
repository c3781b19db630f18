"""Claim 6: leaky ReLU with slope 0.2 beats slope 0.01, and leaky ReLU is at least as good as ReLU."""

from __future__ import annotations

import dataclasses

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from experiments.claims import common as C  # noqa: E402
from jaxacts.models import ModelConfig  # noqa: E402

ID = "leaky_slope"
TITLE = "Leaky ReLU: slope 0.2 beats 0.01, and is at least as good as ReLU"
CLAIM = ("Leaky ReLU with a large negative slope (1/5.5) outperforms the usual small slope (1/100), and leaky "
         "ReLU is at least as good as ReLU.")
SOURCE = "Xu, Wang, Chen and Li 2015, 'Empirical evaluation of rectified activations in convolutional network'"
MARGIN = 0.01  # non-inferiority margin in test accuracy (1 percentage point), fixed before any run
RULE = ("Primary: the paired difference in final test accuracy, leaky(0.2) minus leaky(0.01), over seeds. "
        "Supported if its 95% interval lies above 0 AND leaky(0.2) is non-inferior to ReLU (the interval of "
        f"leaky(0.2) minus ReLU lies above -{MARGIN}); contradicted if the primary interval lies below 0 or the "
        f"non-inferiority interval lies entirely below -{MARGIN}; otherwise inconclusive.")

# ReLU is leaky ReLU with slope 0 (the same function, value and derivative): the three train in one program.
SLOPES = {"relu": 0.0, "leaky 0.01": 0.01, "leaky 0.2": 0.2}
ACTIVATIONS = tuple(SLOPES)


@dataclasses.dataclass(frozen=True)
class Config:
    data: C.DataConfig = C.DataConfig()
    seeds: int = 16  # differences of a percentage point need this many for an interval that decides
    depth: int = 3
    width: int = 128
    optimizer: str = "adam"
    lrs: tuple[float, ...] = (3e-4, 1e-3, 3e-3, 1e-2)
    epochs: int = 40
    batch_size: int = 100


QUICK = Config(data=C.DataConfig(train_subset=600), seeds=2, lrs=(1e-3, 1e-2), epochs=2, width=32)


def run(config: Config) -> dict:
    data = C.load(config.data)
    spec = f"leaky_relu(negative_slope=[{','.join(map(str, SLOPES.values()))}])"
    model = ModelConfig(activation=spec, init="he_normal", depth=config.depth, width=config.width)
    both = C.train_sweep(data, model, config.optimizer, config.lrs, epochs=config.epochs,
                         batch_size=config.batch_size, seeds=config.seeds)
    per, chosen_lr = {}, {}
    for act, spec in zip(ACTIVATIONS, both.activations()):
        sweep = both.of(spec)
        p = C.choose_by_validation(sweep)
        chosen_lr[act] = sweep.lrs[p]
        per[act] = {"test_accuracy": sweep.evals["test_accuracy"][p, :, -1],
                    "train_loss": sweep.final_train["loss"][p],
                    "val_accuracy_by_lr": sweep.evals["val_accuracy"][:, :, -1].mean(axis=1),
                    "test_curve": sweep.evals["test_accuracy"][p].mean(axis=0)}
    hi, lo, relu = (per[a]["test_accuracy"] for a in (ACTIVATIONS[2], ACTIVATIONS[1], ACTIVATIONS[0]))
    value, ci = C.paired_difference(hi, lo)
    ni_value, ni_ci = C.paired_difference(hi, relu)
    details = ["| activation | lr chosen | test accuracy | final training loss |", "|---|---|---|---|"]
    details += [f"| {a} | {chosen_lr[a]:g} | {C.mean_sd(per[a]['test_accuracy'])} | {C.mean_sd(per[a]['train_loss'])} |"
                for a in ACTIVATIONS]
    details += ["", f"leaky(0.2) - ReLU test accuracy: {ni_value:+.4f}, 95% CI [{ni_ci[0]:+.4f}, {ni_ci[1]:+.4f}] "
                f"(non-inferiority margin -{MARGIN})."]
    return {
        "protocol": {"data": f"{config.data.dataset} (validation {config.data.val_fraction:g} of training set)",
                     "model": f"MLP {config.depth} x {config.width}, He normal init; ReLU trained as leaky slope 0 (identical)",
                     "optimizer": f"{config.optimizer}, constant lr, batch {config.batch_size}, {config.epochs} epochs",
                     "learning rates": f"grid {list(config.lrs)} per activation; rule: {C.RULE_BEST_VALIDATION}",
                     "chosen": {a: chosen_lr[a] for a in ACTIVATIONS}, "seeds": config.seeds},
        "measurements": {a: {"test_accuracy": C.as_list(per[a]["test_accuracy"]),
                             "train_loss": C.as_list(per[a]["train_loss"])} for a in ACTIVATIONS},
        "statistic": {"name": "test accuracy, leaky(0.2) - leaky(0.01) (paired mean)", "value": value},
        "ci95": ci, "non_inferiority": {"difference": ni_value, "ci95": ni_ci, "margin": MARGIN},
        "effect": f"{value:+.4f} accuracy [{ci[0]:+.4f}, {ci[1]:+.4f}]; vs ReLU {ni_value:+.4f} "
                  f"[{ni_ci[0]:+.4f}, {ni_ci[1]:+.4f}]",
        "details": details,
        "plot": {a: {"test_accuracy": C.as_list(per[a]["test_accuracy"]), "test_curve": C.as_list(per[a]["test_curve"]),
                     "train_loss": C.as_list(per[a]["train_loss"])} for a in ACTIVATIONS},
    }


def verdict(result: dict) -> str:
    low, high = result["ci95"]
    ni_low, ni_high = result["non_inferiority"]["ci95"]
    if low > 0 and ni_low > -MARGIN:
        return "supported"
    if high < 0 or ni_high < -MARGIN:
        return "contradicted"
    return "inconclusive"


def figure(result: dict, path: str) -> None:
    fig, (ax_acc, ax_curve) = plt.subplots(1, 2, figsize=(11, 4))
    plot = result["plot"]
    for i, (act, d) in enumerate(plot.items()):
        acc = np.asarray(d["test_accuracy"], float)
        ax_acc.scatter(np.full(acc.shape, i) + np.linspace(-0.1, 0.1, len(acc)), acc, s=14)
        ax_acc.errorbar(i + 0.25, acc.mean(), yerr=acc.std(), fmt="o", color="k", capsize=3)
        ax_curve.plot(np.arange(1, len(d["test_curve"]) + 1), d["test_curve"], label=act)
    ax_acc.set_xticks(range(len(plot)), [a.replace("(negative_slope=", "(") for a in plot], fontsize=8)
    ax_acc.set_ylabel("final test accuracy (one dot per seed)")
    ax_curve.set_xlabel("epoch")
    ax_curve.set_ylabel("test accuracy (mean over seeds)")
    ax_curve.legend(fontsize=8)
    for ax in (ax_acc, ax_curve):
        ax.grid(alpha=0.3)
    fig.suptitle(f"{TITLE} (lr tuned per activation on validation)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
