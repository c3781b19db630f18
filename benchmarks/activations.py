"""Speed of every activation against jax.nn's version of it and against a memory-bound op.

    python -m benchmarks.activations            # 2^23 float32 elements, all activations (~3 min on 2 CPU cores)
    python -m benchmarks.activations --names mish,softplus --size 20

Each activation's jitted forward, and forward+backward (value and vector-Jacobian product), is
timed interleaved with jax.nn's function doing the same work and with ``-x`` (reads and writes
the same bytes: the bandwidth limit). Reported are ratios of medians from the same process, so
the numbers travel between machines better than seconds do. Goal: ours/jax.nn <= 1.05.
"""

from __future__ import annotations

import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np

import jaxacts
from jaxacts import cli

# registry name -> the jax.nn function computing the same thing with the same defaults.
JAX_NN = {
    "identity": jax.nn.identity,
    "sigmoid": jax.nn.sigmoid,
    "log_sigmoid": jax.nn.log_sigmoid,
    "hard_sigmoid": jax.nn.hard_sigmoid,
    "sparse_sigmoid": jax.nn.sparse_sigmoid,
    "tanh": jax.nn.tanh,
    "softsign": jax.nn.soft_sign,
    "hard_tanh": jax.nn.hard_tanh,
    "relu": jax.nn.relu,
    "relu6": jax.nn.relu6,
    "leaky_relu": jax.nn.leaky_relu,
    "elu": jax.nn.elu,
    "selu": jax.nn.selu,
    "celu": jax.nn.celu,
    "gelu": lambda x: jax.nn.gelu(x, approximate=False),
    "silu": jax.nn.silu,
    "hard_swish": jax.nn.hard_swish,
    "mish": jax.nn.mish,
    "softplus": jax.nn.softplus,
    "squareplus": jax.nn.squareplus,
    "sparse_plus": jax.nn.sparse_plus,
}


def forward(f):
    return jax.jit(f)


def forward_backward(f):
    def run(x, cotangent):
        y, pullback = jax.vjp(f, x)
        return y, pullback(cotangent)[0]
    return jax.jit(run)


def interleaved_medians(fns: dict, args: tuple, repeats: int) -> dict[str, float]:
    """Median seconds per function, calls interleaved so that machine noise hits all alike."""
    for f in fns.values():
        jax.block_until_ready(f(*args))  # compile and warm up
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, f in fns.items():
            t0 = time.perf_counter()
            jax.block_until_ready(f(*args))
            times[k].append(time.perf_counter() - t0)
    return {k: float(np.median(v)) for k, v in times.items()}


def benchmark(names: list[str], size_log2: int = 23, repeats: int = 15) -> list[dict]:
    x = jax.random.normal(jax.random.key(0), (2**size_log2,), jnp.float32) * 4.0
    g = jnp.ones_like(x)
    copy = lambda v: -v
    rows = []
    for name in names:
        ours = jaxacts.get(name)
        theirs = JAX_NN.get(name)
        row = {"name": name}
        for mode, build, args in (("fwd", forward, (x,)), ("fwd+bwd", forward_backward, (x, g))):
            fns = {"copy": build(copy), "ours": build(ours)}
            if theirs is not None:
                fns["jax.nn"] = build(theirs)
            t = interleaved_medians(fns, args, repeats)
            row[f"{mode} ours/copy"] = t["ours"] / t["copy"]
            row[f"{mode} ours/jax.nn"] = t["ours"] / t["jax.nn"] if theirs else None
            row[f"{mode} jax.nn/copy"] = t["jax.nn"] / t["copy"] if theirs else None
        rows.append(row)
        print(format_row(row), flush=True)
    return rows


COLUMNS = ["fwd ours/jax.nn", "fwd+bwd ours/jax.nn", "fwd ours/copy", "fwd jax.nn/copy",
           "fwd+bwd ours/copy", "fwd+bwd jax.nn/copy"]


def format_row(row: dict) -> str:
    cells = ["-" if row[c] is None else f"{row[c]:.2f}" for c in COLUMNS]
    return "| " + " | ".join([row["name"]] + cells) + " |"


MAX_SIZE = 28  # 2^28 float32 elements: 1 GiB an array, a few of them live at once


@dataclasses.dataclass(frozen=True)
class Config:
    """What to time.

    Attributes:
        names: registry names of elementwise activations, or 'all'
        size: log2 of the number of float32 elements, 10 to 28
        repeats: timed calls per function (their median is taken)
    """

    names: tuple[str, ...] = ("all",)
    size: int = 23
    repeats: int = 15

    def __post_init__(self):
        if not self.names:
            raise ValueError("--names is empty: give registry names or 'all'")
        if self.names != ("all",):
            for n in self.names:
                if not jaxacts.info(n).elementwise:  # an unknown name raises ValueError with the valid ones
                    raise ValueError(f"--names: {n} is not elementwise; this benchmark times elementwise "
                                     f"activations: {', '.join(jaxacts.names(elementwise=True))}")
        if not 10 <= self.size <= MAX_SIZE:
            raise ValueError(f"--size must be 10 to {MAX_SIZE} (log2 of the element count), got {self.size}")
        if self.repeats < 1:
            raise ValueError(f"--repeats must be >= 1, got {self.repeats}")

    @property
    def activations(self) -> list[str]:
        if self.names == ("all",):
            return jaxacts.names(elementwise=True)
        return [jaxacts.info(n).name for n in self.names]


def main(argv=None):
    c, _ = cli.command(Config, argv, __doc__)
    print(f"backend {jax.default_backend()}, {jax.device_count()} device(s), 2^{c.size} float32 elements; "
          "ratios of medians (lower is faster)")
    print("| activation | " + " | ".join(COLUMNS) + " |")
    print("|---" * (len(COLUMNS) + 1) + "|")
    return benchmark(c.activations, c.size, c.repeats)


if __name__ == "__main__":
    main()
