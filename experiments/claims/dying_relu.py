"""Claim 5: ReLU units die, more of them at large learning rates, irreversibly; leaky ReLU and ELU avoid it;
and deep narrow ReLU networks are born dead.

Run: ``python -m experiments.claims --only dying_relu`` (about 4.5 minutes of CPU time; 12.5 minutes wall
on 2 CPU cores shared with other jobs; ``--quick``: under a minute). What it showed (MNIST-1D, MLP 2x128):
under plain SGD ReLU's deadest layer goes from 0 dead units at lr 0.03 to about 35% at lr 2, its largest
stable rate; leaky ReLU has fewer never-positive units (at a common rate too), ELU none where it trains;
but about half of the units dead after the first epoch are alive again later (not irreversible); and a
width-2 ReLU network is born dead with probability 0.06 at depth 2, 0.8 at depth 8 and 1.0 at depth 32+.

One definition of "dead" for every activation: a unit is dead when its pre-activation is never positive on
the whole training set (ReLU, leaky ReLU and ELU keep the sign of their input, so this is "output <= 0 on
every example"). For ReLU such a unit has zero gradient on every example; a never-positive leaky ReLU or
ELU unit still has a (small) gradient, so the same count measures "inactive", and clause (c) measures
whether inactive units come back.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
from flax import nnx
from scipy import stats

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from experiments.claims import common as C  # noqa: E402
from jaxacts.models import ModelConfig  # noqa: E402

ID = "dying_relu"
TITLE = "ReLU units die, worse at large learning rates"
CLAIM = ("ReLU units can irreversibly die during training: with a learning rate set too high, as much as 40% of a "
         "network can be 'dead' (never active on the whole training set). Leaky ReLU and ELU avoid it. (And, after "
         "Lu et al. 2019: a deep narrow ReLU network can be dead from its initialization, more likely the deeper it is.)")
SOURCE = ("Karpathy, Stanford CS231n notes, 'Neural Networks Part 1: Setting up the Architecture' (2015); Lu, Shin, "
          "Su and Karniadakis 2019, 'Dying ReLU and initialization: theory and numerical examples'")

# ReLU is leaky ReLU with slope 0 (the same function and derivative): ReLU and leaky ReLU train in one program.
ACTIVATIONS = {"relu": "leaky_relu(negative_slope=0.0)", "leaky 0.01": "leaky_relu(negative_slope=0.01)",
               "elu": "elu"}
ALTERNATIVES = ("leaky 0.01", "elu")
BORN_DEAD_FIRST_SEED = 100_000  # initializations for clause (d): 100000 on, disjoint from the training seeds


@dataclasses.dataclass(frozen=True)
class Config:
    """Everything clauses (a)-(d) read; with :data:`RULE`, the claim's pre-registration.

    Attributes:
      seeds: evaluation seeds per (activation, learning rate), paired across activations.
      depth, width: the trained MLP (He normal init, zero biases).
      sgd_lrs: plain-SGD learning rates, the claim's variable (judged).
      adam_lrs: Adam learning rates (measured and reported, not judged; () skips Adam, as the full run does:
        it would add about 60% to its time).
      revival_epoch: clause (c) follows the units dead at the end of this epoch.
      growth_threshold, flat_threshold: clause (a) and (d): supported if the interval of the increase lies
        above ``growth_threshold``, contradicted if it lies below ``flat_threshold``.
      revival_threshold: clause (c): supported if the revival fraction's interval lies below it,
        contradicted if above.
      born_dead_width, born_dead_depths, born_dead_inits: clause (d): fresh ReLU networks of this width,
        at each depth, this many initializations per depth.
    """

    data: C.DataConfig = C.DataConfig()
    seeds: int = 8
    depth: int = 2
    width: int = 128
    sgd_lrs: tuple[float, ...] = (0.03, 0.1, 0.3, 0.6, 1.0, 1.5, 2.0, 3.0)
    adam_lrs: tuple[float, ...] = ()  # e.g. (1e-3, 3e-3, 1e-2, 3e-2, 0.1); left out of the full run for time
    epochs: int = 20
    batch_size: int = 100
    revival_epoch: int = 1
    growth_threshold: float = 0.1
    flat_threshold: float = 0.02
    revival_threshold: float = 0.1
    born_dead_width: int = 2
    born_dead_depths: tuple[int, ...] = (2, 4, 8, 16, 32, 64)
    born_dead_inits: int = 2000


QUICK = Config(data=C.DataConfig(train_subset=600), seeds=2, width=32, sgd_lrs=(0.1, 1.0, 3.0), adam_lrs=(),
               epochs=2, born_dead_depths=(2, 16), born_dead_inits=200)

_D = Config()
RULE = (
    "A unit is dead when its pre-activation is never positive on the whole training set (the same definition for "
    "ReLU, leaky ReLU and ELU). A run 'trained' when it did not diverge; a learning rate is stable for an activation "
    f"when none of its {_D.seeds} evaluation seeds diverged there. Plain SGD, {_D.epochs} epochs, learning rates "
    f"{list(_D.sgd_lrs)}; dead fractions are of the deadest hidden layer, per seed, at the end of training. "
    "(a) ReLU dies, more at large rates: ReLU's dead fraction at its largest stable rate minus at the smallest rate, "
    f"paired over seeds; supported if its 95% t-interval lies above {_D.growth_threshold}, contradicted if it lies "
    f"below {_D.flat_threshold}, else inconclusive (also when no rate above the smallest is stable). "
    "(b) The alternatives avoid it, for leaky ReLU (slope 0.01) and ELU each: ReLU's dead fraction minus the "
    "alternative's, paired over seeds, (b-own) with each at its own largest stable rate and (b-common) both at the "
    "largest rate stable for both; each supported if its t-interval lies above 0, contradicted if it lies below 0, "
    "else inconclusive (also when there is no such rate). "
    f"(c) Irreversibly: of ReLU's units dead at the end of epoch {_D.revival_epoch} (at ReLU's largest stable rate), "
    "the fraction alive at the end of some later epoch, per seed (seeds without dead units left out); supported if "
    f"its t-interval lies below {_D.revival_threshold}, contradicted if it lies above {_D.revival_threshold}, else "
    "inconclusive (also when fewer than 2 seeds have dead units). "
    f"(d) Born dead (Lu et al. 2019): a freshly initialized ReLU MLP of width {_D.born_dead_width} (He normal, zero "
    "biases) is born dead when some hidden layer has every unit dead on the whole training set (its output is then "
    f"constant); over {_D.born_dead_inits} initializations at each depth in {list(_D.born_dead_depths)}, the "
    "probability at the deepest minus at the shallowest, with Newcombe's hybrid score interval (from Wilson "
    f"intervals); supported if it lies above {_D.growth_threshold}, contradicted if below {_D.flat_threshold}. "
    "Overall: supported if (a), (c), (d) and both (b-own) are supported and no (b-common) is contradicted; "
    "contradicted if any clause is contradicted; otherwise inconclusive.")


# ---------------------------------------------------------------------------------------------------
# Dead units

def dead_units(graphdef, params, rest, x) -> jax.Array:
    """(runs, layers, width) bool: per run (leading axis of ``params``, ``rest``), each hidden unit's
    "never positive on ``x``", in evaluation mode. Runs are evaluated a few at a time (``lax.map``), so that
    memory holds a few runs' activations on ``x``, not all of them."""
    def one(pr):
        model = nnx.merge(graphdef, *pr)
        _, hidden = model(x, train=False, return_hidden=True)
        return jnp.stack([jnp.all(h <= 0, axis=0) for h in hidden])

    return jax.lax.map(one, (params, rest), batch_size=8)


class DeadPerEpoch:
    """``on_epoch`` for :func:`common.train_sweep`: every run's dead-unit mask on ``x`` (the whole training
    set), before training and after each epoch."""

    def __init__(self, x: np.ndarray):
        self.x = jax.device_put(x)
        self.compiled = None

    def __call__(self, epoch: int, graphdef, state) -> np.ndarray:
        if self.compiled is None:  # one program per sweep (its graphdef)
            self.compiled = jax.jit(lambda p, r, x: dead_units(graphdef, p, r, x))
        return np.asarray(self.compiled(state.params, state.rest, self.x))


def revival_fraction(masks: np.ndarray, epoch: int) -> tuple[np.ndarray, np.ndarray]:
    """Per seed, of the units dead at the end of ``epoch`` (masks: (epochs + 1, seeds, layers, width), entry
    e after epoch e), the fraction alive at the end of some later epoch; and how many were dead. NaN where
    none was."""
    dead = masks[epoch]
    revived = dead & ~masks[epoch + 1:].all(axis=0)
    n_dead = dead.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return revived.sum(axis=(1, 2)) / n_dead, n_dead


# ---------------------------------------------------------------------------------------------------
# Born dead at initialization (clause d)

def born_dead(graphdef, params, rest, x) -> jax.Array:
    """(runs,) bool: some hidden layer has every unit dead (never positive) on every row of ``x``."""
    def one(pr):
        model = nnx.merge(graphdef, *pr)
        _, hidden = model(x, train=False, return_hidden=True)
        return jnp.any(jnp.stack([jnp.all(h <= 0) for h in hidden]))

    return jax.lax.map(one, (params, rest), batch_size=32)


def born_dead_lower_bound(width: int, depth: int) -> float:
    """A lower bound on the probability of being born dead, zero biases and weights symmetric about 0: every
    hidden layer after the first sees non-negative inputs, so a unit whose ``width`` incoming weights are all
    negative is dead on every input; a layer of such units (probability 2^-(width^2)) kills the network, and
    the layers' weights are independent: 1 - (1 - 2^-(width^2))^(depth - 1)."""
    return 1.0 - (1.0 - 2.0 ** -(width * width)) ** (depth - 1)


def wilson(k: int, n: int) -> tuple[float, float]:
    """Wilson's 95% score interval of a binomial proportion k / n."""
    z = stats.norm.ppf(0.5 + C.CONFIDENCE / 2)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def newcombe(k1: int, n1: int, k2: int, n2: int) -> tuple[float, list[float]]:
    """p1 - p2 of two independent proportions and Newcombe's (1998) hybrid score 95% interval (method 10,
    from the two Wilson intervals)."""
    p1, p2 = k1 / n1, k2 / n2
    (l1, u1), (l2, u2) = wilson(k1, n1), wilson(k2, n2)
    d = p1 - p2
    return d, [d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)]


def _born_dead_study(data, config: Config) -> list[dict]:
    x = jax.device_put(data.x_train)
    rows = []
    for i, depth in enumerate(config.born_dead_depths):
        model = ModelConfig(activation="relu", init="he_normal", depth=depth, width=config.born_dead_width)
        graphdef, state = C.init_runs(data, model, config.born_dead_inits,
                                      BORN_DEAD_FIRST_SEED + i * config.born_dead_inits)
        dead = np.asarray(jax.jit(lambda p, r, x: born_dead(graphdef, p, r, x))(state.params, state.rest, x))
        k = int(dead.sum())
        rows.append({"depth": depth, "born_dead": k, "inits": config.born_dead_inits,
                     "probability": k / config.born_dead_inits,
                     "wilson95": list(wilson(k, config.born_dead_inits)),
                     "lower_bound": born_dead_lower_bound(config.born_dead_width, depth)})
    return rows


# ---------------------------------------------------------------------------------------------------
# Training sweeps (clauses a-c)

def _train(data, config: Config, optimizer: str, lrs) -> dict:
    """Per activation name: dead masks (epochs + 1, lrs, seeds, layers, width), diverged (lrs, seeds),
    final test accuracy (lrs, seeds)."""
    out = {}
    for spec in ("leaky_relu(negative_slope=[0.0,0.01])", "elu"):
        model = ModelConfig(activation=spec, init="he_normal", depth=config.depth, width=config.width)
        sweep = C.train_sweep(data, model, optimizer, lrs, epochs=config.epochs, batch_size=config.batch_size,
                              seeds=config.seeds, on_epoch=DeadPerEpoch(data.x_train))
        masks = np.stack(sweep.extra)  # (epochs + 1, runs, layers, width), runs setting-major
        masks = masks.reshape(masks.shape[0], -1, config.seeds, *masks.shape[2:])
        for act in sweep.activations():
            name = {s: n for n, s in ACTIVATIONS.items()}[act]
            one = sweep.of(act)
            out[name] = {"masks": masks[:, list(one.index)], "diverged": one.diverged,
                         "test_accuracy": one.evals["test_accuracy"][..., -1]}
    return out


def _deadest(masks: np.ndarray) -> np.ndarray:
    """Dead fraction of the deadest layer at the end of training, (lrs, seeds)."""
    return masks[-1].mean(axis=-1).max(axis=-1)


def _largest_stable(diverged: np.ndarray, lrs, among=None) -> int | None:
    """Index of the largest learning rate at which no seed diverged (of every array in ``among``, else of
    ``diverged``), or None."""
    arrays = among if among is not None else [diverged]
    stable = [p for p in range(len(lrs)) if not any(d[p].any() for d in arrays)]
    return max(stable, key=lambda p: lrs[p]) if stable else None


def _comparisons(res: dict, lrs) -> dict:
    """ReLU minus each alternative, dead fraction of the deadest layer, at own and at common largest stable
    rates: {alternative: {"own"|"common": {lrs, difference, ci95, relu, alternative} or None}}."""
    dead = {n: _deadest(r["masks"]) for n, r in res.items()}
    top = {n: _largest_stable(r["diverged"], lrs) for n, r in res.items()}
    out = {}
    for alt in ALTERNATIVES:
        common = _largest_stable(None, lrs, among=[res["relu"]["diverged"], res[alt]["diverged"]])
        entry = {}
        for kind, (p_relu, p_alt) in (("own", (top["relu"], top[alt])), ("common", (common, common))):
            if p_relu is None or p_alt is None:
                entry[kind] = None
                continue
            a, b = dead["relu"][p_relu], dead[alt][p_alt]
            d, ci = C.paired_difference(a, b)
            entry[kind] = {"relu_lr": lrs[p_relu], "alternative_lr": lrs[p_alt], "difference": d, "ci95": ci,
                           "relu": a.tolist(), "alternative": b.tolist()}
        out[alt] = entry
    return out


def _no_interval(low: float = -1.0) -> list[float]:
    return [low, 1.0]  # the whole range of the statistic: nothing was measured


def run(config: Config) -> dict:
    data = C.load(config.data)
    results = {"sgd": _train(data, config, "sgd", config.sgd_lrs)}
    if config.adam_lrs:
        results["adam"] = _train(data, config, "adam", config.adam_lrs)
    grids = {"sgd": config.sgd_lrs, "adam": config.adam_lrs}
    sgd, lrs = results["sgd"], config.sgd_lrs
    relu = sgd["relu"]
    dead = {opt: {n: _deadest(r["masks"]) for n, r in res.items()} for opt, res in results.items()}
    lowest = int(np.argmin(lrs))
    top = _largest_stable(relu["diverged"], lrs)
    subverdicts = []

    # (a) growth with the learning rate, among runs that trained
    if top is None or top == lowest:
        value, ci = 0.0, _no_interval()
        a_verdict = "inconclusive"
        a_text = "ReLU is stable at no rate above the smallest: nothing to compare"
    else:
        value, ci = C.paired_difference(dead["sgd"]["relu"][top], dead["sgd"]["relu"][lowest])
        a_verdict = C.interval_verdict(ci, lambda lo, hi: lo > config.growth_threshold,
                                       lambda lo, hi: hi < config.flat_threshold)
        a_text = f"ReLU dead fraction, lr {lrs[top]:g} minus lr {lrs[lowest]:g}"
    subverdicts.append(C.subverdict("(a) ReLU dies, more at large rates", a_verdict, a_text, value, ci))
    top = lowest if top is None else top

    # (b) the alternatives, each at its own largest stable rate and at a common stable rate
    comparisons = {opt: _comparisons(res, grids[opt]) for opt, res in results.items()}
    for alt in ALTERNATIVES:
        for kind, words in (("own", "each at its own largest stable rate"), ("common", "at the largest common stable rate")):
            c = comparisons["sgd"][alt][kind]
            if c is None:
                subverdicts.append(C.subverdict(f"(b-{kind}) {alt} avoids it", "inconclusive",
                                                f"ReLU minus {alt} dead fraction: no stable rate {words}", 0.0,
                                                _no_interval()))
                continue
            v = C.interval_verdict(c["ci95"], lambda lo, hi: lo > 0, lambda lo, hi: hi < 0)
            rates = (f"lr {c['relu_lr']:g}" if kind == "common" else
                     f"ReLU at lr {c['relu_lr']:g}, {alt} at lr {c['alternative_lr']:g}")
            subverdicts.append(C.subverdict(f"(b-{kind}) {alt} avoids it", v,
                                            f"ReLU minus {alt} dead fraction, {rates}", c["difference"], c["ci95"]))

    # (c) revival: of the units dead at the end of revival_epoch, how many are alive at a later epoch end
    revival = {}
    for opt, res in results.items():
        for name, r in res.items():
            p = _largest_stable(r["diverged"], grids[opt])
            if p is None:
                continue
            fraction, n_dead = revival_fraction(r["masks"][:, p], config.revival_epoch)
            revival[f"{opt} {name}"] = {"lr": grids[opt][p], "fraction": C.as_list(fraction),
                                        "dead_at_epoch": n_dead.tolist()}
    fraction, n_dead = revival_fraction(relu["masks"][:, top], config.revival_epoch)
    measured = fraction[n_dead > 0]
    if len(measured) >= 2:
        c_value, c_ci = float(measured.mean()), C.t_interval(measured)
        c_verdict = C.interval_verdict(c_ci, lambda lo, hi: hi < config.revival_threshold,
                                       lambda lo, hi: lo > config.revival_threshold)
    else:
        c_value, c_ci, c_verdict = float(measured.mean()) if len(measured) else 0.0, [0.0, 1.0], "inconclusive"
    subverdicts.append(C.subverdict(
        "(c) irreversibly", c_verdict, f"fraction of ReLU's units dead after epoch {config.revival_epoch} (lr "
        f"{lrs[top]:g}) alive at a later epoch end ({len(measured)}/{config.seeds} seeds had dead units)",
        c_value, c_ci))

    # (d) born dead at initialization, by depth
    born = _born_dead_study(data, config)
    first, last = born[0], born[-1]
    d_value, d_ci = newcombe(last["born_dead"], last["inits"], first["born_dead"], first["inits"])
    d_verdict = C.interval_verdict(d_ci, lambda lo, hi: lo > config.growth_threshold,
                                   lambda lo, hi: hi < config.flat_threshold)
    subverdicts.append(C.subverdict(
        "(d) born dead, more with depth", d_verdict, f"P(born dead), width {config.born_dead_width}, depth "
        f"{last['depth']} minus depth {first['depth']}", d_value, d_ci))

    # the details
    details = []
    for opt, res in results.items():
        details += [f"**{opt}**: dead fraction per hidden layer at the end (mean over the seeds that trained) / test "
                    "accuracy (the same seeds); seeds diverged:", "",
                    "| lr | " + " | ".join(ACTIVATIONS) + " |", "|---|" + "---|" * len(ACTIVATIONS)]
        for p, lr in enumerate(grids[opt]):
            cells = []
            for name in ACTIVATIONS:
                r = res[name]
                ok = ~r["diverged"][p]
                if not ok.any():
                    cells.append(f"all {config.seeds} diverged")
                    continue
                layers = ", ".join(f"{v:.2f}" for v in r["masks"][-1, p][ok].mean(axis=(0, 2)))
                div = f"; {int((~ok).sum())} diverged" if (~ok).any() else ""
                cells.append(f"{layers} / {r['test_accuracy'][p][ok].mean():.3f}{div}")
            details.append(f"| {lr:g} | " + " | ".join(cells) + " |")
        details.append("")
        for alt in ALTERNATIVES:
            for kind in ("own", "common"):
                c = comparisons[opt][alt][kind]
                if c is None:
                    details.append(f"- {opt}, ReLU minus {alt} ({kind} rate): no stable rate")
                    continue
                details.append(
                    f"- {opt}, ReLU minus {alt} dead fraction ({kind}: ReLU lr {c['relu_lr']:g}, {alt} lr "
                    f"{c['alternative_lr']:g}): {c['difference']:+.3f} [{c['ci95'][0]:+.3f}, {c['ci95'][1]:+.3f}] "
                    f"(ReLU {np.mean(c['relu']):.3f}, {alt} {np.mean(c['alternative']):.3f})"
                    + ("" if opt == "sgd" else "; measured, not judged"))
        details.append("")
    details += [f"Revival: of the units dead after epoch {config.revival_epoch}, the fraction alive at the end of a "
                "later epoch (per seed; '-' where a seed had none dead), each activation at its own largest stable rate:",
                ""]
    for key, rv in revival.items():
        cells = ", ".join("-" if f is None else f"{f:.2f}" for f in rv["fraction"])
        details.append(f"- {key} (lr {rv['lr']:g}): {cells}; dead after epoch {config.revival_epoch}: "
                       f"{rv['dead_at_epoch']}")
    details += ["", "A never-positive leaky ReLU or ELU unit still passes a gradient (slope 0.01, or alpha e^z), "
                "so for them the count is 'inactive on the whole training set', not stuck; the revival line above "
                "shows whether such units come back. Epoch ends are the only times measured: a unit that revives "
                "and dies again between two of them is not seen.", "",
                f"Born dead (width {config.born_dead_width}, He normal, zero biases, {config.born_dead_inits} "
                "initializations per depth; lower bound: a layer after the first whose units all have negative "
                "weights, 1 - (1 - 2^-(width^2))^(depth - 1)):", "",
                "| depth | born dead | Wilson 95% | lower bound |", "|---|---|---|---|"]
    details += [f"| {b['depth']} | {b['probability']:.3f} | [{b['wilson95'][0]:.3f}, {b['wilson95'][1]:.3f}] | "
                f"{b['lower_bound']:.3f} |" for b in born]
    diverged_counts = {opt: {n: r["diverged"].sum(axis=1).tolist() for n, r in res.items()}
                       for opt, res in results.items()}
    own = {n: _largest_stable(r["diverged"], lrs) for n, r in sgd.items()}
    mean_dead = lambda opt, n: [None if r.all() else float(d[~r].mean())
                                for d, r in zip(dead[opt][n], results[opt][n]["diverged"])]
    per_epoch = {n: (sgd[n]["masks"][:, p].mean(axis=-1).max(axis=-1)).mean(axis=1).tolist() if p is not None
                 else None for n, p in own.items()}
    stable_text = ", ".join(f"{n} {lrs[p]:g}" if p is not None else f"{n} none" for n, p in own.items())
    return {
        "protocol": {"data": f"{config.data.dataset} (the whole training set, {data.x_train.shape[0]} examples, "
                             "for dead units)",
                     "model": f"MLP {config.depth} x {config.width}, He normal init, zero biases",
                     "optimizer": f"plain SGD over {list(config.sgd_lrs)} (judged) and Adam over "
                                  f"{list(config.adam_lrs)} (reported); constant lr, batch {config.batch_size}, "
                                  f"{config.epochs} epochs",
                     "learning rates": "the variable of the claim (no tuning)", "seeds": config.seeds,
                     "largest stable SGD rates": stable_text,
                     "born dead": f"ReLU MLP width {config.born_dead_width}, depths {list(config.born_dead_depths)}, "
                                  f"{config.born_dead_inits} initializations each (seeds {BORN_DEAD_FIRST_SEED} on)",
                     "intervals": "t-intervals over seeds for (a)-(c); Newcombe's hybrid score interval for (d)"},
        "tested": f"{config.data.dataset}, MLP {config.depth}x{config.width}, plain SGD; born dead: width "
                  f"{config.born_dead_width}, depth {config.born_dead_depths[0]}-{config.born_dead_depths[-1]}",
        "measurements": {
            "dead_fraction_deadest_layer": {opt: {n: C.as_list(d) for n, d in per.items()} for opt, per in dead.items()},
            "diverged": {opt: {n: r["diverged"].tolist() for n, r in res.items()} for opt, res in results.items()},
            "test_accuracy": {opt: {n: C.as_list(r["test_accuracy"]) for n, r in res.items()}
                              for opt, res in results.items()},
            "comparisons": comparisons, "revival": revival, "born_dead": born},
        "statistic": subverdicts[0]["statistic"], "ci95": subverdicts[0]["ci95"],
        "interval": C.interval_record("linear", config.seeds, paired=(dead["sgd"]["relu"][top],
                                                                      dead["sgd"]["relu"][lowest])),
        "tuning": None,
        "subverdicts": subverdicts,
        "effect": (f"SGD, ReLU's deadest layer {value:+.2f} [{ci[0]:+.2f}, {ci[1]:+.2f}] from lr {lrs[lowest]:g} to "
                   f"{lrs[top]:g} (runs that trained); revival {c_value:.2f} [{c_ci[0]:.2f}, {c_ci[1]:.2f}]; born dead "
                   f"at width {config.born_dead_width}: {first['probability']:.2f} at depth {first['depth']}, "
                   f"{last['probability']:.2f} at depth {last['depth']}"),
        "details": details,
        "plot": {"lrs": {opt: list(grids[opt]) for opt in results},
                 "dead": {opt: {n: mean_dead(opt, n) for n in res} for opt, res in results.items()},
                 "diverged": diverged_counts, "seeds": config.seeds,
                 "per_epoch": per_epoch, "per_epoch_lr": {n: (lrs[p] if p is not None else None) for n, p in own.items()},
                 "born_dead": born, "born_dead_width": config.born_dead_width},
    }


def verdict(result: dict) -> str:
    """The overall rule in :data:`RULE`: a (b-common) comparison can only contradict."""
    subs = result["subverdicts"]
    if any(s["verdict"] == "contradicted" for s in subs):
        return "contradicted"
    needed = [s for s in subs if not s["clause"].startswith("(b-common)")]
    return "supported" if all(s["verdict"] == "supported" for s in needed) else "inconclusive"


def figure(result: dict, path: str) -> None:
    plot = result["plot"]
    opts = list(plot["lrs"])
    fig, axes = plt.subplots(1, len(opts) + 2, figsize=(4.6 * (len(opts) + 2), 4.2), squeeze=False)
    axes = axes[0]
    for ax, opt in zip(axes, opts):
        for name, dead in plot["dead"][opt].items():
            lrs = plot["lrs"][opt]
            y = [np.nan if v is None else v for v in dead]
            line, = ax.plot(lrs, y, marker="o", label=name)
            for lr, v, k in zip(lrs, y, plot["diverged"][opt][name]):
                if k:  # how many seeds diverged (left out of the mean)
                    ax.annotate(f"{k}/{plot['seeds']}", (lr, 0.0 if np.isnan(v) else v), fontsize=7,
                                color=line.get_color(), xytext=(2, 4), textcoords="offset points")
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_title(f"{opt}: dead fraction, deadest layer\n(mean over seeds that trained; k/n = diverged)",
                     fontsize=9)
    ax = axes[len(opts)]
    for name, curve in plot["per_epoch"].items():
        if curve is not None:
            ax.plot(range(len(curve)), curve, marker=".", label=f"{name} (lr {plot['per_epoch_lr'][name]:g})")
    ax.set_xlabel("epoch")
    ax.set_title("SGD: dead fraction per epoch, deadest layer\n(own largest stable rate, mean over seeds)", fontsize=9)
    ax = axes[len(opts) + 1]
    born = plot["born_dead"]
    depths = [b["depth"] for b in born]
    p = np.array([b["probability"] for b in born])
    lo = np.array([b["wilson95"][0] for b in born])
    hi = np.array([b["wilson95"][1] for b in born])
    ax.errorbar(depths, p, yerr=np.maximum([p - lo, hi - p], 0.0), marker="o", capsize=3, label="measured (Wilson 95%)")
    ax.plot(depths, [b["lower_bound"] for b in born], ls="--", color="0.4", label="lower bound")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("depth")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"born dead at initialization, ReLU width {plot['born_dead_width']}", fontsize=9)
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(TITLE, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
