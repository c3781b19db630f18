"""Whole-run speed: the package's default training run against a lean hand-written JAX + optax loop
doing the same work, in one process.

    python -m benchmarks.train_run                       # 60 epochs, 3 seeds, 2 runs each (~2-5 min on 2 CPU cores)
    python -m benchmarks.train_run --epochs 5 --seeds 1  # a quick look

The package run is ``experiments.train.main(["--out", tmp, "--epochs", E, "--seeds", S])`` with every
other flag at its default: MNIST-1D (``load_dataset("mnist1d")``, generated locally), MLP 3 x 256 ReLU,
He-normal init, Adam 2e-3 with cosine decay over all steps, batch 100, seeds vmapped, test evaluation
every epoch, metrics.jsonl, checkpoints, summary.json and curves.png.

The lean run (``lean_run``) does the same training: same data (the same ``load_dataset`` call), same
architecture and initialization (truncated-normal variance scaling 2.0 fan_in, zero biases), same
optimizer and schedule, the seeds vmapped, one jitted ``lax.scan`` over the steps of each epoch with
per-epoch reshuffled batches gathered on device, test evaluation every epoch, metrics fetched to the
host once per epoch; no files.

Runs alternate (lean, package, lean, package, ... ``--repeats`` each). Each is wall clock including
data generation and compilation, excluding interpreter start and imports (done before timing; fresh
functions are traced and compiled in every run, and JAX's persistent compilation cache must be off).
Prints the medians, package / lean (the goal: <= 1.15 on 2 CPU cores), the data-generation time inside
each run, the ratio of process CPU times (steadier than wall clock when other processes load the
machine), and both runs' final mean test accuracy (they should agree within a few points; MNIST-1D MLP
~0.65).
"""

from __future__ import annotations

import dataclasses
import contextlib
import io
import json
import os
import shutil
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxacts import cli
from jaxacts import data as D


def init_mlp(key: jax.Array, sizes: list[int]) -> list[dict[str, jax.Array]]:
    """Dense layers in -> ... -> out: He-normal truncated weights (as the package's he_normal), zero biases."""
    init = jax.nn.initializers.variance_scaling(2.0, "fan_in", "truncated_normal")
    keys = jax.random.split(key, len(sizes) - 1)
    return [{"w": init(k, (fan_in, fan_out), jnp.float32), "b": jnp.zeros((1, fan_out), jnp.float32)}
            for k, fan_in, fan_out in zip(keys, sizes[:-1], sizes[1:])]


def mlp(params: list[dict[str, jax.Array]], x: jax.Array) -> jax.Array:
    """Logits of a ReLU MLP for a batch x (B, in)."""
    for layer in params[:-1]:
        x = jax.nn.relu(x @ layer["w"] + layer["b"])
    return x @ params[-1]["w"] + params[-1]["b"]


def _over_seeds(fn, seeds: int, in_axes):
    """``jax.vmap(fn)`` over a leading seed axis; with one seed, fn on the squeezed arrays (unbatched
    matmuls, as the package does for one seed)."""
    if seeds > 1:
        return jax.vmap(fn, in_axes=in_axes)

    def single(*args):
        squeeze = [jax.tree.map(lambda a: a[0], a) if ax == 0 else a for a, ax in zip(args, in_axes)]
        return jax.tree.map(lambda a: a[None], fn(*squeeze))
    return single


def lean_run(*, epochs: int = 60, seeds: int = 3, batch_size: int = 100, depth: int = 3, width: int = 256,
             lr: float = 2e-3, dataset: str = "mnist1d", seed: int = 0) -> dict:
    """Trains ``seeds`` ReLU MLPs together; returns per-seed final test accuracy/loss, per-epoch mean test
    accuracy, the final mean training loss, and the seconds spent on data and in total."""
    t0, c0 = time.perf_counter(), time.process_time()
    data = D.load_dataset(dataset, seed=seed)
    data_seconds = time.perf_counter() - t0
    x_train = jnp.asarray(data.x_train.reshape(data.x_train.shape[0], -1))
    y_train = jnp.asarray(data.y_train)
    x_test = jnp.asarray(data.x_test.reshape(data.x_test.shape[0], -1))
    y_test = jnp.asarray(data.y_test)
    n_train = x_train.shape[0]
    steps = n_train // batch_size
    if steps == 0:
        raise ValueError(f"batch size {batch_size} exceeds the {n_train} training examples")
    tx = optax.adam(optax.cosine_decay_schedule(lr, epochs * steps))
    sizes = [x_train.shape[1]] + [width] * depth + [data.num_classes]

    seed_keys = jax.random.split(jax.random.key(seed), seeds)

    def init(key):
        params = init_mlp(jax.random.fold_in(key, 0), sizes)
        return params, tx.init(params)

    params, opt_state = jax.jit(_over_seeds(init, seeds, (0,)))(seed_keys)

    def loss_fn(p, x, y):
        return optax.softmax_cross_entropy_with_integer_labels(mlp(p, x), y).mean()

    def one_step(p, o, idx, x_all, y_all):
        loss, grads = jax.value_and_grad(loss_fn)(p, x_all[idx], y_all[idx])
        updates, o = tx.update(grads, o, p)
        return optax.apply_updates(p, updates), o, loss

    train_step = _over_seeds(one_step, seeds, (0, 0, 0, None, None))

    def test_metrics(p, x, y):
        logits = mlp(p, x)
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
        return loss, jnp.mean(jnp.argmax(logits, -1) == y)

    evaluate = _over_seeds(test_metrics, seeds, (0, None, None))

    def order(key, epoch):  # (steps, batch) indices of one epoch, reshuffled per seed and epoch
        perm = jax.random.permutation(jax.random.fold_in(jax.random.fold_in(key, 1), epoch), n_train)
        return perm[: steps * batch_size].reshape(steps, batch_size)

    def epoch_fn(params, opt_state, epoch, x_tr, y_tr, x_te, y_te):
        indices = jnp.swapaxes(jax.vmap(order, in_axes=(0, None))(seed_keys, epoch), 0, 1)  # (steps, S, B)

        def body(carry, idx):
            p, o, loss = train_step(*carry, idx, x_tr, y_tr)
            return (p, o), loss

        (params, opt_state), losses = jax.lax.scan(body, (params, opt_state), indices)
        test_loss, test_acc = evaluate(params, x_te, y_te)
        return params, opt_state, {"train_loss": jnp.mean(losses, axis=0), "test_loss": test_loss,
                                   "test_accuracy": test_acc}

    run_epoch = jax.jit(epoch_fn, donate_argnums=(0, 1))
    history = []
    for epoch in range(epochs):
        params, opt_state, metrics = run_epoch(params, opt_state, jnp.int32(epoch), x_train, y_train, x_test, y_test)
        metrics = jax.device_get(metrics)  # one transfer per epoch
        if not np.all(np.isfinite(metrics["train_loss"])):
            raise FloatingPointError(f"training loss became {metrics['train_loss'].tolist()} in epoch {epoch + 1}")
        history.append(float(np.mean(metrics["test_accuracy"])))
    return {"test_accuracy": np.asarray(metrics["test_accuracy"], np.float64).tolist(),
            "test_loss": np.asarray(metrics["test_loss"], np.float64).tolist(),
            "train_loss": float(np.mean(metrics["train_loss"])), "test_accuracy_per_epoch": history,
            "data_seconds": data_seconds, "seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0}


def package_run(*, epochs: int, seeds: int, quiet: bool = True) -> dict:
    """The package's default training run (``experiments.train``) into a fresh temporary folder; its
    console output (progress bar, table) is dropped when ``quiet``."""
    from experiments import train

    out = tempfile.mkdtemp(prefix="train_run_")
    sink = io.StringIO()
    try:
        with contextlib.ExitStack() as stack:
            if quiet:
                stack.enter_context(contextlib.redirect_stdout(sink))
                stack.enter_context(contextlib.redirect_stderr(sink))
            t0, c0 = time.perf_counter(), time.process_time()
            result = train.main(["--out", out, "--epochs", str(epochs), "--seeds", str(seeds)])
            seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
        summary_path = os.path.join(out, "summary.json")
        if os.path.exists(summary_path):
            with open(summary_path) as fh:
                summary = json.load(fh)
        else:  # main's return value: {activation: summary}
            summary = next(iter(result.values()))
        return {"test_accuracy": summary["per_seed"]["test_accuracy"]["per_seed"], "seconds": seconds,
                "cpu_seconds": cpu_seconds}
    finally:
        shutil.rmtree(out, ignore_errors=True)


def prepare() -> None:
    """Imports and backend start-up that neither run should be charged for (as interpreter start)."""
    import importlib

    for name in ("experiments.train", "mnist1d.data", "sklearn.datasets", "matplotlib.pyplot", "orbax.checkpoint",
                 "tqdm.auto"):
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    # The process's first compilation starts XLA's compiler: a one-time cost, paid here by a small function.
    warm = jax.jit(jax.grad(lambda w, x: jax.lax.scan(lambda c, xi: (jnp.tanh(c @ w + xi), None), x[0], x)[0].sum()))
    jax.block_until_ready(warm(jnp.eye(4, dtype=jnp.float32), jnp.ones((3, 4), jnp.float32)))
    if jax.config.jax_compilation_cache_dir:
        raise SystemExit(f"JAX's persistent compilation cache is on ({jax.config.jax_compilation_cache_dir}): "
                         "later runs would skip compilation; unset it for this benchmark")


@dataclasses.dataclass(frozen=True)
class Config:
    """What to time.

    Attributes:
        epochs: epochs of both runs (60: the package's default)
        seeds: seeds trained together in both runs
        repeats: runs of each, alternating
        only: time one side only: lean or package
        verbose: show the package run's progress bar and table
    """

    epochs: int = 60
    seeds: int = 3
    repeats: int = 2
    only: str | None = None
    verbose: bool = False

    def __post_init__(self):
        for name in ("epochs", "seeds", "repeats"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be >= 1, got {getattr(self, name)}")
        if self.only not in (None, "lean", "package"):
            raise ValueError(f"--only must be lean or package, got {self.only!r}")


def main(argv=None) -> dict:
    args, _ = cli.command(Config, argv, __doc__)
    prepare()
    print(f"backend {jax.default_backend()} ({jax.device_count()} x {jax.devices()[0].device_kind}, "
          f"{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f}); "
          f"MNIST-1D MLP 3 x 256 ReLU, {args.epochs} epochs, batch 100, {args.seeds} seed(s)", flush=True)
    sides = {"lean": lambda: lean_run(epochs=args.epochs, seeds=args.seeds),
             "package": lambda: package_run(epochs=args.epochs, seeds=args.seeds, quiet=not args.verbose)}
    if args.only:
        sides = {args.only: sides[args.only]}
    runs: dict[str, list[dict]] = {k: [] for k in sides}
    for r in range(args.repeats):
        for name, fn in sides.items():
            result = fn()
            runs[name].append(result)
            extra = f" (data generation {result['data_seconds']:.1f} s)" if "data_seconds" in result else ""
            print(f"run {r + 1} {name}: {result['seconds']:.2f} s (CPU {result['cpu_seconds']:.2f} s){extra}, "
                  f"mean test accuracy {np.mean(result['test_accuracy']):.4f}", flush=True)
    report = {}
    for name, results in runs.items():
        seconds = [r["seconds"] for r in results]
        cpu = [r["cpu_seconds"] for r in results]
        acc = results[-1]["test_accuracy"]
        report[name] = {"median_seconds": float(np.median(seconds)), "seconds": seconds,
                        "median_cpu_seconds": float(np.median(cpu)),
                        "test_accuracy": float(np.mean(acc)), "test_accuracy_std": float(np.std(acc))}
        print(f"{name:8s} median {np.median(seconds):7.2f} s (CPU {np.median(cpu):.2f} s) over {len(seconds)} run(s); "
              f"final test accuracy "
              f"{np.mean(acc):.4f} +- {np.std(acc):.4f} ({len(acc)} seeds)")
    if len(runs) == 2:
        ratio = report["package"]["median_seconds"] / report["lean"]["median_seconds"]
        data = float(np.median([r["data_seconds"] for r in runs["lean"]]))
        train_ratio = ((report["package"]["median_seconds"] - data) / (report["lean"]["median_seconds"] - data)
                       if report["lean"]["median_seconds"] > data else float("nan"))
        cpu_ratio = report["package"]["median_cpu_seconds"] / report["lean"]["median_cpu_seconds"]
        report.update(ratio=ratio, ratio_without_data=train_ratio, data_seconds=data, cpu_ratio=cpu_ratio)
        print(f"package / lean: {ratio:.2f} (goal <= 1.15); without the {data:.1f} s of data generation in each: "
              f"{train_ratio:.2f}; CPU time (all threads): {cpu_ratio:.2f}")
    print(f"load average at the end {os.getloadavg()[0]:.1f} (other processes on the machine skew the timings)")
    return report


if __name__ == "__main__":
    main()
