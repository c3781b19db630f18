"""The self-normalization depth study: does SELU + LeCun-normal keep every layer at mean 0, variance 1?

    python -m experiments.selfnorm_depth               # default grid, a few minutes on 2 CPU cores (7 programs; a rerun reads the theory from --cache-dir)
    python -m experiments.selfnorm_depth --quick       # ~30 s, a small version of everything
    python -m experiments.selfnorm_depth --full        # depth 1000, width 1024 (to 4096), 8 seeds: one 16 GB GPU
    python -m experiments.selfnorm_depth --activations "selu,leaky_relu(negative_slope=[0.01,0.2])"

Writes ``results.json`` (schema below), figures (PNG) and ``report.md`` to ``--out``
(default ``results/selfnorm_depth``), and prints a summary table.

What it should show: SELU with LeCun-normal weights and standardized inputs stays within
|mean| < 0.1 and 0.8 < variance < 1.25 at every layer, following the mean-field prediction;
unnormalized inputs are pulled back to (0, 1) within ~30 layers; He init, skip connections and
most other activations drift away (ReLU + LeCun halves the second moment each layer). Beside every
curve, the finite-width theory (``jaxacts.theory.finite_width_many``) predicts the band that 95% of
networks of this width fall in: narrow where a fixed point attracts (SELU + LeCun), growing like
sqrt(5 depth / width) in log q for ReLU + He; the summary gives the fraction of each seed's layers
inside it and the measured against predicted spread of log q at the last layer.

How it runs: the activation (with its hyperparameters, scale and shift), the initializer and dropout
are runtime data of the probe (``jaxacts.probe.ProbeParams``), so every configuration of one network
shape (width, depth, architecture, input shape) runs on one compiled program: the default grid of 68
configurations compiles 7 programs. A program whose residuals would pass ``REMAT_ABOVE_BYTES`` (4 GiB)
rematerializes blocks of ~sqrt(depth) layers, so its memory grows like sqrt(depth) (``jaxacts.probe``).
``--full`` (width 1024, depth 1000, batch 512, 8 seeds; widths 64 to 4096; heatmap at depth 300) then
plans at most 6.2 GiB per program (its width-4096 run; 1.2 GiB at width 1024; measured by XLA's
memory analysis on CPU: ``python -m benchmarks.probe_memory --full``), so it fits one GPU with 16 GB.

results.json schema:
  criterion: the rule behind each verdict (text)
  environment: backend, device count, jax version
  config: the StudyConfig used
  theory: SELU constants derived from scratch, the Jacobian of the SELU map at (0, 1) and its
          spectral norm, alpha-dropout constants, and self-normalizing (scale, shift) of other activations
  runs: list of {label, group, settings{activation, init, input, architecture, dropout, width, depth, seeds,
        dtype, backend, device_count, scale, shift, key_data}, layers{<statistic>: {mean: [...], std: [...]}}
        (over seeds; second_moment, var and grad_norm also {seeds: [[...] per seed]}), theory or null,
        summary{final_mean, final_var, max_deviation, band_coverage, log_q_last, self_normalizing,
        verdict_per_seed, seed_agreement}}
        - theory (jaxacts.theory.finite_width_many; skip_finite_width_layers for skip connections; null with
          dropout): model, batch_model ("analytic", or "gram chain" where the inputs spread apart and the batch
          is pooled by theory.simulate_gram_chain, gradients included; absent for skip connections), mean-field
          lines {mean, var,
          second_moment, pre_var, grad_norm}, the distribution of the pooled log second moment over networks
          {pooled_log_q_mean, pooled_log_q_std} (one input's:
          log_q_mean, log_q_std), of log grad_norm {log_grad_norm_mean, log_grad_norm_std}, and 95% bands
          [[low...], [high...]]: second_moment_band, var_band, mean_band, grad_norm_band
        - band_coverage: {second_moment, var, grad_norm}: the fraction of (seed, layer) values inside the band,
          over the <statistic>_layers layers where the band is finite and every seed's value is finite and at
          least MEASURABLE = 1e-33 (the gradient norm's square): below, float32 squares are rounding (null
          without theory)
        - log_q_last: {measured_mean, measured_std, predicted_mean, predicted_std} of the log second moment
          at the last layer over networks (measured: over the seeds, std with ddof 1)
        - self_normalizing: the criterion on the seed-averaged curves; verdict_per_seed: the criterion on
          each seed's own curves; seed_agreement: the fraction of seeds whose verdict equals the averaged one
        - key_data: the number folded into PRNGKey(seed) for this configuration: a hash of its label, probe
          settings and input, so its networks and inputs do not depend on what else is in the grid
  programs: number of distinct compiled probe programs the run needed
  theory_seconds: wall time of the theory (all runs, in a thread beside the probe); seconds: wall time of the
          runs, theory included; timing: {probe, theory, theory_wait (after the probe), theories_computed,
          theories_cached (distinct theories computed, and read from --cache-dir)}

The file is strict JSON: a value that is not finite (a statistic that overflowed to inf or became NaN) is
written as null.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import os
import threading
import time
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from experiments import outputs, selfnorm_figures
from experiments.selfnorm_figures import summary_table
from jaxacts import cli, distributed, initializers, theory
from jaxacts.specs import expand_spec, split_top_level
from jaxacts.probe import ProbeConfig, ProbeShape, probe_params, probe_shape, seeded_network_stats

CRITERION = ("self-normalizing: in every layer of the second half of the network, the pooled activation "
             "mean (averaged over seeds) has |mean| < 0.1 and the pooled variance lies in (0.8, 1.25); "
             "the first half is left free so that unnormalized inputs may converge")


@dataclasses.dataclass(frozen=True)
class StudyConfig:
    out: str = "results/selfnorm_depth"
    width: int = 256
    depth: int = 200
    batch: int = 128
    seeds: int = 3
    seed: int = 0
    activations: tuple[str, ...] = ("selu", "relu", "leaky_relu", "elu", "tanh", "sigmoid", "gelu", "silu", "mish")
    inits: tuple[str, ...] = ("lecun_normal", "he_normal", "glorot_normal", "lecun_uniform", "uniform:0.058")
    heatmap_depth: int = 100
    widths: tuple[int, ...] = (64, 256, 1024)
    conv_channels: int = 32
    image_size: int = 8
    variants: tuple[str, ...] = ("tanh", "elu", "gelu", "silu", "mish")
    cache_dir: str = os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "jaxacts")


HELP = {
    "out": "output directory (must not hold an earlier results.json unless --overwrite)",
    "width": "units per layer of the depth-curve networks",
    "depth": "layers of the depth-curve networks",
    "batch": "inputs per network",
    "seeds": "random networks per configuration (side by side on GPUs, in turn on CPUs; sharded over devices)",
    "seed": "base PRNG seed",
    "activations": "activations for the activation x init heatmap, with hyperparameters if wanted: "
                   "'selu,leaky_relu(negative_slope=0.2)'; a list value is a sweep: 'elu(alpha=[0.5,1.0])'",
    "inits": "initializer names for the heatmap (uniform:A is U(-A, A))",
    "heatmap_depth": "depth of the heatmap networks",
    "widths": "widths of the finite-width runs (SELU + LeCun, ReLU + He, tanh + LeCun)",
    "conv_channels": "channels of the convolutional variant",
    "image_size": "image side of the convolutional variant",
    "variants": "activations to scale-and-shift into self-normalizing variants",
    "cache_dir": "folder of the theory's results and XLA's compiled programs from earlier runs, reused when "
                 "their settings and code match ('' for none)",
}

QUICK = dict(width=64, depth=24, batch=32, seeds=2, activations=("selu", "relu", "tanh"),
             inits=("lecun_normal", "he_normal"), heatmap_depth=12, widths=(32, 64), conv_channels=8, image_size=4,
             variants=("tanh", "elu"))
FULL = dict(width=1024, depth=1000, batch=512, seeds=8, heatmap_depth=300, widths=(64, 256, 1024, 4096),
            conv_channels=128, image_size=16)


@dataclasses.dataclass(frozen=True)
class Run:
    label: str
    group: str  # "curves", "heatmap" or "width"
    probe: ProbeConfig
    input: str  # "gaussian:MEAN:VAR", "digits" (standardized) or "pixels" (digits at 0..255)


# ----------------------------------------------------------------------------- inputs


def make_inputs(spec: str, rng: np.random.Generator, batch: int, features: int,
                image_size: int | None = None) -> np.ndarray:
    """Input batch for a spec: Gaussian with a given mean and variance, or scikit-learn digits.

    Drawn with NumPy: a jax.random draw would compile once per input shape, for no benefit here.
    """
    if spec.startswith("gaussian"):
        _, mean, var = spec.split(":")
        shape = (batch, image_size, image_size, features) if image_size else (batch, features)
        return (float(mean) + math.sqrt(float(var)) * rng.standard_normal(shape)).astype(np.float32)
    from sklearn.datasets import load_digits  # bundled with scikit-learn: no download

    full = load_digits().data.astype(np.float32)  # values 0..16
    x = full[rng.choice(full.shape[0], min(batch, full.shape[0]), replace=False)]
    if spec == "pixels":
        return x * (255.0 / 16.0)
    if spec == "digits":
        return (x - full.mean(0)) / (full.std(0) + 1e-6)  # constant pixels stay 0
    raise ValueError(f"unknown input {spec!r}: use gaussian:MEAN:VAR, digits or pixels")


# ----------------------------------------------------------------------------- the grid


@functools.cache
def _variant(name: str) -> theory.SelfNormalizingVariant:
    """theory.self_normalizing_variant, solved once per activation (the grid and the theory section both ask)."""
    return theory.self_normalizing_variant(name)


def build_runs(c: StudyConfig) -> list[Run]:
    g = "gaussian:0:1"
    P = lambda **kw: ProbeConfig(**{"width": c.width, "depth": c.depth, **kw})
    runs = [
        Run("SELU, LeCun, N(0,1) input", "curves", P(), g),
        Run("SELU, input N(1,4)", "curves", P(), "gaussian:1:4"),
        Run("SELU, input N(0,16)", "curves", P(), "gaussian:0:16"),
        Run("SELU, input N(0,0.02)", "curves", P(), "gaussian:0:0.02"),
        Run("SELU, digits (standardized)", "curves", P(), "digits"),
        Run("SELU, digits (raw pixels 0..255)", "curves", P(), "pixels"),
        Run("SELU, He normal", "curves", P(init="he_normal"), g),
        Run("SELU, skip connections", "curves", P(architecture="skip"), g),
        Run("SELU, alpha dropout 0.05", "curves", P(dropout="alpha", dropout_rate=0.05), g),
        Run("SELU, alpha dropout 0.1", "curves", P(dropout="alpha", dropout_rate=0.1), g),
        Run("SELU, standard dropout 0.1", "curves", P(dropout="standard", dropout_rate=0.1), g),
        Run("SELU CNN, LeCun", "curves", P(architecture="conv", width=c.conv_channels), g),
        Run("ReLU, LeCun", "curves", P(activation="relu"), g),
        Run("ReLU, He", "curves", P(activation="relu", init="he_normal"), g),
        Run("tanh, LeCun", "curves", P(activation="tanh"), g),
    ]
    for name in c.variants:
        v = _variant(name)
        runs.append(Run(f"{name} scaled to (0,1) [{v.scale:.3f} f + {v.shift:+.3f}]", "curves",
                        P(activation=name, scale=v.scale, shift=v.shift), g))
    for act in c.activations:
        for init in c.inits:
            runs.append(Run(f"{act} / {init}", "heatmap", P(activation=act, init=init, depth=c.heatmap_depth), g))
    for w in c.widths:  # finite width: the spread of log q against depth / width
        runs.append(Run(f"SELU, width {w}", "width", P(width=w), g))
        runs.append(Run(f"ReLU, He, width {w}", "width", P(activation="relu", init="he_normal", width=w), g))
        runs.append(Run(f"tanh, LeCun, width {w}", "width", P(activation="tanh", width=w), g))
    return runs


# ----------------------------------------------------------------------------- programs


def input_shape(c: StudyConfig, run: Run) -> tuple[int, ...]:
    """The shape of ``make_inputs`` for ``run``."""
    p = run.probe
    if p.architecture == "conv":
        # Each image holds image_size^2 positions, so the CNN needs fewer examples for the same statistics.
        return (max(4, c.batch // c.image_size), c.image_size, c.image_size, p.width)
    if run.input in ("digits", "pixels"):
        return (min(c.batch, _DIGITS_COUNT), _DIGITS_FEATURES)
    return (c.batch, p.width)


_DIGITS_COUNT, _DIGITS_FEATURES = 1797, 64  # scikit-learn's digits: 1797 images of 8 x 8 pixels


def plan(c: StudyConfig) -> list[tuple[Run, ProbeShape, tuple[int, ...]]]:
    """Every run with its program's static shape and its input shape. Runs of equal width, depth,
    architecture and input shape share one program, which can do what each of them needs."""
    runs = build_runs(c)
    group = lambda run: (run.probe.width, run.probe.depth, run.probe.architecture, input_shape(c, run))
    groups: dict[tuple, list[ProbeConfig]] = {}
    for run in runs:
        groups.setdefault(group(run), []).append(run.probe)
    shapes = {key: probe_shape(configs, key[-1], c.seeds) for key, configs in groups.items()}
    return [(run, shapes[group(run)], input_shape(c, run)) for run in runs]


# ----------------------------------------------------------------------------- running


def key_data(run: Run) -> int:
    """A 32-bit number from the run's own settings (label, probe configuration, input), stable across
    processes and grids: what its PRNG keys derive from, so a configuration's result does not depend
    on its position in the grid or on the other configurations."""
    text = json.dumps([run.label, dataclasses.asdict(run.probe), run.input], sort_keys=True)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")


def _seed_keys(c: StudyConfig, run: Run):
    """The run's seed keys; with several devices (every process's), sharded over them, the seed axis padded
    to a multiple of the device count with copies of the last key (their results are dropped), so that
    each device probes its share and no process repeats another's work."""
    data = _key_program(c.seeds, jax.device_count())(np.int32(c.seed), np.uint32(key_data(run)))
    return jax.random.wrap_key_data(data)


@functools.lru_cache(maxsize=None)
def _key_program(seeds: int, devices: int):
    """(seed, key data) -> the seed keys' raw data: one compiled program per seed count and device count,
    however many configurations ask (a closure jitted per call would compile per configuration). Raw
    uint32 data, not typed keys: a fresh program's first typed-key output holds its sharding as
    P('seed', None) and later ones as P('seed'), which are equal in effect but not in the probe's cache,
    so the probe would compile a second, identical program."""
    def keys(seed, data):
        k = jax.random.key_data(jax.random.split(jax.random.fold_in(jax.random.key(seed), data), seeds))
        pad = -seeds % devices
        return jnp.concatenate([k, jnp.repeat(k[-1:], pad, axis=0)]) if pad else k

    if devices == 1:
        return jax.jit(keys)
    mesh = jax.sharding.Mesh(np.array(jax.devices()), ("seed",))
    # Made on their sharding: on several hosts, keys made on one device could not be moved to it.
    return jax.jit(keys, out_shardings=jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("seed")))


def _theory_inputs(run: Run, inputs: np.ndarray) -> np.ndarray:
    """What the theory takes as the batch: the inputs as (batch, features), float64. For the CNN, every
    position's 3 x 3 circular patch is one input of a dense layer (fan-in 9 x channels)."""
    x = inputs.astype(np.float64)
    if run.probe.architecture != "conv":
        return x
    hp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="wrap")
    size = x.shape[1]
    patches = [hp[:, i:i + size, j:j + size, :] for i in range(3) for j in range(3)]
    return np.concatenate(patches, axis=-1).reshape(-1, 9 * x.shape[-1])


def _gains(run: Run, features: int) -> tuple[float, float]:
    """sigma_w^2 of the first layer and of the later ones: fan-in x the probe's weight variance."""
    p = run.probe
    shape = ProbeShape(p.width, p.depth, p.architecture)
    fan = lambda f: 9 * f if p.architecture == "conv" else f
    return tuple(fan(f) * initializers.weight_std(p.init, shape.kernel_shape(f)) ** 2 for f in (features, p.width))


def theory_for_runs(runs: Sequence[Run], inputs: Sequence[np.ndarray], cache: str | None = None,
                    counts: dict | None = None) -> list[dict | None]:
    """Mean-field lines and finite-width 95% bands for every run (None where the theory has no model:
    dropout). Plain and CNN runs go through ``theory.finite_width_many`` (one compiled program, one call
    per activation); the CNN is approximated as a dense network of width = channels over its patches.
    Skip connections use ``theory.skip_finite_width_layers``.

    ``cache``: a folder of earlier results. Each run's theory is stored under a hash of everything it depends
    on (the activation, scale and shift, gains, width, depth, the batch's bytes, the coverage, and the code of
    the theory and the activations with the JAX version), so a rerun takes it from there; runs with equal
    settings are computed once either way. ``counts``, if given, receives how many distinct theories were
    computed and how many read from the cache."""
    out: list[dict | None] = [None] * len(runs)
    todo: dict[str, list[int]] = {}  # cache key -> the runs that need it
    dense, skip = {}, {}
    for i, (run, x) in enumerate(zip(runs, inputs)):
        p = run.probe
        if p.dropout != "none" and p.dropout_rate > 0:
            continue
        act = theory.ScaledActivation(p.activation, p.scale, p.shift)
        first, hidden = _gains(run, x.shape[-1])
        x = _theory_inputs(run, x)
        key = _theory_key(p, first, hidden, x)
        if key in todo:
            todo[key].append(i)
            continue
        todo[key] = [i]
        if cache is not None and (hit := _cache_read(cache, key)) is not None:
            out[i] = hit
        elif p.architecture == "skip":
            skip[key] = (act, x, p, first, hidden)
        else:
            model = "conv (as dense over patches)" if p.architecture == "conv" else "plain"
            dense[key] = (model, theory.FiniteWidthNetwork(act, x, p.depth, p.width, hidden, first_sigma_w2=first))
    computed = {}
    for key, (act, x, p, first, hidden) in skip.items():
        computed[key] = {"model": "skip", **theory.skip_finite_width_layers(
            act, float(np.mean(x * x)), p.depth, p.width, hidden, input_mean=float(np.mean(x)),
            first_sigma_w2=first, first_residual=x.shape[-1] == p.width, coverage=COVERAGE)}
    if dense:
        for (key, (model, _)), res in zip(dense.items(), theory.finite_width_many([n for _, n in dense.values()],
                                                                                 COVERAGE)):
            computed[key] = {"model": model, **res}
    for key, res in computed.items():
        if cache is not None and distributed.is_writer():
            _cache_write(cache, key, res)
    if counts is not None:
        counts.update(computed=len(computed), cached=len(todo) - len(computed))
    for key, indices in todo.items():
        res = computed.get(key, out[indices[0]])
        for i in indices:
            out[i] = res
    return out


@functools.cache
def _code_version() -> str:
    """A hash of the code the theory's numbers depend on, and of the JAX version: a changed formula is a cache miss."""
    from jaxacts._src import activations, elementwise, registry
    from jaxacts._src import theory as theory_src

    h = hashlib.sha256(jax.__version__.encode())
    for module in (theory_src, activations, elementwise, registry):
        with open(module.__file__, "rb") as fh:
            h.update(fh.read())
    return h.hexdigest()


def _theory_key(p: ProbeConfig, first: float, hidden: float, x: np.ndarray) -> str:
    text = json.dumps([_code_version(), p.activation, p.scale, p.shift, p.architecture, p.depth, p.width, first,
                       hidden, COVERAGE, list(x.shape), hashlib.sha256(np.ascontiguousarray(x).tobytes()).hexdigest()])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _cache_read(cache: str, key: str) -> dict | None:
    """The stored theory of ``key``, or None (absent, or unreadable: then it is computed again and rewritten)."""
    try:
        with np.load(os.path.join(cache, f"{key}.npz"), allow_pickle=False) as f:
            return {k: (str(v) if v.dtype.kind == "U" else v) for k, v in f.items()}
    except Exception:  # absent, truncated or damaged (OSError, zipfile.BadZipFile, ValueError, ...): a miss
        return None


def _cache_write(cache: str, key: str, result: dict) -> None:
    """Stores ``result`` (arrays and strings) atomically; a cache that cannot be written is skipped."""
    path = os.path.join(cache, f"{key}.npz")
    tmp = f"{path}.tmp{os.getpid()}.npz"
    try:
        os.makedirs(cache, exist_ok=True)
        np.savez(tmp, **{k: np.asarray(v) for k, v in result.items()})
        os.replace(tmp, path)
    except OSError:
        pass
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


COVERAGE = 0.95  # the finite-width bands hold this fraction of networks


def self_normalizing(mean: np.ndarray, var: np.ndarray) -> bool:
    """CRITERION for one curve of per-layer means and variances."""
    mean, var = np.asarray(mean, np.float64), np.asarray(var, np.float64)
    half = slice(len(mean) // 2, None)
    finite = bool(np.all(np.isfinite(mean)) and np.all(np.isfinite(var)))
    return finite and bool(np.all(np.abs(mean[half]) < 0.1) and np.all((var[half] > 0.8) & (var[half] < 1.25)))


# The smallest mean of float32 squares read as a measurement: then all but ~0.3% of the units' own squares are
# still normal floats (>= 1.2e-38); below it they round to denormals and zeros.
MEASURABLE = 1e-33


def _measurable(seeds: np.ndarray, squared: bool = False) -> np.ndarray:
    """(layers,) whether every seed's value is finite and at least ``MEASURABLE`` (its square if ``squared``)."""
    seeds = np.asarray(seeds, np.float64)
    with np.errstate(over="ignore"):
        size = seeds**2 if squared else seeds
    return np.all(np.isfinite(seeds) & (size >= MEASURABLE), axis=0)


def _coverage(seeds: np.ndarray, band, usable: np.ndarray | None = None) -> tuple[float | None, int]:
    """Fraction of the (seed, layer) values inside [low, high] over the layers where the band is finite and
    ``usable`` (by default, where every seed's value is measurable: ReLU + LeCun's 2^-200 is a float32
    underflow, not a network's value). Also how many layers that is."""
    seeds = np.asarray(seeds, np.float64)
    low, high = (np.asarray(b, np.float64) for b in band)
    usable = _measurable(seeds) if usable is None else usable
    usable = usable & np.isfinite(low) & np.isfinite(high)
    if not usable.any():
        return None, 0
    inside = (seeds[:, usable] >= low[usable]) & (seeds[:, usable] <= high[usable])
    return float(inside.mean()), int(usable.sum())


def _summary(layers: dict, theory_layers: dict | None, seed_mean: np.ndarray | None = None,
             seed_var: np.ndarray | None = None) -> dict:
    """The run's summary; ``seed_mean``, ``seed_var`` (seeds, depth) give the verdict of each seed.

    With a theory: ``band_coverage``, the fraction of every seed's layers whose measured statistic lies in
    the predicted 95% band (second moment, variance, gradient norm; over the layers where both are finite),
    and ``log_q_last``: mean and std over seeds of the log second moment at the last layer, measured and
    predicted."""
    mean = np.asarray(layers["mean"]["mean"], np.float64)
    var = np.asarray(layers["var"]["mean"], np.float64)
    ok = self_normalizing(mean, var)
    with np.errstate(all="ignore"):
        deviation = np.maximum(np.abs(mean), np.abs(var - 1.0))
    out = {
        "final_mean": float(mean[-1]), "final_var": float(var[-1]),
        "max_deviation": float(np.max(deviation)),  # NaN in any layer makes it unknown (null), not smaller
        "self_normalizing": ok, "band_coverage": None, "log_q_last": None,
    }
    if seed_mean is not None:
        verdicts = [self_normalizing(m, v) for m, v in zip(seed_mean, seed_var)]
        out["verdict_per_seed"] = verdicts
        out["seed_agreement"] = sum(v == ok for v in verdicts) / len(verdicts)
    if theory_layers is not None and "seeds" in layers["second_moment"]:
        coverage = {}
        for stat in ("second_moment", "var", "grad_norm"):
            usable = _measurable(layers[stat]["seeds"], squared=True) if stat == "grad_norm" else None
            frac, count = _coverage(layers[stat]["seeds"], theory_layers[f"{stat}_band"], usable)
            coverage[stat] = frac
            coverage[f"{stat}_layers"] = count
        out["band_coverage"] = coverage
        with np.errstate(all="ignore"):  # an overflowed or underflowed seed makes them unknown (null)
            last = np.log(np.asarray(layers["second_moment"]["seeds"], np.float64)[:, -1])
            measured = (float(np.mean(last)), float(np.std(last, ddof=1)) if last.size > 1 else math.nan)
        out["log_q_last"] = {"measured_mean": measured[0], "measured_std": measured[1],
                             "predicted_mean": float(theory_layers["pooled_log_q_mean"][-1]),
                             "predicted_std": float(theory_layers["pooled_log_q_std"][-1])}
    return out


def run_study(c: StudyConfig, progress: bool = True, cache: str | None = None) -> dict:
    """Runs every configuration; returns the results dictionary (also what results.json holds).

    The theory needs only the inputs, so it runs in a second thread while the probe runs (``cache``: see
    ``theory_for_runs``); ``timing`` in the result splits the wall time."""
    # One jitted function: each distinct ProbeShape (and input shape) compiles once, and every later
    # run of that shape reuses the program with its own ProbeParams.
    # (A fresh function, so that its cache counts this study's programs only.)
    probe = jax.jit(lambda *args: seeded_network_stats(*args), static_argnums=1)
    t0 = time.time()
    planned = plan(c)
    inputs = []
    for run, _, in_shape in planned:
        p = run.probe
        rng = np.random.default_rng([c.seed + 1, key_data(run)])
        x = make_inputs(run.input, rng, in_shape[0], p.width, c.image_size if p.architecture == "conv" else None)
        assert x.shape == in_shape, (x.shape, in_shape)
        inputs.append(x)
    counts: dict[str, int] = {}
    theory_thread = _Background(theory_for_runs, [run for run, _, _ in planned], inputs, cache, counts)
    measured = []
    for (run, shape, _), x in zip(tqdm(planned, desc="depth study", disable=not progress), inputs):
        params = probe_params(run.probe, shape, x.shape[-1], x.dtype)
        stats = distributed.to_host(probe(_seed_keys(c, run), shape, params, jnp.asarray(x)))
        measured.append((run, x, {k: np.asarray(v[:c.seeds], np.float64) for k, v in stats.items()}))
    probe_seconds = time.time() - t0
    theories = theory_thread.result()
    results = []
    for (run, inputs, stats), th in zip(measured, theories):
        p = run.probe
        with np.errstate(all="ignore"):  # exploding runs (skip connections) may reach inf
            layers = {k: {"mean": v.mean(0).tolist(), "std": v.std(0).tolist()} for k, v in stats.items()}
        for k in SEED_CURVES:
            layers[k]["seeds"] = stats[k].tolist()
        th = None if th is None else {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in th.items()}
        results.append({
            "label": run.label, "group": run.group,
            "settings": {"activation": p.activation, "init": p.init, "input": run.input,
                         "architecture": p.architecture, "dropout": p.dropout, "dropout_rate": p.dropout_rate,
                         "width": p.width, "depth": p.depth, "seeds": c.seeds, "batch": int(inputs.shape[0]),
                         "dtype": str(inputs.dtype), "scale": p.scale, "shift": p.shift,
                         "backend": jax.default_backend(), "device_count": jax.device_count(),
                         "key_data": key_data(run)},
            "layers": layers, "theory": th, "summary": _summary(layers, th, stats["mean"], stats["var"]),
        })
    return {"criterion": CRITERION,
            "environment": {"backend": jax.default_backend(), "device_count": jax.device_count(),
                            "jax_version": jax.__version__},
            "config": dataclasses.asdict(c), "theory": theory_section(c), "runs": results,
            "programs": probe._cache_size(), "theory_seconds": theory_thread.seconds,
            "timing": {"probe": probe_seconds, "theory": theory_thread.seconds,
                       "theory_wait": max(0.0, time.time() - t0 - probe_seconds), **{
                           f"theories_{k}": v for k, v in counts.items()}}}


class _Background:
    """``fn(*args)`` in a daemon thread (a Ctrl-C in the main thread is not held up by it); ``result()`` waits
    for it and re-raises its exception."""

    def __init__(self, fn, *args):
        self._value, self._error, self.seconds = None, None, 0.0

        def target():
            t0 = time.time()
            try:
                self._value = fn(*args)
            except BaseException as e:  # re-raised in the caller's thread
                self._error = e
            self.seconds = time.time() - t0

        self._thread = threading.Thread(target=target, daemon=True)
        self._thread.start()

    def result(self):
        while self._thread.is_alive():
            self._thread.join(0.1)  # short waits, so that a KeyboardInterrupt is seen
        if self._error is not None:
            raise self._error
        return self._value


SEED_CURVES = ("second_moment", "var", "grad_norm")  # statistics kept per seed (the bands' coverage)


def theory_section(c: StudyConfig) -> dict:
    alpha, lam = theory.selu_constants()
    alpha02, lam02 = theory.selu_constants(0.0, 2.0)
    jac = np.asarray(theory.map_jacobian("selu_closed_form", 0.0, 1.0))
    variants = {}
    for name in dict.fromkeys(("elu",) + tuple(c.variants)):
        v = _variant(name)
        variants[name] = {"scale": v.scale, "shift": v.shift, "jacobian": v.jacobian,
                          "spectral_norm": v.spectral_norm, "attracting": v.attracting}
    return {
        "selu_alpha_01": alpha, "selu_lambda_01": lam, "selu_alpha_02": alpha02, "selu_lambda_02": lam02,
        "selu_jacobian_at_0_1": jac.tolist(), "selu_spectral_norm_at_0_1": theory.spectral_norm(jac),
        "selu_chi_1": theory.chi_1("selu", 1.0),
        "alpha_dropout": {str(r): dict(zip(("alpha_prime", "a", "b"), theory.alpha_dropout_affine(r)))
                          for r in (0.05, 0.1)},
        "self_normalizing_variants": variants,
    }


# ----------------------------------------------------------------------------- output


def strict_json(value):
    """``value`` with every non-finite float replaced by None and NumPy scalars by Python ones (strict JSON)."""
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def write_outputs(results: dict, out: str) -> list[str]:
    """Writes results.json (strict JSON: non-finite values as null), the figures and report.md to ``out``
    as one set (``experiments.outputs``): a kill leaves the earlier set or this one, never a mix."""
    results = strict_json(results)
    with outputs.output_set(out) as staging:
        return outputs.render(staging, "results.json", results, selfnorm_figures.draw_all, selfnorm_figures.report)


def validate(c: StudyConfig) -> None:
    """Raises ValueError for values the study cannot run, before any work."""
    for name in ("width", "depth", "batch", "seeds", "heatmap_depth", "conv_channels", "image_size"):
        if getattr(c, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(c, name)}")
    if not 0 <= c.seed < 2**31:  # jax.random.key takes a 32-bit seed
        raise ValueError(f"--seed must be 0 to 2^31 - 1, got {c.seed}")
    for name in ("activations", "inits", "widths", "variants"):
        if not getattr(c, name):
            raise ValueError(f"--{name} is empty; give at least one (default: {','.join(map(str, getattr(StudyConfig, name)))})")
    if any(w < 1 for w in c.widths):
        raise ValueError(f"--widths must all be >= 1, got {','.join(map(str, c.widths))}")
    for name in c.variants:
        try:
            ProbeConfig(activation=name)  # an unknown or non-elementwise name raises ValueError
        except ValueError as e:
            raise ValueError(f"--variants: {e}")
        try:
            v = _variant(name)
        except (ArithmeticError, ValueError) as e:
            raise ValueError(f"--variants {name}: no self-normalizing scale and shift ({e})")
        if not (math.isfinite(v.scale) and math.isfinite(v.shift)):
            raise ValueError(f"--variants {name}: no finite self-normalizing scale and shift")
    build_runs(dataclasses.replace(c, variants=()))  # validates activations and initializers


def prepare_out(out: str, overwrite: bool) -> None:
    """Creates the output folder and checks that it can be written, before any work."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise SystemExit(f"error: --out {out} is an existing file, not a folder")
    if os.path.exists(os.path.join(out, "results.json")) and not overwrite:
        raise SystemExit(f"error: {out}/results.json exists; choose another --out or pass --overwrite")
    probe_file = os.path.join(out, f".write-test-{jax.process_index()}-{os.getpid()}")
    try:
        os.makedirs(out, exist_ok=True)
        with open(probe_file, "w") as fh:
            fh.write("ok")
        os.remove(probe_file)
    except OSError as e:
        raise SystemExit(f"error: cannot write to --out {out}: {e.strerror or e}")


def config_from_argv(argv: Sequence[str] | None) -> tuple[StudyConfig, bool]:
    """The StudyConfig of a command line (presets applied, values validated) and whether --overwrite was given."""
    def extra(parser):
        parser.add_argument("--quick", action="store_true", help="a small version of everything (seconds)")
        parser.add_argument("--full", action="store_true", help="depth 1000, width 1024 (for a GPU/TPU)")
        parser.add_argument("--overwrite", action="store_true", help="replace results already in --out")
        distributed.add_flags(parser)

    args = cli.parse(StudyConfig, argv, __doc__, HELP, extra)
    distributed.initialize(args)  # before any JAX computation (validating the variants runs some)
    if args.quick and args.full:
        raise SystemExit("error: --quick and --full exclude each other")
    preset = QUICK if args.quick else FULL if args.full else {}
    # A preset changes only the flags not on the command line (a flag given with its default value included).
    given = cli.given_flags(StudyConfig, argv, __doc__, HELP, extra)
    chosen = {k: v for k, v in preset.items() if k not in given}
    try:
        # The comma-list flags split inside brackets too: rejoin and split at top-level commas, and
        # expand swept hyperparameters ('elu(alpha=[0.5,1.0])') into one activation per value.
        if "activations" not in chosen:
            specs = split_top_level(",".join(args.activations))
            chosen["activations"] = tuple(s for spec in specs for s in expand_spec(spec))
        c = cli.config_from_args(StudyConfig, args, **chosen)
        validate(c)
    except (ValueError, TypeError) as e:
        raise SystemExit(f"error: {e}")
    return c, args.overwrite


def open_cache(cache_dir: str) -> str | None:
    """The usable cache folder for ``--cache-dir`` (None if '' or not writable); XLA's persistent compilation
    cache goes in its ``xla`` subfolder, the theory's results in ``theory``."""
    if not cache_dir:
        return None
    cache = os.path.expanduser(cache_dir)
    try:
        os.makedirs(os.path.join(cache, "theory"), exist_ok=True)
    except OSError as e:
        print(f"note: --cache-dir {cache_dir} cannot be written ({e.strerror or e}); running without a cache")
        return None
    jax.config.update("jax_compilation_cache_dir", os.path.join(cache, "xla"))
    # Every program, not only those over JAX's default 1 s of compile time: the study's ~90 small programs
    # (key splits, moments, the theory's pieces) took 11 s to compile, which a rerun now skips.
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    return cache


def main(argv: Sequence[str] | None = None) -> dict:
    """Runs the study of a command line; returns the results as written to results.json (strict JSON)."""
    c, overwrite = config_from_argv(argv)
    try:
        distributed.same_path(c.out)
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None
    distributed.agree(lambda: prepare_out(c.out, overwrite))
    writer = distributed.is_writer()
    cache = open_cache(c.cache_dir)
    processes = f" on {jax.process_count()} processes" if jax.process_count() > 1 else ""
    if writer:
        print(f"backend: {jax.default_backend()}, devices: {jax.device_count()}{processes}, "
              f"width {c.width}, depth {c.depth}, {c.seeds} seeds")
    t0 = time.time()
    results = run_study(c, progress=writer, cache=cache and os.path.join(cache, "theory"))
    results["seconds"] = time.time() - t0
    if not writer:  # every process probed its share of the seeds; process 0 writes
        return strict_json(results)
    t1 = time.time()
    figures = write_outputs(results, c.out)
    results = strict_json(results)
    print(summary_table(results))
    timing = results["timing"]
    print(f"\n{len(results['runs'])} configurations ({results['programs']} compiled programs) in "
          f"{results['seconds']:.0f} s (probe {timing['probe']:.0f} s; theory {timing['theory']:.0f} s beside it, "
          f"{timing['theories_computed']} computed, {timing['theories_cached']} from the cache"
          f"{f' in {cache}' if cache else ''}); figures and report {time.time() - t1:.0f} s; wrote "
          f"{c.out}/results.json, {c.out}/report.md and {len(figures)} figures")
    return results


if __name__ == "__main__":
    main()
