"""Claim 6: leaky ReLU with slope 0.2 beats slope 0.01, and leaky ReLU is at least as good as ReLU."""

from __future__ import annotations

import dataclasses

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from experiments.claims import common as C  # noqa: E402
from jaxacts.models import ModelConfig  # noqa: E402
from jaxacts.specs import expand_spec  # noqa: E402

ID = "leaky_slope"
TITLE = "Leaky ReLU: slope 0.2 beats 0.01, and is at least as good as ReLU"
CLAIM = ("Leaky ReLU with a large negative slope (1/5.5) outperforms the usual small slope (1/100), and leaky "
         "ReLU is at least as good as ReLU.")
SOURCE = "Xu, Wang, Chen and Li 2015, 'Empirical evaluation of rectified activations in convolutional network'"
MARGIN = 0.01  # non-inferiority margin in test accuracy (1 percentage point), fixed before any run
RULE = ("Test accuracy is judged as the mean over the last 5 epochs of each run (not one endpoint of curves that "
        "cross), on 48 evaluation seeds, each slope at its learning rate tuned on tuning seeds for the same quantity "
        "on the validation split. Clause 'slope 0.2 beats 0.01': the paired difference leaky(0.2) minus leaky(0.01); "
        "supported if its 95% interval lies above 0, contradicted if below 0. Clause 'leaky ReLU is at least as good "
        f"as ReLU': leaky(0.2) minus ReLU; supported if its interval lies above -{MARGIN} (non-inferior), "
        f"contradicted if it lies entirely below -{MARGIN}. Otherwise a clause is inconclusive. " + C.OVERALL_RULE)

# ReLU is leaky ReLU with slope 0 (the same function, value and derivative): the three train in one program.
SLOPES = {"relu": 0.0, "leaky 0.01": 0.01, "leaky 0.2": 0.2}
ACTIVATIONS = tuple(SLOPES)
SPEC = f"leaky_relu(negative_slope=[{','.join(map(str, SLOPES.values()))}])"


@dataclasses.dataclass(frozen=True)
class Config:
    data: C.DataConfig = C.DataConfig()
    seeds: int = 48  # differences of a percentage point need this many for an interval that decides
    depth: int = 3
    width: int = 128
    optimizer: str = "adam"
    lrs: tuple[float, ...] = (3e-4, 1e-3, 3e-3, 1e-2)
    tuning: C.Tuning = C.Tuning()
    epochs: int = 40
    last_epochs: int = 5
    batch_size: int = 100


QUICK = Config(data=C.DataConfig(train_subset=600), seeds=2, lrs=(1e-3, 1e-2), epochs=2, last_epochs=2, width=32,
               tuning=C.Tuning(seeds=2, max_extensions=1))


def run(config: Config) -> dict:
    data = C.load(config.data)
    specs = dict(zip(ACTIVATIONS, expand_spec(SPEC)))
    model = ModelConfig(activation=SPEC, init="he_normal", depth=config.depth, width=config.width)

    def train(lrs_by_arm, seeds, first_seed):
        settings = [(lr, specs[arm]) for arm, lrs in lrs_by_arm.items() for lr in lrs]
        sweep = C.train_sweep(data, model, config.optimizer, settings=settings, epochs=config.epochs,
                              batch_size=config.batch_size, seeds=seeds, first_seed=first_seed)
        return {arm: sweep.of(specs[arm]) for arm in lrs_by_arm}

    chosen, tuning = C.tune(train, {a: config.lrs for a in ACTIVATIONS},
                            lambda s: C.choose_by_validation(s, last=config.last_epochs), config.tuning, config.seeds)
    sweeps = train({a: [chosen[a]] for a in ACTIVATIONS}, config.seeds, 0)
    per = {a: {"test_accuracy": s.evals["test_accuracy"][0, :, -config.last_epochs:].mean(axis=-1),
               "train_loss": s.final_train["loss"][0], "test_curve": s.evals["test_accuracy"][0].mean(axis=0)}
           for a, s in sweeps.items()}
    hi, lo, relu = (per[a]["test_accuracy"] for a in ("leaky 0.2", "leaky 0.01", "relu"))
    value, ci = C.paired_difference(hi, lo)
    ni_value, ni_ci = C.paired_difference(hi, relu)
    name = f"test accuracy (mean of the last {config.last_epochs} epochs), leaky(0.2) - leaky(0.01)"
    subs = [C.subverdict("slope 0.2 beats 0.01", C.interval_verdict(ci, lambda l, h: l > 0, lambda l, h: h < 0),
                         name, value, ci),
            C.subverdict("leaky ReLU at least as good as ReLU", C.interval_verdict(
                ni_ci, lambda l, h: l > -MARGIN, lambda l, h: h < -MARGIN),
                f"test accuracy (mean of the last {config.last_epochs} epochs), leaky(0.2) - ReLU", ni_value, ni_ci)]
    details = ["| activation | lr chosen | test accuracy (last-epochs mean) | final training loss |", "|---|---|---|---|"]
    details += [f"| {a} | {chosen[a]:g} | {C.mean_sd(per[a]['test_accuracy'])} | {C.mean_sd(per[a]['train_loss'])} |"
                for a in ACTIVATIONS]
    details += ["", f"leaky(0.2) - ReLU test accuracy: {ni_value:+.4f}, 95% CI [{ni_ci[0]:+.4f}, {ni_ci[1]:+.4f}] "
                f"(non-inferiority margin -{MARGIN})."]
    return {
        "tested": f"{config.data.dataset}, MLP {config.depth}x{config.width}, {config.optimizer}",
        "protocol": {"data": f"{config.data.dataset} (validation {config.data.val_fraction:g} of training set)",
                     "model": f"MLP {config.depth} x {config.width}, He normal init; ReLU trained as leaky slope 0 (identical)",
                     "optimizer": f"{config.optimizer}, constant lr, batch {config.batch_size}, {config.epochs} epochs",
                     "learning rates": f"grid {list(config.lrs)} per activation, {config.tuning.rule()}; rule: "
                                       f"{C.rule_best_validation(config.last_epochs)}",
                     "seeds": config.seeds},
        "measurements": {a: {"test_accuracy": C.as_list(per[a]["test_accuracy"]),
                             "train_loss": C.as_list(per[a]["train_loss"])} for a in ACTIVATIONS},
        "statistic": {"name": name, "value": value}, "ci95": ci,
        "interval": C.interval_record("linear", config.seeds, (hi, lo)), "tuning": tuning, "subverdicts": subs,
        "effect": f"{value:+.4f} accuracy [{ci[0]:+.4f}, {ci[1]:+.4f}]; vs ReLU {ni_value:+.4f} "
                  f"[{ni_ci[0]:+.4f}, {ni_ci[1]:+.4f}]",
        "details": details,
        "plot": {a: {"test_accuracy": C.as_list(per[a]["test_accuracy"]), "test_curve": C.as_list(per[a]["test_curve"]),
                     "train_loss": C.as_list(per[a]["train_loss"])} for a in ACTIVATIONS},
    }


def verdict(result: dict) -> str:
    return C.overall(result["subverdicts"])


def figure(result: dict, path: str) -> None:
    fig, (ax_acc, ax_curve) = plt.subplots(1, 2, figsize=(11, 4))
    plot = result["plot"]
    for i, (act, d) in enumerate(plot.items()):
        acc = np.asarray(d["test_accuracy"], float)
        ax_acc.scatter(np.full(acc.shape, i) + np.linspace(-0.1, 0.1, len(acc)), acc, s=14)
        ax_acc.errorbar(i + 0.25, acc.mean(), yerr=acc.std(), fmt="o", color="k", capsize=3)
        ax_curve.plot(np.arange(1, len(d["test_curve"]) + 1), d["test_curve"], label=act)
    ax_acc.set_xticks(range(len(plot)), [a.replace("(negative_slope=", "(") for a in plot], fontsize=8)
    ax_acc.set_ylabel("test accuracy, mean of the last epochs\n(one dot per seed)")
    ax_curve.set_xlabel("epoch")
    ax_curve.set_ylabel("test accuracy (mean over seeds)")
    ax_curve.legend(fontsize=8)
    for ax in (ax_acc, ax_curve):
        ax.grid(alpha=0.3)
    fig.suptitle(f"{TITLE} (lr tuned per activation on validation)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
