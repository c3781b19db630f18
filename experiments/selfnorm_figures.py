"""Figures and the Markdown report of the depth study, drawn from results.json alone.

results.json is strict JSON: a non-finite value is null there, and an array here (NaN, not drawn).

    python -m experiments.selfnorm_figures results/selfnorm_depth     # redraw without rerunning
"""

from __future__ import annotations

import json
import math
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from jaxacts import theory  # noqa: E402


def _array(values) -> np.ndarray:
    """A list from results.json as floats: null (a value that was not finite) becomes NaN."""
    return np.asarray([np.nan if v is None else v for v in values], np.float64)


def _number(x, spec=".3g") -> str:
    return "non-finite" if x is None or not math.isfinite(x) else format(x, spec)


def _band(ax, y, label, color, log=False):
    m, s = _array(y["mean"]), _array(y["std"])
    layers = np.arange(1, len(m) + 1)
    ax.plot(layers, m, color=color, lw=1.5, label=label)
    low = np.maximum(m - s, 1e-12) if log else m - s
    ax.fill_between(layers, low, m + s, color=color, alpha=0.25, lw=0)


def depth_curves(results: dict, out: str) -> str:
    runs = [r for r in results["runs"] if r["group"] == "curves"]
    cols = 4
    rows = math.ceil(len(runs) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), squeeze=False)
    for ax, r in zip(axes.flat, runs):
        _band(ax, r["layers"]["var"], "variance", "tab:blue", log=True)
        th = None if r["theory"] is None else {k: _array(v) for k, v in r["theory"].items()}
        if th is not None and not np.all(np.isnan(th["var"])):
            ax.plot(np.arange(1, len(th["var"]) + 1), th["var"], "--", color="navy", lw=1,
                    label="variance (theory)")
        elif th is not None:  # skip connections: theory gives the second moment only
            ax.plot(np.arange(1, len(th["second_moment"]) + 1), th["second_moment"], "--",
                    color="navy", lw=1, label="second moment (theory)")
        ax.set_yscale("log")
        ax.axhline(1.0, color="gray", lw=0.6)
        twin = ax.twinx()
        _band(twin, r["layers"]["mean"], "mean", "tab:orange")
        if th is not None and not np.all(np.isnan(th["mean"])):
            twin.plot(np.arange(1, len(th["mean"]) + 1), th["mean"], "--", color="saddlebrown", lw=1,
                      label="mean (theory)")
        twin.axhline(0.0, color="gray", lw=0.6, ls=":")
        verdict = "self-normalizing" if r["summary"]["self_normalizing"] else "not self-normalizing"
        ax.set_title(f"{r['label']}\n({verdict})", fontsize=8)
        ax.set_xlabel("layer", fontsize=8)
        ax.tick_params(labelsize=7)
        twin.tick_params(labelsize=7, colors="tab:orange")
    for ax in list(axes.flat)[len(runs):]:
        ax.axis("off")
    handles = [plt.Line2D([], [], color=c, ls=ls) for c, ls in
               (("tab:blue", "-"), ("navy", "--"), ("tab:orange", "-"), ("saddlebrown", "--"))]
    fig.legend(handles, ["variance (log axis, left), mean +- std over seeds", "variance (theory)",
                         "mean (right axis)", "mean (theory)"], loc="lower center", ncol=4, fontsize=9)
    fig.suptitle("Per-layer activation variance and mean vs depth: empirical band (seeds) and mean-field theory")
    # Fixed margins: tight_layout would draw these ~40 (twin) axes once more just to measure them.
    inch = lambda x, size: x / size  # margins in inches, as figure fractions
    w, h = fig.get_size_inches()
    fig.subplots_adjust(left=inch(0.9, w), right=1 - inch(0.6, w), bottom=inch(0.85, h), top=1 - inch(0.75, h),
                        wspace=0.62, hspace=0.8)
    return _save(fig, out, "depth_curves.png")


def heatmap(results: dict, out: str) -> str | None:
    runs = [r for r in results["runs"] if r["group"] == "heatmap"]
    if not runs:
        return None
    acts = list(dict.fromkeys(r["settings"]["activation"] for r in runs))
    inits = list(dict.fromkeys(r["settings"]["init"] for r in runs))
    grid = np.full((len(acts), len(inits)), np.nan)
    for r in runs:
        v = r["summary"]["final_var"]
        v = np.nan if v is None else v
        grid[acts.index(r["settings"]["activation"]), inits.index(r["settings"]["init"])] = v
    with np.errstate(all="ignore"):
        logv = np.log10(np.clip(grid, 1e-30, 1e30))
    fig, ax = plt.subplots(figsize=(1.6 * len(inits) + 2, 0.5 * len(acts) + 1.5))
    lim = max(1.0, float(np.nanmax(np.abs(logv))))
    im = ax.imshow(logv, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
    for i in range(len(acts)):
        for j in range(len(inits)):
            ax.text(j, i, f"{grid[i, j]:.2g}", ha="center", va="center", fontsize=8)
    ax.set_xticks(range(len(inits)), inits, rotation=20, fontsize=8)
    ax.set_yticks(range(len(acts)), acts, fontsize=8)
    depth = runs[0]["settings"]["depth"]
    ax.set_title(f"Final-layer activation variance after {depth} layers (log10 colour; 1 is white)", fontsize=9)
    fig.colorbar(im, ax=ax, label="log10 variance")
    fig.tight_layout()
    return _save(fig, out, "heatmap_final_variance.png")


def selu_vector_field(out: str) -> str:
    import jax

    mus = np.linspace(-0.4, 0.4, 17)
    nus = np.linspace(0.5, 2.0, 16)
    M, N = np.meshgrid(mus, nus)
    with jax.enable_x64(True):
        # omega = 0.05 (a small weight sum) so that the mean map is visible; tau = 1.
        g = jax.vmap(lambda m, n: theory.selu_map_closed_form(m, n, 0.05, 1.0))(M.ravel(), N.ravel())
    g = np.asarray(g)
    dm, dn = g[:, 0].reshape(M.shape) - M, g[:, 1].reshape(M.shape) - N
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.quiver(M, N, dm, dn, np.hypot(dm, dn), cmap="viridis", angles="xy")
    ax.add_patch(plt.Rectangle((-0.1, 0.8), 0.2, 0.7, fill=False, ec="crimson", lw=1.5, label="Theorem 1 domain"))
    ax.plot([0], [1], "o", color="crimson", label="fixed point (0, 1)")
    ax.set_xlabel("mean  mu")
    ax.set_ylabel("variance  nu")
    ax.set_title("SELU mean/variance map g(mu, nu) - (mu, nu)  (omega = 0.05, tau = 1)", fontsize=9)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return _save(fig, out, "selu_map_field.png")


def grad_norms(results: dict, out: str) -> str:
    runs = [r for r in results["runs"] if r["group"] == "curves" and r["settings"]["architecture"] != "conv"]
    fig, ax = plt.subplots(figsize=(8, 5))
    for r in runs:
        g = _array(r["layers"]["grad_norm"]["mean"])
        if np.all(np.isfinite(g)) and np.all(g > 0):
            ax.plot(np.arange(1, len(g) + 1), g / g[-1], lw=1.2, label=r["label"])
    ax.set_yscale("log")
    ax.set_xlabel("layer")
    ax.set_ylabel("gradient RMS reaching the layer / at the last layer")
    ax.set_title("Backward signal: gradient norm vs depth (a loss on the last layer)")
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    return _save(fig, out, "grad_norm.png")


def width_drift(results: dict, out: str) -> str | None:
    runs = [r for r in results["runs"] if r["group"] == "width"]
    if not runs:
        return None
    fig, ax = plt.subplots(figsize=(7, 4))
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(runs)))
    for r, c in zip(runs, colors):
        _band(ax, r["layers"]["var"], f"width {r['settings']['width']}", c)
    ax.axhline(1.0, color="gray", lw=0.6)
    ax.set_xlabel("layer")
    ax.set_ylabel("activation variance")
    ax.set_title("SELU + LeCun: finite width makes the variance wander; wider stays closer to 1")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, out, "width_drift.png")


def _save(fig, out, name) -> str:
    path = os.path.join(out, name)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return name


def draw_all(results: dict, out: str) -> list[str]:
    names = [depth_curves(results, out), heatmap(results, out), selu_vector_field(out), grad_norms(results, out),
             width_drift(results, out)]
    return [n for n in names if n]


def _seed_sentence(results: dict) -> str:
    """How far the verdicts move across seeds: the criterion on each seed's own curves vs on their average."""
    runs = [r for r in results["runs"] if r["summary"].get("verdict_per_seed") is not None]
    if not runs:
        return "No per-seed verdicts in these results."
    seeds = len(runs[0]["summary"]["verdict_per_seed"])
    split = [r for r in runs if r["summary"]["seed_agreement"] < 1]
    text = (f"Applied to each of the {seeds} seeds' curves alone, the criterion gives the verdict of the "
            f"seed-averaged curves for every seed in {len(runs) - len(split)} of {len(runs)} configurations")
    if not split:
        return text + "."
    listed = "; ".join(f"{r['label']} ({'yes' if r['summary']['self_normalizing'] else 'no'} on the average, "
                       f"{sum(r['summary']['verdict_per_seed'])}/{seeds} seeds yes)" for r in split)
    return f"{text}; the seeds disagree on: {listed}."


def report(results: dict, figures: list[str], table: str) -> str:
    t = results["theory"]
    env = results["environment"]
    base = next(r for r in results["runs"] if r["group"] == "curves")
    bm, bv = _array(base["layers"]["mean"]["mean"]), _array(base["layers"]["var"]["mean"])
    seconds = results.get("seconds")
    lines = [
        "# Self-normalization depth study",
        "",
        f"Backend {env['backend']}, {env['device_count']} device(s), jax {env['jax_version']}; "
        f"{len(results['runs'])} configurations in {_number(seconds, '.0f')} s.",
        "",
        f"**Criterion.** {results['criterion']}.",
        "",
        "## Findings",
        "",
        f"- {base['label']}, width {base['settings']['width']}, depth {base['settings']['depth']}: per-layer mean in "
        f"[{_number(bm.min(), '.3f')}, {_number(bm.max(), '.3f')}], variance in "
        f"[{_number(bv.min(), '.3f')}, {_number(bv.max(), '.3f')}] "
        f"(mean over {base['settings']['seeds']} seeds).",
    ]
    for r in results["runs"]:
        if r["group"] != "curves" or r is base:
            continue
        s = r["summary"]
        th = ("" if s.get("theory_max_rel_error") is None else
              f"; theory's second moment within {100 * s['theory_max_rel_error']:.1f}% on the "
              f"{s['theory_layers_compared']} of {r['settings']['depth']} layers where both are finite and nonzero")
        lines.append(f"- {r['label']}: final mean {_number(s['final_mean'])}, final variance {_number(s['final_var'])} -> "
                     f"{'self-normalizing' if s['self_normalizing'] else 'not self-normalizing'}{th}.")
    lines += [
        "",
        "## Theory",
        "",
        f"- SELU constants solved from scratch: alpha_01 = {t['selu_alpha_01']:.16f}, lambda_01 = {t['selu_lambda_01']:.16f}; "
        f"for the fixed point (0, 2): alpha = {t['selu_alpha_02']:.5f}, lambda = {t['selu_lambda_02']:.5f}.",
        f"- Jacobian of the SELU map at (0, 1): {np.round(t['selu_jacobian_at_0_1'], 6).tolist()}, spectral norm "
        f"{t['selu_spectral_norm_at_0_1']:.6f} (< 1: the fixed point attracts). chi_1 = {t['selu_chi_1']:.6f} "
        "(> 1: gradients grow slowly towards the input).",
        "- Scale-and-shift variants lambda f + beta with (0, 1) as fixed point:",
    ]
    for name, v in t["self_normalizing_variants"].items():
        lines.append(f"  - {name}: lambda = {v['scale']:.6f}, beta = {v['shift']:+.6f}, spectral norm "
                     f"{v['spectral_norm']:.4f} -> {'attracting' if v['attracting'] else 'not attracting'}")
    lines += ["", "## Seeds", "", _seed_sentence(results), "", "## Summary table", "", table, "", "## Figures", ""]
    lines += [f"![{f}]({f})" for f in figures]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    folder = sys.argv[1] if len(sys.argv) > 1 else "results/selfnorm_depth"
    try:
        with open(os.path.join(folder, "results.json")) as fh:
            data = json.load(fh)
    except (OSError, json.JSONDecodeError) as e:
        raise SystemExit(f"error: cannot read {folder}/results.json: {e}")
    from experiments.selfnorm_depth import summary_table

    figs = draw_all(data, folder)
    with open(os.path.join(folder, "report.md"), "w") as fh:
        fh.write(report(data, figs, summary_table(data)))
    print(f"redrew {len(figs)} figures and report.md in {folder}")
