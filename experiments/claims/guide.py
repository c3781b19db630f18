""""Which activation should I use?": the guide, generated from claims.json alone (never typed).

The reference material's advice, each sentence beside the verdicts and numbers that test it; a ranking
of activations by setting (test accuracy with its interval, ranks with ties); a figure of the same; and
what the data say a student should use, and where they cannot decide. ``python -m experiments.claims``
writes it as guide.md and guide.png beside the report.
"""

from __future__ import annotations

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from experiments.claims import common as C  # noqa: E402

SETTINGS = ("MLP depth 2", "MLP depth 16", "CNN", "residual MLP", "small data", "large data")
ORDER = ("SELU", "ELU", "leaky ReLU 0.2", "leaky ReLU 0.01", "PReLU", "RReLU", "ReLU", "maxout", "GELU", "Swish",
         "Mish", "tanh", "sigmoid")

# (advice as its source words it, source, claim ids that test it, words that pick the relevant clauses)
ADVICE = (
    ("SELU > ELU > leaky ReLU (and its variants) > ReLU > tanh > sigmoid", "Géron, Hands-On ML 2e, p. 332",
     ("ranking",), ()),
    ("If the network cannot self-normalize, prefer ELU to SELU", "Géron, p. 332", ("ranking",), ("residual", "ELU")),
    ("If runtime matters, leaky ReLU", "Géron, p. 332", ("activation_cost", "elu_speed"), ()),
    ("If the network overfits, RReLU", "Géron, p. 332", ("data_size",), ("RReLU", "overfit", "small")),
    ("With a huge training set, PReLU", "Géron, p. 332", ("data_size",), ("PReLU", "large", "huge")),
    ("ReLU is the fastest and a good default", "Géron, p. 332", ("activation_cost", "relu_vs_tanh"), ()),
    ("Use ReLU by default, with a small enough learning rate (ReLU units can die)", "CS231n", ("dying_relu",), ()),
    ("Try leaky ReLU, Maxout, ELU for a small additional gain", "CS231n", ("leaky_slope", "maxout", "ranking"),
     ("leaky", "maxout", "ELU")),
    ("Prefer tanh over sigmoid; never use sigmoid", "CS231n", ("tanh_vs_sigmoid", "sigmoid_gradients"), ()),
    ("Deeper networks favour Swish, Mish and GELU over ReLU", "Ramachandran et al. 2017; Misra 2019",
     ("smooth_depth",), ()),
    ("A nonlinearity is what makes depth useful", "Goodfellow et al. 2016", ("linear_collapse",), ()),
)


def ranking(claims: list[dict]) -> dict[str, dict[str, dict]]:
    """{column: {activation: {"mean", "ci95", "values"}}} gathered from every claim's measurements.

    A column holds one experiment's networks. A claim's setting joins the column of that name only where
    the two claims ran the same runs, seen in the activations both measured (the same per-seed values:
    one claim reused the other's networks, seeds and rates); otherwise it gets a column of its own, named
    with the claim ("MLP depth 2 (maxout)"), so that networks of different widths or training are never
    ranked together. A setting a claim lists twice under two names (data_size's "n=1000" is its "small
    data") appears once, under the guide's name for it."""
    out: dict[str, dict[str, dict]] = {}
    for c in claims:
        settings = c.get("measurements", {}).get("ranking", {})
        names = sorted(settings, key=lambda s: (s not in SETTINGS, SETTINGS.index(s) if s in SETTINGS else 0))
        kept: list[str] = []
        for setting in names:
            acts = settings[setting]
            if any(settings[k] == acts for k in kept):
                continue
            kept.append(setting)
            column = setting
            if setting in out:
                shared = set(out[setting]) & set(acts)
                if not shared or any(out[setting][a].get("values") != acts[a].get("values") for a in shared):
                    column = f"{setting} ({c['id']})"
            out.setdefault(column, {}).update(acts)
    return out


def beats(a: dict, b: dict) -> bool:
    """Whether ``a``'s accuracy is resolved above ``b``'s: the t-interval of the per-seed difference above 0
    where both have the same seeds (paired), else a's interval entirely above b's."""
    va, vb = a.get("values"), b.get("values")
    if va and vb and len(va) == len(vb) and len(va) >= 2 and None not in va + vb:
        return C.paired_difference(va, vb)[1][0] > 0
    return a["ci95"][0] > b["ci95"][1]


def ranks(cells: dict[str, dict]) -> dict[str, int]:
    """Rank of each activation: 1 + how many others are resolved above it (a tie where none is)."""
    return {a: 1 + sum(beats(cells[b], cells[a]) for b in cells if b != a) for a in cells}


def _rows(table: dict[str, dict[str, dict]]) -> list[str]:
    present = {a for cells in table.values() for a in cells}
    return [a for a in ORDER if a in present] + sorted(present - set(ORDER))


def _columns(table: dict) -> list[str]:
    return [s for s in SETTINGS if s in table] + sorted(set(table) - set(SETTINGS))


def ranking_table(table: dict[str, dict[str, dict]]) -> str:
    cols = _columns(table)
    rk = {s: ranks(table[s]) for s in cols}
    lines = ["| activation | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    for a in _rows(table):
        cells = []
        for s in cols:
            if a not in table[s]:
                cells.append("-")
                continue
            v = table[s][a]
            cells.append(f"{v['mean']:.3f} [{v['ci95'][0]:.3f}, {v['ci95'][1]:.3f}] (#{rk[s][a]})")
        lines.append(f"| {a} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _clauses(claim: dict, words: tuple[str, ...]) -> list[dict]:
    subs = claim["subverdicts"]
    picked = [s for s in subs if any(w.lower() in s["clause"].lower() for w in words)] if words else []
    return picked or subs


def advice_lines(claims: list[dict]) -> list[str]:
    by_id = {c["id"]: c for c in claims}
    lines = ["| advice | source | tested by | verdicts (95% CI) |", "|---|---|---|---|"]
    for text, source, ids, words in ADVICE:
        tested = [by_id[i] for i in ids if i in by_id]
        if not tested:
            lines.append(f"| {text} | {source} | - | not tested in this run |")
            continue
        verdicts = "; ".join(f"{s['clause']}: **{s['verdict']}** ({s['statistic']['value']:.3g} "
                             f"[{s['ci95'][0]:.3g}, {s['ci95'][1]:.3g}])" for c in tested for s in _clauses(c, words))
        lines.append(f"| {text} | {source} | {', '.join(c['id'] for c in tested)} | {verdicts.replace('|', '/')} |")
    return lines


def conclusion(table: dict[str, dict[str, dict]]) -> list[str]:
    """What the ranking says, setting by setting, and overall: the activations no other beats (rank 1)."""
    if not table:
        return ["No claim in this run measured test accuracy by setting, so the data here cannot rank activations."]
    top = {s: sorted(a for a, r in ranks(table[s]).items() if r == 1) for s in _columns(table)}
    lines = [f"- **{s}**: " + (f"{top[s][0]} is best, resolved above every other." if len(top[s]) == 1 else
                               f"the data cannot separate {', '.join(top[s])}: no activation is resolved above any "
                               "of them.") for s in top]
    count: dict[str, int] = {}
    for names in top.values():
        for a in names:
            count[a] = count.get(a, 0) + 1
    always = sorted(a for a, n in count.items() if n == len(top))
    never_worse = ", ".join(f"{a} ({n}/{len(top)})" for a, n in sorted(count.items(), key=lambda kv: -kv[1]))
    lines += ["", "Top tier by setting (count of settings where nothing is resolved above it): " + never_worse + "."]
    if always:
        lines.append(f"So: {', '.join(always)} {'is' if len(always) == 1 else 'are'} never beaten in these settings — "
                     "a safe default on this evidence. Where the top tier holds several, choose by cost or habit: "
                     "the data do not decide.")
    else:
        lines.append("No activation is in the top tier in every setting: the best choice depends on the setting, as "
                     "the table shows, and where a tier holds several the data do not decide.")
    return lines


def guide(results: dict) -> str:
    claims, env = results["claims"], results["environment"]
    table = ranking(claims)
    lines = ["# Which activation should I use? A guide generated from the data", "",
             f"Generated from claims.json ({len(claims)} claims; {env['backend']} ({env['device']}), {env['date']}"
             f"{', QUICK: a pipeline check, not evidence' if env['quick'] else ''}). Every number below comes from "
             "that run; the protocols, rules and per-seed values are in report.md.", "",
             "## The advice, tested", ""] + advice_lines(claims) + [
             "", "## Ranking by setting", "",
             "Test accuracy, mean over evaluation seeds with its 95% t-interval; (#k) is the rank: 1 + the number of "
             "activations resolved above it (paired t-interval of the per-seed difference above 0). Equal ranks are "
             "ties: their differences are not resolved at these seed counts.", "", ranking_table(table) if table else
             "(no claim in this run measured accuracy by setting)", "", "![ranking](guide.png)", "",
             "## What to use", ""] + conclusion(table)
    return "\n".join(lines)


def figure(results: dict, path: str) -> None:
    table = ranking(results["claims"])
    cols = _columns(table) or ["(none)"]
    rows = _rows(table)
    fig, axes = plt.subplots(1, len(cols), figsize=(3.2 * len(cols), 0.35 * max(len(rows), 4) + 1.5), sharey=True,
                             squeeze=False)
    for ax, s in zip(axes[0], cols):
        cells = table.get(s, {})
        for i, a in enumerate(rows):
            if a in cells:
                v = cells[a]
                ax.errorbar(v["mean"], i, xerr=[[v["mean"] - v["ci95"][0]], [v["ci95"][1] - v["mean"]]], fmt="o",
                            capsize=3, color="C0" if ranks(cells)[a] == 1 else "0.5")
        ax.set_title(s, fontsize=9)
        ax.set_xlabel("test accuracy (95% CI)", fontsize=8)
        ax.grid(alpha=0.3)
    axes[0, 0].set_yticks(range(len(rows)), rows, fontsize=8)
    axes[0, 0].invert_yaxis()
    fig.suptitle("Activations by setting (blue: nothing resolved above it)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
