"""Figures and the Markdown report of the depth study, drawn from results.json alone.

results.json is strict JSON: a non-finite value is null there, and an array here (NaN, not drawn).

    python -m experiments.selfnorm_figures results/selfnorm_depth     # redraw without rerunning
"""

from __future__ import annotations

import json
import math
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

# Titles at the top of their axes, not placed around tick labels found by measuring every axis's extent (no
# figure here has ticks above its axes): that measuring was half of the figures' drawing time.
plt.rcParams["axes.titley"] = 1.0

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


def _theory(r: dict) -> dict | None:
    if r.get("theory") is None:
        return None
    return {k: (_array(v) if isinstance(v, list) and (not v or not isinstance(v[0], list))
                else np.asarray([_array(row) for row in v]) if isinstance(v, list) else v)
            for k, v in r["theory"].items()}


def _seed_lines(ax, seeds, color, log=False):
    for row in seeds:
        y = _array(row)
        if log:
            y = np.where(y > 0, y, np.nan)
        ax.plot(np.arange(1, len(y) + 1), y, color=color, lw=0.7, alpha=0.8)


def _theory_band(ax, th, key, color, log=False, filled=True):
    """Mean-field line (dashed) and the finite-width 95% band (shaded, or dotted edges) of statistic ``key``."""
    if th is None or f"{key}_band" not in th:
        return
    layers = np.arange(1, len(th[key]) + 1)
    low, high = th[f"{key}_band"]
    if log:
        low, high = np.where(low > 0, low, np.nan), np.where(high > 0, high, np.nan)
    if filled:
        ax.fill_between(layers, low, high, color=color, alpha=0.18, lw=0)
    else:
        ax.plot(layers, low, ":", color=color, lw=0.8)
        ax.plot(layers, high, ":", color=color, lw=0.8)
    line = th[key]
    ax.plot(layers, np.where(line > 0, line, np.nan) if log else line, "--", color=color, lw=1)


def _grid(n, cols=4):
    rows = max(1, math.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), squeeze=False)
    return fig, axes


def _finish_grid(fig, axes, used, handles, labels, title):
    for ax in list(axes.flat)[used:]:
        ax.axis("off")
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=9)
    fig.suptitle(title)
    # Fixed margins: tight_layout would draw these ~40 (twin) axes once more just to measure them.
    inch = lambda x, size: x / size  # margins in inches, as figure fractions
    w, h = fig.get_size_inches()
    fig.subplots_adjust(left=inch(0.9, w), right=1 - inch(0.6, w), bottom=inch(0.85, h), top=1 - inch(0.75, h),
                        wspace=0.62, hspace=0.8)


def depth_curves(results: dict, out: str) -> str:
    runs = [r for r in results["runs"] if r["group"] == "curves"]
    fig, axes = _grid(len(runs))
    for ax, r in zip(axes.flat, runs):
        th = _theory(r)
        var = r["layers"]["var"]
        if "seeds" in var:
            _seed_lines(ax, var["seeds"], "tab:blue", log=True)
        else:
            _band(ax, var, "variance", "tab:blue", log=True)
        _theory_band(ax, th, "var", "navy", log=True)
        ax.set_yscale("log")
        ax.axhline(1.0, color="gray", lw=0.6)
        twin = ax.twinx()
        m = _array(r["layers"]["mean"]["mean"])
        twin.plot(np.arange(1, len(m) + 1), m, color="tab:orange", lw=1.0)
        _theory_band(twin, th, "mean", "saddlebrown", filled=False)
        twin.axhline(0.0, color="gray", lw=0.6, ls=":")
        verdict = "self-normalizing" if r["summary"]["self_normalizing"] else "not self-normalizing"
        cover = (r["summary"].get("band_coverage") or {}).get("var")
        inside = "" if cover is None else f", {100 * cover:.0f}% in band"
        ax.set_title(f"{r['label']}\n({verdict}{inside})", fontsize=8)
        ax.set_xlabel("layer", fontsize=8)
        ax.tick_params(labelsize=7)
        twin.tick_params(labelsize=7, colors="tab:orange")
    handles = [plt.Line2D([], [], color="tab:blue"), plt.Line2D([], [], color="navy", ls="--"),
               plt.Rectangle((0, 0), 1, 1, color="navy", alpha=0.18), plt.Line2D([], [], color="tab:orange"),
               plt.Line2D([], [], color="saddlebrown", ls="--")]
    _finish_grid(fig, axes, len(runs), handles,
                 ["variance, one line per seed (log axis, left)", "mean-field theory",
                  "finite-width band (95% of networks)", "mean over seeds (right axis)",
                  "mean: mean field (dashed), band (dotted)"],
                 "Per-layer activation variance and mean vs depth: measured networks, mean-field line, finite-width band")
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
    fig, axes = _grid(len(runs))
    for ax, r in zip(axes.flat, runs):
        g = r["layers"]["grad_norm"]
        if "seeds" in g:
            _seed_lines(ax, g["seeds"], "tab:green", log=True)
        else:
            _band(ax, g, "gradient", "tab:green", log=True)
        _theory_band(ax, _theory(r), "grad_norm", "darkgreen", log=True)
        ax.set_yscale("log")
        cover = (r["summary"].get("band_coverage") or {}).get("grad_norm")
        ax.set_title(r["label"] + ("" if cover is None else f"\n({100 * cover:.0f}% in band)"), fontsize=8)
        ax.set_xlabel("layer", fontsize=8)
        ax.tick_params(labelsize=7)
    handles = [plt.Line2D([], [], color="tab:green"), plt.Line2D([], [], color="darkgreen", ls="--"),
               plt.Rectangle((0, 0), 1, 1, color="darkgreen", alpha=0.18)]
    _finish_grid(fig, axes, len(runs), handles,
                 ["gradient RMS reaching the layer, one line per seed", "mean-field sqrt(N prod chi)",
                  "finite-width band (95% of networks)"],
                 "Backward signal: gradient norm vs depth (loss <r, h_L>), measured, mean-field and finite-width band")
    return _save(fig, out, "grad_norm.png")


def spread_points(results: dict, layers=(10, 20, 50, 100, 200, 500, 1000)) -> list[dict]:
    """Measured (std over seeds, ddof 1) against predicted spread of the log second moment, for every run with a
    plain-network theory, at the listed layers: the data of the depth/width figure."""
    points = []
    for r in results["runs"]:
        th = r.get("theory")
        if th is None or th.get("model") != "plain" or "seeds" not in r["layers"]["second_moment"]:
            continue
        seeds = np.asarray([_array(row) for row in r["layers"]["second_moment"]["seeds"]])
        for layer in layers:
            if layer > seeds.shape[1]:
                continue
            with np.errstate(all="ignore"):
                logs = np.log(seeds[:, layer - 1])
            predicted = th["pooled_log_q_std"][layer - 1]
            if len(logs) > 1 and np.all(np.isfinite(logs)) and predicted is not None and predicted > 0:
                points.append({"label": r["label"], "group": r["group"], "activation": r["settings"]["activation"],
                               "width": r["settings"]["width"], "layer": layer,
                               "measured": float(np.std(logs, ddof=1)),
                               "predicted": float(predicted), "seeds": len(logs)})
    return points


def width_drift(results: dict, out: str) -> str | None:
    """Depth / width: measured spread of log q across networks against the predicted one (left), and both
    against depth/width for the width runs (right)."""
    points = spread_points(results)
    if not points:
        return None
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 5))
    ratio = np.asarray([p["layer"] / p["width"] for p in points])
    sc = ax.scatter([p["predicted"] for p in points], [p["measured"] for p in points], c=np.log10(ratio),
                    cmap="viridis", s=14, alpha=0.85)
    lo = min(min(p["predicted"] for p in points), min(p["measured"] for p in points if p["measured"] > 0)) / 1.5
    hi = max(max(p["predicted"] for p in points), max(p["measured"] for p in points)) * 1.5
    ax.plot([lo, hi], [lo, hi], color="gray", lw=1)
    seeds = points[0]["seeds"]
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("predicted std of log q over networks (finite-width theory)")
    ax.set_ylabel(f"measured std of log q over {seeds} seeds (ddof 1)")
    ax.set_title("Every plain run, layers 10 to 1000", fontsize=9)
    fig.colorbar(sc, ax=ax, label="log10(depth / width)")
    width_runs = [r for r in results["runs"] if r["group"] == "width" and r.get("theory") is not None]
    acts = list(dict.fromkeys(r["settings"]["activation"] for r in width_runs))
    markers = dict(zip(acts, "osd^v<>"))
    widths = sorted({r["settings"]["width"] for r in width_runs})
    colors = dict(zip(widths, plt.cm.plasma(np.linspace(0, 0.85, max(1, len(widths))))))
    for r in width_runs:
        th = _theory(r)
        n, depth = r["settings"]["width"], r["settings"]["depth"]
        x = np.arange(1, depth + 1) / n
        ax2.plot(x, th["pooled_log_q_std"], color=colors[n], lw=1)
        with np.errstate(all="ignore"):
            logs = np.log(np.asarray([_array(row) for row in r["layers"]["second_moment"]["seeds"]]))
        measured = np.std(logs, axis=0, ddof=1) if logs.shape[0] > 1 else np.full(logs.shape[1], np.nan)
        pick = np.unique(np.geomspace(1, depth, 12).astype(int)) - 1
        ax2.plot(x[pick], measured[pick], markers[r["settings"]["activation"]], color=colors[n], ms=4, ls="none")
    ax2.set_xscale("log")
    ax2.set_yscale("log")
    ax2.set_xlabel("depth / width")
    ax2.set_ylabel("std of log q over networks")
    ax2.set_title("Width runs: lines predicted, markers measured", fontsize=9)
    handles = [plt.Line2D([], [], color=colors[w], lw=1.5) for w in widths] + [
        plt.Line2D([], [], color="k", marker=markers[a], ls="none") for a in acts]
    ax2.legend(handles, [f"width {w}" for w in widths] + acts, fontsize=7)
    fig.suptitle("Finite width: the spread of log second moment across random networks grows with depth / width")
    fig.tight_layout()
    return _save(fig, out, "depth_width_spread.png")


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


def _band_phrase(s: dict) -> str:
    band, last = s.get("band_coverage"), s.get("log_q_last")
    if band is None or band.get("second_moment") is None:
        return ""
    text = (f"; {100 * band['second_moment']:.0f}% of the seeds' layers inside the finite-width 95% band of the "
            f"second moment")
    if last is not None:
        text += (f", log q at the last layer {_number(last['measured_mean'])} ± {_number(last['measured_std'])} "
                 f"measured, {_number(last['predicted_mean'])} ± {_number(last['predicted_std'])} predicted")
    return text


def _gram_size() -> str:
    """'128 networks of 16 inputs': the Monte Carlo of theory.simulate_gram_chain that the study uses (its defaults)."""
    import inspect

    p = inspect.signature(theory.simulate_gram_chain).parameters
    return f"{p['networks'].default} networks of {p['inputs_per_network'].default} inputs"


def _run(results: dict, label: str) -> dict | None:
    return next((r for r in results["runs"] if r["label"] == label and r.get("theory") is not None), None)


def finite_width_note(results: dict) -> str:
    """When mean-field theory holds and when it does not, with this run's numbers (two or three sentences)."""
    parts = []
    relu, selu = _run(results, "ReLU, He"), _run(results, "SELU, LeCun, N(0,1) input")
    if relu is not None:
        n, depth = relu["settings"]["width"], relu["settings"]["depth"]
        last = relu["summary"]["log_q_last"]
        parts.append(
            f"Mean-field theory is the infinite-width limit: at width N each network's log second moment "
            f"random-walks, for ReLU + He with variance ~5 L / N (Hanin & Nica 2019), so at depth / width = "
            f"{depth}/{n} = {depth / n:.2f} the second moment is preserved only on average: the log second moment "
            f"at the last layer is predicted {_number(last['predicted_mean'])} ± {_number(last['predicted_std'])} "
            f"and measured {_number(last['measured_mean'])} ± {_number(last['measured_std'])} over "
            f"{relu['settings']['seeds']} networks, where mean field says 0.")
    if selu is not None:
        last = selu["summary"]["log_q_last"]
        std = np.asarray(selu["theory"]["pooled_log_q_std"], np.float64)
        parts.append(
            f"SELU + LeCun's attracting fixed point pulls the fluctuations back: the predicted spread of log q "
            f"levels off at {_number(std.max(), '.3f')} (last layer: {_number(last['predicted_std'], '.3f')} predicted, "
            f"{_number(last['measured_std'], '.3f')} measured), so mean field holds at any depth.")
    plain = [r for r in results["runs"] if r.get("theory") is not None and r["theory"].get("model") == "plain"
             and (r["summary"].get("band_coverage") or {}).get("second_moment") is not None]
    if plain:
        cover = np.asarray([r["summary"]["band_coverage"]["second_moment"] for r in plain])
        low = plain[int(np.argmin(cover))]
        points = spread_points(results)
        ratio = np.asarray([p["measured"] / p["predicted"] for p in points if p["predicted"] > 0])
        text = (f"Over the {len(plain)} plain configurations without dropout the measured second moments lie inside "
                f"their predicted 95% bands in {100 * np.median(cover):.0f}% of (seed, layer) points (median; lowest "
                f"{100 * cover.min():.0f}%, {low['label']}; {np.sum(cover >= 0.9)} of {len(plain)} at 90% or more)")
        if ratio.size:
            text += (f"; across widths and depths the measured spread of log q over seeds is "
                     f"{np.median(ratio):.2f} times the predicted one (median of {ratio.size} (run, layer) points, "
                     f"quartiles {np.quantile(ratio, 0.25):.2f} and {np.quantile(ratio, 0.75):.2f})")
        parts.append(text + ".")
        gram = [r["label"] for r in plain if r["theory"].get("batch_model") == "gram chain"]
        if gram:
            parts.append(f"In {len(gram)} of them ({', '.join(gram)}) the inputs of one network spread apart (unshared "
                         f"variance of log q above 1), so their bands, the gradient's too, pool a Monte Carlo of the "
                         f"exact Gram-matrix chain ({_gram_size()}) instead of the analytic batch law.")
        seeds = results["config"].get("seeds")
        if seeds is not None and seeds < 16:
            parts.append(f"With {seeds} seeds these fractions are rough: each network's log q random-walks, so an "
                         f"excursion outside the band lasts many layers; judge a band with --seeds 64.")
    return " ".join(parts) if parts else "No finite-width theory in these results."


def summary_table(results: dict, groups=("curves", "width")) -> str:
    """The report's table: one row per configuration of ``groups``, from results.json alone."""
    rows = ["| configuration | final mean | final variance | max dev. from (0,1) | in 95% band: q / var / grad "
            "(layers) | log q at last layer: measured / predicted (mean ± std over networks) | self-normalizing | "
            "seeds agreeing |",
            "|---|---|---|---|---|---|---|---|"]
    for r in results["runs"]:
        if r["group"] not in groups:
            continue
        s = r["summary"]
        band = s.get("band_coverage")
        if band is None:
            inside = "-"
        else:
            inside = (f"{_fraction(band['second_moment'])} / {_fraction(band['var'])} / "
                      f"{_fraction(band['grad_norm'])} ({band['second_moment_layers']})")
        last = s.get("log_q_last")
        if last is None:
            spread = "-"
        else:
            spread = (f"{_number(last['measured_mean'])} ± {_number(last['measured_std'])} / "
                      f"{_number(last['predicted_mean'])} ± {_number(last['predicted_std'])}")
        per_seed = s.get("verdict_per_seed")
        agree = "-" if per_seed is None else f"{sum(v == s['self_normalizing'] for v in per_seed)}/{len(per_seed)}"
        rows.append(f"| {r['label']} | {_number(s['final_mean'])} | {_number(s['final_var'])} | "
                    f"{_number(s['max_deviation'])} | {inside} | {spread} | {'yes' if s['self_normalizing'] else 'no'} "
                    f"| {agree} |")
    return "\n".join(rows)


def _fraction(x) -> str:
    return "-" if x is None else f"{x:.2f}"


def report(results: dict, figures: list[str]) -> str:
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
        lines.append(f"- {r['label']}: final mean {_number(s['final_mean'])}, final variance {_number(s['final_var'])} -> "
                     f"{'self-normalizing' if s['self_normalizing'] else 'not self-normalizing'}{_band_phrase(s)}.")
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
    lines += ["", "## Finite width", "", finite_width_note(results)]
    lines += ["", "## Seeds", "", _seed_sentence(results), "", "## Summary table", "", summary_table(results), "", "## Figures", ""]
    lines += [f"![{f}]({f})" for f in figures]
    return "\n".join(lines) + "\n"


REQUIRED = ("runs", "config", "environment", "theory", "criterion")


def main(argv=None) -> list[str]:
    """Redraws the figures and report.md of a study folder from its results.json, as one set."""
    import argparse

    from experiments import outputs

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folder", nargs="?", default="results/selfnorm_depth",
                   help="a folder written by python -m experiments.selfnorm_depth (default: results/selfnorm_depth)")
    folder = p.parse_args(argv).folder
    figs = outputs.redraw(folder, "results.json", REQUIRED, draw_all, report,
                          "python -m experiments.selfnorm_depth", "a depth study's")
    print(f"redrew {len(figs)} figures and report.md in {folder}")
    return figs


if __name__ == "__main__":
    main()
