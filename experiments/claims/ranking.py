"""Claim 9: the ranking SELU > ELU > leaky ReLU > ReLU > tanh > sigmoid, and its conditions.

Run: ``python -m experiments.claims --only ranking`` (36 minutes on the shared 2-core machine, load 3-5,
most of it compiling one program per setting and initializer); ``--quick`` in about a minute and a half.
Shows test accuracy per activation on plain MLPs of two depths, a CNN and a residual MLP, with paired
intervals for each adjacent pair of the order.
"""

from __future__ import annotations

import dataclasses

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from experiments.claims import common as C  # noqa: E402
from jaxacts import data as D  # noqa: E402

ID = "ranking"
TITLE = "SELU > ELU > leaky ReLU > ReLU > tanh > sigmoid; ELU beats SELU without self-normalization"
CLAIM = ("SELU > ELU > leaky ReLU (and its variants) > ReLU > tanh > logistic. If the network's architecture prevents "
         "it from self-normalizing, then ELU may perform better than SELU. (SELU with LeCun initialization and "
         "standardized inputs; it works with CNNs too.)")
SOURCE = "Géron, Hands-On Machine Learning 2e (2019), p. 332; Klambauer et al. 2017 (SELU)"

# The stated order, best first, with each activation's spec and the initializer it is meant for.
ORDER = ("SELU", "ELU", "leaky ReLU 0.01", "ReLU", "tanh", "sigmoid")
ARMS = {"SELU": ("selu", "lecun_normal"), "ELU": ("elu", "he_normal"),
        "leaky ReLU 0.01": ("leaky_relu(negative_slope=0.01)", "he_normal"), "ReLU": ("relu", "he_normal"),
        "tanh": ("tanh", "glorot_normal"), "sigmoid": ("sigmoid", "glorot_normal")}
PAIRS = tuple(zip(ORDER[:-1], ORDER[1:]))

RULE = ("Each run's test accuracy is the mean over its last 3 epochs (Config.last_epochs); each activation's learning "
        "rate (per setting) is the grid rate with the best validation accuracy over the same epochs, averaged over the "
        "tuning seeds, which are disjoint from the evaluation seeds the statistics are measured on. Pair clauses, one "
        "per adjacent pair A > B of the stated order (SELU > ELU, ELU > leaky ReLU 0.01, leaky ReLU 0.01 > ReLU, ReLU > "
        "tanh, tanh > sigmoid): the statistic is the paired (by seed) difference A minus B, averaged per seed over the "
        "plain-MLP depths (no skips, no normalization, no dropout); supported (the pair is resolved in the stated "
        "order) if its 95% t-interval lies above 0, contradicted (resolved the other way) if it lies below 0, "
        "inconclusive (a tie) if it contains 0. Clause 'SELU works with CNNs too': on the CNN, SELU minus ReLU; "
        "supported if the interval lies above 0, contradicted if below 0. Clause 'without self-normalization ELU "
        "beats SELU': on the residual MLP (skip connections break self-normalization), ELU minus SELU; supported if "
        "the interval lies above 0, contradicted if below 0. Otherwise a clause is inconclusive. " + C.OVERALL_RULE)


@dataclasses.dataclass(frozen=True)
class Config:
    data: C.DataConfig = C.DataConfig()
    seeds: int = 6  # evaluation seeds 0 .. seeds - 1
    tuning_seeds: int = 2  # seeds .. seeds + tuning_seeds - 1: disjoint, trained in the same program
    depths: tuple[int, ...] = (2, 16)  # plain MLPs
    residual_depth: int = 16
    width: int = 32
    channels: tuple[int, ...] = (16, 32)
    kernel_size: int = 5
    optimizer: str = "adam"
    lrs: tuple[float, ...] = (1e-3, 3e-3, 1e-2)
    max_extensions: int = 2  # tuning seeds are few, so an edge choice is extended at most twice
    epochs: int = 10
    last_epochs: int = 3
    batch_size: int = 100


QUICK = Config(data=C.DataConfig(train_subset=600), seeds=2, tuning_seeds=2, depths=(2, 3), residual_depth=3, width=8,
               channels=(4,), lrs=(1e-3, 1e-2), max_extensions=0, epochs=2, last_epochs=2)


def settings(config) -> dict[str, dict]:
    """Setting name -> the ModelConfig fields of its network."""
    out = {f"MLP depth {d}": {"depth": d, "width": config.width} for d in config.depths}
    out["CNN"] = {"kind": "cnn", "channels": config.channels, "kernel_size": config.kernel_size, "width": config.width}
    out["residual MLP"] = {"depth": config.residual_depth, "width": config.width, "skip": True}
    return out


# ---------------------------------------------------------------------------------------------------
# Tuning and evaluation seeds in one compiled program (compiling, not arithmetic, is what a deep net costs on a CPU)

def tuning(config) -> C.Tuning:
    return C.Tuning(seeds=config.tuning_seeds, max_extensions=config.max_extensions)


def tuning_rule(config) -> str:
    t = tuning(config)
    return (f"grid {list(config.lrs)} per activation and setting, trained on {config.tuning_seeds} tuning seeds "
            f"({config.seeds} on) in the same compiled program as the {config.seeds} evaluation seeds (0 on), which "
            f"are read only at the chosen rate; a choice at an edge of the grid extends it by x{t.factor:g} past that "
            f"edge (up to {t.max_extensions} times) until the choice is interior or the next rate diverges in most "
            f"tuning seeds; rule: {C.rule_best_validation(config.last_epochs)}")


def seed_slice(sweep: C.Sweep, start: int, stop: int) -> C.Sweep:
    """The seeds ``start`` .. ``stop`` - 1 of ``sweep`` (per-run arrays only; final states dropped)."""
    pick = lambda a: a[:, start:stop]
    return dataclasses.replace(
        sweep, seeds=stop - start, train_loss=pick(sweep.train_loss), train_error=pick(sweep.train_error),
        evals={k: pick(v) for k, v in sweep.evals.items()}, final_train={k: pick(v) for k, v in sweep.final_train.items()},
        diverged=pick(sweep.diverged), state=None, extra=[], index=())


def tune_and_evaluate(data: D.Dataset, arms: dict[str, tuple[str, str]], model: dict, config, prefix: str = "",
                      **kw) -> tuple[dict[str, C.Sweep], dict[str, int], list[dict]]:
    """Every arm at every grid rate on ``config.seeds`` evaluation seeds (0 on) and ``config.tuning_seeds``
    tuning seeds after them, one program per initializer (:func:`common.train_arms`). The rate is chosen on
    the tuning seeds alone (:func:`common.choose_by_validation`), the grid extended at an edge as
    :func:`common.tune` does (the added rate trained on all seeds, so the evaluation seeds never need a
    second run). Returns ({arm: sweep of all rates x all seeds}, {arm: chosen rate's index}, the tuning
    record's arm entries)."""
    total = config.seeds + config.tuning_seeds
    full: dict[str, C.Sweep] = {}

    def train(lrs_by_arm, _seeds, _first):
        sweeps = C.train_arms(data, arms, model, config.optimizer, lrs_by_arm, every_arm=True, epochs=config.epochs,
                              batch_size=config.batch_size, seeds=total, first_seed=0, **kw)
        for a, sw in sweeps.items():
            full[a] = full[a].merged(sw) if a in full else sw
        return {a: seed_slice(sw, config.seeds, total) for a, sw in sweeps.items()}

    choose = lambda sweep: C.choose_by_validation(sweep, last=config.last_epochs)
    lrs, record = C.tune(train, {a: config.lrs for a in arms}, choose, tuning(config), config.seeds)
    chosen = {a: full[a].lrs.index(lr) for a, lr in lrs.items()}
    return full, chosen, [{**r, "arm": prefix + r["arm"]} for r in record["arms"]]


def final_accuracy(sweep: C.Sweep, p: int, seeds: int, last: int) -> np.ndarray:
    """(seeds,) test accuracy of the evaluation seeds at setting ``p``, mean over the last ``last`` epochs."""
    return sweep.evals["test_accuracy"][p, :seeds, -last:].mean(axis=-1)


def ranking_entry(values: np.ndarray) -> dict:
    """The guide's cell: mean, t-interval of the mean over seeds, per-seed values."""
    return {"mean": float(np.mean(values)), "ci95": C.t_interval(values), "values": C.as_list(values)}


def pair_verdict(ci) -> str:
    return C.interval_verdict(ci, lambda lo, hi: lo > 0, lambda lo, hi: hi < 0)


def run(config: Config) -> dict:
    data = C.load(config.data)
    acc, record, lrs, diverged = {}, [], {}, {}
    for name, model in settings(config).items():
        sweeps, chosen, rec = tune_and_evaluate(data, ARMS, model, config, prefix=f"{name}: ")
        record += rec
        acc[name] = {a: final_accuracy(sweeps[a], chosen[a], config.seeds, config.last_epochs) for a in ORDER}
        lrs[name] = {a: sweeps[a].lrs[chosen[a]] for a in ORDER}
        diverged[name] = {a: int(sweeps[a].diverged[chosen[a], :config.seeds].sum()) for a in ORDER}
    plain = [f"MLP depth {d}" for d in config.depths]
    subs, pairs = [], {}
    for a, b in PAIRS:
        per_seed = np.mean([acc[s][a] - acc[s][b] for s in plain], axis=0)
        value, ci = C.paired_difference(per_seed, np.zeros_like(per_seed))
        per_setting = {s: C.paired_difference(acc[s][a], acc[s][b]) for s in acc}
        pairs[f"{a} > {b}"] = {"mean over plain MLPs": [value, ci], **{s: list(v) for s, v in per_setting.items()}}
        subs.append(C.subverdict(f"{a} > {b}", pair_verdict(ci), f"test accuracy {a} - {b}, mean over plain MLP depths "
                                 f"{list(config.depths)}", value, ci))
    cnn_value, cnn_ci = C.paired_difference(acc["CNN"]["SELU"], acc["CNN"]["ReLU"])
    subs.append(C.subverdict("SELU works with CNNs too (beats ReLU on the CNN)", pair_verdict(cnn_ci),
                             "test accuracy SELU - ReLU, CNN", cnn_value, cnn_ci))
    res_value, res_ci = C.paired_difference(acc["residual MLP"]["ELU"], acc["residual MLP"]["SELU"])
    subs.append(C.subverdict("without self-normalization ELU beats SELU (residual MLP)", pair_verdict(res_ci),
                             "test accuracy ELU - SELU, residual MLP", res_value, res_ci))
    first = subs[0]
    resolved = [s["clause"] for s in subs[:len(PAIRS)] if s["verdict"] == "supported"]
    reversed_ = [s["clause"] for s in subs[:len(PAIRS)] if s["verdict"] == "contradicted"]
    ties = [s["clause"] for s in subs[:len(PAIRS)] if s["verdict"] == "inconclusive"]
    ranking = {s: {a: ranking_entry(acc[s][a]) for a in ORDER} for s in acc}
    details = ["Test accuracy (mean of the last epochs; mean +- sd over evaluation seeds), learning rate chosen per "
               "activation and setting:", "",
               "| activation | " + " | ".join(acc) + " |", "|---|" + "---|" * len(acc)]
    details += [f"| {a} | " + " | ".join(f"{C.mean_sd(acc[s][a])} (lr {lrs[s][a]:g}"
                                         + (f", {diverged[s][a]} diverged" if diverged[s][a] else "") + ")"
                                         for s in acc) + " |" for a in ORDER]
    details += ["", "Adjacent pairs (A - B, paired over seeds, 95% CI) per setting; the verdict reads the mean over the "
                "plain MLPs:", "", "| pair | plain MLPs (verdict) | " + " | ".join(acc) + " |",
                "|---|---|" + "---|" * len(acc)]
    fmt = lambda v: f"{v[0]:+.3f} [{v[1][0]:+.3f}, {v[1][1]:+.3f}]"
    details += [f"| {k} | {fmt(v['mean over plain MLPs'])} ({s['verdict']}) | " + " | ".join(fmt(v[n]) for n in acc)
                + " |" for (k, v), s in zip(pairs.items(), subs)]
    details += ["", f"Resolved in the stated order: {', '.join(resolved) or 'none'}; resolved the other way: "
                f"{', '.join(reversed_) or 'none'}; ties (interval contains 0): {', '.join(ties) or 'none'}."]
    return {
        "tested": f"{config.data.dataset}, MLP depths {list(config.depths)} x {config.width}, CNN, residual MLP "
                  f"{config.residual_depth} x {config.width}, {config.optimizer}",
        "protocol": {"data": f"{config.data.dataset} (inputs standardized per feature; validation "
                             f"{config.data.val_fraction:g} of training set)",
                     "models": f"plain MLPs depth {list(config.depths)} width {config.width}; CNN conv "
                               f"{list(config.channels)} (kernel {config.kernel_size}) + dense {config.width}; residual "
                               f"MLP depth {config.residual_depth} width {config.width} (h + f(Wh)); no normalization, "
                               "no dropout (so no alpha dropout either)",
                     "initializers": "LeCun normal for SELU; He normal for ELU, leaky ReLU, ReLU; Glorot normal for "
                                     "tanh and sigmoid (one compiled program per initializer and setting)",
                     "optimizer": f"{config.optimizer}, constant lr, batch {config.batch_size}, {config.epochs} epochs",
                     "learning rates": tuning_rule(config),
                     "statistic": f"test accuracy averaged over the last {config.last_epochs} epochs",
                     "seeds": config.seeds},
        "measurements": {"ranking": ranking, "pairs": pairs, "learning_rates": lrs, "diverged": diverged},
        "statistic": first["statistic"], "ci95": first["ci95"],
        "interval": C.interval_record("linear", config.seeds, (
            np.mean([acc[s]["SELU"] for s in plain], axis=0), np.mean([acc[s]["ELU"] for s in plain], axis=0))),
        "tuning": {"seeds": list(range(config.seeds, config.seeds + config.tuning_seeds)),
                   "evaluation_seeds": list(range(config.seeds)), "arms": record},
        "subverdicts": subs,
        "effect": f"resolved: {len(resolved)}/{len(PAIRS)} pairs, reversed {len(reversed_)}, ties {len(ties)}; CNN "
                  f"SELU-ReLU {cnn_value:+.3f} [{cnn_ci[0]:+.3f}, {cnn_ci[1]:+.3f}]; residual ELU-SELU {res_value:+.3f} "
                  f"[{res_ci[0]:+.3f}, {res_ci[1]:+.3f}]",
        "details": details,
        "plot": {"order": list(ORDER), "ranking": {s: {a: ranking[s][a]["values"] for a in ORDER} for s in ranking},
                 "pairs": {k: v["mean over plain MLPs"] for k, v in pairs.items()},
                 "verdicts": [s["verdict"] for s in subs[:len(PAIRS)]]},
    }


def verdict(result: dict) -> str:
    return C.overall(result["subverdicts"])


def figure(result: dict, path: str) -> None:
    plot = result["plot"]
    order, ranking = plot["order"], plot["ranking"]
    fig, (ax_acc, ax_pair) = plt.subplots(1, 2, figsize=(13, 4.5), gridspec_kw={"width_ratios": [3, 2]})
    n = len(ranking)
    for j, (setting, per) in enumerate(ranking.items()):
        for i, act in enumerate(order):
            v = np.asarray(per[act], float)
            x = i + (j - (n - 1) / 2) * 0.8 / n
            ax_acc.scatter(np.full(v.shape, x), v, s=8, color=f"C{j}", alpha=0.5)
            ax_acc.errorbar(x, v.mean(), yerr=v.std(), fmt="o", color=f"C{j}", capsize=2,
                            label=setting if i == 0 else None)
    ax_acc.set_xticks(range(len(order)), order, fontsize=8)
    ax_acc.set_ylabel("test accuracy (one dot per seed)")
    ax_acc.legend(fontsize=8)
    names = list(plot["pairs"])
    colors = {"supported": "tab:green", "contradicted": "tab:red", "inconclusive": "tab:gray"}
    for i, (k, verdict_) in enumerate(zip(names, plot["verdicts"])):
        value, (lo, hi) = plot["pairs"][k]
        ax_pair.errorbar(value, i, xerr=[[value - lo], [hi - value]], fmt="o", color=colors[verdict_], capsize=3)
    ax_pair.axvline(0, color="k", lw=0.8)
    ax_pair.set_yticks(range(len(names)), names, fontsize=8)
    ax_pair.invert_yaxis()
    ax_pair.set_xlabel("paired difference A - B, mean over plain MLPs (95% CI)\ngreen: resolved in order; "
                       "red: reversed; gray: tie")
    for ax in (ax_acc, ax_pair):
        ax.grid(alpha=0.3)
    fig.suptitle(f"{TITLE}\n(lr tuned per activation and setting on tuning seeds)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
