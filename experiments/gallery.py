"""Gallery: every registered activation and its hand-written derivative, one PNG each plus an overview grid.

    python -m experiments.gallery                     # writes results/gallery/*.png (~30 s)
    python -m experiments.gallery --out DIR --names selu,mish

Each plot shows f(x) and f'(x) on [-6, 6] (wide enough for the shapes; the tails are straight or
flat), with the formula from the registry in the legend. The derivative is the registry's own
hand-written rule, so the plot shows what ``jax.grad`` will use, conventions at kinks included.
"""

from __future__ import annotations

import argparse
import math
import os
import re

import matplotlib

matplotlib.use("Agg")
import jax.numpy as jnp  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import jaxacts  # noqa: E402


def _curves(name: str, x: np.ndarray):
    info = jaxacts.info(name)
    if info.elementwise:
        return np.asarray(info.fn(jnp.asarray(x))), np.asarray(info.derivative(jnp.asarray(x)))
    if name == "maxout":  # max(x, 0.5 x - 1): a convex piecewise-linear unit of two pieces
        pieces = jnp.stack([jnp.asarray(x), 0.5 * jnp.asarray(x) - 1.0], axis=-1)
        y = jaxacts.maxout(pieces, num_pieces=2).reshape(-1)
        return np.asarray(y), np.where(x > -2.0, 1.0, 0.5)
    if name == "glu":  # a * sigmoid(b) along the diagonal a = b = x
        y = jaxacts.glu(jnp.stack([jnp.asarray(x), jnp.asarray(x)], axis=-1)).reshape(-1)
        s = 1 / (1 + np.exp(-x))
        return np.asarray(y), s + x * s * (1 - s)
    raise ValueError(f"no gallery recipe for non-elementwise {name!r}")


def _title(name: str) -> str:
    if name == "maxout":
        return "maxout of (x, x/2 - 1)"
    if name == "glu":
        return "glu along a = b = x"
    return name


def _mathtext(latex: str) -> str:
    """The registry's LaTeX in the subset matplotlib's mathtext parses."""
    latex = re.sub(r"\\text\{([^}]*)\}", lambda m: r"\mathrm{" + m.group(1).replace(" ", r"\ ") + "}", latex)
    return latex.replace(r"\tfrac", r"\frac").replace(r"\operatorname{", r"\mathrm{")


def draw(ax, name: str, x: np.ndarray, legend_size=8):
    info = jaxacts.info(name)
    y, dy = _curves(name, x)
    ax.axhline(0, color="gray", lw=0.5)
    ax.axvline(0, color="gray", lw=0.5)
    ax.plot(x, y, lw=2, label=f"$f(x) = {_mathtext(info.formula)}$")
    ax.plot(x, dy, lw=1.5, ls="--", label=f"$f'(x) = {_mathtext(info.derivative_formula)}$")
    ax.set_title(_title(name), fontsize=10)
    ax.set_xlabel("x", fontsize=8)
    ax.legend(fontsize=legend_size, loc="upper left")
    ax.tick_params(labelsize=7)


def main(argv=None) -> list[str]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="results/gallery", help="output directory (default: results/gallery)")
    p.add_argument("--names", default="all", help="comma-separated registry names (default: all)")
    p.add_argument("--xmin", type=float, default=-6.0)
    p.add_argument("--xmax", type=float, default=6.0)
    args = p.parse_args(argv)
    try:
        names = jaxacts.names() if args.names == "all" else [jaxacts.info(n).name for n in args.names.split(",")]
    except ValueError as e:
        raise SystemExit(f"error: {e}")
    if not args.xmin < args.xmax:
        raise SystemExit("error: --xmin must be < --xmax")
    os.makedirs(args.out, exist_ok=True)
    x = np.linspace(args.xmin, args.xmax, 1201)
    written = []
    for name in names:
        fig, ax = plt.subplots(figsize=(6, 4))
        draw(ax, name, x, legend_size=9)
        fig.tight_layout()
        path = os.path.join(args.out, f"{name}.png")
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    cols = 6
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, 2.6 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        y, dy = _curves(name, x)
        ax.axhline(0, color="gray", lw=0.5)
        ax.plot(x, y, lw=1.8, label="f")
        ax.plot(x, dy, lw=1.2, ls="--", label="f'")
        ax.set_title(_title(name), fontsize=9)
        ax.set_ylim(max(-3.0, min(y.min(), dy.min()) - 0.3), min(6.5, max(y.max(), dy.max()) + 0.3))
        ax.tick_params(labelsize=6)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    fig.suptitle("jaxacts: every activation (solid) and its hand-written derivative (dashed)", fontsize=12)
    fig.tight_layout(rect=(0, 0, 1, 0.98))
    overview = os.path.join(args.out, "overview.png")
    fig.savefig(overview, dpi=90)
    plt.close(fig)
    written.append(overview)
    print(f"wrote {len(written)} figures to {args.out} (overview: {overview})")
    return written


if __name__ == "__main__":
    main()
