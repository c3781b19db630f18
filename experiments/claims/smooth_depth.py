"""Claim 10: Swish, Mish and GELU beat ReLU as networks get deeper, and have smoother loss landscapes.

Run: ``python -m experiments.claims --only smooth_depth`` (11 minutes on the shared 2-core machine,
load 3-5, most of it compiling one program per depth and normalization); ``--quick`` in about a minute.
Shows test accuracy of ReLU, Swish, Mish and GELU on a shallow and a deep MLP, with and without batch norm,
and the top Hessian eigenvalue of the deep plain MLP's loss at initialization and after training.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import optax
from flax import nnx
from jax.flatten_util import ravel_pytree

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from experiments.claims import common as C  # noqa: E402
from experiments.claims import ranking as R  # noqa: E402

ID = "smooth_depth"
TITLE = "Swish, Mish and GELU beat ReLU as networks get deeper, with smoother loss landscapes"
CLAIM = ("Smooth activations (Swish, Mish, GELU) outperform ReLU increasingly as networks get deeper (on MNIST with "
         "batch norm and dropout ReLU collapses beyond ~17 layers while Mish holds ~98% to 21), and their loss "
         "landscapes are smoother.")
SOURCE = "Ramachandran, Zoph and Le 2017 (Swish); Misra 2019 (Mish), depth experiment and landscape figures"

SMOOTH = ("Swish", "Mish", "GELU")
ORDER = ("ReLU",) + SMOOTH
# One initializer (He normal) for all four: they are ReLU-like for large inputs, and all train in one program.
ARMS = {"ReLU": ("relu", "he_normal"), "Swish": ("silu", "he_normal"), "Mish": ("mish", "he_normal"),
        "GELU": ("gelu", "he_normal")}
NORMS = ("none", "batch")

RULE = ("Each run's test accuracy is the mean over its last 3 epochs; each activation's learning rate (per depth and "
        "normalization) is the grid rate with the best validation accuracy over the same epochs, averaged over tuning "
        "seeds disjoint from the evaluation seeds. The smooth advantage of a run pair is the mean of Swish's, Mish's "
        "and GELU's test accuracy minus ReLU's (paired by seed). Clause 'beat ReLU when deep, no normalization': the "
        "smooth advantage at the deepest depth without normalization; clause 'beat ReLU when deep, batch norm': the "
        "same with batch norm; each supported if its 95% t-interval lies above 0, contradicted if below 0. Clause "
        "'the advantage grows with depth': the smooth advantage at the deepest depth minus at the shallowest, averaged "
        "per seed over the two normalizations; supported if its interval lies above 0, contradicted if below 0. "
        "Smoothness: the top Hessian eigenvalue (largest in magnitude) of the training loss on a fixed batch of "
        "training examples, by power iteration on Hessian-vector products (a fixed number of iterations), for the "
        "deepest plain (no normalization) MLP; the statistic is the paired ratio, ReLU's eigenvalue over the geometric "
        "mean of the three smooth activations' (geometric mean over seeds, t-interval on the logs). Clauses 'smoother "
        "at initialization' and 'smoother after training': supported if the ratio's interval lies above 1, "
        "contradicted if below 1. Otherwise a clause is inconclusive. " + C.OVERALL_RULE)


@dataclasses.dataclass(frozen=True)
class Config:
    data: C.DataConfig = C.DataConfig()
    seeds: int = 6
    tuning_seeds: int = 2
    depths: tuple[int, ...] = (2, 16)  # shallowest and deepest are the clauses'; the guide's MLP depths 2 and 16
    width: int = 32
    optimizer: str = "adam"
    lrs: tuple[float, ...] = (1e-3, 3e-3, 1e-2)
    max_extensions: int = 2  # as in the ranking claim
    epochs: int = 10
    last_epochs: int = 3
    batch_size: int = 100
    hessian_batch: int = 512  # the first this many training examples
    power_iterations: int = 30


QUICK = Config(data=C.DataConfig(train_subset=600), seeds=2, tuning_seeds=2, depths=(2, 3), width=8, lrs=(1e-3, 1e-2),
               max_extensions=0,
               epochs=2, last_epochs=2, hessian_batch=64, power_iterations=10)


# ---------------------------------------------------------------------------------------------------
# The top Hessian eigenvalue by power iteration on Hessian-vector products

def hessian_vector_product(loss, flat: jax.Array, v: jax.Array) -> jax.Array:
    """H v for the Hessian H of ``loss`` (a function of a flat vector) at ``flat``: forward-over-reverse,
    ``jax.jvp`` of ``jax.grad``, without forming H."""
    return jax.jvp(jax.grad(loss), (flat,), (v,))[1]


def top_hessian_eigenvalue(loss, flat: jax.Array, key, iterations: int) -> tuple[jax.Array, jax.Array]:
    """The eigenvalue of largest magnitude of the Hessian of ``loss`` at ``flat`` by power iteration from a
    Gaussian start (``iterations`` products), as the Rayleigh quotient v'Hv of the last unit vector; and the
    relative residual |Hv - lambda v| / |lambda| (small when converged)."""
    v = jax.random.normal(key, flat.shape, flat.dtype)
    v = v / jnp.linalg.norm(v)

    def body(_, v):
        w = hessian_vector_product(loss, flat, v)
        return w / jnp.maximum(jnp.linalg.norm(w), 1e-30)

    v = jax.lax.fori_loop(0, iterations, body, v)
    hv = hessian_vector_product(loss, flat, v)
    lam = jnp.vdot(v, hv)
    return lam, jnp.linalg.norm(hv - lam * v) / jnp.maximum(jnp.abs(lam), 1e-30)


def make_sharpness(graphdef, x, y, iterations: int):
    """Jitted (params, rest, key) -> (eigenvalue, residual), vmapped over runs: the top Hessian eigenvalue with
    respect to the parameters of the mean cross-entropy on (x, y), the model in evaluation mode."""

    def one(params, rest, key):
        flat, unravel = ravel_pytree(params)

        def loss(f):
            logits = nnx.merge(graphdef, unravel(f), rest, copy=True)(x, train=False)
            return optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), y).mean()

        return top_hessian_eigenvalue(loss, flat, key, iterations)

    return jax.jit(jax.vmap(one))


def _runs(params_rest, rows):
    """The runs ``rows`` of stacked (params, rest)."""
    rows = jnp.asarray(rows)
    return jax.tree.map(lambda a: a[rows], params_rest)


def run(config: Config) -> dict:
    data = C.load(config.data)
    acc, record, lrs, sharp = {}, [], {}, {}
    deep, shallow = max(config.depths), min(config.depths)
    x_h, y_h = jnp.asarray(data.x_train[:config.hessian_batch]), jnp.asarray(data.y_train[:config.hessian_batch])
    for norm in NORMS:
        for depth in config.depths:
            name = f"MLP depth {depth}" + (" batch norm" if norm == "batch" else "")
            keep = norm == "none" and depth == deep
            # The initial parameters (copied: training donates the state's buffers).
            on_epoch = (lambda e, g, s: jax.tree.map(jnp.copy, (s.params, s.rest)) if e == 0 else None) if keep else None
            sweeps, chosen, rec = R.tune_and_evaluate(data, ARMS, {"depth": depth, "width": config.width, "norm": norm},
                                                      config, prefix=f"{name}: ", on_epoch=on_epoch)
            record += rec
            acc[name] = {a: R.final_accuracy(sweeps[a], chosen[a], config.seeds, config.last_epochs) for a in ORDER}
            lrs[name] = {a: sweeps[a].lrs[chosen[a]] for a in ORDER}
            if keep:  # one program: every arm at its chosen rate, evaluation seeds, at init and at the end
                fn = make_sharpness(sweeps["ReLU"].graphdef, x_h, y_h, config.power_iterations)
                keys = jax.random.split(jax.random.key(1), len(ORDER) * config.seeds)
                for when in ("init", "trained"):
                    per_arm = []
                    for a in ORDER:  # an arm whose grid was extended holds its runs in its own joined state
                        sw = sweeps[a]
                        rows = [sw.index[chosen[a]] * sw.seeds + s for s in range(config.seeds)]
                        per_arm.append(_runs(sw.extra[0] if when == "init" else (sw.state.params, sw.state.rest), rows))
                    runs = jax.tree.map(lambda *a: jnp.concatenate(a), *per_arm)
                    lam, res = jax.device_get(fn(*runs, keys))
                    lam, res = np.asarray(lam, float).reshape(len(ORDER), -1), np.asarray(res, float).reshape(len(ORDER), -1)
                    sharp[when] = {a: {"eigenvalue": lam[i], "residual": res[i]} for i, a in enumerate(ORDER)}

    def advantage(name):
        return np.mean([acc[name][a] for a in SMOOTH], axis=0) - acc[name]["ReLU"]

    label = lambda d, norm: f"MLP depth {d}" + (" batch norm" if norm == "batch" else "")
    subs, stats = [], {}
    for norm, clause in (("none", "beat ReLU when deep, no normalization"), ("batch", "beat ReLU when deep, batch norm")):
        adv = advantage(label(deep, norm))
        v, ci = C.paired_difference(adv, np.zeros_like(adv))
        stats[clause] = (v, ci)
        subs.append(C.subverdict(clause, R.pair_verdict(ci), f"test accuracy, mean(Swish, Mish, GELU) - ReLU, "
                                 f"{label(deep, norm)}", v, ci))
    growth = np.mean([advantage(label(deep, n)) - advantage(label(shallow, n)) for n in NORMS], axis=0)
    v, ci = C.paired_difference(growth, np.zeros_like(growth))
    subs.append(C.subverdict("the advantage grows with depth", R.pair_verdict(ci),
                             f"smooth advantage at depth {deep} minus at depth {shallow}, mean over no norm and batch "
                             "norm", v, ci))
    ratios = {}
    for when, clause in (("init", "smoother at initialization"), ("trained", "smoother after training")):
        relu = np.abs(sharp[when]["ReLU"]["eigenvalue"])
        smooth = np.exp(np.mean([np.log(np.abs(sharp[when][a]["eigenvalue"])) for a in SMOOTH], axis=0))
        r, rci = C.paired_ratio(relu, smooth)
        ratios[when] = (r, rci)
        subs.append(C.subverdict(clause, C.interval_verdict(rci, lambda lo, hi: lo > 1, lambda lo, hi: hi < 1),
                                 f"top Hessian eigenvalue ReLU / geometric mean(Swish, Mish, GELU), MLP depth {deep}, "
                                 f"{when}", r, rci))
    ranking = {s: {a: R.ranking_entry(acc[s][a]) for a in ORDER} for s in acc}
    details = ["Test accuracy (mean of the last epochs; mean +- sd over evaluation seeds; learning rate chosen per "
               "activation and setting):", "", "| activation | " + " | ".join(acc) + " |", "|---|" + "---|" * len(acc)]
    details += [f"| {a} | " + " | ".join(f"{C.mean_sd(acc[s][a])} (lr {lrs[s][a]:g})" for s in acc) + " |" for a in ORDER]
    details += ["", f"Top Hessian eigenvalue (largest magnitude), MLP depth {deep} without normalization, "
                f"{config.hessian_batch} training examples, {config.power_iterations} power iterations "
                "(median relative residual |Hv - lambda v| / |lambda| in brackets):", "",
                "| activation | at init | after training |", "|---|---|---|"]
    details += [f"| {a} | " + " | ".join(f"{C.mean_sd(sharp[w][a]['eigenvalue'])} "
                                         f"({np.median(sharp[w][a]['residual']):.2g})" for w in ("init", "trained"))
                + " |" for a in ORDER]
    details += ["", "Per smooth activation minus ReLU (paired, 95% CI): " + "; ".join(
        f"{s} {a}: {C.paired_difference(acc[s][a], acc[s]['ReLU'])[0]:+.3f} "
        f"[{C.paired_difference(acc[s][a], acc[s]['ReLU'])[1][0]:+.3f}, "
        f"{C.paired_difference(acc[s][a], acc[s]['ReLU'])[1][1]:+.3f}]" for s in acc for a in SMOOTH) + ".",
        "", "After training the sharpness also reflects each activation's chosen learning rate (training tends to "
        "settle where the sharpness is about what the step size allows), so the 'at initialization' clause is the "
        "cleaner comparison of the activations themselves."]
    first = subs[0]
    return {
        "tested": f"{config.data.dataset}, MLP depths {list(config.depths)} x {config.width}, no norm / batch norm, "
                  f"{config.optimizer}",
        "protocol": {"data": f"{config.data.dataset} (validation {config.data.val_fraction:g} of training set)",
                     "models": f"MLPs depth {list(config.depths)} width {config.width}, He normal init for all four, "
                               "without normalization and with batch norm before each activation; no dropout",
                     "optimizer": f"{config.optimizer}, constant lr, batch {config.batch_size}, {config.epochs} epochs",
                     "learning rates": R.tuning_rule(config),
                     "sharpness": f"power iteration ({config.power_iterations} Hessian-vector products, jvp of grad) "
                                  f"on the first {config.hessian_batch} training examples, deepest plain MLP, "
                                  "evaluation seeds at the chosen rates, at initialization and after training",
                     "seeds": config.seeds},
        "measurements": {"ranking": ranking, "learning_rates": lrs,
                         "hessian_top_eigenvalue": {w: {a: {k: C.as_list(v) for k, v in d.items()}
                                                        for a, d in per.items()} for w, per in sharp.items()}},
        "statistic": first["statistic"], "ci95": first["ci95"],
        "interval": C.interval_record("linear", config.seeds, (
            np.mean([acc[label(deep, "none")][a] for a in SMOOTH], axis=0), acc[label(deep, "none")]["ReLU"])),
        "tuning": {"seeds": list(range(config.seeds, config.seeds + config.tuning_seeds)),
                   "evaluation_seeds": list(range(config.seeds)), "arms": record},
        "subverdicts": subs,
        "effect": "; ".join(f"{s['clause']}: {s['statistic']['value']:+.3g} [{s['ci95'][0]:+.3g}, {s['ci95'][1]:+.3g}]"
                            for s in subs),
        "details": details,
        "plot": {"order": list(ORDER), "depths": list(config.depths),
                 "accuracy": {s: {a: C.as_list(acc[s][a]) for a in ORDER} for s in acc},
                 "eigenvalue": {w: {a: C.as_list(np.abs(sharp[w][a]["eigenvalue"])) for a in ORDER} for w in sharp}},
    }


def verdict(result: dict) -> str:
    return C.overall(result["subverdicts"])


def figure(result: dict, path: str) -> None:
    plot = result["plot"]
    order, depths = plot["order"], plot["depths"]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    for ax, norm in zip(axes[:2], ("", " batch norm")):
        for i, a in enumerate(order):
            m = [np.mean(plot["accuracy"][f"MLP depth {d}{norm}"][a]) for d in depths]
            s = [np.std(plot["accuracy"][f"MLP depth {d}{norm}"][a]) for d in depths]
            ax.errorbar(np.asarray(depths) * (1 + 0.02 * i), m, yerr=s, marker="o", capsize=3, label=a)
        ax.set_xscale("log", base=2)
        ax.set_xticks(depths, [str(d) for d in depths])
        ax.set_xlabel("hidden layers")
        ax.set_ylabel("test accuracy (mean +- sd over seeds)")
        ax.set_title("no normalization" if not norm else "batch norm", fontsize=9)
        ax.legend(fontsize=8)
    ax = axes[2]
    for j, when in enumerate(("init", "trained")):
        for i, a in enumerate(order):
            v = np.asarray(plot["eigenvalue"][when][a], float)
            x = i + (j - 0.5) * 0.3
            ax.scatter(np.full(v.shape, x), v, s=10, color=f"C{j}", alpha=0.6,
                       label=("at init" if when == "init" else "after training") if i == 0 else None)
    ax.set_yscale("log")
    ax.set_xticks(range(len(order)), order)
    ax.set_ylabel(f"top Hessian eigenvalue |lambda_max|\n(depth {max(depths)}, no norm; one dot per seed)")
    ax.legend(fontsize=8)
    for a in axes:
        a.grid(alpha=0.3)
    fig.suptitle(TITLE, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
