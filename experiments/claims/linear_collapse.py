"""Claim 1: without a nonlinearity, a deep network collapses to one linear layer."""

from __future__ import annotations

import dataclasses

import jax
import matplotlib
import numpy as np
from flax import nnx
from scipy import optimize

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from experiments.claims import common as C  # noqa: E402
from jaxacts.models import ModelConfig  # noqa: E402

ID = "linear_collapse"
TITLE = "Without a nonlinearity, depth collapses to one linear layer"
CLAIM = ("A stack of linear layers is itself a linear function: without nonlinear activations a deep network is "
         "no more expressive than a single linear layer (logistic regression), however deep it is.")
SOURCE = "Goodfellow, Bengio and Courville 2016, 'Deep Learning', section 6.1; the usual teaching of MLPs"
TOLERANCE = 1e-4  # relative error of the product of the weights against the network's outputs (float32)
LOSS_TOLERANCE = 1e-3  # nats: float32 training loss against the float64 optimum, fixed before any run
RULE = ("Three clauses, each judged at every depth. (a) Collapse: for every trained identity-activation network, the "
        f"product of its weight matrices (and the composed bias) reproduces its test-set outputs to relative error < "
        f"{TOLERANCE:g}; contradicted otherwise. (b) Depth adds no expressivity: the final training loss of the deep "
        "linear network (whole training set, learning rate tuned for the lowest training loss) never falls below the "
        "exact optimum of logistic regression on the same training set (L-BFGS in float64 to a gradient norm of 1e-9): "
        "supported if at every depth the 95% interval of the per-seed loss minus the optimum lies above "
        f"-{LOSS_TOLERANCE:g} nats, contradicted if at some depth it lies entirely below -{LOSS_TOLERANCE:g}. (How far "
        "above the optimum a deep linear network stays measures under-fitting, which is optimization, not "
        "expressivity; it is reported, not judged.) (c) A nonlinearity does add expressivity: at every depth the "
        "interval of the paired test-accuracy difference ReLU (tuned on validation accuracy) minus deep linear (as in "
        "(b)) lies above 0 (supported), or some lies entirely below 0 (contradicted). Otherwise a clause is inconclusive. "
        + C.OVERALL_RULE)


@dataclasses.dataclass(frozen=True)
class Config:
    data: C.DataConfig = C.DataConfig()
    seeds: int = 8
    depths: tuple[int, ...] = (1, 2, 4, 8)
    width: int = 128
    optimizer: str = "adam"
    lrs: tuple[float, ...] = (3e-4, 1e-3, 3e-3, 1e-2)
    tuning: C.Tuning = C.Tuning()
    epochs: int = 40
    batch_size: int = 100


QUICK = Config(data=C.DataConfig(train_subset=600), seeds=2, depths=(1,), width=32, lrs=(1e-3, 1e-2), epochs=2,
               tuning=C.Tuning(seeds=2, max_extensions=1))


def logistic_optimum(x: np.ndarray, y: np.ndarray, classes: int) -> tuple[float, np.ndarray, np.ndarray]:
    """The exact minimum of the mean softmax cross-entropy of x W + b (no regularization), by L-BFGS in
    float64, and its (W, b)."""
    x = x.reshape(len(x), -1).astype(np.float64)
    n, f = x.shape
    onehot = np.eye(classes)[y]

    def loss_and_grad(theta):
        w, b = theta[:f * classes].reshape(f, classes), theta[f * classes:]
        z = x @ w + b
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        g = (np.exp(logp) - onehot) / n
        return -np.mean(np.sum(onehot * logp, axis=1)), np.concatenate([(x.T @ g).ravel(), g.sum(axis=0)])

    res = optimize.minimize(loss_and_grad, np.zeros(f * classes + classes), jac=True, method="L-BFGS-B",
                            options={"maxiter": 20_000, "gtol": 1e-9, "ftol": 1e-15})
    return float(res.fun), res.x[:f * classes].reshape(f, classes), res.x[f * classes:]


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
    optimum, w_star, b_star = logistic_optimum(data.x_train, data.y_train, data.num_classes)
    logistic_test = float(np.mean(np.argmax(data.x_test.reshape(len(data.x_test), -1) @ w_star + b_star, axis=1)
                                  == data.y_test))
    spec = {f"linear {d}": ("identity", d) for d in config.depths} | {f"relu {d}": ("relu", d) for d in config.depths}

    def train(lrs_by_arm, seeds, first_seed):
        return {arm: C.train_sweep(data, ModelConfig(activation=spec[arm][0], init=C.init_for(spec[arm][0]),
                                                     depth=spec[arm][1], width=config.width),
                                   config.optimizer, lrs, epochs=config.epochs, batch_size=config.batch_size,
                                   seeds=seeds, first_seed=first_seed)
                for arm, lrs in lrs_by_arm.items()}

    linear = [a for a in spec if a.startswith("linear")]
    relu = [a for a in spec if a.startswith("relu")]
    chosen, tuning = C.tune(train, {a: config.lrs for a in linear}, C.choose_lowest_training_loss, config.tuning,
                            config.seeds)
    chosen_relu, tuning_relu = C.tune(train, {a: config.lrs for a in relu}, C.choose_by_validation, config.tuning,
                                      config.seeds)
    chosen |= chosen_relu
    tuning["arms"] += tuning_relu["arms"]
    sweeps = train({a: [chosen[a]] for a in spec}, config.seeds, 0)
    acc = {a: s.evals["test_accuracy"][0, :, -1] for a, s in sweeps.items()}
    loss = {a: s.final_train["loss"][0] for a, s in sweeps.items()}
    collapse = {d: _collapse_error(sweeps[f"linear {d}"], 0, data.x_test) for d in config.depths}
    excess = {d: C.paired_difference(loss[f"linear {d}"], np.full(config.seeds, optimum)) for d in config.depths}
    gain = {d: C.paired_difference(acc[f"relu {d}"], acc[f"linear {d}"]) for d in config.depths}
    max_err = max(max(v) for v in collapse.values())
    low_d = min(config.depths, key=lambda d: excess[d][1][0])
    gain_d = min(config.depths, key=lambda d: gain[d][1][0])
    excess_ci = [min(excess[d][1][0] for d in config.depths), max(excess[d][1][1] for d in config.depths)]
    subs = [
        C.subverdict("the network is the product of its weights", "supported" if max_err < TOLERANCE else "contradicted",
                     "largest relative error of the weight product", max_err, [max_err, max_err]),
        C.subverdict("depth adds no expressivity (training loss never below the logistic optimum)", C.interval_verdict(
            excess_ci, lambda lo, hi: all(excess[d][1][0] > -LOSS_TOLERANCE for d in config.depths),
            lambda lo, hi: any(excess[d][1][1] < -LOSS_TOLERANCE for d in config.depths)),
            f"training loss minus the logistic optimum, depth {low_d} (lowest interval)", excess[low_d][0],
            excess[low_d][1]),
        C.subverdict("a nonlinearity adds expressivity (ReLU beats deep linear)", C.interval_verdict(
            gain[gain_d][1], lambda lo, hi: all(gain[d][1][0] > 0 for d in config.depths),
            lambda lo, hi: any(gain[d][1][1] < 0 for d in config.depths)),
            f"test accuracy, ReLU - deep linear, depth {gain_d} (lowest interval)", gain[gain_d][0], gain[gain_d][1])]
    details = [f"Exact logistic regression (L-BFGS, float64): training loss {optimum:.5f}, test accuracy "
               f"{logistic_test:.4f}. Largest relative error of the product of the weights against the network's "
               f"outputs: {max_err:.2e} (tolerance {TOLERANCE:g}).", "",
               "| depth | deep linear training loss - optimum (95% CI) | deep linear test accuracy | ReLU - deep linear "
               "test accuracy (95% CI) | lr linear / relu |", "|---|---|---|---|---|"]
    for d in config.depths:
        (e, ec), (g, gc) = excess[d], gain[d]
        details.append(f"| {d} | {e:+.5f} [{ec[0]:+.5f}, {ec[1]:+.5f}] | {C.mean_sd(acc[f'linear {d}'])} | "
                       f"{g:+.4f} [{gc[0]:+.4f}, {gc[1]:+.4f}] | {chosen[f'linear {d}']:g} / {chosen[f'relu {d}']:g} |")
    details += ["", "A deep linear network's loss above the optimum is under-fitting (the optimizer has not reached "
                "what a single linear layer can express); it is the reason its test accuracy can trail logistic "
                "regression's, and says nothing about expressivity."]
    return {
        "tested": f"{config.data.dataset}, MLPs of depth {list(config.depths)} x {config.width}, {config.optimizer}",
        "protocol": {"data": f"{config.data.dataset} (validation {config.data.val_fraction:g} of training set)",
                     "models": f"MLPs of depth {list(config.depths)}, width {config.width}, identity (LeCun normal) "
                               "or ReLU (He normal); exact logistic regression by L-BFGS",
                     "optimizer": f"{config.optimizer}, constant lr, batch {config.batch_size}, {config.epochs} epochs",
                     "learning rates": f"grid {list(config.lrs)} per model, {config.tuning.rule()}; deep linear: "
                                       f"{C.RULE_LOWEST_TRAINING_LOSS}; ReLU: {C.rule_best_validation()}",
                     "seeds": config.seeds},
        "measurements": {"test_accuracy": {k: C.as_list(v) for k, v in acc.items()},
                         "training_loss": {k: C.as_list(v) for k, v in loss.items()},
                         "logistic_optimum": {"training_loss": optimum, "test_accuracy": logistic_test},
                         "collapse_relative_error": {str(d): v for d, v in collapse.items()}},
        "statistic": subs[1]["statistic"], "ci95": subs[1]["ci95"],
        "interval": C.interval_record("linear", config.seeds, (loss[f"linear {low_d}"], np.full(config.seeds, optimum))),
        "tuning": tuning, "subverdicts": subs,
        "effect": f"deep linear training loss - logistic optimum {excess[low_d][0]:+.4f} [{excess[low_d][1][0]:+.4f}, "
                  f"{excess[low_d][1][1]:+.4f}] nats at depth {low_d}; product of weights matches to {max_err:.0e}; "
                  f"ReLU gains at least {gain[gain_d][1][0]:+.3f} accuracy",
        "details": details,
        "plot": {"depths": list(config.depths), "optimum": optimum, "logistic_test": logistic_test,
                 "accuracy": {k: C.as_list(v) for k, v in acc.items()},
                 "loss": {k: C.as_list(v) for k, v in loss.items()}},
    }


def verdict(result: dict) -> str:
    return C.overall(result["subverdicts"])


def figure(result: dict, path: str) -> None:
    plot = result["plot"]
    depths = plot["depths"]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    for ax, key, ref, label in ((ax_loss, "loss", plot["optimum"], "training loss (whole training set)"),
                                (ax_acc, "accuracy", plot["logistic_test"], "test accuracy")):
        ax.axhline(ref, color="0.3", ls="--", lw=1, label="exact logistic regression")
        for kind, marker in (("linear", "o"), ("relu", "s")):
            vals = [np.asarray(plot[key][f"{kind} {d}"], float) for d in depths]
            ax.errorbar(depths, [v.mean() for v in vals], yerr=[v.std() for v in vals], marker=marker, capsize=3,
                        label="identity activation (deep linear)" if kind == "linear" else "ReLU")
        ax.set_xscale("log", base=2)
        ax.set_xticks(depths, [str(d) for d in depths])
        ax.set_xlabel("hidden layers")
        ax.set_ylabel(f"{label}\n(mean +- std over seeds)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(TITLE, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
