"""Claim 2: sigmoid saturates and kills gradients, and its non-zero-centred output makes updates zig-zag.

Run: ``python -m experiments.claims --only sigmoid_gradients`` (about 10 minutes on 2 CPU cores; ``--quick``:
seconds). Three clauses, each with its own verdict:

(a) vanishing: at initialization the first hidden layer's weight gradient is far smaller than the last's
    in a deep sigmoid MLP (Glorot normal init). At that scale no unit saturates: the shrinking is sigmoid's
    largest slope, 1/4, compounded once per layer; tanh and ReLU are measured beside it.
(b) saturation: under Glorot and Bengio's *standard* init, W ~ U(-1/sqrt(n_in), 1/sqrt(n_in)), the top
    hidden layer saturates early in training (their Figure 2). Tracked after each of the first epochs.
(c) zig-zag: gradient descent on a sigmoid net takes a zig-zag path, measured on the trajectory itself
    (the cosine between successive updates of a second-layer unit's incoming weights), against a centred
    sigmoid, sigmoid(x) - 1/2 = tanh(x/2)/2, which has the same slope everywhere and only lacks the offset.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import optax
from flax import nnx

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from experiments.claims import common as C  # noqa: E402
from jaxacts.models import ModelConfig  # noqa: E402

ID = "sigmoid_gradients"
TITLE = "Sigmoid saturates and kills gradients; its positive outputs make updates zig-zag"
CLAIM = ("Sigmoid units saturate and kill gradients, so that the early layers of a deep sigmoid network barely "
         "learn; and since sigmoid outputs are not zero-centred, the gradients on the weights into a unit are all "
         "positive or all negative, which makes gradient descent zig-zag.")
SOURCE = ("Karpathy, Stanford CS231n notes (2015); Glorot and Bengio 2010, 'Understanding the difficulty of training "
          "deep feedforward neural networks' (under the standard init the top hidden layer saturates early in training)")

CENTRED = "scaled_tanh(a=0.5,b=0.5)"  # sigmoid(x) - 1/2 = tanh(x/2) / 2: sigmoid's slope, zero-centred
STANDARD_INIT = "torch_default"  # weights U(+-1/sqrt(fan_in)), Glorot and Bengio's "standard" init (biases too)
SATURATED = 0.07  # a unit is saturated where its derivative is below 7% of its maximum (sigmoid: |x| > ~4)
VANISHED = 0.1  # first/last layer gradient-RMS ratio that counts as vanishing (tenfold)
SATURATED_MAJORITY = 0.5  # the top hidden layer saturates: more than half its unit-example pairs are saturated
TRAINED = 0.15  # a run trained if its final validation accuracy exceeds this (chance is 0.1 on 10 classes)
ZIGZAG_MARGIN = 0.05  # successive-update cosine lower for sigmoid than for the centred control by more than this

RULE = (
    f"(a) Vanishing: at initialization (Glorot normal), the ratio of the first to the last hidden layer's "
    f"weight-gradient RMS in a sigmoid MLP of the reference depth, geometric mean over evaluation seeds with a t-interval "
    f"on the logs. Supported if the interval lies below {VANISHED} (tenfold shrinking or more); contradicted if it lies "
    f"above {VANISHED}; otherwise inconclusive. "
    f"(b) Saturation: a sigmoid MLP of the saturation depth under the standard init U(+-1/sqrt(fan_in)) trained by SGD "
    f"at its rate tuned for the lowest training loss (a clause about training dynamics needs a run that trains); per "
    f"seed, the largest over epochs 1..saturation_epochs of the top hidden layer's saturated "
    f"fraction (unit-example pairs on the probe examples whose derivative is below {SATURATED} of its maximum); the "
    f"mean over seeds with its t-interval. Supported if the interval lies above {SATURATED_MAJORITY}; contradicted if it "
    f"lies below {SATURATED_MAJORITY}; otherwise inconclusive; and inconclusive whatever the interval if the runs did "
    f"not train (mean final validation accuracy at most {TRAINED}): saturation in a network that does not learn is not "
    f"the claim's. "
    f"(c) Zig-zag: full-batch gradient descent from the same Glorot normal init for sigmoid and for the centred sigmoid "
    f"sigmoid(x) - 1/2 (same slope), both at the smaller of their two tuned rates; per seed, the mean over steps 2..T "
    f"and over second-layer units of the cosine between the unit's successive incoming-weight updates; the paired "
    f"difference sigmoid - centred with its t-interval. Supported if the interval lies below -{ZIGZAG_MARGIN} (sigmoid "
    f"zig-zags more); contradicted if it lies above -{ZIGZAG_MARGIN}; otherwise inconclusive. "
    f"Learning rates: (b) {C.RULE_LOWEST_TRAINING_LOSS}, (c) {C.rule_best_validation(1)}; " + C.Tuning().rule() + ". "
    + C.OVERALL_RULE)

ACTIVATIONS = ("sigmoid", "tanh", "relu")


@dataclasses.dataclass(frozen=True)
class Config:
    """Every grid, seed count, window and size of the three clauses (with RULE, the pre-registration)."""

    data: C.DataConfig = C.DataConfig()
    seeds: int = 8  # evaluation seeds
    tuning: C.Tuning = C.Tuning()
    width: int = 128
    probe_examples: int = 1000  # training examples for gradient RMS and saturated fractions
    # (a) vanishing, at initialization
    depths: tuple[int, ...] = (4, 8, 16)
    reference_depth: int = 8
    # (b) saturation: Glorot and Bengio's Figure 2 tracks four hidden layers; their minibatch was 10
    saturation_depth: int = 4
    saturation_inits: tuple[str, ...] = (STANDARD_INIT, "glorot_normal")  # the first is the clause's; others beside
    saturation_lrs: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3)
    saturation_epochs: int = 10
    saturation_batch: int = 10
    # (c) zig-zag: full-batch gradient descent on the first zigzag_examples training examples
    zigzag_depth: int = 3
    zigzag_examples: int = 1000
    zigzag_lrs: tuple[float, ...] = (0.1, 0.3, 1.0, 3.0)
    zigzag_steps: int = 200

    def __post_init__(self):
        if min(self.depths) < 2 or self.zigzag_depth < 2:
            raise ValueError("depths and zigzag_depth must be >= 2 (first vs last layer; the second layer's updates)")
        if not self.saturation_inits or self.saturation_inits[0] != STANDARD_INIT:
            raise ValueError(f"saturation_inits must start with the standard init {STANDARD_INIT!r}")
        if self.reference_depth not in self.depths:
            raise ValueError(f"reference_depth {self.reference_depth} is not one of the depths {self.depths}")


QUICK = Config(data=C.DataConfig(train_subset=600), seeds=2, tuning=C.Tuning(seeds=2, max_extensions=0), width=32,
               probe_examples=200, depths=(4,), reference_depth=4, saturation_depth=3, saturation_inits=(STANDARD_INIT,),
               saturation_lrs=(0.1, 1.0),
               saturation_epochs=2, saturation_batch=50, zigzag_depth=2, zigzag_examples=200, zigzag_lrs=(0.3, 1.0),
               zigzag_steps=3)


# ---------------------------------------------------------------------------------------------------
# (a) gradients at initialization

def _loss(graphdef, params, rest, x, y):
    logits = nnx.merge(graphdef, params, rest)(x)
    return optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), y).mean()


def _rms(g):
    """Root mean square of ``g``, scaled first so that squaring tiny entries does not underflow to 0
    (a sigmoid net's first-layer gradient reaches 1e-20 and below), and free of the layer's shape."""
    scale = jnp.max(jnp.abs(g))
    safe = jnp.where(scale > 0, scale, 1.0)
    return scale * jnp.sqrt(jnp.mean(jnp.square(g / safe)))


def gradient_rms(graphdef, state, x, y):
    """Per run, each hidden layer's weight-gradient RMS on (x, y), first layer first: (R, depth)."""

    def one(params, rest):
        grads = nnx.merge(graphdef, jax.grad(_loss, argnums=1)(graphdef, params, rest, x, y), rest)
        return jnp.stack([_rms(block.linear.kernel[...]) for block in grads.blocks])

    return jax.vmap(one)(state.params, state.rest)


# ---------------------------------------------------------------------------------------------------
# (b) saturation during training

def sigmoid_layer_stats(graphdef, state, x):
    """Per run and hidden layer of a sigmoid net: saturated fraction (derivative h (1 - h) below SATURATED of its
    maximum 1/4), the share of it near 0 (h < 1/2), and the mean activation: three (R, depth) arrays."""

    def one(params, rest):
        _, hidden = nnx.merge(graphdef, params, rest)(x, return_hidden=True)
        sat = [h * (1 - h) / 0.25 < SATURATED for h in hidden]
        return (jnp.stack([jnp.mean(s) for s in sat]), jnp.stack([jnp.mean(s & (h < 0.5)) for s, h in zip(sat, hidden)]),
                jnp.stack([jnp.mean(h) for h in hidden]))

    return jax.vmap(one)(state.params, state.rest)


# ---------------------------------------------------------------------------------------------------
# (c) successive updates of the second layer's incoming weights

def _second_kernel(state):
    return state.params["blocks"][1]["linear"]["kernel"][...]  # (R, inputs, units)


@jax.jit
def _update_step(previous_kernel, previous_update, state):
    """Per run: the cosine between this update and the previous one of each second-layer unit's incoming
    weights, averaged over units; the Frobenius norm of this update; and the new kernel and update."""
    kernel = _second_kernel(state)
    update = kernel - previous_kernel
    dot = jnp.sum(update * previous_update, axis=1)
    norms = jnp.linalg.norm(update, axis=1) * jnp.linalg.norm(previous_update, axis=1)
    cosine = jnp.mean(jnp.where(norms > 0, dot / jnp.where(norms > 0, norms, 1.0), 0.0), axis=-1)
    return cosine, jnp.linalg.norm(update, axis=(1, 2)), kernel, update


class UpdateTracker:
    """``on_epoch`` for a full-batch sweep (one step per epoch): per step and run, the successive-update cosine
    (NaN for the first step, which has no predecessor) and the update's norm; the start kernel for the
    displacement."""

    def __init__(self):
        self.kernel = self.update = self.start = None
        self.cosines, self.norms = [], []

    def __call__(self, epoch, graphdef, state):
        if epoch == 0:
            # A copy: the sweep donates the state's buffers to the next epoch.
            self.kernel = self.start = np.array(jax.device_get(_second_kernel(state)))
            self.update = np.zeros_like(self.kernel)
            return None
        cosine, norm, self.kernel, self.update = _update_step(self.kernel, self.update, state)
        cosine, norm = jax.device_get((cosine, norm))
        self.cosines.append(np.where(epoch == 1, np.nan, cosine))
        self.norms.append(norm)
        return None

    def summary(self):
        """(cosine per step (R, T), mean cosine over steps 2..T (R,), path length / displacement (R,))."""
        cos = np.stack(self.cosines, axis=-1).astype(np.float64)
        path = np.sum(np.stack(self.norms, axis=-1), axis=-1, dtype=np.float64)
        displacement = np.asarray(jnp.linalg.norm(self.kernel - self.start, axis=(1, 2)), np.float64)
        return cos, np.nanmean(cos[:, 1:], axis=-1), path / np.maximum(displacement, np.finfo(np.float64).tiny)


# ---------------------------------------------------------------------------------------------------

def _sweeps(data, models: dict, optimizer: str, *, epochs: int, batch_size: int):
    """``train`` for :func:`common.tune`: each arm's model trained at the given rates."""

    def train(grids, seeds, first_seed):
        return {arm: C.train_sweep(data, models[arm], optimizer, lrs, epochs=epochs, batch_size=batch_size,
                                   seeds=seeds, first_seed=first_seed) for arm, lrs in grids.items()}

    return train


def _fmt(value, ci, digits=3):
    return f"{value:.{digits}g} [{ci[0]:.{digits}g}, {ci[1]:.{digits}g}]"


def run(config: Config) -> dict:
    data = C.load(config.data)
    S = config.seeds
    x, y = data.x_train[:config.probe_examples], data.y_train[:config.probe_examples]

    # (a) Vanishing: weight-gradient RMS per hidden layer at initialization, evaluation seeds.
    rms = {}
    for depth in config.depths:
        for act in ACTIVATIONS:
            graphdef, state = C.init_runs(data, ModelConfig(activation=act, init=C.init_for(act), depth=depth,
                                                            width=config.width), S)
            rms[(depth, act)] = np.asarray(jax.jit(lambda s, g=graphdef: gradient_rms(g, s, x, y))(state), np.float64)
    tiny = np.finfo(np.float64).tiny  # a gradient that underflowed to 0 reads as the smallest ratio
    ref = config.reference_depth
    first, last = np.maximum(rms[(ref, "sigmoid")][:, 0], tiny), rms[(ref, "sigmoid")][:, -1]
    van, van_ci = C.paired_ratio(first, last)
    van_verdict = C.interval_verdict(van_ci, lambda lo, hi: hi < VANISHED, lambda lo, hi: lo > VANISHED)
    ratio = {k: C.geometric_mean(np.maximum(v[:, 0], tiny) / v[:, -1]) for k, v in rms.items()}
    per_layer = van ** (1.0 / (ref - 1))

    # (b) Saturation under the standard init, tracked after every epoch; Glorot normal beside it.
    sat_models = {("standard init" if init == STANDARD_INIT else init): ModelConfig(
        activation="sigmoid", init=init, depth=config.saturation_depth, width=config.width)
        for init in config.saturation_inits}
    train = _sweeps(data, sat_models, "sgd", epochs=config.saturation_epochs, batch_size=config.saturation_batch)
    sat_lr, sat_tuning = C.tune(train, {a: config.saturation_lrs for a in sat_models}, C.choose_lowest_training_loss,
                                config.tuning, S)
    sat = {}  # arm -> (saturated, near zero, mean): each (S, epochs + 1, depth)
    sat_diverged, sat_accuracy = {}, {}
    for arm, model in sat_models.items():
        compiled = {}

        def on_epoch(epoch, graphdef, state, compiled=compiled):
            if "stats" not in compiled:
                compiled["stats"] = jax.jit(lambda s: sigmoid_layer_stats(graphdef, s, x))
            return jax.device_get(compiled["stats"](state))

        sweep = C.train_sweep(data, model, "sgd", [sat_lr[arm]], epochs=config.saturation_epochs,
                              batch_size=config.saturation_batch, seeds=S, on_epoch=on_epoch)
        sat[arm] = tuple(np.stack([np.asarray(e[i], np.float64) for e in sweep.extra], axis=1) for i in range(3))
        sat_diverged[arm] = int(sweep.diverged.sum())
        sat_accuracy[arm] = float(sweep.evals["val_accuracy"][..., -1].mean())
    top = sat["standard init"][0][:, 1:, -1]  # (S, epochs): top hidden layer, after epochs 1..E
    top_max = top.max(axis=1)
    sat_value, sat_ci = float(top_max.mean()), C.t_interval(top_max)
    sat_verdict = C.interval_verdict(sat_ci, lambda lo, hi: lo > SATURATED_MAJORITY,
                                     lambda lo, hi: hi < SATURATED_MAJORITY)
    if sat_accuracy["standard init"] <= TRAINED:  # compare only runs that trained
        sat_verdict = "inconclusive"

    # (c) Zig-zag: full-batch gradient descent, sigmoid against the centred sigmoid, from the same init.
    zz_data = dataclasses.replace(data, x_train=data.x_train[:config.zigzag_examples],
                                  y_train=data.y_train[:config.zigzag_examples])
    zz_models = {act: ModelConfig(activation=act, init="glorot_normal", depth=config.zigzag_depth, width=config.width)
                 for act in ("sigmoid", CENTRED)}
    train = _sweeps(zz_data, zz_models, "sgd", epochs=config.zigzag_steps, batch_size=config.zigzag_examples)
    zz_lr, zz_tuning = C.tune(train, {a: config.zigzag_lrs for a in zz_models}, C.choose_by_validation,
                              config.tuning, S)
    common_lr = min(zz_lr.values())
    zz = {}  # (activation, lr) -> (cosine per step, mean cosine, path / displacement, diverged)
    for act, model in zz_models.items():
        lrs = sorted({common_lr, zz_lr[act]})  # one compiled sweep: runs are setting-major, S seeds each
        tracker = UpdateTracker()
        sweep = C.train_sweep(zz_data, model, "sgd", lrs, epochs=config.zigzag_steps,
                              batch_size=config.zigzag_examples, seeds=S, on_epoch=tracker)
        summary = tracker.summary()
        for p, lr in enumerate(sweep.lrs):
            zz[(act, lr)] = (*(v[p * S:(p + 1) * S] for v in summary), int(sweep.diverged[p].sum()))
    sig, cen = zz[("sigmoid", common_lr)], zz[(CENTRED, common_lr)]
    zz_value, zz_ci = C.paired_difference(sig[1], cen[1])
    zz_verdict = C.interval_verdict(zz_ci, lambda lo, hi: hi < -ZIGZAG_MARGIN, lambda lo, hi: lo > -ZIGZAG_MARGIN)
    own_value, own_ci = C.paired_difference(zz[("sigmoid", zz_lr["sigmoid"])][1], zz[(CENTRED, zz_lr[CENTRED])][1])
    path_ratio, path_ci = C.paired_ratio(sig[2], cen[2])

    subverdicts = [
        C.subverdict("(a) gradients vanish toward the early layers", van_verdict,
                     f"first / last hidden layer gradient RMS, sigmoid depth {ref}, at init (geometric mean)", van, van_ci),
        C.subverdict("(b) the top hidden layer saturates early (standard init)", sat_verdict,
                     f"top hidden layer saturated fraction, largest over epochs 1-{config.saturation_epochs} (mean)",
                     sat_value, sat_ci),
        C.subverdict("(c) updates zig-zag (against a centred sigmoid)", zz_verdict,
                     "successive-update cosine, sigmoid - centred sigmoid (paired mean)", zz_value, zz_ci)]
    tuning = {"seeds": sat_tuning["seeds"], "evaluation_seeds": sat_tuning["evaluation_seeds"],
              "arms": [dict(a, arm=f"(b) sigmoid, {a['arm']}") for a in sat_tuning["arms"]]
              + [dict(a, arm=f"(c) {a['arm']}") for a in zz_tuning["arms"]]}

    shown = [e for e in (0, 1, 2, 3, 5, 10, 15, 20, 30, 40) if e < config.saturation_epochs] + [config.saturation_epochs]
    details = [f"**(a) Vanishing.** First / last hidden layer weight-gradient RMS at initialization on {config.probe_examples} "
               "training examples (geometric mean over seeds, 95% CI):", "",
               "| depth | " + " | ".join(ACTIVATIONS) + " |", "|---|" + "---|" * len(ACTIVATIONS)]
    details += [f"| {d} | " + " | ".join(_fmt(*ratio[(d, a)]) for a in ACTIVATIONS) + " |" for d in config.depths]
    details += ["", f"At depth {ref} the sigmoid ratio is {van:.3g}, i.e. {per_layer:.3f} per layer over {ref - 1} layers: "
                "about sigmoid's largest slope 1/4 compounded (with Glorot normal weights the back-propagated signal is "
                "multiplied by the slope, at most 1/4, in every layer). Glorot normal init saturates no unit (see (b)'s "
                "glorot_normal row at epoch 0), so this clause measures the slope, not saturation; tanh (slope 1 at 0) "
                "and ReLU (He init) keep the ratio near 1.", "",
                f"**(b) Saturation.** Sigmoid MLP {config.saturation_depth} x {config.width}, SGD batch "
                f"{config.saturation_batch}, {config.saturation_epochs} epochs; the standard init is `{STANDARD_INIT}` "
                "(weights and biases U(+-1/sqrt(fan_in)); Glorot and Bengio's biases were 0). Saturated fraction per "
                "hidden layer (mean over seeds; in brackets the share of it near 0) after the epochs shown (0: init; every "
                "epoch is in the figure):", "",
                "| init | layer | " + " | ".join(str(e) for e in shown) + " |", "|---|---|" + "---|" * len(shown)]
    for arm, (frac, low, _) in sat.items():
        for layer in range(config.saturation_depth):
            details.append(f"| {arm} (lr {sat_lr[arm]:.3g}, final validation accuracy {sat_accuracy[arm]:.2f}) | {layer + 1} | " + " | ".join(
                f"{frac[:, e, layer].mean():.2f} ({low[:, e, layer].mean():.2f})" for e in shown) + " |")
    details += ["", f"Top layer, largest over epochs 1-{config.saturation_epochs}, per seed: "
                f"{', '.join(f'{v:.2f}' for v in top_max)}; mean activation of the top layer after each epoch: "
                f"{', '.join(f'{v:.2f}' for v in sat['standard init'][2][:, :, -1].mean(axis=0))}. Diverged evaluation "
                f"runs: {sat_diverged}. A final validation accuracy near chance ({1 / data.num_classes:.2f}) means no rate of the "
                "grid trained within the budget: the tuning could not tell the rates apart, and the saturation measured "
                "is that of whichever rate it picked.", "",
                f"**(c) Zig-zag.** MLP {config.zigzag_depth} x {config.width}, Glorot normal, full-batch gradient descent "
                f"on {config.zigzag_examples} training examples for {config.zigzag_steps} steps; centred sigmoid = "
                f"`{CENTRED}` = sigmoid - 1/2. Cosine between successive updates of a second-layer unit's incoming "
                "weights, mean over steps and units (lower: more zig-zag); path length / displacement of the whole "
                "second-layer kernel (higher: more zig-zag):", "",
                "| activation | lr | successive-update cosine | path / displacement | diverged |", "|---|---|---|---|---|"]
    for (act, lr), (_, cos, path, div) in zz.items():
        details.append(f"| {act} | {lr:g} | {C.mean_sd(cos)} | {C.mean_sd(path)} | {div}/{S} |")
    details += ["", f"At the common rate {common_lr:g}: cosine sigmoid - centred {zz_value:+.3f} "
                f"[{zz_ci[0]:+.3f}, {zz_ci[1]:+.3f}]; path/displacement ratio sigmoid / centred {_fmt(path_ratio, path_ci)}. "
                f"Each at its own tuned rate (sigmoid {zz_lr['sigmoid']:g}, centred {zz_lr[CENTRED]:g}): cosine "
                f"difference {own_value:+.3f} [{own_ci[0]:+.3f}, {own_ci[1]:+.3f}]."]

    return {
        "protocol": {"data": f"{config.data.dataset} (validation {config.data.val_fraction:g} of the training set); "
                             f"gradients and saturation on {config.probe_examples} training examples",
                     "(a) model": f"MLP depths {list(config.depths)} x {config.width} at initialization; Glorot normal "
                                  "for sigmoid and tanh, He normal for ReLU",
                     "(b) model": f"sigmoid MLP {config.saturation_depth} x {config.width}, init {STANDARD_INIT} "
                                  f"(U(+-1/sqrt(fan_in))){''.join(f', and {i}' for i in config.saturation_inits[1:])}; SGD, batch {config.saturation_batch}, "
                                  f"{config.saturation_epochs} epochs",
                     "(c) model": f"MLP {config.zigzag_depth} x {config.width}, glorot_normal, sigmoid and {CENTRED}; "
                                  f"full-batch gradient descent on {config.zigzag_examples} examples, "
                                  f"{config.zigzag_steps} steps, at the common rate {common_lr:g} and at each one's own",
                     "learning rates": f"(b) grid {list(config.saturation_lrs)}, (c) grid {list(config.zigzag_lrs)}; "
                                       f"{C.rule_best_validation(1)}; {config.tuning.rule()}",
                     "chosen": {**{f"(b) {a}": v for a, v in sat_lr.items()}, **{f"(c) {a}": v for a, v in zz_lr.items()}},
                     "seeds": S},
        "tested": f"{config.data.dataset}; sigmoid MLPs {ref} x {config.width} (init), {config.saturation_depth} x {config.width} "
                  f"(SGD, standard init), {config.zigzag_depth} x {config.width} (full-batch GD)",
        "measurements": {
            "grad_rms_at_init": {f"{a} depth {d}": C.as_list(v) for (d, a), v in rms.items()},
            "saturated_fraction": {a: C.as_list(v[0]) for a, v in sat.items()},  # (seeds, epochs + 1, layers)
            "saturated_near_zero": {a: C.as_list(v[1]) for a, v in sat.items()},
            "mean_activation": {a: C.as_list(v[2]) for a, v in sat.items()},
            "top_layer_saturated_max": C.as_list(top_max),
            "zigzag_cosine": {f"{a} lr {lr:g}": C.as_list(v[1]) for (a, lr), v in zz.items()},
            "zigzag_path_over_displacement": {f"{a} lr {lr:g}": C.as_list(v[2]) for (a, lr), v in zz.items()}},
        "statistic": subverdicts[0]["statistic"],
        "ci95": subverdicts[0]["ci95"],
        "interval": C.interval_record("log", S, paired=(first, last)),
        "tuning": tuning,
        "subverdicts": subverdicts,
        "effect": f"(a) first/last gradient {_fmt(van, van_ci, 2)} at depth {ref} (1/4 slope compounded); (b) top layer "
                  f"saturated at most {sat_value:.0%} [{sat_ci[0]:.0%}, {sat_ci[1]:.0%}]; (c) cosine sigmoid - centred "
                  f"{zz_value:+.3f} [{zz_ci[0]:+.3f}, {zz_ci[1]:+.3f}]",
        "details": details,
        "plot": {"depth": ref, "norms": {a: C.as_list(rms[(ref, a)].mean(axis=0)) for a in ACTIVATIONS},
                 "saturated": {a: C.as_list(v[0].mean(axis=0)) for a, v in sat.items()},  # (epochs + 1, layers)
                 "threshold": SATURATED_MAJORITY,
                 "cosine": {f"{'sigmoid' if a == 'sigmoid' else 'centred sigmoid'}": C.as_list(np.nanmean(v[0], axis=0))
                            for (a, lr), v in zz.items() if lr == common_lr},
                 "common_lr": common_lr},
    }


def verdict(result: dict) -> str:
    return C.overall(result["subverdicts"])


def figure(result: dict, path: str) -> None:
    plot = result["plot"]
    fig, (ax_g, ax_s, ax_z) = plt.subplots(1, 3, figsize=(15, 4))
    for act, norms in plot["norms"].items():
        ax_g.plot(np.arange(1, len(norms) + 1), norms, marker="o", label=act)
    ax_g.set_yscale("log")
    ax_g.set_xlabel("hidden layer")
    ax_g.set_ylabel("weight-gradient RMS at init (mean over seeds)")
    ax_g.set_title(f"(a) depth {plot['depth']}", fontsize=9)
    for (arm, frac), style in zip(plot["saturated"].items(), ("-", "--", ":", "-.")):
        frac = np.asarray(frac, np.float64)
        for layer in range(frac.shape[1]):
            ax_s.plot(np.arange(frac.shape[0]), frac[:, layer], ls=style, marker="o", ms=3, color=f"C{layer}",
                      label=f"layer {layer + 1}, {arm}")
    ax_s.axhline(plot["threshold"], color="grey", lw=0.8, ls=":")
    ax_s.set_xlabel("epoch")
    ax_s.set_ylabel("saturated fraction (mean over seeds)")
    ax_s.set_title("(b) sigmoid, standard init (solid; others dashed)", fontsize=9)
    for name, cos in plot["cosine"].items():
        cos = np.asarray([np.nan if v is None else v for v in cos], np.float64)
        ax_z.plot(np.arange(1, len(cos) + 1), cos, label=name)
    ax_z.axhline(0.0, color="grey", lw=0.8)
    ax_z.set_xlabel("gradient-descent step")
    ax_z.set_ylabel("cosine of successive layer-2 updates (mean)")
    ax_z.set_title(f"(c) full-batch GD at lr {plot['common_lr']:g}", fontsize=9)
    for ax in (ax_g, ax_s, ax_z):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    fig.suptitle(TITLE, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
