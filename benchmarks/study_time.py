"""Where the depth study's time goes: start-up, probe, theory, figures; a first run and a rerun.

    python -m benchmarks.study_time                  # the default study (a few minutes on 2 CPU cores)
    python -m benchmarks.study_time --quick          # any flag of experiments.selfnorm_depth is passed on

Runs ``python -m experiments.selfnorm_depth`` twice as a user would, each in a fresh process with a new
temporary output folder: first with an empty cache folder (a first run on a new machine), then again with
the cache the first run filled (the theory's results and XLA's compiled programs). Prints the split of each
run's wall time, read from its results.json (``timing``) and the process's own wall clock; start-up (Python,
JAX and the package imported, the backend initialised) is timed by a third process that does only that.
The theory runs in a thread beside the probe, so "theory" overlaps "probe"; "waiting for the theory" is
what it adds after the probe is done.

It ends with the probe's floor on this machine: the grid's matrix products (every hidden layer's forward
product and the backward product that carries the gradient down, 4 x rows x fan-in x width flops; the first
layer's forward product) and weight draws, each at the rate this process measures for that layer shape (a
chain of 16 products forward, 16 backward; 16 layers' weights drawn from the initializer's distribution). Where
seeds run one after another (one CPU device), the probe can be no faster than that sum here without doing
less arithmetic.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import tempfile
import time

STARTUP = "import jax, experiments.selfnorm_depth; jax.devices()"


def _wall(argv: list[str]) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"error: {' '.join(argv[2:4])} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> list[dict]:
    argv = sys.argv[1:] if argv is None else list(argv)
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__)
        return []
    if any(a == "--out" or a.startswith("--out=") or a.startswith("--cache-dir") for a in argv):
        raise SystemExit("error: study_time chooses --out and --cache-dir itself (temporary folders); drop them")
    # Checked before the long runs: a bad study flag is the study's own one-line error.
    from experiments import selfnorm_depth

    selfnorm_depth.config_from_argv(argv)
    import jax

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        startup = _wall([sys.executable, "-c", STARTUP])
        cache = os.path.join(tmp, "cache")
        for name in ("first run (empty cache)", "rerun (cache filled)"):
            out = os.path.join(tmp, f"out{len(rows)}")
            wall = _wall([sys.executable, "-m", "experiments.selfnorm_depth", *argv, "--out", out, "--cache-dir", cache])
            with open(os.path.join(out, "results.json")) as fh:
                r = json.load(fh)
            t = r["timing"]
            rows.append({"run": name, "wall": wall, "startup": startup, "study": r["seconds"], "probe": t["probe"],
                         "theory": t["theory"], "theory_wait": t["theory_wait"],
                         "figures_and_report": max(0.0, wall - startup - r["seconds"]),
                         "theories": f"{t['theories_computed']} computed, {t['theories_cached']} cached",
                         "programs": r["programs"], "configurations": len(r["runs"])})
    print(f"backend {jax.default_backend()}, {jax.device_count()} device(s), {os.cpu_count()} CPU cores; "
          f"study flags: {' '.join(argv) or '(defaults)'}")
    print("| run | wall (s) | start-up | study | probe (compile + run) | theory (beside the probe) | "
          "waiting for the theory | figures and report | theories |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['run']} | {row['wall']:.1f} | {row['startup']:.1f} | {row['study']:.1f} | {row['probe']:.1f} | "
              f"{row['theory']:.1f} | {row['theory_wait']:.1f} | {row['figures_and_report']:.1f} | {row['theories']} |")
    if jax.default_backend() != "cpu" or jax.device_count() > 1:
        print("\nthe probe's floor: not computed (it assumes seeds run one after another, as on one CPU device)")
        return rows
    floor = probe_floor(argv)
    print(f"\nthe probe's arithmetic: {floor['flops'] / 1e12:.2f} TFLOP of matrix products "
          f"({floor['product_seconds']:.1f} s at {floor['flops'] / floor['product_seconds'] / 1e9:.0f} GFLOP/s, "
          f"this machine's rate for the grid's layer shapes) and {floor['draws'] / 1e9:.2f} G weight draws "
          f"({floor['draw_seconds']:.1f} s at {floor['draws'] / floor['draw_seconds'] / 1e6:.0f} M/s): "
          f"at least {floor['product_seconds'] + floor['draw_seconds']:.0f} s of probe on this machine")
    return rows


def _seconds(fn, *args, repeats: int = 5) -> float:
    """The fastest of ``repeats`` calls, after one to compile."""
    import jax

    jax.block_until_ready(fn(*args))
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - t0)
    return best


def probe_floor(argv: list[str], layers: int = 16) -> dict:
    """The study's probe arithmetic (flops of its matrix products, its weight draws) and the seconds each
    takes at the rates this process measures for the grid's layer shapes. Every hidden layer's product runs
    forward and once backward (the gradient reaching the layer; no weight gradients), the first layer's
    forward only; each seed's weights are drawn once (as the default grid runs: without rematerialization).
    A floor where seeds run one after another, as on one CPU device (elsewhere they run side by side)."""
    import jax
    import jax.numpy as jnp

    from experiments import selfnorm_depth
    from jaxacts import initializers

    c = selfnorm_depth.config_from_argv(argv)[0]
    # (rows, fan-in, width, weight distribution, backward too) -> layers over seeds
    layer_counts: dict[tuple, int] = {}
    for run, _, in_shape in selfnorm_depth.plan(c):
        p = run.probe
        conv = p.architecture == "conv"
        rows = in_shape[0] * in_shape[1] * in_shape[2] if conv else in_shape[0]
        for fan_in, count, backward in ((in_shape[-1], 1, False), (p.width, p.depth - 1, True)):
            k = (rows, 9 * fan_in if conv else fan_in, p.width, initializers.distribution(p.init), backward)
            layer_counts[k] = layer_counts.get(k, 0) + count * c.seeds
    flops = draws = product_seconds = draw_seconds = 0.0
    key = jax.random.key(0)
    keys = jax.random.split(key, layers)
    # Chains of products as the probe's scan runs them: each layer's output (or gradient) feeds the next. A
    # hidden layer's fan-in is its width, or 9 x its channels for the convolution (its 3 x 3 patches: the
    # output tiled 9 times stands in for them forward; the backward pass sums the 9 blocks).
    def forward(h, w):
        return jax.lax.scan(lambda h, wl: (jnp.tile(h, (1, wl.shape[0] // wl.shape[1])) @ wl, None), h, w)[0]

    def backward(g, w):
        blocks = lambda d: d.reshape(d.shape[0], -1, w.shape[2]).sum(axis=1)
        return jax.lax.scan(lambda g, wl: (blocks(g @ wl.T), None), g, w)[0]

    forward, backward = jax.jit(forward), jax.jit(backward)
    once = jax.jit(lambda x, w: jax.lax.map(lambda wl: x @ wl, w))  # a first layer: one product from the input

    @functools.cache  # each shape timed once, whatever the distributions drawn for it
    def product_layer(rows, fan_in, width, back):
        w = jax.random.normal(key, (layers, fan_in, width), jnp.float32) / fan_in**0.5
        if back:
            h = jnp.ones((rows, width), jnp.float32)
            return (_seconds(forward, h, w) + _seconds(backward, h, w)) / layers
        return _seconds(once, jnp.ones((rows, fan_in), jnp.float32), w) / layers

    @functools.cache
    def draw_layer(fan_in, width, distribution):
        return _seconds(jax.jit(jax.vmap(lambda k: initializers.unit_sample(distribution, k, (fan_in, width)))),
                        keys) / layers

    for (rows, fan_in, width, distribution, back), count in layer_counts.items():
        flops += count * (4.0 if back else 2.0) * rows * fan_in * width
        draws += count * fan_in * width
        product_seconds += count * product_layer(rows, fan_in, width, back)
        draw_seconds += count * draw_layer(fan_in, width, distribution)
    return {"flops": flops, "draws": draws, "product_seconds": product_seconds, "draw_seconds": draw_seconds}


if __name__ == "__main__":
    main()
