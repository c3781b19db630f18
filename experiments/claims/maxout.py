"""Claim 11: maxout generalizes ReLU and leaky ReLU, and doubles the parameters per unit.

    python -m experiments.claims --only maxout     # ~5 min on 2 idle CPU cores

The construction first: a 2-piece maxout network whose second piece is the first times a (0: ReLU,
a: leaky ReLU with slope a) computes exactly what the ReLU / leaky ReLU network does (shown on the
package's own maxout layer and function). Then the parameter count of the package's models, and
training on MNIST-1D: maxout at equal width (twice the hidden parameters) against ReLU and leaky ReLU
0.01, each at its tuned learning rate; maxout at equal parameter count (narrower) and every arm's time per
step are reported beside it. Expect the construction to hold to float32 rounding and maxout at equal width
to be about as accurate as ReLU.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
from flax import nnx

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import jaxacts  # noqa: E402
from experiments.claims import common as C  # noqa: E402
from experiments.claims import timing  # noqa: E402
from jaxacts.models import ModelConfig, build_model  # noqa: E402

ID = "maxout"
TITLE = "Maxout generalizes ReLU and leaky ReLU and doubles the parameters per unit"
CLAIM = ("A maxout unit computes max(w1 x + b1, w2 x + b2): ReLU and leaky ReLU are special cases of this form, so "
         "maxout enjoys the benefits of a ReLU unit without its drawbacks; but unlike ReLU neurons it doubles the "
         "number of parameters for every single neuron.")
SOURCE = "CS231n notes ('Maxout'), after Goodfellow et al. 2013, 'Maxout networks'"
TOLERANCE = 1e-5  # "exactly": equal to float32 rounding, relative to the largest logit
MARGIN = 0.01  # non-inferiority margin in test accuracy (1 percentage point), as claim 6's
RULE = ("Clause 'a 2-piece maxout unit represents ReLU and leaky ReLU exactly': for each slope a in the config "
        "(0 = ReLU), a ReLU / leaky-ReLU MLP of the config's shape (He normal init) and the package's 2-piece maxout "
        "MLP of the same width whose pieces are (W, b) and (aW, ab) and whose head is the same; the statistic is the "
        "largest |logit difference| over the test set and the slopes, relative to the largest |logit|, and also "
        "the package's maxout function on the pieces (z, az) against its leaky_relu(z) on a grid; supported if it "
        f"is at most {TOLERANCE:g}, contradicted otherwise. Clause 'doubles the parameters per unit': the package's "
        "MLP's hidden-layer parameters with 2-piece maxout over those with ReLU at equal width; supported if it is "
        "2 (to 1e-12), contradicted otherwise. Clauses 'at equal width maxout is at least as good as ReLU' and '... "
        "as leaky ReLU 0.01' (generalizing them, with twice the parameters, it should lose nothing): test accuracy "
        "as the mean over the last 5 epochs of each run, on the evaluation seeds, each arm at its learning rate "
        "tuned on tuning seeds for the same quantity on the validation split; the paired difference maxout minus "
        f"ReLU (resp. leaky ReLU); supported if its 95% interval lies above -{MARGIN} (non-inferior), contradicted if "
        f"it lies entirely below -{MARGIN}, otherwise inconclusive. Maxout at equal parameter count (narrower) and "
        "each arm's time per train step are reported, not judged: the claim says nothing about them. "
        + C.OVERALL_RULE)

PLAIN = {"ReLU": "relu", "leaky ReLU 0.01": "leaky_relu(negative_slope=0.01)"}
MAXOUT = "maxout"
MAXOUT_EQUAL_PARAMETERS = "maxout (equal parameters)"
ARMS = (*PLAIN, MAXOUT, MAXOUT_EQUAL_PARAMETERS)


@dataclasses.dataclass(frozen=True)
class Config:
    data: C.DataConfig = C.DataConfig()
    seeds: int = 32  # a 1-point non-inferiority margin needs an interval narrower than it
    depth: int = 2  # the default MLP (the guide's "MLP depth 2")
    width: int = 128
    pieces: int = 2
    optimizer: str = "adam"
    lrs: tuple[float, ...] = (3e-4, 1e-3, 3e-3, 1e-2)
    tuning: C.Tuning = C.Tuning()
    epochs: int = 30
    last_epochs: int = 5
    batch_size: int = 100
    construction_slopes: tuple[float, ...] = (0.0, 0.01, 0.2)
    timing_blocks: int = 5
    timing_calls: int = 3
    timing_steps: int = 20


QUICK = Config(data=C.DataConfig(train_subset=600), seeds=2, width=16, lrs=(1e-3, 1e-2), epochs=2, last_epochs=2,
               tuning=C.Tuning(seeds=2, max_extensions=0), timing_blocks=2, timing_calls=1, timing_steps=2)


# ---------------------------------------------------------------------------------------------------
# Parameter counts and the construction

def mlp_parameters(in_features: int, num_classes: int, depth: int, width: int, pieces: int = 1) -> tuple[int, int]:
    """(hidden-layer parameters, all parameters) of an MLP with ``depth`` dense layers of ``width`` units,
    each unit ``pieces`` affine maps (1: a plain unit), biases included, and a linear head."""
    hidden, fan_in = 0, in_features
    for _ in range(depth):
        hidden += (fan_in + 1) * width * pieces
        fan_in = width
    return hidden, hidden + (fan_in + 1) * num_classes


def equal_parameter_width(in_features: int, num_classes: int, depth: int, width: int, pieces: int) -> int:
    """The maxout width whose MLP has the parameter count closest to the plain MLP of ``width`` (the narrower
    on a tie)."""
    target = mlp_parameters(in_features, num_classes, depth, width)[1]
    return min(range(1, width + 1),
               key=lambda w: (abs(mlp_parameters(in_features, num_classes, depth, w, pieces)[1] - target), w))


def count_parameters(model: nnx.Module) -> tuple[int, int]:
    """(hidden-layer parameters, all parameters) of a built package MLP, counted from its nnx.Param leaves."""
    size = lambda tree: int(sum(np.size(leaf) for leaf in jax.tree.leaves(nnx.state(tree, nnx.Param))))
    return size(model.blocks), size(model)


def represent(plain: nnx.Module, maxout: nnx.Module, slope: float) -> None:
    """Sets ``maxout``'s (a 2-piece maxout MLP of ``plain``'s width and depth) weights so that it computes
    ``plain`` (a ReLU or leaky-ReLU MLP with this negative slope): each unit's pieces are (W, b) and
    (slope W, slope b), max(z, slope z) = leaky_relu(z) for slope in [0, 1]; the head is copied. The package's
    maxout layer takes consecutive groups of the pieces, so unit i's pieces are outputs 2i and 2i + 1."""
    for p_block, m_block in zip(plain.blocks, maxout.blocks):
        k, b = p_block.linear.kernel[...], p_block.linear.bias[...]
        m_block.linear.kernel[...] = jnp.stack([k, slope * k], axis=-1).reshape(k.shape[0], -1)
        m_block.linear.bias[...] = jnp.stack([b, slope * b], axis=-1).reshape(-1)
    maxout.head.kernel[...] = plain.head.kernel[...]
    maxout.head.bias[...] = plain.head.bias[...]


def construction(config: Config, x: np.ndarray, num_classes: int) -> dict:
    """Per slope: the relative largest |logit difference| of the represented network, and the package's maxout
    function on (z, slope z) against its leaky_relu on a grid of z (absolute largest difference)."""
    out = {}
    z = jnp.concatenate([jnp.linspace(-10.0, 10.0, 20_001, dtype=jnp.float32),
                         jnp.array([0.0, -0.0, 1e-30, -1e-30, 3e38, -3e38], jnp.float32)])
    for slope in config.construction_slopes:
        spec = "relu" if slope == 0 else f"leaky_relu(negative_slope={slope})"
        shape = dict(depth=config.depth, width=config.width, init="he_normal")
        plain = build_model(ModelConfig(activation=spec, **shape), x.shape[1:], num_classes, jax.random.key(0))
        maxout = build_model(ModelConfig(activation="maxout", maxout_pieces=2, **shape), x.shape[1:], num_classes,
                             jax.random.key(1))
        represent(plain, maxout, slope)
        a, b = np.asarray(plain(jnp.asarray(x))), np.asarray(maxout(jnp.asarray(x)))
        pieces = jnp.stack([z, slope * z], axis=-1).reshape(-1)
        fn = np.asarray(jaxacts.maxout(pieces, num_pieces=2)) - np.asarray(
            jaxacts.relu(z) if slope == 0 else jaxacts.leaky_relu(z, negative_slope=slope))
        out[f"{slope:g}"] = {"network": float(np.max(np.abs(a - b)) / np.max(np.abs(a))),
                             "function": float(np.max(np.abs(fn)))}
    return out


# ---------------------------------------------------------------------------------------------------

def run(config: Config) -> dict:
    data = C.load(config.data)
    n_in, n_cls = int(np.prod(data.example_shape)), data.num_classes
    narrow = equal_parameter_width(n_in, n_cls, config.depth, config.width, config.pieces)
    widths = {MAXOUT: config.width, MAXOUT_EQUAL_PARAMETERS: narrow}
    shape = {"depth": config.depth, "width": config.width}
    maxout_model = {a: ModelConfig(activation="maxout", maxout_pieces=config.pieces, init="he_normal",
                                   depth=config.depth, width=w) for a, w in widths.items()}
    arms = {a: (spec, "he_normal") for a, spec in PLAIN.items()}

    def train(lrs_by_arm, seeds, first_seed):
        kw = dict(epochs=config.epochs, batch_size=config.batch_size, seeds=seeds, first_seed=first_seed)
        plain = {a: lrs for a, lrs in lrs_by_arm.items() if a in PLAIN}
        out = C.train_arms(data, arms, shape, config.optimizer, plain, **kw) if plain else {}
        out.update({a: C.train_sweep(data, maxout_model[a], config.optimizer, lrs, **kw)
                    for a, lrs in lrs_by_arm.items() if a in widths})
        return out

    last = config.last_epochs
    chosen, tuning = C.tune(train, {a: config.lrs for a in ARMS}, lambda s: C.choose_by_validation(s, last=last),
                            config.tuning, config.seeds)
    sweeps = train({a: [chosen[a]] for a in ARMS}, config.seeds, 0)
    acc = {a: s.evals["test_accuracy"][0, :, -last:].mean(axis=-1) for a, s in sweeps.items()}
    curves = {a: s.evals["test_accuracy"][0].mean(axis=0) for a, s in sweeps.items()}
    train_loss = {a: s.final_train["loss"][0] for a, s in sweeps.items()}

    built = {a: build_model(m, data.example_shape, n_cls, jax.random.key(0)) for a, m in maxout_model.items()}
    built["ReLU"] = build_model(ModelConfig(activation="relu", **shape), data.example_shape, n_cls, jax.random.key(0))
    counted = {a: count_parameters(m) for a, m in built.items()}
    closed = {"ReLU": mlp_parameters(n_in, n_cls, config.depth, config.width),
              **{a: mlp_parameters(n_in, n_cls, config.depth, w, config.pieces) for a, w in widths.items()}}
    assert counted == closed, (counted, closed)  # the closed form is the package's model
    per_unit = counted[MAXOUT][0] / counted["ReLU"][0]

    built_check = construction(config, data.x_test, n_cls)
    worst = max(max(v.values()) for v in built_check.values())

    models = {**{a: ModelConfig(activation=PLAIN[a], **shape) for a in PLAIN}, **maxout_model}
    runners = {a: timing.train_step_runner(m, data.example_shape, n_cls, batch_size=config.batch_size,
                                           steps=config.timing_steps, optimizer=config.optimizer, lr=chosen[a])
               for a, m in models.items()}
    step_seconds = {a: v / config.timing_steps for a, v in
                    timing.blocked_medians(runners, (), config.timing_blocks, config.timing_calls).items()}
    step_ratio = {a: dict(zip(("ratio", "ci95"), C.paired_ratio(step_seconds[a], step_seconds["ReLU"]))) for a in ARMS}

    d_relu, ci_relu = C.paired_difference(acc[MAXOUT], acc["ReLU"])
    d_leaky, ci_leaky = C.paired_difference(acc[MAXOUT], acc["leaky ReLU 0.01"])
    d_eq, ci_eq = C.paired_difference(acc[MAXOUT_EQUAL_PARAMETERS], acc["ReLU"])
    non_inferior = lambda ci: C.interval_verdict(ci, lambda lo, hi: lo > -MARGIN, lambda lo, hi: hi < -MARGIN)
    name = f"test accuracy (mean of the last {last} epochs), maxout - ReLU at equal width"
    subs = [C.subverdict("a 2-piece maxout unit represents ReLU and leaky ReLU exactly",
                         "supported" if worst <= TOLERANCE else "contradicted",
                         "largest relative |logit difference| of the represented network (and |maxout - leaky_relu|)",
                         worst, [worst, worst]),
            C.subverdict("doubles the parameters per unit",
                         "supported" if abs(per_unit - 2) <= 1e-12 else "contradicted",
                         "hidden-layer parameters, 2-piece maxout / ReLU at equal width", per_unit,
                         [per_unit, per_unit]),
            C.subverdict("at equal width maxout is at least as good as ReLU", non_inferior(ci_relu), name, d_relu,
                         ci_relu),
            C.subverdict("at equal width maxout is at least as good as leaky ReLU 0.01", non_inferior(ci_leaky),
                         name.replace("ReLU at", "leaky ReLU 0.01 at"), d_leaky, ci_leaky)]

    ranking = {"MLP depth 2": {label: {"mean": float(acc[a].mean()), "ci95": C.t_interval(acc[a]),
                                       "values": C.as_list(acc[a])}
                               for label, a in (("ReLU", "ReLU"), ("leaky ReLU 0.01", "leaky ReLU 0.01"),
                                                ("maxout", MAXOUT))}}
    params = {a: dict(zip(("hidden", "total"), counted[a if a in counted else "ReLU"])) for a in ARMS}
    details = ["| arm | width | parameters (hidden / all) | lr chosen | test accuracy (last-epochs mean) | final "
               "training loss | time per step / ReLU's |", "|---|---|---|---|---|---|---|"]
    for a in ARMS:
        r = step_ratio[a]
        details.append(f"| {a} | {widths.get(a, config.width)} | {params[a]['hidden']} / {params[a]['total']} | "
                       f"{chosen[a]:g} | {C.mean_sd(acc[a])} | {C.mean_sd(train_loss[a])} | {r['ratio']:.3g} "
                       f"[{r['ci95'][0]:.3g}, {r['ci95'][1]:.3g}] |")
    details += ["", "Construction (largest difference; network relative to the largest |logit| on the test set, "
                "function absolute on a grid of 20,007 points including 0, -0, +-1e-30 and +-3e38): "
                + "; ".join(f"slope {s}: network {v['network']:.2g}, function {v['function']:.2g}"
                            for s, v in built_check.items()) + ".",
                f"Maxout at equal width - leaky ReLU 0.01: {d_leaky:+.4f} [{ci_leaky[0]:+.4f}, {ci_leaky[1]:+.4f}]; "
                f"maxout at equal parameters (width {narrow}) - ReLU: {d_eq:+.4f} [{ci_eq[0]:+.4f}, {ci_eq[1]:+.4f}] "
                "(reported, not judged).",
                f"Time per step: the package's compiled train step, one run, batch {config.batch_size}, "
                f"{config.timing_steps} steps per call in one compiled loop, {config.timing_blocks} blocks x "
                f"{config.timing_calls} interleaved calls, on {timing.device()}."]
    return {
        "tested": f"{config.data.dataset}, MLP {config.depth}x{config.width} (maxout {config.pieces} pieces), "
                  f"{config.optimizer}",
        "protocol": {"data": f"{config.data.dataset} (validation {config.data.val_fraction:g} of training set)",
                     "model": f"MLP {config.depth} x {config.width}, He normal init; maxout with {config.pieces} "
                              f"pieces at width {config.width} and at width {narrow} (parameter count closest to "
                              "ReLU's)",
                     "optimizer": f"{config.optimizer}, constant lr, batch {config.batch_size}, {config.epochs} epochs",
                     "learning rates": f"grid {list(config.lrs)} per arm, {config.tuning.rule()}; rule: "
                                       f"{C.rule_best_validation(last)}",
                     "construction": f"slopes {list(config.construction_slopes)}, tolerance {TOLERANCE:g}",
                     "device": timing.device(), "seeds": config.seeds},
        "measurements": {"test_accuracy": {a: C.as_list(v) for a, v in acc.items()},
                         "train_loss": {a: C.as_list(v) for a, v in train_loss.items()},
                         "parameters": params, "widths": {**widths, **{a: config.width for a in PLAIN}},
                         "construction": built_check,
                         "step_seconds": {a: C.as_list(v) for a, v in step_seconds.items()},
                         "step_time_vs_relu": step_ratio, "chosen_lr": chosen,
                         "maxout_equal_parameters_minus_relu": {"value": d_eq, "ci95": ci_eq}, "ranking": ranking},
        "statistic": {"name": name, "value": d_relu}, "ci95": ci_relu,
        "interval": C.interval_record("linear", config.seeds, (acc[MAXOUT], acc["ReLU"])),
        "tuning": tuning, "subverdicts": subs,
        "effect": f"exact to {worst:.1g}; x{per_unit:g} hidden parameters; maxout - ReLU {d_relu:+.4f} "
                  f"[{ci_relu[0]:+.4f}, {ci_relu[1]:+.4f}], - leaky {d_leaky:+.4f} "
                  f"[{ci_leaky[0]:+.4f}, {ci_leaky[1]:+.4f}]; "
                  f"equal parameters {d_eq:+.4f}; step time x{step_ratio[MAXOUT]['ratio']:.2f}",
        "details": details,
        "plot": {"test_accuracy": {a: C.as_list(v) for a, v in acc.items()},
                 "test_curve": {a: C.as_list(v) for a, v in curves.items()},
                 "step_time_vs_relu": step_ratio, "parameters": params},
    }


def verdict(result: dict) -> str:
    return C.overall(result["subverdicts"])


def figure(result: dict, path: str) -> None:
    plot = result["plot"]
    arms = list(plot["test_accuracy"])
    fig, (ax_acc, ax_curve, ax_time) = plt.subplots(1, 3, figsize=(14, 4))
    for i, a in enumerate(arms):
        acc = np.asarray(plot["test_accuracy"][a], float)
        ax_acc.scatter(np.full(acc.shape, i) + np.linspace(-0.12, 0.12, len(acc)), acc, s=10)
        ax_acc.errorbar(i + 0.28, acc.mean(), yerr=acc.std(), fmt="o", color="k", capsize=3)
        curve = plot["test_curve"][a]
        ax_curve.plot(np.arange(1, len(curve) + 1), curve, label=f"{a} ({plot['parameters'][a]['total']} params)")
    labels = [a.replace(" (equal parameters)", "\n(equal params)") for a in arms]
    ax_acc.set_xticks(range(len(arms)), labels, fontsize=8)
    ax_acc.set_ylabel("test accuracy, mean of the last epochs\n(one dot per seed)")
    ax_curve.set_xlabel("epoch")
    ax_curve.set_ylabel("test accuracy (mean over seeds)")
    ax_curve.legend(fontsize=7)
    r = np.array([plot["step_time_vs_relu"][a]["ratio"] for a in arms])
    lo = np.array([plot["step_time_vs_relu"][a]["ci95"][0] for a in arms])
    hi = np.array([plot["step_time_vs_relu"][a]["ci95"][1] for a in arms])
    ax_time.bar(range(len(arms)), r, yerr=[r - lo, hi - r], capsize=3)
    ax_time.axhline(1.0, color="k", lw=1)
    ax_time.set_xticks(range(len(arms)), labels, fontsize=8)
    ax_time.set_ylabel("train-step time / ReLU's (95% CI)")
    for ax in (ax_acc, ax_curve, ax_time):
        ax.grid(alpha=0.3)
    fig.suptitle(f"{TITLE} (tested on {result['tested']})", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
