"""Train MLPs or CNNs with any activation(s) on offline data; several seeds at once; compare activations.

    python -m experiments.train --out runs/x                               # MNIST-1D MLP, ReLU, 3 seeds (~1 min)
    python -m experiments.train --out runs/cmp --activation relu,selu,tanh,gelu --model cnn
    python -m experiments.train --out runs/x --resume                      # continue after an interruption
    python -m experiments.train --out runs/sweep --lr 1e-3,3e-3,1e-2 --activation "leaky_relu(negative_slope=[0.01,0.2])"

A sweep (several --lr or --weight-decay values, or an activation hyperparameter given as a [list])
trains every setting x seed in one compiled program; the setting is chosen on a validation split
carved from the training set (--val-fraction, default 0.1 for a sweep), never on the test set, and
summary.json lists every setting with its validation and test results and the chosen one.

Each epoch is one compiled program (its steps in a lax.scan, then evaluation); the host hears from
the device once per epoch, and checkpoints fall on epoch ends. One activation writes to --out: metrics.jsonl, summary.json (test_accuracy, test_loss, train_loss,
steps, seconds, per-seed values, the full config), curves.png and checkpoints/. Several activations
write one such folder each under --out, plus comparison.json, comparison.md (mean +- std test
accuracy, steps to the target training loss) and comparison.png (all learning curves).
Several hosts: call ``jax.distributed.initialize()`` first (e.g. via JAX's cluster auto-detection);
the batch is sharded over ``jax.devices()``, which then spans every host.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Sequence

import jax

from jaxacts._src.data import DATASETS, DataError
from jaxacts._src.init import INITIALIZERS
from jaxacts._src.loop import (TrainConfig, TrainingDiverged, TrainingInterrupted, config_differences,
                               config_from_dict, fit, read_log, saved_config, setting_rows)
from jaxacts._src.models import NORMS, ModelConfig
from jaxacts._src.plotting import learning_curves
from jaxacts._src.registry import split_top_level
from jaxacts._src.train import OPTIMIZERS, SCHEDULES, OptimConfig


def parser(*, defaults: bool = True) -> argparse.ArgumentParser:
    """The command line; with ``defaults=False`` every flag defaults to absent (to see what was given)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)

    def a(*names, **kw):
        if not defaults:
            kw["default"] = argparse.SUPPRESS
        p.add_argument(*names, **kw)

    a("--out", required=True, help="output directory (refused if it holds a run, unless --resume)")
    a("--resume", action="store_true", help="continue from the latest checkpoint in --out")
    a("--dataset", default="mnist1d", choices=DATASETS)
    a("--data-dir", default="", help="folder with MNIST/Fashion-MNIST IDX files or CIFAR-10 batches / cifar10.npz")
    a("--model", default="mlp", choices=("mlp", "cnn"))
    a("--activation", default="relu", help="registry name(s), comma-separated for a comparison, each optionally "
      "with hyperparameters, 'elu(alpha=0.5)', a [list] sweeps one: 'leaky_relu(negative_slope=[0.01,0.2])'; "
      "also prelu, prelu_shared, silu_learnable, maxout (default: relu)")
    a("--init", default="he_normal", help=f"one of {', '.join(INITIALIZERS)} (default: he_normal)")
    a("--depth", type=int, default=3, help="MLP hidden layers (default: 3)")
    a("--width", type=int, default=256, help="MLP width / CNN dense head width (default: 256)")
    a("--channels", type=_ints, default=(32, 64), help="CNN conv channels, comma-separated (default: 32,64)")
    a("--kernel-size", type=int, default=5, help="CNN kernel size (default: 5)")
    a("--norm", default="none", choices=NORMS)
    a("--skip", action="store_true", help="residual connections between equal-width layers")
    a("--dropout", default="none", choices=("none", "standard", "alpha"))
    a("--dropout-rate", type=float, default=0.0)
    a("--optimizer", default="adam", choices=OPTIMIZERS)
    a("--lr", type=_floats, default=(2e-3,), help="peak learning rate(s), comma-separated for a sweep (default: 2e-3)")
    a("--schedule", default="cosine", choices=SCHEDULES)
    a("--warmup-steps", type=int, default=0)
    a("--weight-decay", type=_floats, default=(0.0,), help="weight decay(s), comma-separated for a sweep (default: 0)")
    a("--val-fraction", type=float, default=None, help="share of the training set held out to choose a sweep's "
      "setting (default: 0.1 with a sweep, else 0)")
    a("--clip-norm", type=float, default=0.0, help="clip the global gradient norm (0: off)")
    a("--epochs", type=int, default=60)
    a("--batch-size", type=int, default=100)
    a("--seeds", type=int, default=3, help="models trained together with jax.vmap (default: 3)")
    a("--seed", type=int, default=0)
    a("--log-every", type=int, default=20, help="steps per metrics.jsonl line")
    a("--checkpoint-every", type=int, default=500)
    a("--target-loss", type=float, default=0.1, help="training loss whose first crossing is reported")
    a("--layer-stats", action="store_true", help="log per-layer activation mean/variance/dead fraction per epoch")
    return p


def _folder(spec: str) -> str:
    """A folder name for an activation spec: 'elu(alpha=0.5)' -> 'elu_alpha=0.5'."""
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", spec).strip("_")


def _comma_list(kind: type, what: str):
    """An argparse type: comma-separated values of ``kind``, at least one ('1e-3,3e-3' -> (0.001, 0.003))."""
    def parse(text: str) -> tuple:
        try:
            values = tuple(kind(v) for v in text.split(",") if v.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated {what}, got {text!r}")
        if not values:
            raise argparse.ArgumentTypeError(f"expected at least one of the {what}")
        return values
    return parse


_floats, _ints = _comma_list(float, "numbers"), _comma_list(int, "integers")


# Config fields whose flag is not named after the field's last part.
_FLAG_OF_FIELD = {"model.kind": "model"}


def _resumed_config(config: TrainConfig, out: str, given: set[str]) -> TrainConfig | None:
    """The saved config of the run in ``out`` (None if there is none), after checking that no flag
    given on the command line asks for something else."""
    saved = saved_config(out)
    if saved is None:
        return None
    clash = []
    for field in config_differences(config, saved):
        path = field.split(":")[0]
        if _FLAG_OF_FIELD.get(path, path.split(".")[-1]) in given:
            clash.append(field)
    if clash:
        raise ValueError(f"--resume: {out} was run with other settings; differing: {'; '.join(clash)}. Resume with "
                         "the saved settings (flags not given take them), or start a new --out")
    return config_from_dict(saved)


def config_from(args: argparse.Namespace, activation: str) -> TrainConfig:
    model = ModelConfig(kind=args.model, activation=activation, init=args.init, depth=args.depth, width=args.width,
                        norm=args.norm, skip=args.skip, dropout=args.dropout, dropout_rate=args.dropout_rate,
                        channels=tuple(args.channels),
                        kernel_size=args.kernel_size)
    one = lambda v: v[0] if len(v) == 1 else v
    optim = OptimConfig(args.optimizer, one(args.lr), args.schedule, args.warmup_steps, one(args.weight_decay),
                        args.clip_norm)
    return TrainConfig(dataset=args.dataset, data_dir=args.data_dir, model=model, optim=optim, epochs=args.epochs,
                       batch_size=args.batch_size, seeds=args.seeds, seed=args.seed, log_every=args.log_every,
                       checkpoint_every=args.checkpoint_every, target_loss=args.target_loss,
                       layer_stats=args.layer_stats, val_fraction=args.val_fraction)


def comparison_table(summaries: dict[str, dict | str]) -> str:
    rows = ["| activation | test accuracy (mean +- std) | test loss | train loss | steps to train loss <= target | seeds "
            "| chosen setting (of) |", "|---|---|---|---|---|---|---|"]
    for name, s in summaries.items():
        if isinstance(s, str):
            rows.append(f"| {name} | {s} | - | - | - | - | - |")
            continue
        chosen = s["chosen"]["setting"]
        picked = (f"lr {chosen['lr']:g}, wd {chosen['weight_decay']:g}, {chosen['activation']} ({len(s['settings'])})"
                  if len(s["settings"]) > 1 else "-")
        acc = s["per_seed"]["test_accuracy"]
        reach = s["steps_to_target_loss"]
        n_reached = sum(r is not None for r in reach["per_seed"])
        steps = (f"{reach['mean']:.0f}" if reach["mean"] is not None else
                 f"not reached ({n_reached}/{len(reach['per_seed'])} seeds)")
        rows.append(f"| {name} | {acc['mean']:.4f} +- {acc['std']:.4f} | {s['test_loss']:.4f} | {s['train_loss']:.4f} | "
                    f"{steps} (target {reach['target']}) | {s['seeds']} | {picked} |")
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> dict:
    try:
        return _main(argv)
    except TrainingInterrupted as e:
        print(e, file=sys.stderr)
        raise SystemExit(130)
    except KeyboardInterrupt:
        print("interrupted before training started; nothing was written", file=sys.stderr)
        raise SystemExit(130)


def _main(argv: Sequence[str] | None) -> dict:
    args = parser().parse_args(argv)
    given = set(vars(parser(defaults=False).parse_args(argv)))
    try:
        activations = split_top_level(args.activation)
        if not activations:
            raise ValueError(f"--activation {args.activation!r} names no activation")
        configs = {a: config_from(args, a) for a in activations}  # validates every name before training
        if len(set(activations)) != len(activations):
            raise ValueError("an activation is listed twice")
        single = len(activations) == 1
        outs = {a: args.out if single else os.path.join(args.out, _folder(a)) for a in activations}
        if os.path.exists(args.out) and not os.path.isdir(args.out):
            raise ValueError(f"--out {args.out} is a file, not a folder")
        if args.resume:
            resumed = {a: _resumed_config(c, outs[a], given) for a, c in configs.items()}
            if all(c is None for c in resumed.values()):
                raise ValueError(f"--resume: {args.out} holds no run; start one without --resume")
            configs = {a: resumed[a] or c for a, c in configs.items()}
        elif os.path.exists(args.out) and os.listdir(args.out):
            raise ValueError(f"{args.out} already holds a run; pass --resume to continue it or choose another --out")
    except (ValueError, TypeError, DataError) as e:
        raise SystemExit(f"error: {e}")
    print(f"backend: {jax.default_backend()}, devices: {jax.device_count()}; dataset {args.dataset}, model "
          f"{args.model}, {args.seeds} seed(s), activations: {', '.join(activations)}", flush=True)
    summaries: dict[str, dict | str] = {}
    for name, config in configs.items():
        out = outs[name]
        resume = args.resume and saved_config(out) is not None
        done = os.path.join(out, "summary.json")
        try:
            if resume and os.path.exists(done):
                with open(done) as fh:
                    summaries[name] = json.load(fh)
                print(f"{name}: {out} finished earlier; its summary is shown as saved", file=sys.stderr)
                continue
            summaries[name] = fit(config, out, resume=resume)
        except TrainingDiverged as e:
            print(f"{name}: {e}", file=sys.stderr)
            if single:
                raise SystemExit(1)
            summaries[name] = "diverged"
        except (DataError, FileExistsError, FileNotFoundError, NotADirectoryError, ValueError) as e:
            raise SystemExit(f"error: {e}")
    table = comparison_table(summaries)
    print(table)
    if not single:
        with open(os.path.join(args.out, "comparison.json"), "w") as fh:
            json.dump(summaries, fh, indent=1)
        with open(os.path.join(args.out, "comparison.md"), "w") as fh:
            fh.write(table + "\n")
        curves = {n: setting_rows(read_log(os.path.join(args.out, _folder(n), "metrics.jsonl"), 10**12),
                                  s["chosen"]["index"], s["seeds"])
                  for n, s in summaries.items() if not isinstance(s, str)}
        learning_curves(curves, os.path.join(args.out, "comparison.png"))
        print(f"wrote {args.out}/comparison.md, comparison.json, comparison.png")
    return summaries


if __name__ == "__main__":
    main()
