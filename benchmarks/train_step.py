"""Train-step speed: our jitted Flax NNX + Optax step against the same PyTorch step on the same device,
and the cost of training S seeds at once with jax.vmap.

    python -m benchmarks.train_step                                   # MLP 8 x 256 SELU, batch 128, Adam (~1 min)
    python -m benchmarks.train_step --sizes 256x128,1024x1024,4096x4096 --seeds 0   # a size sweep
    python -m benchmarks.train_step --precision high                  # allow TF32 matmuls on both sides

Both sides train the same architecture (input = width, ``--depth`` hidden layers, 10 classes, SELU)
with Adam on one fixed random batch, for each ``WIDTHxBATCH`` in ``--sizes``. Timed, interleaved in
one process, medians of ``--repeats`` steps, each step waited for (``block_until_ready`` /
``torch.cuda.synchronize``):

- ``jax package``: the package's compiled step (``jaxacts.models.make_train_step``, which also computes
  accuracy, gradient and parameter norms), when its current API is importable;
- ``jax nnx``: a plain jitted step built here from the public model (``jaxacts.models.build_model``) and
  ``optax.adam``, loss and update only, like the PyTorch step;
- ``pytorch``: ``torch.nn.Sequential`` + ``torch.optim.Adam`` on JAX's device (cuda when JAX runs on a
  GPU and torch has CUDA, else cpu; no ratio is printed when no same-device PyTorch exists);
- ``jax nnx S seeds``: the plain step vmapped over S seeds (``--seeds 0`` skips it).

Matmul precision is set on both sides by ``--precision``: ``highest`` (default; true float32: JAX
``default_matmul_precision("highest")``, torch ``set_float32_matmul_precision("highest")``, no TF32),
``high`` (JAX "high", torch "high": TF32 allowed on GPUs) or ``default`` (each library's own default,
printed; on recent NVIDIA GPUs JAX's default uses TF32 while torch's does not). CPUs compute float32
matmuls in float32 whatever the setting. Goals: ours <= 0.7x PyTorch's time; 8 vmapped seeds <= 4x
one seed. CPU timings need an otherwise idle machine: when other processes oversubscribe the cores,
PyTorch's OpenMP threads slow down many times (``--torch-threads 1`` shows how much); the load
average is printed before and after.
"""

from __future__ import annotations

import dataclasses
import contextlib
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from jaxacts import cli
from jaxacts import models as M
from jaxacts import training as T

PRECISIONS = ("highest", "high", "default")


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """'256x128,1024x1024' -> [(width, batch), ...]."""
    sizes = []
    for item in text.split(","):
        if item.strip():
            try:
                width, batch = (int(v) for v in item.lower().split("x"))
            except ValueError:
                raise ValueError(f"--sizes: {item!r} is not WIDTHxBATCH, e.g. 256x128") from None
            if width < 1 or batch < 1:
                raise ValueError(f"--sizes: {item!r}: width and batch must be >= 1")
            sizes.append((width, batch))
    if not sizes:
        raise ValueError("--sizes is empty")
    return sizes


def median_times(fns: dict, repeats: int) -> dict[str, float]:
    """Median seconds per call of each function, calls interleaved; two untimed calls first (compilation)."""
    for f in fns.values():
        f()
        f()
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, f in fns.items():
            t0 = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t0)
    return {k: float(np.median(v)) for k, v in times.items()}


def _model_config(depth: int, width: int) -> M.ModelConfig:
    return M.ModelConfig(activation="selu", init="lecun_normal", depth=depth, width=width)


def _batch(batch: int, in_features: int):
    x = jax.random.normal(jax.random.key(1), (batch, in_features), jnp.float32)
    y = jax.random.randint(jax.random.key(2), (batch,), 0, 10, jnp.int32)
    return x, y


def package_step(seeds: int, depth: int, width: int, batch: int):
    """One call = one step of the package's compiled train step for ``seeds`` models."""
    tx, schedule = T.make_optimizer(T.OptimConfig("adam", 1e-3), 1000)
    graphdef, state = T.init_state(jax.random.split(jax.random.key(0), seeds), _model_config(depth, width), (width,),
                                   10, tx)
    step = T.make_train_step(graphdef, tx, schedule)
    x, y = _batch(batch, width)
    indices = jnp.tile(jnp.arange(batch, dtype=jnp.int32)[None], (seeds, 1))
    keys = jax.random.split(jax.random.key(3), seeds)
    box = [state]

    def run():
        box[0], metrics = step(box[0], x, y, indices, keys)
        jax.block_until_ready((box[0], metrics))
    run()  # fails here, not mid-timing, when the step's calling convention has changed
    return run


def nnx_step(seeds: int, depth: int, width: int, batch: int):
    """One call = one plain jitted step (loss, gradient, Adam update) of the package's MLP; vmapped over
    ``seeds`` models when seeds > 1."""
    config = _model_config(depth, width)
    tx = optax.adam(1e-3)
    graphdef = nnx.split(nnx.eval_shape(lambda: M.build_model(config, (width,), 10, jax.random.key(0))),
                         nnx.Param, ...)[0]

    def init(key):
        _, params, rest = nnx.split(M.build_model(config, (width,), 10, key), nnx.Param, ...)
        return params, rest, tx.init(params)

    def loss_fn(params, rest, x, y):
        logits = nnx.merge(graphdef, params, rest)(x, train=True)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    def one(params, rest, opt_state, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, rest, x, y)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    keys = jax.random.split(jax.random.key(0), seeds)
    if seeds == 1:
        params, rest, opt_state = jax.jit(init)(keys[0])
        step = jax.jit(one, donate_argnums=(0, 2))
    else:
        params, rest, opt_state = jax.jit(jax.vmap(init))(keys)
        step = jax.jit(jax.vmap(one, in_axes=(0, 0, 0, None, None)), donate_argnums=(0, 2))
    x, y = _batch(batch, width)
    box = [params, opt_state]

    def run():
        box[0], box[1], loss = step(box[0], rest, box[1], x, y)
        jax.block_until_ready((box[0], box[1], loss))
    return run


def torch_device() -> tuple[str | None, str]:
    """PyTorch's device matching JAX's backend, or None with the reason there is none."""
    try:
        import torch
    except ImportError:
        return None, "PyTorch is not installed (install the test extras for the comparison)"
    backend = jax.default_backend()
    if backend == "cpu":
        return "cpu", f"torch {torch.__version__} on cpu, {torch.get_num_threads()} threads"
    if backend in ("gpu", "cuda", "rocm") and torch.cuda.is_available():
        return "cuda", f"torch {torch.__version__} on {torch.cuda.get_device_name(0)}"
    return None, (f"no same-device PyTorch: JAX runs on {backend} but torch {torch.__version__} has no "
                  f"{'CUDA' if backend in ('gpu', 'cuda', 'rocm') else backend} support; no ratio printed")


def set_torch_precision(precision: str) -> str:
    """Sets torch's float32 matmul precision to match ``precision``; returns what torch now uses."""
    import torch

    if precision != "default":
        torch.set_float32_matmul_precision(precision)  # "highest": no TF32; "high": TF32 allowed (cuda)
    return (f"torch.get_float32_matmul_precision()={torch.get_float32_matmul_precision()!r}, "
            f"torch.backends.cuda.matmul.allow_tf32={torch.backends.cuda.matmul.allow_tf32}")


def torch_step(depth: int, width: int, batch: int, device: str):
    """One call = one PyTorch step (forward, loss, backward, Adam), synchronized."""
    import torch

    torch.manual_seed(0)
    layers, features = [], width
    for _ in range(depth):
        layers += [torch.nn.Linear(features, width), torch.nn.SELU()]
        features = width
    model = torch.nn.Sequential(*layers, torch.nn.Linear(features, 10)).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(batch, width, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    loss_fn = torch.nn.CrossEntropyLoss()
    sync = (lambda: torch.cuda.synchronize(device)) if device == "cuda" else (lambda: None)

    def run():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        sync()
    return run


@dataclasses.dataclass(frozen=True)
class Config:
    """What to time.

    Attributes:
        depth: hidden layers
        sizes: comma-separated WIDTHxBATCH, e.g. 256x128,1024x1024,4096x4096
        seeds: seeds of the vmapped step (0 or 1: skip it)
        repeats: timed steps of each (their median is taken)
        precision: float32 matmul precision on both sides: highest, high or default
        torch_threads: torch.set_num_threads on CPU (0: torch's own choice)
    """

    depth: int = 8
    sizes: str = "256x128"
    seeds: int = 8
    repeats: int = 50
    precision: str = "highest"
    torch_threads: int = 0

    def __post_init__(self):
        parse_sizes(self.sizes)
        if self.depth < 1:
            raise ValueError(f"--depth must be >= 1, got {self.depth}")
        if self.repeats < 1:
            raise ValueError(f"--repeats must be >= 1, got {self.repeats}")
        for name in ("seeds", "torch_threads"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 0, got {getattr(self, name)}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"--precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")


def main(argv=None) -> list[dict]:
    args, _ = cli.command(Config, argv, __doc__)
    if args.torch_threads > 0:
        import torch

        torch.set_num_threads(args.torch_threads)

    device, torch_note = torch_device()
    torch_precision = set_torch_precision(args.precision) if device else "-"
    jax_precision = (args.precision if args.precision != "default" else
                     f"default (jax_default_matmul_precision={jax.config.jax_default_matmul_precision})")
    print(f"JAX {jax.__version__} on {jax.default_backend()} ({jax.devices()[0].device_kind}); {torch_note}; "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"matmul precision: jax {jax_precision}; torch {torch_precision}")
    context = (contextlib.nullcontext() if args.precision == "default" else
               jax.default_matmul_precision(args.precision))
    package_error = None
    rows = []
    with context:
        for width, batch in parse_sizes(args.sizes):
            fns = {}
            if package_error is None:
                try:
                    fns["jax package"] = package_step(1, args.depth, width, batch)
                except (AttributeError, TypeError, ValueError) as e:  # the package's step API changed
                    package_error = f"{type(e).__name__}: {e}"
                    print(f"the package's train step does not build with this benchmark's calls ({package_error}); "
                          "timing the plain NNX step only")
            fns["jax nnx"] = nnx_step(1, args.depth, width, batch)
            if device:
                fns["pytorch"] = torch_step(args.depth, width, batch, device)
            if args.seeds > 1:
                fns[f"jax nnx {args.seeds} seeds"] = nnx_step(args.seeds, args.depth, width, batch)
            t = median_times(fns, args.repeats)
            rows.append({"width": width, "batch": batch, **{k: v * 1e3 for k, v in t.items()}})
            parts = [f"{k} {v * 1e3:.3f} ms" for k, v in t.items()]
            if "pytorch" in t:
                parts += [f"{k} / pytorch {t[k] / t['pytorch']:.2f}" for k in ("jax package", "jax nnx") if k in t]
            if args.seeds > 1:
                parts.append(f"{args.seeds} seeds / 1 seed {t[f'jax nnx {args.seeds} seeds'] / t['jax nnx']:.2f}")
            print(f"MLP {args.depth} x {width} SELU, batch {batch}, Adam; median step: " + ", ".join(parts), flush=True)
    print(f"goals: jax / pytorch <= 0.7 (same device, same precision); 8 vmapped seeds / 1 seed <= 4; load average "
          f"now {os.getloadavg()[0]:.1f} (CPU timings need an otherwise idle machine: PyTorch's OpenMP threads "
          "slow down many times when cores are oversubscribed)")
    return rows


if __name__ == "__main__":
    main()
