"""The protocol the speed claims share: activations compared by the steps their networks need to bring
the training error to a target, each with its own initializer and its own learning rate (tuned on tuning
seeds to train fastest), measured on fresh evaluation seeds as paired ratios with t-intervals."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from experiments.claims import common as C  # noqa: E402


def compare(config, arms: dict[str, tuple[str, str]], model: dict, choose: Callable[[C.Sweep], int]) -> dict:
    """Trains each arm (label -> (activation spec, initializer)) with ``model`` (ModelConfig fields): its
    learning rate tuned by ``choose`` over ``config.lrs`` on tuning seeds (:func:`common.tune`), then
    ``config.seeds`` evaluation seeds at that rate. Returns the evaluation sweeps, the choices, the tuning
    record, and each arm's tuning-seed training-error curves at its chosen rate (for targets fixed by rule
    on the tuning seeds)."""
    data = C.load(config.data)
    seen: dict[tuple[str, float], np.ndarray] = {}

    def train(lrs_by_arm: dict[str, list[float]], seeds: int, first_seed: int) -> dict[str, C.Sweep]:
        out = C.train_arms(data, arms, model, config.optimizer, lrs_by_arm, epochs=config.epochs,
                           batch_size=config.batch_size, seeds=seeds, first_seed=first_seed)
        if first_seed == C.TUNING_FIRST_SEED:
            seen.update({(arm, lr): s.train_error[p] for arm, s in out.items() for p, lr in enumerate(s.lrs)})
        return out

    chosen, tuning = C.tune(train, {a: config.lrs for a in arms}, choose, config.tuning, config.seeds)
    sweeps = train({a: [chosen[a]] for a in arms}, config.seeds, 0)
    return {"sweeps": sweeps, "chosen_lr": chosen, "tuning": tuning, "window": sweeps[next(iter(arms))].steps_per_epoch,
            "tuning_error": {a: seen[(a, chosen[a])] for a in arms}}


def lowest_common_target(out: dict, grid: Sequence[float]) -> float:
    """The lowest training error in ``grid`` that every arm's every tuning seed reaches (centred window) at
    its chosen rate; the highest of the grid if none is reached by all."""
    reached = [t for t in sorted(grid) if all(np.isfinite(C.steps_to(e, t, out["window"])).all()
                                            for e in out["tuning_error"].values())]
    return reached[0] if reached else max(grid)


def pair(out: dict, slow: str, fast: str, target: float, targets: Sequence[float]) -> dict:
    """Steps ``slow`` needs over steps ``fast`` needs to reach ``target`` (evaluation seeds, paired), with the
    interval widened where seeds were censored, and the ratio across ``targets``."""
    err = {a: out["sweeps"][a].train_error[0] for a in (slow, fast)}
    main = C.speed_ratios(err[slow], err[fast], [target], out["window"])[0]
    main["bounded"] = C.as_list(C.bounded_interval(main["ci95"], main["not_reached_slow"], main["not_reached_fast"]))
    main["curve"] = C.speed_ratios(err[slow], err[fast], targets, out["window"])
    return main


def ratio_verdict(p: dict, supported, contradicted) -> str:
    """:func:`common.interval_verdict` on a pair's interval widened by censoring (None = unbounded)."""
    low, high = (np.inf if v is None else v for v in p["bounded"])
    return C.interval_verdict([low, high], supported, contradicted)


def wall_clock(out: dict, slow: str, fast: str, p: dict) -> dict:
    """The steps ratio times the ratio of step times (both sweeps train the same number of runs on the same
    batches, so their step times compare the activations)."""
    seconds = {a: C.seconds_per_step(out["sweeps"][a]) for a in (slow, fast)}
    per_step = seconds[slow] / seconds[fast]
    return {"ratio": p["ratio"] * per_step, "ci95": [c * per_step for c in p["ci95"]], "step_seconds": seconds,
            "step_time_ratio": per_step}


def measurements(out: dict, pairs: dict[str, dict]) -> dict:
    return {"steps_to_target": {name: {"target": p["target"], "slow": p["steps_slow"], "fast": p["steps_fast"],
                                       "ratio": p["ratio"], "ci95": p["ci95"]} for name, p in pairs.items()},
            "chosen_lr": out["chosen_lr"],
            "test_accuracy": {a: C.as_list(s.evals["test_accuracy"][0, :, -1]) for a, s in out["sweeps"].items()}}


def details(out: dict, pairs: dict[str, dict]) -> list[str]:
    rows = ["| comparison | target | steps ratio (geometric mean, 95% CI) | not reached (slow, fast) | ratio across "
            "targets |", "|---|---|---|---|---|"]
    for name, p in pairs.items():
        across = ", ".join(f"{c['target']:g}: {c['ratio']:.3g}" for c in p["curve"])
        rows.append(f"| {name} | {p['target']:g} | {p['ratio']:.3g} [{p['ci95'][0]:.3g}, {p['ci95'][1]:.3g}] | "
                    f"{p['not_reached_slow']}, {p['not_reached_fast']} | {across} |")
    acc = ", ".join(f"{a} {C.mean_sd(s.evals['test_accuracy'][0, :, -1])}" for a, s in out["sweeps"].items())
    rows += ["", f"Steps to a target: {C.WINDOW_RULE}; measurable from half an epoch on. A seed that never reaches the "
             "target counts as the budget + 1 step (a lower bound on its time): the verdict then reads the interval "
             "as a bound (a censored slow side cannot show the ratio is small, a censored fast side that it is "
             f"large). Final test accuracy (evaluation seeds): {acc}."]
    return rows


def plot_data(out: dict, pairs: dict[str, dict], primary: str) -> dict:
    return {"curves": {a: C.as_list(np.nanmean(C.centred(s.train_error[0], out["window"]), axis=0))
                       for a, s in out["sweeps"].items()},
            "ratio_curve": [{k: c[k] for k in ("target", "ratio", "ci95")} for c in pairs[primary]["curve"]],
            "target_error": pairs[primary]["target"], "primary": primary}


def draw_curves(plot: dict, ax_err, ax_ratio) -> None:
    """The training-error curves (centred window, seed mean) against the target, and the primary pair's steps
    ratio across targets, from a claim's ``plot``."""
    for act, c in plot["curves"].items():
        c = np.asarray([np.nan if v is None else v for v in c], float)
        ax_err.plot(np.arange(1, len(c) + 1), c, label=act)
    ax_err.axhline(plot["target_error"], color="k", ls="--", lw=1, label=f"target {plot['target_error']:g}")
    ax_err.set_xlabel("step")
    ax_err.set_ylabel("training error\n(centred one-epoch window, seed mean)")
    ax_err.set_xscale("log")
    ax_err.legend(fontsize=8)
    rc = plot["ratio_curve"]
    t = [c["target"] for c in rc]
    r = np.array([c["ratio"] for c in rc])
    lo, hi = np.array([c["ci95"][0] for c in rc]), np.array([c["ci95"][1] for c in rc])
    ax_ratio.errorbar(t, r, yerr=[r - lo, hi - r], marker="o", capsize=3)
    ax_ratio.axhline(1.0, color="0.5", lw=1)
    ax_ratio.set_xlabel("training-error target")
    ax_ratio.set_ylabel(f"steps ratio {plot['primary']}, 95% CI")
    ax_ratio.invert_xaxis()


def figure(result: dict, path: str, title: str) -> None:
    fig, (ax_err, ax_ratio) = plt.subplots(1, 2, figsize=(11, 4))
    draw_curves(result["plot"], ax_err, ax_ratio)
    for ax in (ax_err, ax_ratio):
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
