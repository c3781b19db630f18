"""Claim 1: without a nonlinearity, a deep network collapses to one linear layer."""

from __future__ import annotations

import dataclasses

import jax
import matplotlib
import numpy as np
from flax import nnx

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from experiments.claims import common as C  # noqa: E402
from jaxacts.models import ModelConfig  # noqa: E402

ID = "linear_collapse"
TITLE = "Without a nonlinearity, depth collapses to one linear layer"
CLAIM = ("A stack of linear layers is itself a linear function: without nonlinear activations a deep network is "
         "no more expressive than a single linear layer (logistic regression), however deep it is.")
SOURCE = "Goodfellow, Bengio and Courville 2016, 'Deep Learning', section 6.1; the usual teaching of MLPs"
MARGIN = 0.02  # equivalence margin in test accuracy (2 percentage points), fixed before any run
TOLERANCE = 1e-4  # relative error of the product of the weights against the network's outputs (float32)
RULE = ("Three parts, all pre-registered. (a) Collapse: for every trained identity-activation network, the product "
        f"of its weight matrices (and the composed bias) reproduces its test-set outputs to relative error < "
        f"{TOLERANCE:g}. (b) Equivalence: at every depth, the 95% interval of the paired test-accuracy difference "
        f"(deep linear minus logistic regression) lies inside +-{MARGIN}. (c) Nonlinearity helps: at every depth the "
        "interval of ReLU minus deep linear lies above 0. Supported if (a), (b) and (c) all hold; contradicted if (a) "
        f"fails, or some depth's interval in (b) lies entirely outside +-{MARGIN}, or some interval in (c) lies "
        "entirely below 0; otherwise inconclusive. Statistic: the depth with the largest |difference| in (b).")


@dataclasses.dataclass(frozen=True)
class Config:
    data: C.DataConfig = C.DataConfig()
    seeds: int = 5
    depths: tuple[int, ...] = (1, 2, 4, 8)
    width: int = 128
    optimizer: str = "adam"
    lrs: tuple[float, ...] = (3e-4, 1e-3, 3e-3, 1e-2)
    epochs: int = 40
    batch_size: int = 100


QUICK = Config(data=C.DataConfig(train_subset=600), seeds=2, depths=(1,), width=32, lrs=(1e-3, 1e-2), epochs=2)


def _linear_map(graphdef, run_state) -> tuple[np.ndarray, np.ndarray]:
    """(W, b) in float64 with logits = x W + b, composed from every layer of a linear network."""
    model = nnx.merge(graphdef, run_state.params, run_state.rest)
    layers = [block.linear for block in model.blocks] + [model.head]
    w, b = None, None
    for layer in layers:
        k = np.asarray(layer.kernel[...], np.float64)
        bias = np.asarray(layer.bias[...], np.float64) if layer.bias is not None else 0.0
        w, b = (k, bias) if w is None else (w @ k, b @ k + bias)
    return w, b


def _collapse_error(sweep: C.Sweep, p: int, x: np.ndarray) -> list[float]:
    """Per seed: max |network(x) - (x W + b)| / max |network(x)|."""
    out = []
    forward = jax.jit(lambda st, x: nnx.merge(sweep.graphdef, st.params, st.rest)(x))
    for s in range(sweep.seeds):
        st = sweep.run_state(p, s)
        with jax.default_matmul_precision("highest"):  # GPUs default to reduced-precision float32 matmuls
            logits = np.asarray(forward(st, x), np.float64)
        w, b = _linear_map(sweep.graphdef, st)
        composed = x.reshape(len(x), -1).astype(np.float64) @ w + b
        out.append(float(np.max(np.abs(logits - composed)) / np.max(np.abs(logits))))
    return out


def run(config: Config) -> dict:
    data = C.load(config.data)
    train = lambda act, depth: C.train_sweep(
        data, ModelConfig(activation=act, init=C.init_for(act), depth=depth, width=config.width), config.optimizer,
        config.lrs, epochs=config.epochs, batch_size=config.batch_size, seeds=config.seeds)
    acc, chosen, collapse = {}, {}, {}
    logistic = train("identity", 0)
    p = C.choose_by_validation(logistic)
    acc["logistic"], chosen["logistic"] = logistic.evals["test_accuracy"][p, :, -1], logistic.lrs[p]
    for depth in config.depths:
        for act, name in (("identity", f"linear {depth}"), ("relu", f"relu {depth}")):
            sweep = train(act, depth)
            p = C.choose_by_validation(sweep)
            acc[name], chosen[name] = sweep.evals["test_accuracy"][p, :, -1], sweep.lrs[p]
            if act == "identity":  # every trained network, not only the chosen learning rate's
                collapse[depth] = [e for q in range(len(sweep.lrs)) for e in _collapse_error(sweep, q, data.x_test)]
    equiv = {d: C.paired_difference(acc[f"linear {d}"], acc["logistic"]) for d in config.depths}
    gain = {d: C.paired_difference(acc[f"relu {d}"], acc[f"linear {d}"]) for d in config.depths}
    worst = max(config.depths, key=lambda d: abs(equiv[d][0]))
    value, ci = equiv[worst]
    max_err = max(max(v) for v in collapse.values())
    details = [f"Largest relative error of the product of the weights against the network's outputs: {max_err:.2e} "
               f"(tolerance {TOLERANCE:g}).", "",
               "| depth | deep linear - logistic (95% CI) | ReLU - deep linear (95% CI) | lr linear / relu |",
               "|---|---|---|---|"]
    for d in config.depths:
        (e, ec), (g, gc) = equiv[d], gain[d]
        details.append(f"| {d} | {e:+.4f} [{ec[0]:+.4f}, {ec[1]:+.4f}] | {g:+.4f} [{gc[0]:+.4f}, {gc[1]:+.4f}] | "
                       f"{chosen[f'linear {d}']:g} / {chosen[f'relu {d}']:g} |")
    details += ["", f"Logistic regression (depth 0): test accuracy {C.mean_sd(acc['logistic'])}, lr {chosen['logistic']:g}."]
    return {
        "protocol": {"data": f"{config.data.dataset} (validation {config.data.val_fraction:g} of training set)",
                     "models": f"logistic regression (MLP depth 0); MLPs of depth {list(config.depths)}, width "
                               f"{config.width}, identity (LeCun normal) or ReLU (He normal)",
                     "optimizer": f"{config.optimizer}, constant lr, batch {config.batch_size}, {config.epochs} epochs",
                     "learning rates": f"grid {list(config.lrs)} per model; rule: {C.RULE_BEST_VALIDATION}",
                     "chosen": chosen, "seeds": config.seeds},
        "measurements": {"test_accuracy": {k: C.as_list(v) for k, v in acc.items()},
                         "collapse_relative_error": {str(d): v for d, v in collapse.items()}},
        "statistic": {"name": f"test accuracy, deep linear (depth {worst}) - logistic (paired mean)", "value": value},
        "ci95": ci, "equivalence": {str(d): {"difference": e, "ci95": c} for d, (e, c) in equiv.items()},
        "relu_gain": {str(d): {"difference": g, "ci95": c} for d, (g, c) in gain.items()},
        "collapse_max_error": max_err, "effect": f"{value:+.4f} accuracy [{ci[0]:+.4f}, {ci[1]:+.4f}] at depth {worst}; "
        f"product of weights matches to {max_err:.0e}",
        "details": details, "plot": {"depths": list(config.depths),
                                     "accuracy": {k: C.as_list(v) for k, v in acc.items()}},
    }


def verdict(result: dict) -> str:
    collapsed = result["collapse_max_error"] < TOLERANCE
    equiv = [v["ci95"] for v in result["equivalence"].values()]
    gain = [v["ci95"] for v in result["relu_gain"].values()]
    if collapsed and all(-MARGIN < lo and hi < MARGIN for lo, hi in equiv) and all(lo > 0 for lo, _ in gain):
        return "supported"
    if not collapsed or any(hi < -MARGIN or lo > MARGIN for lo, hi in equiv) or any(hi < 0 for _, hi in gain):
        return "contradicted"
    return "inconclusive"


def figure(result: dict, path: str) -> None:
    plot = result["plot"]
    depths, acc = plot["depths"], plot["accuracy"]
    fig, ax = plt.subplots(figsize=(6.5, 4))
    base = np.asarray(acc["logistic"], float)
    ax.axhspan(base.mean() - MARGIN, base.mean() + MARGIN, color="0.85", label=f"logistic regression +- {MARGIN}")
    ax.axhline(base.mean(), color="0.4", lw=1)
    for kind, marker in (("linear", "o"), ("relu", "s")):
        vals = [np.asarray(acc[f"{kind} {d}"], float) for d in depths]
        ax.errorbar(depths, [v.mean() for v in vals], yerr=[v.std() for v in vals], marker=marker, capsize=3,
                    label="identity activation (deep linear)" if kind == "linear" else "ReLU")
    ax.set_xscale("log", base=2)
    ax.set_xticks(depths, [str(d) for d in depths])
    ax.set_xlabel("hidden layers")
    ax.set_ylabel("test accuracy (mean +- std over seeds)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(TITLE, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
