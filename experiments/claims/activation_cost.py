"""Claim 12: what an activation costs, alone and in a whole train step.

    python -m experiments.claims --only activation_cost     # ~4 min on 2 idle CPU cores (most of it compiling)

Times every activation's jitted forward and forward+backward on one large array against a memory-bound
op of the same bytes (``-x``), and the package's whole compiled train step of the default MLP and CNN
with each activation, interleaved in blocks within one process; ratios of per-block medians, with
t-intervals over blocks. On a CPU expect the transcendental activations (GELU, Mish, sigmoid) to cost a
few times a copy alone; what share of a train step that is depends on the device (printed).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from benchmarks.activations import forward, forward_backward  # noqa: E402
from experiments.claims import common as C  # noqa: E402
from experiments.claims import timing  # noqa: E402
from jaxacts._src import registry  # noqa: E402
from jaxacts.models import ModelConfig  # noqa: E402

ID = "activation_cost"
TITLE = "What an activation costs: ReLU is the cheapest, sigmoid and swish are expensive, and it matters to a step"
CLAIM = ("ReLU is computationally efficient and the fastest activation; the exponential makes sigmoid expensive; "
         "swish is slow enough that hard swish exists to replace it; if runtime matters, the activation "
         "should be chosen for its speed.")
SOURCE = ("CS231n notes ('ReLU ... computationally efficient', 'sigmoid ... exp() is a bit compute expensive'); "
          "Geron, Hands-On ML 2e p. 332 ('ReLU is the fastest', 'if you care a lot about runtime latency, prefer "
          "leaky ReLU'); Howard et al. 2019 (MobileNetV3: hard swish because swish is slow on mobile hardware)")
CHEAPEST_MARGIN = 0.95  # "fastest": no activation more than 5% cheaper than ReLU
EXPENSIVE = 1.10  # "expensive" / "slow": at least 10% dearer than the cheap alternative
MATTERS = 1.05  # "matters to a step": the activation changes the whole step's time by at least 5%
RULE = ("Timings: each activation's jitted forward and forward+backward (value and vector-Jacobian product) on one "
        "array of 2^size float32 standard normals x4, beside -x (reads and writes the same bytes: a memory copy), "
        "called interleaved within each block; a block's value per function is the median of its calls; a ratio "
        "is the geometric mean over blocks of the per-block ratio of medians, with a 95% Student t-interval over "
        "blocks on the logs (blocks play the part seeds play elsewhere). Clauses, all on forward+backward of the "
        "activation alone unless said: 'ReLU is the fastest': for every other activation but identity, the ratio "
        f"activation / ReLU; supported if every interval lies above {CHEAPEST_MARGIN} (none is resolvably more than "
        f"{100 * (1 - CHEAPEST_MARGIN):.0f}% cheaper), contradicted if some interval lies entirely below "
        f"{CHEAPEST_MARGIN}; its statistic is the lowest ratio. 'exp makes sigmoid expensive': sigmoid / ReLU; "
        f"supported if the interval lies above {EXPENSIVE}, contradicted if it lies entirely below {EXPENSIVE}. "
        f"'swish is slow (hence hard swish)': swish / hard swish; supported above {EXPENSIVE}, contradicted entirely "
        f"below. 'the activation matters to a train step' (one clause for the default MLP, one for the default "
        "CNN): the package's compiled train step (Adam, batch of the config, one run, run as the training loop "
        "runs it) with the activation whose forward+backward alone costs most in this run, over the same step with "
        f"ReLU; supported if the interval lies above {MATTERS}, contradicted if it lies entirely below {MATTERS}. "
        "Otherwise a clause is inconclusive. " + C.OVERALL_RULE + " The verdict is about the device the run used "
        "(see 'tested on'): the claims are about costs, and costs depend on the device.")

# label -> (spec of the activation alone, spec in the model). PReLU in a model learns its slope per channel.
ACTIVATIONS = {
    "identity": ("identity", "identity"), "ReLU": ("relu", "relu"),
    "leaky ReLU 0.01": ("leaky_relu(negative_slope=0.01)", "leaky_relu(negative_slope=0.01)"),
    "PReLU": ("prelu(slope=0.25)", "prelu"), "ELU": ("elu", "elu"), "SELU": ("selu", "selu"),
    "GELU": ("gelu", "gelu"), "Swish": ("silu", "silu"), "hard swish": ("hard_swish", "hard_swish"),
    "Mish": ("mish", "mish"), "softplus": ("softplus", "softplus"), "tanh": ("tanh", "tanh"),
    "sigmoid": ("sigmoid", "sigmoid"),
}
NEEDED = ("identity", "ReLU", "sigmoid", "Swish", "hard swish")  # the clauses' activations alone
NEEDED_IN_STEP = ("identity", "ReLU")  # and at least one more


@dataclasses.dataclass(frozen=True)
class Config:
    data: C.DataConfig = C.DataConfig()  # only its example shape and class count: steps run on a random batch
    activations: tuple[str, ...] = tuple(ACTIVATIONS)
    step_activations: tuple[str, ...] = ("identity", "ReLU", "leaky ReLU 0.01", "PReLU", "ELU", "SELU", "GELU",
                                         "Swish", "hard swish", "Mish", "tanh", "sigmoid")
    size_log2: int = 22
    seeds: int = 10  # timing blocks, the interval's replicates (seeds elsewhere; --seeds sets them)
    calls: int = 5  # calls per function per block (their median is the block's value)
    batch_size: int = 100
    mlp_steps: int = 20  # steps per timed call
    cnn_steps: int = 5
    step_calls: int = 3

    def __post_init__(self):
        missing = [a for a in NEEDED if a not in self.activations]
        missing += [a for a in NEEDED_IN_STEP if a not in self.step_activations]
        if missing or len(self.step_activations) < 3 or not set(self.step_activations) <= set(self.activations):
            raise ValueError(f"the clauses need {NEEDED} alone and {NEEDED_IN_STEP} and one more in a step, "
                             "every step activation timed alone too")


QUICK = Config(activations=NEEDED, step_activations=("identity", "ReLU", "sigmoid"), size_log2=14, seeds=3, calls=2,
               mlp_steps=2, cnn_steps=1, step_calls=1)


def isolated(config: Config) -> dict[str, dict[str, np.ndarray]]:
    """{mode: {label or 'copy': (blocks,) median seconds}} for the activation alone, fwd and fwd+bwd."""
    x = jax.random.normal(jax.random.key(0), (2 ** config.size_log2,), jnp.float32) * 4.0
    g = jnp.ones_like(x)
    out = {}
    for mode, build, args in (("fwd", forward, (x,)), ("fwd+bwd", forward_backward, (x, g))):
        fns = {"copy": build(lambda v: -v)}
        for label in config.activations:
            name, hp = registry.parse_spec(ACTIVATIONS[label][0])
            fns[label] = build(registry.get(name, **hp))
        out[mode] = timing.blocked_medians(fns, args, config.seeds, config.calls)
    return out


def steps(config: Config) -> dict[str, dict[str, np.ndarray]]:
    """{model: {label: (blocks,) median seconds per step}} of the package's train step."""
    data = C.load(config.data)
    out = {}
    for kind, n in (("MLP", config.mlp_steps), ("CNN", config.cnn_steps)):
        fns = {label: timing.train_step_runner(ModelConfig(kind=kind.lower(), activation=ACTIVATIONS[label][1],
                                                           init=C.init_for(ACTIVATIONS[label][1])),
                                               data.example_shape, data.num_classes, batch_size=config.batch_size,
                                               steps=n)
               for label in config.step_activations}
        out[kind] = {k: v / n for k, v in timing.blocked_medians(fns, (), config.seeds, config.step_calls).items()}
    return out


def ratio_entry(num: np.ndarray, den: np.ndarray) -> dict:
    ratio, ci = C.paired_ratio(num, den)
    return {"ratio": ratio, "ci95": ci}


def run(config: Config) -> dict:
    alone = isolated(config)
    step = steps(config)
    others = [a for a in config.activations if a not in ("identity", "ReLU")]
    vs_copy = {mode: {a: ratio_entry(t[a], t["copy"]) for a in config.activations} for mode, t in alone.items()}
    vs_relu = {mode: {a: ratio_entry(t[a], t["ReLU"]) for a in config.activations} for mode, t in alone.items()}
    fb = vs_relu["fwd+bwd"]
    cheapest = min(others, key=lambda a: fb[a]["ratio"])
    every = [fb[a]["ci95"] for a in others]
    fastest = ("supported" if all(lo > CHEAPEST_MARGIN for lo, _ in every) else
               "contradicted" if any(hi < CHEAPEST_MARGIN for _, hi in every) else "inconclusive")
    sig = fb["sigmoid"]
    swish = ratio_entry(alone["fwd+bwd"]["Swish"], alone["fwd+bwd"]["hard swish"])
    dearest = max((a for a in config.step_activations if a not in ("identity", "ReLU")),
                  key=lambda a: vs_copy["fwd+bwd"][a]["ratio"])
    step_vs_relu = {m: {a: ratio_entry(t[a], t["ReLU"]) for a in config.step_activations} for m, t in step.items()}
    # The activation's share of a step: 1 - (step with identity) / (step with it), per block.
    share = {m: {a: {"mean": float(np.mean(1 - t["identity"] / t[a])), "ci95": C.t_interval(1 - t["identity"] / t[a])}
                 for a in config.step_activations} for m, t in step.items()}
    above = lambda c: C.interval_verdict(c, lambda lo, hi: lo > EXPENSIVE, lambda lo, hi: hi < EXPENSIVE)
    matters = lambda c: C.interval_verdict(c, lambda lo, hi: lo > MATTERS, lambda lo, hi: hi < MATTERS)
    name = f"forward+backward time alone, {cheapest} / ReLU (the lowest of every activation / ReLU)"
    subs = [C.subverdict("ReLU is the fastest", fastest, name, fb[cheapest]["ratio"], fb[cheapest]["ci95"]),
            C.subverdict("exp makes sigmoid expensive", above(sig["ci95"]),
                         "forward+backward time alone, sigmoid / ReLU", sig["ratio"], sig["ci95"]),
            C.subverdict("swish is slow (hence hard swish)", above(swish["ci95"]),
                         "forward+backward time alone, Swish / hard swish", swish["ratio"], swish["ci95"])]
    for m in ("MLP", "CNN"):
        e = step_vs_relu[m][dearest]
        subs.append(C.subverdict(f"the activation matters to a train step ({m})", matters(e["ci95"]),
                                 f"train-step time of the default {m}, {dearest} / ReLU", e["ratio"], e["ci95"]))
    dev = timing.device()
    details = [f"Device: {dev}. Activation alone: 2^{config.size_log2} float32 elements, {config.seeds} blocks x "
               f"{config.calls} interleaved calls. Train step: batch {config.batch_size}, Adam, one run; the MLP's "
               f"{config.mlp_steps} steps per call in one compiled loop where the package scans, the CNN's "
               f"{config.cnn_steps} dispatched one by one where it dispatches ({config.step_calls} calls per "
               "block).", "",
               "| activation | fwd / copy | fwd+bwd / copy | fwd+bwd / ReLU | MLP step / ReLU's | share of MLP step | "
               "CNN step / ReLU's | share of CNN step |", "|---|---|---|---|---|---|---|---|"]
    fmt = lambda e: f"{e['ratio']:.3g} [{e['ci95'][0]:.3g}, {e['ci95'][1]:.3g}]"
    fmt_share = lambda e: f"{100 * e['mean']:+.1f}% [{100 * e['ci95'][0]:+.1f}, {100 * e['ci95'][1]:+.1f}]"
    for a in config.activations:
        cells = [fmt(vs_copy["fwd"][a]), fmt(vs_copy["fwd+bwd"][a]), fmt(fb[a])]
        for m in ("MLP", "CNN"):
            cells += [fmt(step_vs_relu[m][a]), fmt_share(share[m][a])] if a in config.step_activations else ["-", "-"]
        details.append(f"| {a} | " + " | ".join(cells) + " |")
    details += ["", f"Swish / hard swish alone (fwd+bwd): {fmt(swish)}. The activation judged in the step clauses is "
                f"the dearest alone in this run: {dearest}. Median step time with ReLU: MLP "
                f"{1e3 * np.median(step['MLP']['ReLU']):.3g} ms, CNN {1e3 * np.median(step['CNN']['ReLU']):.3g} ms. "
                "A share is 1 - (step with identity) / (step with the activation), per block: negative values are "
                "noise (or a program XLA happened to schedule better)."]
    lo, hi = fb[cheapest]["ci95"]
    return {
        "tested": f"{dev}; activation alone on 2^{config.size_log2} elements; default MLP and CNN train steps "
                  f"({config.data.dataset} shapes)",
        "protocol": {"device": dev, "backend": jax.default_backend(),
                     "activation alone": f"2^{config.size_log2} float32 elements, jitted forward and value+VJP, "
                                         f"beside -x; {config.seeds} blocks x {config.calls} interleaved calls",
                     "train step": f"the package's compiled step (jaxacts.training), default ModelConfig MLP and CNN "
                                   f"(initializer per activation), Adam lr 1e-3, batch {config.batch_size}, one run, "
                                   f"random batch of {config.data.dataset}'s shape; {config.step_calls} calls x "
                                   f"{config.mlp_steps} (MLP) / {config.cnn_steps} (CNN) steps per block",
                     "seeds": config.seeds, "replicates": "timing blocks (the interval is over blocks)"},
        "measurements": {"seconds_alone": {m: {k: C.as_list(v) for k, v in t.items()} for m, t in alone.items()},
                         "seconds_per_step": {m: {k: C.as_list(v) for k, v in t.items()} for m, t in step.items()},
                         "alone_vs_copy": vs_copy, "alone_vs_relu": vs_relu, "step_vs_relu": step_vs_relu,
                         "step_share": share, "swish_vs_hard_swish": swish, "dearest": dearest, "device": dev},
        "statistic": {"name": name, "value": fb[cheapest]["ratio"]}, "ci95": fb[cheapest]["ci95"],
        "interval": C.interval_record("log", config.seeds, (alone["fwd+bwd"][cheapest], alone["fwd+bwd"]["ReLU"])),
        "tuning": None, "subverdicts": subs,
        "effect": f"cheapest other/ReLU {fb[cheapest]['ratio']:.2f} [{lo:.2f}, {hi:.2f}] ({cheapest}); sigmoid/ReLU "
                  f"{sig['ratio']:.2f}; swish/hard swish {swish['ratio']:.2f}; {dearest} step/ReLU step MLP "
                  f"{step_vs_relu['MLP'][dearest]['ratio']:.2f}, CNN {step_vs_relu['CNN'][dearest]['ratio']:.2f} "
                  f"({dev})",
        "details": details,
        "plot": {"activations": list(config.activations), "step_activations": list(config.step_activations),
                 "alone_vs_copy": vs_copy, "share": share, "device": dev},
    }


def verdict(result: dict) -> str:
    return C.overall(result["subverdicts"])


def figure(result: dict, path: str) -> None:
    plot = result["plot"]
    acts = plot["activations"]
    fig, (ax_alone, ax_share) = plt.subplots(1, 2, figsize=(12, 4.5))
    pos = np.arange(len(acts))
    for shift, mode in ((-0.2, "fwd"), (0.2, "fwd+bwd")):
        e = [plot["alone_vs_copy"][mode][a] for a in acts]
        r = np.array([v["ratio"] for v in e])
        err = [r - [v["ci95"][0] for v in e], [v["ci95"][1] for v in e] - r]
        ax_alone.bar(pos + shift, r, 0.4, yerr=err, capsize=2, label=mode)
    ax_alone.axhline(1.0, color="k", lw=1)
    ax_alone.set_xticks(pos, acts, rotation=60, ha="right", fontsize=8)
    ax_alone.set_ylabel("time alone / time of a copy (-x)")
    ax_alone.legend(fontsize=8)
    steps_acts = plot["step_activations"]
    pos = np.arange(len(steps_acts))
    for shift, m in ((-0.2, "MLP"), (0.2, "CNN")):
        e = [plot["share"][m][a] for a in steps_acts]
        v = 100 * np.array([x["mean"] for x in e])
        err = [v - [100 * x["ci95"][0] for x in e], [100 * x["ci95"][1] for x in e] - v]
        ax_share.bar(pos + shift, v, 0.4, yerr=err, capsize=2, label=f"default {m}")
    ax_share.axhline(0.0, color="k", lw=1)
    ax_share.set_xticks(pos, steps_acts, rotation=60, ha="right", fontsize=8)
    ax_share.set_ylabel("share of a train step, %\n1 - step(identity) / step(activation)")
    ax_share.legend(fontsize=8)
    for ax in (ax_alone, ax_share):
        ax.grid(alpha=0.3, axis="y")
    fig.suptitle(f"What an activation costs on {plot['device']} (95% CI over timing blocks)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
