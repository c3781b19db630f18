"""Train MLPs or CNNs with any activation(s) on offline data; several seeds at once; compare activations.

    python -m experiments.train --out runs/x                               # MNIST-1D MLP, ReLU, 3 seeds (~1 min)
    python -m experiments.train --out runs/cmp --activation relu,selu,tanh,gelu --model cnn
    python -m experiments.train --out runs/x --resume                      # continue after an interruption
    python -m experiments.train --out runs/x --steps 301 --data-order sequential --init torch_default   # see README
    python -m experiments.train --out runs/sweep --lr 1e-3,3e-3,1e-2 --activation "leaky_relu(negative_slope=[0.01,0.2])"

A sweep (several --lr or --weight-decay values, or an activation hyperparameter given as a [list])
trains every setting x seed in one compiled program; the setting is chosen on a validation split
carved from the training set (--val-fraction, default 0.1 for a sweep), never on the test set, and
summary.json lists every setting with its validation and test results and the chosen one. With
--val-fraction 0 a sweep is chosen on the training loss (and says so). A run (setting x seed) that
diverges is held and named on the console; the others train on, and the summary marks it.

Each epoch is one compiled program (its steps in a lax.scan, then evaluation); the host hears from
the device once per epoch, and checkpoints fall on epoch ends. One activation writes to --out: metrics.jsonl, summary.json (test_accuracy, test_loss, train_loss,
steps, seconds, per-seed values, the mean training loss over all steps and over the last epoch, the full
config), curves.png and checkpoints/. Several activations
write one such folder each under --out, plus activations.json (the list, for --resume), comparison.json,
comparison.md (mean +- std test accuracy, mean training losses, steps to the target training loss) and
comparison.png (all learning curves). --resume alone continues a run with everything it was started
with, its activations included.
Several hosts (or processes): start the same command on each with ``--coordinator-address HOST:PORT
--num-processes N --process-id I`` (or ``--distributed`` where JAX detects the cluster) and one --out
that all of them share; runs and batches are sharded over every process's devices, process 0 writes
the logs, summaries and figures, all of them the checkpoints (README, "Several hosts").

The flags are generated from ``TrainConfig`` (``jaxacts.cli``), nested ``ModelConfig`` and
``OptimConfig`` included; their defaults are this module's ``DEFAULTS``. The command sets
``--xla_gpu_deterministic_ops=true`` in XLA_FLAGS (unless given there) so that on a GPU too a resumed
run equals an uninterrupted one; CPUs ignore it.
"""

from __future__ import annotations

import os

if __name__ == "__main__":
    # GPU autotuning and atomic reductions may pick differently in another process, so a resumed run
    # could differ from an uninterrupted one by an ulp; XLA reads the flag when jax starts its backend,
    # hence before any import of jax.
    if "xla_gpu_deterministic_ops" not in os.environ.get("XLA_FLAGS", ""):
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} --xla_gpu_deterministic_ops=true".lstrip()

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
from collections.abc import Sequence  # noqa: E402

import jax  # noqa: E402

from jaxacts import cli, distributed  # noqa: E402
from jaxacts.data import DATASETS, DataError  # noqa: E402
from jaxacts.initializers import INITIALIZERS  # noqa: E402
from jaxacts.models import ModelConfig  # noqa: E402
from jaxacts.plotting import learning_curves  # noqa: E402
from jaxacts.specs import split_top_level  # noqa: E402
from jaxacts.training import (OPTIMIZERS, SCHEDULES, OptimConfig, TrainConfig, TrainingDiverged,  # noqa: E402
                              TrainingInterrupted, config_differences, config_from_dict, fit, read_log,
                              saved_config, setting_rows)

# The command line's defaults (a flag per field; the library's TrainConfig() is a quick digits run).
DEFAULTS = TrainConfig(dataset="mnist1d", model=ModelConfig(depth=3, width=256, kernel_size=5),
                       optim=OptimConfig(lr=2e-3, schedule="cosine"), epochs=60, batch_size=100, seeds=3)
FLAG_NAMES = {"model.kind": "model"}  # --model mlp|cnn
HELP = {  # fields whose docstring says too little for a command line (ModelConfig's say enough)
    "dataset": f"one of {', '.join(DATASETS)}",
    "data_dir": "folder with MNIST/Fashion-MNIST IDX files or CIFAR-10 batches / cifar10.npz",
    "model.kind": "mlp or cnn",
    "model.activation": "registry name(s), comma-separated for a comparison, each optionally with hyperparameters, "
                        "'elu(alpha=0.5)', a [list] sweeps one: 'leaky_relu(negative_slope=[0.01,0.2])'; also prelu, "
                        "prelu_shared, silu_learnable, maxout",
    "model.init": f"one of {', '.join(INITIALIZERS)}; torch_default, PyTorch's default for Linear and Conv, draws "
                  "weights and biases from U(+-1/sqrt(fan_in)) (the others leave biases at --bias-init)",
    "model.depth": "MLP hidden layers (0: a linear classifier)",
    "model.width": "MLP units per layer / CNN dense head width",
    "optim.optimizer": f"one of {', '.join(OPTIMIZERS)}",
    "optim.lr": "peak learning rate(s), several for a sweep",
    "optim.schedule": f"one of {', '.join(SCHEDULES)}",
    "optim.warmup_steps": "linear warmup steps of warmup_cosine",
    "optim.weight_decay": "weight decay(s), several for a sweep",
    "optim.clip_norm": "clip the global gradient norm (0: off)",
    "epochs": "passes over the training set",
    "steps": "total optimizer steps instead of --epochs (the last epoch may be partial; 0: --epochs decides)",
    "batch_size": "examples per step",
    "data_order": "shuffle (anew each epoch), fixed (one shuffled order, every epoch) or sequential (the "
                  "training set's own order)",
    "seeds": "models trained together with jax.vmap",
    "seed": "base PRNG seed (initialization, data order, dropout)",
    "log_every": "steps per metrics.jsonl line",
    "checkpoint_every": "steps between checkpoints (each on the epoch end that reaches it)",
    "target_loss": "training loss whose first crossing is reported",
    "layer_stats": "log per-layer activation mean/variance/dead fraction per epoch",
    "val_fraction": "share of the training set held out to choose a sweep's setting (default: 0.1 with a sweep, "
                    "else 0)",
}


def _run_flags(parser: argparse.ArgumentParser) -> None:
    """The flags that are not config fields."""
    parser.add_argument("--out", required=True, help="output directory (refused if it holds a run, unless --resume)")
    parser.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --out")
    distributed.add_flags(parser)


COMMAND_LINE = dict(help_texts=HELP, extra=_run_flags, defaults=DEFAULTS, flag_names=FLAG_NAMES)


def _folder(spec: str) -> str:
    """A folder name for an activation spec: 'elu(alpha=0.5)' -> 'elu_alpha=0.5'."""
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", spec).strip("_")


def _resumed_config(config: TrainConfig, out: str, given: set[str]) -> TrainConfig | None:
    """The saved config of the run in ``out`` (None if there is none), after checking that no flag
    given on the command line asks for something else."""
    saved = saved_config(out)
    if saved is None:
        return None
    # Only a given flag can clash: flags not given take the saved values.
    clash = [field for field in config_differences(config, saved) if field.split(":")[0] in given]
    if clash:
        raise ValueError(f"--resume: {out} was run with other settings; differing: {'; '.join(clash)}. Resume with "
                         "the saved settings (flags not given take them), or start a new --out")
    return config_from_dict(saved)


def _saved_activations(out: str) -> list[str] | None:
    """The activation(s) of the run in ``out``: its config.json's for one run, the list a comparison
    wrote at its start (activations.json), or, for a comparison from before that file, the activation
    of each subfolder's config.json; None when ``out`` holds no run."""
    config = saved_config(out) if os.path.isdir(out) else None
    if config is not None:
        return [config["model"]["activation"]]
    manifest = os.path.join(out, "activations.json")
    if os.path.exists(manifest):
        try:
            with open(manifest) as fh:
                return list(json.load(fh)["activations"])
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{manifest} is damaged ({e}); give --activation to resume") from None
    if not os.path.isdir(out):
        return None
    found = [saved_config(os.path.join(out, d)) for d in sorted(os.listdir(out))
             if os.path.isfile(os.path.join(out, d, "config.json"))]
    return [c["model"]["activation"] for c in found] or None


def _mean_loss(s: dict, key: str) -> str:
    value = s.get(key)  # absent from summaries written before it was reported
    return "-" if value is None else f"{value:.4f}"


def _seeds(s: dict) -> str:
    """'4', or '3 of 4 (seed 2 diverged at step 37)' when seeds of the chosen setting diverged."""
    per_seed = s["per_seed"]
    bad = [(i, at) for i, (d, at) in enumerate(zip(per_seed.get("diverged", []), per_seed.get("diverged_at_step", [])))
           if d]
    if not bad:
        return str(s["seeds"])
    return (f"{s['seeds'] - len(bad)} of {s['seeds']} ("
            + ", ".join(f"seed {i} diverged at step {at}" for i, at in bad) + ")")


def comparison_table(summaries: dict[str, dict | str]) -> str:
    rows = ["| activation | test accuracy (mean +- std) | test loss | train loss | mean train loss, all steps | "
            "mean train loss, last epoch | steps to train loss <= target | seeds | chosen setting (of) |",
            "|---|---|---|---|---|---|---|---|---|"]
    for name, s in summaries.items():
        if isinstance(s, str):
            rows.append(f"| {name} | {s} | - | - | - | - | - | - | - |")
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
                    f"{_mean_loss(s, 'mean_train_loss_all_steps')} | {_mean_loss(s, 'mean_train_loss_last_epoch')} | "
                    f"{steps} (target {reach['target']}) | {_seeds(s)} | {picked} |")
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


def _plan(args: argparse.Namespace, given: set[str]) -> tuple[list[str], dict[str, TrainConfig], bool, dict[str, str]]:
    """The activations, their configs, whether --out holds one run (else a folder per activation) and each
    run's folder; a ValueError (TypeError, DataError) for a command line that cannot run, before any work."""
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise ValueError(f"--out {args.out} is a file, not a folder")
    if {"epochs", "steps"} <= given:
        raise ValueError("give --epochs or --steps, not both (--steps counts optimizer steps and decides alone)")
    listed = getattr(args, "model.activation")
    saved = _saved_activations(args.out) if args.resume else None
    if args.resume and saved is None:
        raise ValueError(f"--resume: {args.out} holds no run; start one without --resume")
    # --resume continues the run as it was started: its activations too, unless --activation names them.
    activations = split_top_level(listed) if saved is None or "model.activation" in given else saved
    if not activations:
        raise ValueError(f"--activation {listed!r} names no activation")
    # One config per activation of a comparison; building each validates every name before training.
    configs = {a: cli.config_from_args(TrainConfig, args, **{"model.activation": a}) for a in activations}
    if len(set(activations)) != len(activations):
        raise ValueError("an activation is listed twice")
    # A resumed run keeps its layout: one run in --out, or a comparison with a folder per activation.
    single = len(activations) == 1 and (saved is None or saved_config(args.out) is not None)
    outs = {a: args.out if single else os.path.join(args.out, _folder(a)) for a in activations}
    if args.resume:
        resumed = {a: _resumed_config(c, outs[a], given) for a, c in configs.items()}
        if all(c is None for c in resumed.values()):
            raise ValueError(f"--resume: {args.out} holds no run of {', '.join(activations)}; start one without "
                             "--resume")
        # An activation a killed comparison had not started yet takes the started ones' settings.
        like = next(c for c in resumed.values() if c is not None)
        configs = {a: resumed[a] or dataclasses.replace(like, model=dataclasses.replace(like.model, activation=a))
                   for a in configs}
    elif os.path.exists(args.out) and os.listdir(args.out):
        raise ValueError(f"{args.out} already holds a run; pass --resume to continue it or choose another --out")
    return activations, configs, single, outs


def _main(argv: Sequence[str] | None) -> dict:
    args = cli.parse(TrainConfig, argv, __doc__, **COMMAND_LINE)
    distributed.initialize(args)  # before any JAX computation (building a config may run some)
    given = cli.given_flags(TrainConfig, argv, **COMMAND_LINE)  # field paths: "optim.lr"
    writer = distributed.is_writer()
    try:
        distributed.same_path(args.out)
        # Every process checks; a refusal on any stops all (none is left waiting for the others).
        activations, configs, single, outs = distributed.agree(lambda: _plan(args, given))
    except (ValueError, TypeError, DataError) as e:
        raise SystemExit(f"error: {e}")
    manifest = os.path.join(args.out, "activations.json")
    created = not os.path.exists(args.out)
    if writer and not single and not args.resume:  # what a --resume without --activation reads back
        os.makedirs(args.out, exist_ok=True)
        with open(manifest, "w") as fh:
            json.dump({"activations": activations}, fh)
    first = next(iter(configs.values()))
    processes = f" on {jax.process_count()} processes" if jax.process_count() > 1 else ""
    if writer:
        print(f"backend: {jax.default_backend()}, devices: {jax.device_count()}{processes}; dataset {first.dataset}, "
              f"model {first.model.kind}, {first.seeds} seed(s), activations: {', '.join(activations)}", flush=True)
    summaries: dict[str, dict | str] = {}
    for name, config in configs.items():
        out = outs[name]
        resume = args.resume and saved_config(out) is not None
        done = os.path.join(out, "summary.json")
        try:
            if resume and os.path.exists(done):
                with open(done) as fh:
                    summaries[name] = json.load(fh)
                if writer:
                    print(f"{name}: {out} finished earlier; its summary is shown as saved", file=sys.stderr)
                continue
            summaries[name] = fit(config, out, resume=resume)
        except TrainingDiverged as e:
            if writer:
                print(f"{name}: {e}", file=sys.stderr)
            if single:
                raise SystemExit(1)
            summaries[name] = "diverged"
        except (DataError, FileExistsError, FileNotFoundError, NotADirectoryError, ValueError) as e:
            if writer and not args.resume and not any(os.path.exists(os.path.join(o, "config.json")) for o in outs.values()):
                # Refused before any run started (bad data, say): --out goes back to how it was.
                if os.path.exists(manifest) and not single:
                    os.remove(manifest)
                if created and os.path.isdir(args.out) and not os.listdir(args.out):
                    os.rmdir(args.out)
            raise SystemExit(f"error: {e}")
    if not writer:
        return summaries
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
