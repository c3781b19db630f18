"""Speed of every activation against jax.nn's version of it and against a memory-bound op.

    python -m benchmarks.activations            # 2^23 float32 elements, all activations (~3 min on 2 CPU cores)
    python -m benchmarks.activations --names mish,softplus --size 20

Each activation's jitted forward, and forward+backward (value and vector-Jacobian product), is
timed interleaved with jax.nn's function doing the same work and with ``-x`` (reads and writes
the same bytes: the bandwidth limit). Reported are ratios of medians from the same process, so
the numbers travel between machines better than seconds do. Goal: ours/jax.nn <= 1.05.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

import jaxacts

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


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--names", default="all", help="comma-separated registry names, or 'all' (elementwise ones)")
    p.add_argument("--size", type=int, default=23, help="log2 of the number of float32 elements (default 23)")
    p.add_argument("--repeats", type=int, default=15, help="timed calls per function (median taken)")
    args = p.parse_args(argv)
    names = jaxacts.names(elementwise=True) if args.names == "all" else [jaxacts.info(n).name for n in args.names.split(",")]
    print(f"backend {jax.default_backend()}, {jax.device_count()} device(s), 2^{args.size} float32 elements; "
          "ratios of medians (lower is faster)")
    print("| activation | " + " | ".join(COLUMNS) + " |")
    print("|---" * (len(COLUMNS) + 1) + "|")
    benchmark(names, args.size, args.repeats)


if __name__ == "__main__":
    main()
