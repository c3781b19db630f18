"""Claim 7: RReLU when the network overfits, PReLU with a huge training set.

``python -m experiments.claims --only data_size`` (about 5 minutes on two idle CPU cores, a third of it
generating MNIST-1D examples). Five rectifiers (ReLU, leaky ReLU 0.01 and 0.2, PReLU learned per channel,
RReLU) are trained on nested MNIST-1D training sets of growing size, the test set fixed: test accuracy and
the generalisation gap per size, with intervals over seeds. Xu et al. 2015 found RReLU best on small data
and PReLU fitting the training set best but overfitting.
"""

from __future__ import annotations

import dataclasses
import functools

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from experiments.claims import common as C  # noqa: E402
from jaxacts import data as D  # noqa: E402
from jaxacts._src import layers  # noqa: E402

ID = "data_size"
TITLE = "RReLU when the network overfits, PReLU with a huge training set"
CLAIM = ("Use RReLU if your network is overfitting, or PReLU if you have a huge training set (among leaky ReLU and "
         "its variants).")
SOURCE = ("Geron, Hands-On Machine Learning 2e, p. 332; Xu, Wang, Chen and Li 2015 (RReLU best on small data, "
          "learned slopes prone to overfitting); He et al. 2015 (PReLU: little overfitting risk on ImageNet)")
RULE = ("Five arms, each with He normal init: ReLU, leaky ReLU 0.01, leaky ReLU 0.2, PReLU (slope learned per channel "
        "from 0.25) and RReLU (slope drawn per element from U(1/8, 1/3) in training, 0.229 at test: PyTorch's "
        "parametrisation). Nested MNIST-1D training sets of each size in the config (the canonical 4000 training "
        "examples first, then examples the same generator draws with another seed), one validation set and the "
        "canonical 1000-example test set fixed across sizes; every run takes the same number of steps, so small sets "
        "are trained for many epochs (the overfitting regime) and large ones for few. Per size and arm the learning "
        "rate is " + C.rule_best_validation(1) + ". Statistic per evaluation seed: the final test accuracy. Clause "
        "'RReLU when the network overfits': at the smallest size, the paired differences RReLU minus each other arm; "
        "supported if all four 95% intervals lie above 0 (RReLU is the best choice), contradicted if any lies "
        "entirely below 0 (another arm beats it), else inconclusive; the reported statistic is the difference to the "
        "closest competitor (smallest mean difference). Clause 'PReLU with a huge training set': the same with PReLU "
        "at the largest size. The generalisation gap (final accuracy on the whole training set minus test accuracy) "
        "is reported per size and arm, not judged. " + C.OVERALL_RULE + " 'Huge' is relative: the largest MNIST-1D "
        "set here, not ImageNet.")

ARMS = {"ReLU": "relu", "leaky ReLU 0.01": "leaky_relu(negative_slope=0.01)",
        "leaky ReLU 0.2": "leaky_relu(negative_slope=0.2)", "PReLU": layers.expand("prelu")[0], "RReLU": "rrelu"}
LABELS = tuple(ARMS)


@dataclasses.dataclass(frozen=True)
class Config:
    data: C.DataConfig = C.DataConfig()  # only its dataset name is read: this claim builds MNIST-1D sets itself
    sizes: tuple[int, ...] = (1000, 4000, 16000)
    val_size: int = 1000
    extra_seed: int = 1  # MNIST-1D generator seed of the examples beyond the canonical 4000 (canonical: 42)
    seeds: int = 8
    depth: int = 2
    width: int = 64
    optimizer: str = "adam"
    lrs: tuple[float, ...] = (1e-3, 3e-3, 1e-2)
    tuning: C.Tuning = C.Tuning(seeds=2)  # up to 3 extensions: at n = 1000 the best rate lies above the grid
    steps: int = 800  # per run at every size
    batch_size: int = 100


QUICK = Config(sizes=(300, 900), val_size=200, seeds=2, width=32, lrs=(3e-3, 1e-2), steps=30,
               tuning=C.Tuning(seeds=2, max_extensions=0))


@functools.lru_cache(maxsize=2)
def mnist1d_pool(total: int, extra_seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_pool, y_pool, x_test, y_test), unstandardized: the canonical MNIST-1D (mnist1d's default arguments,
    seed 42: 4000 training and 1000 test examples), its training examples followed by as many examples as
    ``total`` needs beyond them, drawn by the same generator with seed ``extra_seed`` (a class-balanced,
    shuffled block). Generated locally, never downloaded."""
    from mnist1d.data import get_dataset_args, make_dataset

    canonical = make_dataset(get_dataset_args())
    x, y = canonical["x"], canonical["y"]
    missing = total - len(y)
    if missing > 0:
        args = get_dataset_args()
        args.num_samples, args.seed, args.train_split = 10 * -(-missing // 10), extra_seed, 1.0
        extra = make_dataset(args)
        x, y = np.concatenate([x, extra["x"][:missing]]), np.concatenate([y, extra["y"][:missing]])
    return (x.astype(np.float32), y.astype(np.int32), canonical["x_test"].astype(np.float32),
            canonical["y_test"].astype(np.int32))


def split_pool(x_pool, y_pool, x_test, y_test, size: int, val_size: int) -> D.Dataset:
    """The first ``size`` pool examples as the training set and the last ``val_size`` as the validation set
    (the same for every size, disjoint from every training set), standardized per feature with the training
    set's statistics (as ``jaxacts.data.load_dataset``)."""
    if size + val_size > len(y_pool):
        raise ValueError(f"{size} training + {val_size} validation examples exceed the pool of {len(y_pool)}")
    x, y = x_pool[:size], y_pool[:size]
    x_val, y_val = x_pool[len(y_pool) - val_size:], y_pool[len(y_pool) - val_size:]
    mean, std = x.mean(axis=0, keepdims=True), x.std(axis=0, keepdims=True)
    std = np.where(std > 1e-8, std, 1.0)
    s = lambda a: ((a - mean) / std).astype(np.float32)
    return D.Dataset("mnist1d", s(x), y, s(x_test), y_test, 10, x_val=s(x_val), y_val=y_val)


def epochs_for(size: int, steps: int, batch_size: int) -> int:
    """Epochs that give about ``steps`` steps on ``size`` examples (at least one)."""
    return max(1, round(steps / (size // batch_size)))


def best_arm_clause(acc: dict[str, np.ndarray], arm: str) -> dict:
    """The clause 'arm is the best choice' over paired per-seed accuracies ``acc`` (label -> (seeds,)): each
    other arm's difference arm - other with its t-interval, the closest competitor, and the verdict (supported:
    every interval above 0; contradicted: some interval entirely below 0)."""
    diffs = {o: C.paired_difference(acc[arm], acc[o]) for o in acc if o != arm}
    closest = min(diffs, key=lambda o: diffs[o][0])
    if all(ci[0] > 0 for _, ci in diffs.values()):
        verdict = "supported"
    elif any(ci[1] < 0 for _, ci in diffs.values()):
        verdict = "contradicted"
    else:
        verdict = "inconclusive"
    return {"differences": {o: {"mean": v, "ci95": ci} for o, (v, ci) in diffs.items()}, "closest": closest,
            "verdict": verdict}


def ranking_entry(values) -> dict:
    v = np.asarray(values, np.float64)
    return {"mean": float(v.mean()), "ci95": C.t_interval(v), "values": C.as_list(v)}


def run(config: Config) -> dict:
    if config.data.dataset != "mnist1d":
        raise ValueError("claim data_size sweeps the training-set size of MNIST-1D, which generates examples; "
                         f"it cannot run on {config.data.dataset}")
    pool = mnist1d_pool(max(config.sizes) + config.val_size, config.extra_seed)
    model = {"depth": config.depth, "width": config.width}
    arms = {a: (spec, "he_normal") for a, spec in ARMS.items()}
    per_size, tunings = {}, []
    for size in config.sizes:
        data = split_pool(*pool, size, config.val_size)
        epochs = epochs_for(size, config.steps, config.batch_size)

        def train(lrs_by_arm, seeds, first_seed, data=data, epochs=epochs):
            # RReLU draws from its key, which a run-time choice among activations (lax.switch) cannot close
            # over (an escaped tracer): it trains in a program of its own, the same seeds and data order.
            out = {}
            for group in ([a for a in lrs_by_arm if a != "RReLU"], [a for a in lrs_by_arm if a == "RReLU"]):
                if group:
                    out.update(C.train_arms(data, arms, model, config.optimizer, {a: lrs_by_arm[a] for a in group},
                                            epochs=epochs, batch_size=config.batch_size, seeds=seeds,
                                            first_seed=first_seed))
            return out

        chosen, tuning = C.tune(train, {a: config.lrs for a in LABELS}, lambda s: C.choose_by_validation(s, 1),
                                config.tuning, config.seeds)
        tuning["arms"] = [{**a, "arm": f"{a['arm']} (n={size})"} for a in tuning["arms"]]
        tunings.append(tuning)
        sweeps = train({a: [chosen[a]] for a in LABELS}, config.seeds, 0)
        per_size[size] = {a: {"test_accuracy": s.evals["test_accuracy"][0, :, -1],
                              "train_accuracy": s.final_train["accuracy"][0],
                              "gap": s.final_train["accuracy"][0] - s.evals["test_accuracy"][0, :, -1],
                              "diverged": int(s.diverged.sum()), "lr": chosen[a]} for a, s in sweeps.items()}
        per_size[size]["epochs"] = epochs
    small, large = min(config.sizes), max(config.sizes)
    acc = lambda size: {a: per_size[size][a]["test_accuracy"] for a in LABELS}
    rrelu, prelu = best_arm_clause(acc(small), "RReLU"), best_arm_clause(acc(large), "PReLU")
    subs = []
    for clause, arm, size, res in (("RReLU when the network overfits", "RReLU", small, rrelu),
                                   ("PReLU with a huge training set", "PReLU", large, prelu)):
        d = res["differences"][res["closest"]]
        subs.append(C.subverdict(f"{clause} (n={size})", res["verdict"],
                                 f"test accuracy at n={size}, {arm} - {res['closest']} (closest competitor)",
                                 d["mean"], d["ci95"]))
    main = rrelu["differences"][rrelu["closest"]]
    tuning = {"seeds": tunings[0]["seeds"], "evaluation_seeds": tunings[0]["evaluation_seeds"],
              "arms": [a for t in tunings for a in t["arms"]]}
    ranking = {f"n={size}": {a: ranking_entry(per_size[size][a]["test_accuracy"]) for a in LABELS}
               for size in config.sizes}
    ranking["small data"], ranking["large data"] = ranking[f"n={small}"], ranking[f"n={large}"]
    details = ["| n (epochs) | arm | lr | test accuracy | 95% CI | training accuracy | gap (train - test) |",
               "|---|---|---|---|---|---|---|"]
    for size in config.sizes:
        for a in LABELS:
            r = per_size[size][a]
            ci = C.t_interval(r["test_accuracy"])
            details.append(f"| {size} ({per_size[size]['epochs']}) | {a} | {r['lr']:g} | "
                           f"{np.mean(r['test_accuracy']):.4f} | [{ci[0]:.4f}, {ci[1]:.4f}] | "
                           f"{np.mean(r['train_accuracy']):.4f} | {C.mean_sd(r['gap'])} |"
                           + (f" ({r['diverged']} diverged)" if r["diverged"] else ""))
    for name, arm, size, res in (("RReLU", "RReLU", small, rrelu), ("PReLU", "PReLU", large, prelu)):
        details += ["", f"{name} - each other arm at n={size}: " + "; ".join(
            f"{o} {d['mean']:+.4f} [{d['ci95'][0]:+.4f}, {d['ci95'][1]:+.4f}]" for o, d in res["differences"].items())]
    best = {size: max(LABELS, key=lambda a: np.mean(per_size[size][a]["test_accuracy"])) for size in config.sizes}
    details += ["", "Highest mean test accuracy per size (a tie unless its differences' intervals exclude 0): "
                + ", ".join(f"n={s}: {b}" for s, b in best.items()) + "."]
    return {
        "tested": f"MNIST-1D, n = {', '.join(map(str, config.sizes))} training examples, MLP "
                  f"{config.depth}x{config.width}, {config.optimizer}",
        "protocol": {"data": f"MNIST-1D nested training sets of {list(config.sizes)} examples (canonical 4000 first, "
                             f"then generator seed {config.extra_seed}); validation {config.val_size} examples (the "
                             "pool's last, fixed); test: the canonical 1000",
                     "model": f"MLP {config.depth} x {config.width}, He normal init; PReLU slope per channel from 0.25; "
                              "RReLU U(1/8, 1/3), eval 0.229 (PyTorch's parametrisation, not the paper's 1/U(3, 8))",
                     "optimizer": f"{config.optimizer}, constant lr, batch {config.batch_size}, about {config.steps} "
                                  "steps per run at every size (epochs: "
                                  + ", ".join(f"n={s}: {per_size[s]['epochs']}" for s in config.sizes) + ")",
                     "learning rates": f"grid {list(config.lrs)} per arm and size, {config.tuning.rule()}; rule: "
                                       f"{C.rule_best_validation(1)}",
                     "seeds": config.seeds},
        "measurements": {"per_size": {str(size): {a: {k: (C.as_list(v) if k in ("test_accuracy", "train_accuracy", "gap")
                                                          else v) for k, v in per_size[size][a].items()}
                                                  for a in LABELS} for size in config.sizes},
                         "clauses": {"RReLU at the smallest size": rrelu, "PReLU at the largest size": prelu},
                         "ranking": ranking},
        "statistic": {"name": subs[0]["statistic"]["name"], "value": main["mean"]}, "ci95": main["ci95"],
        "interval": C.interval_record("linear", config.seeds, (acc(small)["RReLU"], acc(small)[rrelu["closest"]])),
        "tuning": tuning, "subverdicts": subs,
        "effect": f"n={small}: RReLU - {rrelu['closest']} {main['mean']:+.4f} [{main['ci95'][0]:+.4f}, "
                  f"{main['ci95'][1]:+.4f}]; n={large}: PReLU - {prelu['closest']} "
                  f"{prelu['differences'][prelu['closest']]['mean']:+.4f} "
                  f"[{prelu['differences'][prelu['closest']]['ci95'][0]:+.4f}, "
                  f"{prelu['differences'][prelu['closest']]['ci95'][1]:+.4f}]",
        "details": details,
        "plot": {"sizes": list(config.sizes),
                 "arms": {a: {"test_accuracy": [ranking_entry(per_size[s][a]["test_accuracy"]) for s in config.sizes],
                              "gap": [ranking_entry(per_size[s][a]["gap"]) for s in config.sizes]} for a in LABELS}},
    }


def verdict(result: dict) -> str:
    return C.overall(result["subverdicts"])


def figure(result: dict, path: str) -> None:
    plot = result["plot"]
    sizes = np.asarray(plot["sizes"], float)
    fig, (ax_acc, ax_gap) = plt.subplots(1, 2, figsize=(11, 4))
    for i, (arm, d) in enumerate(plot["arms"].items()):
        x = sizes * (1 + 0.03 * (i - 2))  # spread the arms apart on the log axis
        for ax, key in ((ax_acc, "test_accuracy"), (ax_gap, "gap")):
            m = np.array([e["mean"] for e in d[key]])
            lo, hi = np.array([e["ci95"][0] for e in d[key]]), np.array([e["ci95"][1] for e in d[key]])
            ax.errorbar(x, m, yerr=[m - lo, hi - m], marker="o", capsize=3, label=arm)
    ax_acc.set_ylabel("final test accuracy (mean, 95% CI)")
    ax_gap.set_ylabel("generalisation gap: training - test accuracy")
    for ax in (ax_acc, ax_gap):
        ax.set_xscale("log")
        ax.set_xlabel("training examples")
        ax.grid(alpha=0.3)
    ax_acc.legend(fontsize=8)
    fig.suptitle(f"{TITLE} (MNIST-1D, {result['protocol']['model'].split(',')[0]})", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
