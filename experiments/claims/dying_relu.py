"""Claim 5: ReLU units die, and more of them at large learning rates."""

from __future__ import annotations

import dataclasses

import jax
import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from experiments.claims import common as C  # noqa: E402
from jaxacts import training as T  # noqa: E402
from jaxacts.models import ModelConfig  # noqa: E402

ID = "dying_relu"
TITLE = "ReLU units die, worse at large learning rates"
CLAIM = ("ReLU units can irreversibly die during training: with a learning rate set too high, as much as 40% of a "
         "network can be 'dead' (never active on the whole training set). Leaky ReLU and ELU avoid it.")
SOURCE = "Karpathy, Stanford CS231n notes, 'Neural Networks Part 1: Setting up the Architecture' (2015)"
RULE = ("A unit is dead when its activation is <= 0 on every training example (for leaky ReLU and ELU: its input "
        "is never positive). Statistic: with plain SGD, ReLU's dead fraction (largest over layers, per seed) at the "
        "largest learning rate of the grid at which no ReLU seed diverged, minus the same at the smallest rate "
        "(paired over seeds). Supported if its 95% interval lies above 0.1 AND at that rate ReLU has more dead "
        "units than leaky ReLU and than ELU (paired intervals above 0); contradicted if the statistic's interval "
        "lies below 0.02 (no growth with the learning rate); otherwise inconclusive (also when ReLU diverged at every "
        "rate above the smallest).")

ACTIVATIONS = {"relu": "leaky_relu(negative_slope=0.0)", "leaky 0.01": "leaky_relu(negative_slope=0.01)",
               "elu": "elu"}


@dataclasses.dataclass(frozen=True)
class Config:
    data: C.DataConfig = C.DataConfig()
    seeds: int = 5
    depth: int = 2
    width: int = 128
    sgd_lrs: tuple[float, ...] = (0.03, 0.1, 0.3, 1.0, 2.0, 3.0)
    adam_lrs: tuple[float, ...] = (1e-3, 3e-3, 1e-2, 3e-2, 0.1)  # () skips Adam
    epochs: int = 20
    batch_size: int = 100


QUICK = Config(data=C.DataConfig(train_subset=600), seeds=2, width=32, sgd_lrs=(0.1, 3.0), adam_lrs=(), epochs=2)


def _dead(sweep: C.Sweep, x: np.ndarray) -> np.ndarray:
    """(settings, seeds, layers) dead fractions on ``x`` (the whole training set), every setting of the sweep."""
    stats = T.hidden_stats(sweep.graphdef, sweep.state, jax.device_put(x))["dead_fraction"]
    return np.asarray(stats, np.float64).reshape(-1, sweep.seeds, stats.shape[-1])


def run(config: Config) -> dict:
    data = C.load(config.data)
    results = {}
    for optimizer, lrs in (("sgd", config.sgd_lrs), ("adam", config.adam_lrs)):
        if not lrs:
            continue
        sweeps, dead = {}, {}
        # ReLU is leaky ReLU with slope 0 (identical): ReLU and leaky ReLU train in one program.
        for spec in ("leaky_relu(negative_slope=[0.0,0.01])", "elu"):
            model = ModelConfig(activation=spec, init="he_normal", depth=config.depth, width=config.width)
            sweep = C.train_sweep(data, model, optimizer, lrs, epochs=config.epochs, batch_size=config.batch_size,
                                  seeds=config.seeds)
            every = _dead(sweep, data.x_train)
            for act in sweep.activations():
                sweeps[act] = sweep.of(act)
                dead[act] = every[list(sweeps[act].index)]
        results[optimizer] = {
            name: {"dead": dead[spec], "diverged": sweeps[spec].diverged,
                   "test_accuracy": sweeps[spec].evals["test_accuracy"][..., -1]}
            for name, spec in ACTIVATIONS.items()}
    sgd = results["sgd"]
    lowest = int(np.argmin(config.sgd_lrs))
    stable = [p for p in range(len(config.sgd_lrs)) if not sgd["relu"]["diverged"][p].any()]
    top = max(stable, key=lambda p: config.sgd_lrs[p]) if stable else lowest
    worst = lambda name, p: sgd[name]["dead"][p].max(axis=-1)  # (seeds,): the deadest layer
    value, ci = C.paired_difference(worst("relu", top), worst("relu", lowest))
    vs = {name: C.paired_difference(worst("relu", top), worst(name, top)) for name in ("leaky 0.01", "elu")}
    diverged_there = {name: int(sgd[name]["diverged"][top].sum()) for name in ACTIVATIONS}
    half = {}
    runs = [(opt, lrs) for opt, lrs in (("sgd", config.sgd_lrs), ("adam", config.adam_lrs)) if lrs]
    for opt, lrs in runs:
        for name in ACTIVATIONS:
            layer_means = results[opt][name]["dead"].mean(axis=1)  # (lrs, layers)
            hit = [lr for lr, m in zip(lrs, layer_means) if m.max() >= 0.5]
            half[f"{opt} {name}"] = hit[0] if hit else None
    details = []
    for opt, lrs in runs:
        details += [f"**{opt}** — dead fraction per hidden layer (mean over seeds) / test accuracy:", "",
                    "| lr | " + " | ".join(ACTIVATIONS) + " |", "|---|" + "---|" * len(ACTIVATIONS)]
        for p, lr in enumerate(lrs):
            cells = []
            for name in ACTIVATIONS:
                r = results[opt][name]
                dead = ", ".join(f"{v:.2f}" for v in r["dead"][p].mean(axis=0))
                div = f" ({int(r['diverged'][p].sum())} diverged)" if r["diverged"][p].any() else ""
                cells.append(f"{dead} / {r['test_accuracy'][p].mean():.3f}{div}")
            details.append(f"| {lr:g} | " + " | ".join(cells) + " |")
        details.append("")
    details += ["Smallest learning rate at which some layer has half its units dead (mean over seeds): " + ", ".join(
        f"{k}: {v if v is not None else 'none in the grid'}" for k, v in half.items()) + ".",
        "", f"At SGD lr {config.sgd_lrs[top]:g}: ReLU minus leaky ReLU dead fraction {vs['leaky 0.01'][0]:+.3f} "
        f"[{vs['leaky 0.01'][1][0]:+.3f}, {vs['leaky 0.01'][1][1]:+.3f}]; ReLU minus ELU {vs['elu'][0]:+.3f} "
        f"[{vs['elu'][1][0]:+.3f}, {vs['elu'][1][1]:+.3f}]. Seeds diverged at that rate: "
        + ", ".join(f"{k} {v}/{config.seeds}" for k, v in diverged_there.items()) + ". A diverged run is held at "
        "its last finite epoch and its dead units are counted there: where leaky ReLU or ELU diverged, they did not "
        "avoid dying by training well, and the comparison says less than the rule's words suggest."]
    return {
        "protocol": {"data": f"{config.data.dataset} (whole training set for dead units)",
                     "model": f"MLP {config.depth} x {config.width}, He normal init",
                     "optimizer": f"plain SGD over {list(config.sgd_lrs)} and Adam over {list(config.adam_lrs)}; "
                                  f"constant lr, batch {config.batch_size}, {config.epochs} epochs",
                     "learning rates": "the variable of the claim (no tuning)", "seeds": config.seeds,
                     "compared at": f"SGD lr {config.sgd_lrs[top]:g} (largest without a diverged ReLU seed)"},
        "measurements": {opt: {name: {"dead_fraction": C.as_list(r["dead"]), "diverged": r["diverged"].tolist(),
                                      "test_accuracy": C.as_list(r["test_accuracy"])} for name, r in res.items()}
                         for opt, res in results.items()},
        "statistic": {"name": f"ReLU dead fraction (deadest layer), SGD lr {config.sgd_lrs[top]:g} minus lr "
                              f"{config.sgd_lrs[lowest]:g}", "value": value},
        "ci95": ci, "compared": top != lowest, "diverged_at_comparison": diverged_there, "versus": {k: {"difference": d, "ci95": c} for k, (d, c) in vs.items()}, "half_dead_lr": half,
        "effect": f"{value:+.2f} of the deadest layer [{ci[0]:+.2f}, {ci[1]:+.2f}] from lr {config.sgd_lrs[lowest]:g} "
                  f"to {config.sgd_lrs[top]:g} (where leaky {diverged_there['leaky 0.01']}/{config.seeds} and ELU "
                  f"{diverged_there['elu']}/{config.seeds} seeds diverged)",
        "details": details,
        "plot": {"lrs": {opt: list(lrs) for opt, lrs in runs},
                 "dead": {opt: {n: C.as_list(r["dead"].max(axis=-1).mean(axis=1)) for n, r in res.items()}
                          for opt, res in results.items()},
                 "accuracy": {opt: {n: C.as_list(r["test_accuracy"].mean(axis=1)) for n, r in res.items()}
                              for opt, res in results.items()}},
    }


def verdict(result: dict) -> str:
    if not result["compared"]:  # ReLU diverged at every rate above the smallest: nothing to compare
        return "inconclusive"
    low, high = result["ci95"]
    if low > 0.1 and all(v["ci95"][0] > 0 for v in result["versus"].values()):
        return "supported"
    if high < 0.02:
        return "contradicted"
    return "inconclusive"


def figure(result: dict, path: str) -> None:
    plot = result["plot"]
    fig, axes = plt.subplots(2, len(plot["lrs"]), figsize=(5.5 * len(plot["lrs"]), 7), sharex="col", squeeze=False)
    for col, opt in enumerate(plot["lrs"]):
        lrs = plot["lrs"][opt]
        for name in plot["dead"][opt]:
            axes[0, col].plot(lrs, plot["dead"][opt][name], marker="o", label=name)
            axes[1, col].plot(lrs, plot["accuracy"][opt][name], marker="o", label=name)
        axes[0, col].set_title(f"{opt}: dead fraction of the deadest layer (mean over seeds)", fontsize=9)
        axes[1, col].set_title(f"{opt}: test accuracy", fontsize=9)
        axes[0, col].axhline(0.5, color="0.5", ls="--", lw=1)
        axes[1, col].set_xlabel("learning rate")
        for ax in axes[:, col]:
            ax.set_xscale("log")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
    fig.suptitle(TITLE, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
