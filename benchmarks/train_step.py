"""Train-step speed: our jitted Flax NNX + Optax step against an equivalent PyTorch CPU loop, and the
cost of training S seeds at once with jax.vmap.

    python -m benchmarks.train_step            # MLP 8 x 256 SELU, batch 128, Adam (~1 min)

Both sides train the same architecture (input 256, 8 hidden layers of 256, 10 classes) on the same
random batch; their steps are timed interleaved in one process and reported as ratios of medians.
Goals: ours <= 0.7x PyTorch's time; 8 vmapped seeds <= 4x one seed.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxacts import models as M


def _median_times(fns: dict, repeats: int) -> dict[str, float]:
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


def jax_step(seeds: int, depth: int, width: int, batch: int, in_features: int):
    config = M.ModelConfig(activation="selu", init="lecun_normal", depth=depth, width=width)
    tx, schedule = M.make_optimizer(M.OptimConfig("adam", 1e-3), 1000)
    graphdef, state = M.init_state(jax.random.split(jax.random.key(0), seeds), config, (in_features,), 10, tx)
    step = M.make_train_step(graphdef, tx, schedule)
    x = jax.random.normal(jax.random.key(1), (batch, in_features))
    y = jax.random.randint(jax.random.key(2), (batch,), 0, 10)
    idx = jnp.tile(jnp.arange(batch)[None], (seeds, 1))
    keys = jax.random.split(jax.random.key(3), seeds)
    box = [state]

    def run():
        box[0], metrics = step(box[0], x, y, idx, keys)
        jax.block_until_ready(metrics["loss"])
    return run


def torch_step(depth: int, width: int, batch: int, in_features: int):
    import torch

    torch.manual_seed(0)
    layers, features = [], in_features
    for _ in range(depth):
        layers += [torch.nn.Linear(features, width), torch.nn.SELU()]
        features = width
    model = torch.nn.Sequential(*layers, torch.nn.Linear(features, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(batch, in_features)
    y = torch.randint(0, 10, (batch,))
    loss_fn = torch.nn.CrossEntropyLoss()

    def run():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        loss.item()
    return run


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--depth", type=int, default=8)
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--seeds", type=int, default=8)
    p.add_argument("--repeats", type=int, default=50)
    args = p.parse_args(argv)
    shape = (args.depth, args.width, args.batch, args.width)
    fns = {"jax 1 seed": jax_step(1, *shape), f"jax {args.seeds} seeds (vmap)": jax_step(args.seeds, *shape)}
    try:
        fns["pytorch"] = torch_step(*shape)
    except ImportError:
        print("PyTorch is not installed: install the test extras for the comparison")
    t = _median_times(fns, args.repeats)
    print(f"backend {jax.default_backend()}; MLP {args.depth} x {args.width} SELU, batch {args.batch}, Adam; "
          f"median step times: " + ", ".join(f"{k} {v * 1e3:.2f} ms" for k, v in t.items()))
    if "pytorch" in t:
        print(f"ours / PyTorch (1 seed): {t['jax 1 seed'] / t['pytorch']:.2f}  (goal <= 0.7)")
    print(f"{args.seeds} vmapped seeds / 1 seed: {t[f'jax {args.seeds} seeds (vmap)'] / t['jax 1 seed']:.2f}  (goal <= 4)")


if __name__ == "__main__":
    main()
