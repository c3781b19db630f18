"""Claim 2: sigmoid saturates and kills gradients, and its non-zero-centred output makes updates zig-zag."""

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
          "deep feedforward neural networks' (the top hidden layer saturates first)")
SATURATED = 0.07  # a unit is saturated where its derivative is below 7% of its maximum (sigmoid: |x| > ~4)
VANISHED = 0.1  # first/last layer gradient-norm ratio that counts as vanishing (tenfold), fixed before any run
RULE = (f"Primary: at initialization, the ratio of the first to the last hidden layer's weight-gradient RMS in a "
        f"sigmoid MLP of the reference depth (geometric mean over seeds). Supported if its 95% interval lies below "
        f"{VANISHED} (gradients shrink tenfold or more) AND the zig-zag measure (the fraction of minibatch steps in "
        "which all of a second-layer unit's incoming weight gradients share one sign) is higher for sigmoid than for "
        "tanh (paired interval of the difference above 0); contradicted if the primary interval lies above "
        f"{VANISHED} or the zig-zag difference's interval lies below 0; otherwise inconclusive.")

ACTIVATIONS = ("sigmoid", "tanh", "relu")


@dataclasses.dataclass(frozen=True)
class Config:
    data: C.DataConfig = C.DataConfig()
    seeds: int = 5
    depths: tuple[int, ...] = (4, 8, 16)
    reference_depth: int = 8
    width: int = 128
    optimizer: str = "sgd"
    lrs: tuple[float, ...] = (0.03, 0.1, 0.3, 1.0)
    epochs: int = 20
    batch_size: int = 100
    probe_examples: int = 500  # training examples for gradient norms and saturation
    zigzag_batches: int = 20  # minibatches for the zig-zag measure

    def __post_init__(self):
        if min(self.depths) < 2:
            raise ValueError(f"depths must be >= 2 (the zig-zag is measured at the second layer), got {self.depths}")
        if self.reference_depth not in self.depths:
            raise ValueError(f"reference_depth {self.reference_depth} is not one of the depths {self.depths}")


QUICK = Config(data=C.DataConfig(train_subset=600), seeds=2, depths=(4,), reference_depth=4, width=32, lrs=(0.1, 1.0),
               epochs=2, probe_examples=200, zigzag_batches=4)


def _loss(graphdef, params, rest, x, y):
    logits = nnx.merge(graphdef, params, rest)(x)
    return optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), y).mean()


def _kernel_grads(graphdef, params, rest, x, y):
    """Each hidden layer's weight gradient (a list, first layer first)."""
    grads = jax.grad(_loss, argnums=1)(graphdef, params, rest, x, y)
    model = nnx.merge(graphdef, grads, rest)
    return [block.linear.kernel[...] for block in model.blocks]


def _rms(g):
    """Root mean square of ``g``, scaled first so that squaring tiny entries does not underflow to 0
    (a sigmoid net's first-layer gradient reaches 1e-20 and below), and free of the layer's shape."""
    scale = jnp.max(jnp.abs(g))
    safe = jnp.where(scale > 0, scale, 1.0)
    return scale * jnp.sqrt(jnp.mean(jnp.square(g / safe)))


def measure(graphdef, state, x, y, batches_x, batches_y, activation):
    """Per run: hidden-layer weight-gradient RMS on (x, y), saturated fraction per layer, and the zig-zag
    fraction."""

    def one(params, rest):
        norms = jnp.stack([_rms(g) for g in _kernel_grads(graphdef, params, rest, x, y)])
        _, hidden = nnx.merge(graphdef, params, rest)(x, return_hidden=True)
        if activation == "sigmoid":
            slope = jnp.stack([jnp.mean(h * (1 - h) / 0.25 < SATURATED) for h in hidden])
        elif activation == "tanh":
            slope = jnp.stack([jnp.mean(1 - h * h < SATURATED) for h in hidden])
        else:
            slope = jnp.stack([jnp.mean(h <= 0) for h in hidden])  # ReLU: zero slope where inactive

        def same_sign(xb, yb):
            g = _kernel_grads(graphdef, params, rest, xb, yb)[1]  # (inputs, units): into the second layer
            # One sign: none of the other sign and not all zero (a unit fed only zeros has no direction).
            positive = jnp.all(g >= 0, axis=0) & jnp.any(g > 0, axis=0)
            negative = jnp.all(g <= 0, axis=0) & jnp.any(g < 0, axis=0)
            return jnp.mean(positive | negative)

        zigzag = jnp.mean(jax.vmap(same_sign)(batches_x, batches_y))
        return norms, slope, zigzag

    return jax.vmap(one)(state.params, state.rest)


def run(config: Config) -> dict:
    data = C.load(config.data)
    x, y = data.x_train[:config.probe_examples], data.y_train[:config.probe_examples]
    n = config.zigzag_batches * config.batch_size
    bx = data.x_train[:n].reshape(config.zigzag_batches, config.batch_size, -1)
    by = data.y_train[:n].reshape(config.zigzag_batches, config.batch_size)
    at_init, trained, chosen = {}, {}, {}
    for depth in config.depths:
        for act in ACTIVATIONS:
            model = ModelConfig(activation=act, init=C.init_for(act), depth=depth, width=config.width)
            snaps, compiled = {}, {}

            def on_epoch(epoch, graphdef, state, act=act, snaps=snaps, compiled=compiled):
                if epoch == 0 or epoch == config.epochs:
                    if "measure" not in compiled:  # one compile per model, used at init and after training
                        compiled["measure"] = jax.jit(lambda s, *data: measure(graphdef, s, *data, act))
                    snaps[epoch] = jax.device_get(compiled["measure"](state, x, y, bx, by))

            if depth == config.reference_depth:
                sweep = C.train_sweep(data, model, config.optimizer, config.lrs, epochs=config.epochs,
                                      batch_size=config.batch_size, seeds=config.seeds, on_epoch=on_epoch)
                p = C.choose_by_validation(sweep)
                chosen[act] = sweep.lrs[p]
                pick = lambda m, p=p, S=sweep.seeds: tuple(np.asarray(v)[p * S:(p + 1) * S] for v in m)
                at_init[(depth, act)] = pick(snaps[0])
                trained[act] = pick(snaps[config.epochs])
            else:  # initialization only
                on_epoch(0, *C.init_runs(data, model, config.seeds))
                at_init[(depth, act)] = tuple(np.asarray(v) for v in snaps[0])
    tiny = np.finfo(np.float64).tiny  # a gradient that underflowed to 0 reads as the smallest ratio
    ratio = {k: np.maximum(v[0][:, 0] / v[0][:, -1], tiny) for k, v in at_init.items()}  # first / last, per seed
    ref = config.reference_depth
    value = float(np.exp(np.mean(np.log(ratio[(ref, "sigmoid")]))))
    ci = [float(np.exp(c)) for c in C.bootstrap_ci(np.log(ratio[(ref, "sigmoid")]))]
    zig = {act: at_init[(ref, act)][2] for act in ACTIVATIONS}
    zig_trained = {act: trained[act][2] for act in ACTIVATIONS}
    zz, zz_ci = C.paired_difference(zig["sigmoid"], zig["tanh"])
    saturated = max(float(np.max(v[1])) for k, v in at_init.items() if k[1] == "sigmoid")
    saturated = max(saturated, float(np.max(trained["sigmoid"][1])))
    details = ["First / last hidden layer weight-gradient RMS at initialization (geometric mean over seeds):", "",
               "| depth | " + " | ".join(ACTIVATIONS) + " |", "|---|" + "---|" * len(ACTIVATIONS)]
    for depth in config.depths:
        details.append(f"| {depth} | " + " | ".join(f"{np.exp(np.mean(np.log(ratio[(depth, a)]))):.3g}"
                                                    for a in ACTIVATIONS) + " |")
    details += ["", f"At depth {ref}, after {config.epochs} epochs of SGD at each activation's chosen lr "
                f"({', '.join(f'{a} {chosen[a]:g}' for a in ACTIVATIONS)}):", "",
                "| activation | first/last grad ratio, init -> trained | saturated fraction per layer, init | trained | "
                "zig-zag fraction, init -> trained |", "|---|---|---|---|---|"]
    for act in ACTIVATIONS:
        r0, r1 = ratio[(ref, act)], trained[act][0][:, 0] / trained[act][0][:, -1]
        s0, s1 = at_init[(ref, act)][1].mean(axis=0), trained[act][1].mean(axis=0)
        details.append(f"| {act} | {np.exp(np.mean(np.log(r0))):.3g} -> {np.exp(np.mean(np.log(r1))):.3g} | "
                       f"{', '.join(f'{v:.2f}' for v in s0)} | {', '.join(f'{v:.2f}' for v in s1)} | "
                       f"{zig[act].mean():.3f} -> {zig_trained[act].mean():.3f} |")
    details += ["", "Saturated: derivative below 7% of its maximum (for ReLU: inactive). Zig-zag: the fraction of "
                f"{config.zigzag_batches} minibatches of {config.batch_size} in which all weight gradients into a "
                "second-layer unit share one sign, averaged over its units. For a single example it is 1 for sigmoid by "
                "construction (the inputs are all positive); on minibatches it is an empirical question.",
                f"Zig-zag sigmoid - tanh at initialization: {zz:+.3f} [{zz_ci[0]:+.3f}, {zz_ci[1]:+.3f}].",
                f"The largest saturated fraction of any sigmoid layer, at initialization or after training: "
                f"{saturated:.3f}. The rule tests vanishing gradients, not saturation: where no unit saturates, "
                "the shrinking comes from sigmoid's slope being at most 1/4 in every layer."]
    return {
        "protocol": {"data": f"{config.data.dataset}; gradients and saturation on {config.probe_examples} training "
                             "examples", "model": f"MLP depths {list(config.depths)}, width {config.width}; Glorot "
                                                  "normal for sigmoid and tanh, He normal for ReLU",
                     "optimizer": f"{config.optimizer}, constant lr, batch {config.batch_size}, {config.epochs} epochs (depth "
                                  f"{ref} only)",
                     "learning rates": f"grid {list(config.lrs)} per activation; rule: {C.RULE_BEST_VALIDATION}",
                     "chosen": chosen, "seeds": config.seeds},
        "measurements": {
            "grad_norms_at_init": {f"{a} depth {d}": C.as_list(v[0]) for (d, a), v in at_init.items()},
            "grad_norms_trained": {a: C.as_list(v[0]) for a, v in trained.items()},
            "saturated_at_init": {a: C.as_list(at_init[(ref, a)][1]) for a in ACTIVATIONS},
            "saturated_trained": {a: C.as_list(v[1]) for a, v in trained.items()},
            "zigzag_at_init": {a: C.as_list(v) for a, v in zig.items()},
            "zigzag_trained": {a: C.as_list(v) for a, v in zig_trained.items()}},
        "statistic": {"name": f"first / last hidden layer gradient RMS, sigmoid, depth {ref}, at init", "value": value},
        "ci95": ci, "zigzag": {"difference": zz, "ci95": zz_ci}, "sigmoid_saturated_max": saturated,
        "effect": f"sigmoid first/last gradient {value:.2g} [{ci[0]:.2g}, {ci[1]:.2g}] at depth {ref}; zig-zag "
                  f"sigmoid - tanh {zz:+.2f} [{zz_ci[0]:+.2f}, {zz_ci[1]:+.2f}]; saturated units at most "
                  f"{saturated:.0%}",
        "details": details,
        "plot": {"depth": ref, "norms": {a: C.as_list(at_init[(ref, a)][0].mean(axis=0)) for a in ACTIVATIONS},
                 "norms_trained": {a: C.as_list(trained[a][0].mean(axis=0)) for a in ACTIVATIONS},
                 "saturated": {a: C.as_list(trained[a][1].mean(axis=0)) for a in ACTIVATIONS},
                 "zigzag": {a: [float(zig[a].mean()), float(zig_trained[a].mean())] for a in ACTIVATIONS}},
    }


def verdict(result: dict) -> str:
    low, high = result["ci95"]
    zlow, zhigh = result["zigzag"]["ci95"]
    if high < VANISHED and zlow > 0:
        return "supported"
    if low > VANISHED or zhigh < 0:
        return "contradicted"
    return "inconclusive"


def figure(result: dict, path: str) -> None:
    plot = result["plot"]
    fig, (ax_g, ax_s, ax_z) = plt.subplots(1, 3, figsize=(14, 4))
    for act in plot["norms"]:
        (line,) = ax_g.plot(np.arange(1, len(plot["norms"][act]) + 1), plot["norms"][act], marker="o", label=f"{act}, init")
        ax_g.plot(np.arange(1, len(plot["norms_trained"][act]) + 1), plot["norms_trained"][act], ls="--",
                  color=line.get_color(), label=f"{act}, trained")
        ax_s.plot(np.arange(1, len(plot["saturated"][act]) + 1), plot["saturated"][act], marker="o", label=act)
    ax_g.set_yscale("log")
    ax_g.set_xlabel("hidden layer")
    ax_g.set_ylabel("weight-gradient RMS (mean over seeds)")
    ax_s.set_xlabel("hidden layer")
    ax_s.set_ylabel("saturated fraction after training")
    names = list(plot["zigzag"])
    for i, when in enumerate(("init", "trained")):
        ax_z.bar(np.arange(len(names)) + 0.4 * i, [plot["zigzag"][a][i] for a in names], width=0.4, label=when)
    ax_z.set_xticks(np.arange(len(names)) + 0.2, names)
    ax_z.set_ylabel("zig-zag: one-sign gradient fraction (layer 2)")
    for ax in (ax_g, ax_s, ax_z):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"{TITLE} (depth {plot['depth']})", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
