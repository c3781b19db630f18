"""Learning-curve figures from metrics.jsonl rows (data first, pictures second)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def learning_curves(runs: dict[str, list[dict]], path: str) -> str:
    """Training loss and test accuracy vs step, mean +- std over seeds, one line per run."""
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    for label, rows in runs.items():
        train = [r for r in rows if r["kind"] == "train"]
        evals = [r for r in rows if r["kind"] == "eval"]
        if train:
            steps = np.array([r["step"] for r in train])
            loss = np.array([np.atleast_1d(r["loss"]) for r in train])
            m, s = loss.mean(1), loss.std(1)
            (line,) = ax_loss.plot(steps, m, label=label)
            ax_loss.fill_between(steps, np.maximum(m - s, 1e-8), m + s, color=line.get_color(), alpha=0.2, lw=0)
        if evals:
            steps = np.array([r["step"] for r in evals])
            acc = np.array([np.atleast_1d(r["test_accuracy"]) for r in evals])
            m, s = acc.mean(1), acc.std(1)
            (line,) = ax_acc.plot(steps, m, label=label)
            ax_acc.fill_between(steps, m - s, m + s, color=line.get_color(), alpha=0.2, lw=0)
    ax_loss.set_yscale("log")
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("training loss (window mean)")
    ax_acc.set_xlabel("step")
    ax_acc.set_ylabel("test accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Learning curves (mean +- std over seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
