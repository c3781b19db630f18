"""The protocol two speed claims share: activation A against activation B, each with its own initializer
and its own learning rate (tuned to train fastest on the validation split), steps until the training
loss / error reach a target, as a paired ratio over seeds with its interval."""

from __future__ import annotations

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from experiments.claims import common as C  # noqa: E402
from jaxacts.models import ModelConfig  # noqa: E402


def compare(config, slow: str, fast: str, model: dict) -> dict:
    """Trains ``slow`` and ``fast`` (activation names) with ``model`` (ModelConfig fields) over
    ``config.lrs`` x ``config.seeds``, picks each one's lr with :func:`common.choose_fastest` at
    ``config.tune_error``, and measures steps to ``config.target_error`` and ``config.target_loss``
    (moving average over one epoch of minibatches) and the ratio across ``config.error_targets``."""
    data = C.load(config.data)
    sweeps, chosen = {}, {}
    for act in (slow, fast):
        mc = ModelConfig(activation=act, init=C.init_for(act), **model)
        sweep = C.train_sweep(data, mc, config.optimizer, config.lrs, epochs=config.epochs,
                              batch_size=config.batch_size, seeds=config.seeds)
        p = C.choose_fastest(sweep, config.tune_error)
        sweeps[act], chosen[act] = sweep, p
    window = sweeps[slow].steps_per_epoch
    err = {a: sweeps[a].train_error[chosen[a]] for a in (slow, fast)}
    loss = {a: sweeps[a].train_loss[chosen[a]] for a in (slow, fast)}
    by_error = C.speed_ratios(err[slow], err[fast], [config.target_error], window)[0]
    by_loss = C.speed_ratios(loss[slow], loss[fast], [config.target_loss], window)[0]
    curve = C.speed_ratios(err[slow], err[fast], config.error_targets, window)
    # Both sweeps train the same number of runs on the same batches: their step times compare the activations.
    seconds = {a: C.seconds_per_step(sweeps[a]) for a in (slow, fast)}
    per_step = seconds[slow] / seconds[fast]
    wall = {"ratio": by_error["ratio"] * per_step, "ci95": [c * per_step for c in by_error["ci95"]],
            "step_seconds": seconds, "step_time_ratio": per_step}
    lrs = {a: sweeps[a].lrs[chosen[a]] for a in (slow, fast)}
    return {"sweeps": sweeps, "chosen_lr": lrs, "window": window, "by_error": by_error, "by_loss": by_loss,
            "curve": curve, "wall": wall, "test_accuracy": {a: sweeps[a].evals["test_accuracy"][chosen[a], :, -1]
                                                             for a in (slow, fast)},
            "curves": {a: {"error": C.smoothed(err[a], window).mean(axis=0), "loss": C.smoothed(loss[a], window)
                           .mean(axis=0)} for a in (slow, fast)}}


def result(config, out: dict, slow: str, fast: str, *, model: str, targets: str, effect: str,
           labels: tuple[str, str] | None = None) -> dict:
    """The claim's result from :func:`compare`'s ``out``: protocol, measurements, the steps ratio to the
    target training error with its interval and censoring, details and plot data. ``model``, ``targets``
    and ``effect`` are the claim's own words (``effect`` follows the ratio in the verdict table); ``labels``
    name the two activations in those texts (default: their registry names)."""
    e = out["by_error"]
    slow_label, fast_label = labels or (slow, fast)
    return {
        "protocol": {"data": f"{config.data.dataset} (validation {config.data.val_fraction:g} of training set)",
                     "model": model,
                     "optimizer": f"{config.optimizer} (momentum: SGD with momentum 0.9), constant lr, batch "
                                  f"{config.batch_size}, {config.epochs} epochs",
                     "learning rates": f"grid {list(config.lrs)} per activation; rule: "
                                       f"{C.rule_fastest_validation(config.tune_error)}",
                     "chosen": out["chosen_lr"], "seeds": config.seeds, "targets": targets},
        "measurements": measurements(out, slow, fast),
        "statistic": {"name": f"steps to training error {config.target_error:g}, {slow_label} / {fast_label}",
                      "value": e["ratio"]},
        "ci95": e["ci95"], "not_reached": {"slow": e["not_reached_slow"], "fast": e["not_reached_fast"]},
        "effect": f"{slow_label} needs {e['ratio']:.2f}x the steps of {fast_label} [{e['ci95'][0]:.2f}, {e['ci95'][1]:.2f}]; "
                  + effect,
        "details": details(out, slow, fast, config), "plot": plot_data(out),
    }


def verdict(result: dict, supported, contradicted) -> str:
    """:func:`common.interval_verdict` on the steps-ratio interval, widened where seeds were censored."""
    missed = result["not_reached"]
    return C.interval_verdict(C.bounded_interval(result["ci95"], missed["slow"], missed["fast"]), supported,
                              contradicted)


def details(out: dict, slow: str, fast: str, config) -> list[str]:
    e, l, w = out["by_error"], out["by_loss"], out["wall"]
    rows = [f"| measure | {slow} / {fast} (geometric mean, 95% CI) | not reached ({slow}, {fast}) |", "|---|---|---|",
            f"| steps to training error {e['target']:g} | {e['ratio']:.3g} [{e['ci95'][0]:.3g}, {e['ci95'][1]:.3g}] | "
            f"{e['not_reached_slow']}, {e['not_reached_fast']} |",
            f"| steps to training loss {l['target']:g} | {l['ratio']:.3g} [{l['ci95'][0]:.3g}, {l['ci95'][1]:.3g}] | "
            f"{l['not_reached_slow']}, {l['not_reached_fast']} |",
            f"| wall-clock to training error {e['target']:g} | {w['ratio']:.3g} [{w['ci95'][0]:.3g}, {w['ci95'][1]:.3g}]"
            f" | (step time ratio {w['step_time_ratio']:.3f}: the median epoch of each sweep) |", ""]
    rows += ["Ratio against the error target: " + ", ".join(
        f"{c['target']:g}: {c['ratio']:.3g} [{c['ci95'][0]:.3g}, {c['ci95'][1]:.3g}]" for c in out["curve"]) + ".", ""]
    rows += [f"Learning rates chosen: {slow} {out['chosen_lr'][slow]:g}, {fast} {out['chosen_lr'][fast]:g} "
             f"(grid {list(config.lrs)}). Final test accuracy: {slow} {C.mean_sd(out['test_accuracy'][slow])}, "
             f"{fast} {C.mean_sd(out['test_accuracy'][fast])}. A seed that never reaches a target counts as the "
             "budget + 1 step (a lower bound on its time): where the slower activation misses a target, its ratio is a "
             "lower bound; where the faster one misses, an upper bound."]
    return rows


def measurements(out: dict, slow: str, fast: str) -> dict:
    e, l = out["by_error"], out["by_loss"]
    return {"steps_to_error": {slow: e["steps_slow"], fast: e["steps_fast"], "target": e["target"]},
            "steps_to_loss": {slow: l["steps_slow"], fast: l["steps_fast"], "target": l["target"]},
            "ratio_by_error_target": [{k: c[k] for k in ("target", "ratio", "ci95")} for c in out["curve"]],
            "wall_clock": out["wall"], "chosen_lr": out["chosen_lr"],
            "test_accuracy": {a: C.as_list(v) for a, v in out["test_accuracy"].items()}}


def plot_data(out: dict) -> dict:
    return {"curves": {a: {k: C.as_list(v) for k, v in c.items()} for a, c in out["curves"].items()},
            "ratio_curve": [{k: c[k] for k in ("target", "ratio", "ci95")} for c in out["curve"]],
            "target_error": out["by_error"]["target"]}


def figure(result: dict, path: str, title: str) -> None:
    plot = result["plot"]
    fig, (ax_err, ax_ratio) = plt.subplots(1, 2, figsize=(11, 4))
    for act, c in plot["curves"].items():
        ax_err.plot(np.arange(1, len(c["error"]) + 1), c["error"], label=act)
    ax_err.axhline(plot["target_error"], color="k", ls="--", lw=1, label=f"target {plot['target_error']:g}")
    ax_err.set_xlabel("step")
    ax_err.set_ylabel("training error\n(epoch moving average, seed mean)")
    ax_err.legend(fontsize=8)
    rc = plot["ratio_curve"]
    t = [c["target"] for c in rc]
    r = np.array([c["ratio"] for c in rc])
    lo, hi = np.array([c["ci95"][0] for c in rc]), np.array([c["ci95"][1] for c in rc])
    ax_ratio.errorbar(t, r, yerr=[r - lo, hi - r], marker="o", capsize=3)
    ax_ratio.axhline(1.0, color="0.5", lw=1)
    ax_ratio.set_xlabel("training-error target")
    ax_ratio.set_ylabel("steps ratio (slow / fast), 95% CI")
    ax_ratio.invert_xaxis()
    for ax in (ax_err, ax_ratio):
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
