"""Gallery: every registered activation and its hand-written derivative, one PNG each plus an overview grid.

    python -m experiments.gallery                     # writes results/gallery/*.png (~30 s)
    python -m experiments.gallery --out DIR --names selu,mish

The figures are written as one set (``experiments.outputs``): a kill leaves the old gallery or the new one.

Each plot shows f(x) and f'(x) on [-6, 6] (wide enough for the shapes; the tails are straight or
flat), with the formula from the registry in the legend. The derivative is the registry's own
hand-written rule, so the plot shows what ``jax.grad`` will use, conventions at kinks included.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re

import matplotlib

matplotlib.use("Agg")
import jax.numpy as jnp  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import jaxacts  # noqa: E402
from experiments import outputs  # noqa: E402
from jaxacts import cli  # noqa: E402


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


@dataclasses.dataclass(frozen=True)
class Config:
    """What to draw.

    Attributes:
        out: output folder (refused if it holds a gallery, unless --overwrite)
        names: registry names, or 'all'
        xmin, xmax: the x range drawn (finite, xmin < xmax)
        overwrite: replace a gallery already in --out
    """

    out: str = "results/gallery"
    names: tuple[str, ...] = ("all",)
    xmin: float = -6.0
    xmax: float = 6.0
    overwrite: bool = False

    def __post_init__(self):
        if not self.names:
            raise ValueError("--names is empty: give registry names or 'all'")
        if self.names != ("all",):
            for n in self.names:
                jaxacts.info(n)  # an unknown name raises ValueError with the valid ones
        for flag, v in (("--xmin", self.xmin), ("--xmax", self.xmax)):
            if not math.isfinite(v):
                raise ValueError(f"{flag} must be a finite number, got {v}")
        if not self.xmin < self.xmax:
            raise ValueError(f"--xmin must be < --xmax, got {self.xmin} and {self.xmax}")
        outputs.check_out(self.out)
        if os.path.exists(os.path.join(self.out, "overview.png")) and not self.overwrite:
            raise ValueError(f"{self.out} already holds a gallery; pass --overwrite or choose another --out")


def main(argv=None) -> list[str]:
    args, _ = cli.command(Config, argv, __doc__)
    names = jaxacts.names() if args.names == ("all",) else [jaxacts.info(n).name for n in args.names]
    with outputs.output_set(args.out) as staging:
        written = _draw_all(names, args.xmin, args.xmax, staging)
    written = [os.path.join(args.out, os.path.basename(w)) for w in written]
    print(f"wrote {len(written)} figures to {args.out} (overview: {written[-1]})")
    return written


def _draw_all(names: list[str], xmin: float, xmax: float, out: str) -> list[str]:
    x = np.linspace(xmin, xmax, 1201)
    written = []
    for name in names:
        fig, ax = plt.subplots(figsize=(6, 4))
        draw(ax, name, x, legend_size=9)
        fig.tight_layout()
        path = os.path.join(out, f"{name}.png")
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
    overview = os.path.join(out, "overview.png")
    fig.savefig(overview, dpi=90)
    plt.close(fig)
    written.append(overview)
    return written


if __name__ == "__main__":
    main()
