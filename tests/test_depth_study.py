"""The depth probe and the study: the findings the issue lists, with fixed seeds, and the CLI end to end."""

from __future__ import annotations

import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxacts import theory
from jaxacts.initializers import initializer, weight_variance_gain
from jaxacts.probe import ProbeConfig, seeded_layer_stats


def probe(config: ProbeConfig, seeds=3, batch=128, input_mean=0.0, input_var=1.0, seed=0):
    x = input_mean + jnp.sqrt(input_var) * jax.random.normal(jax.random.key(seed + 100), (batch, config.width))
    keys = jax.random.split(jax.random.key(seed), seeds)
    stats = jax.jit(seeded_layer_stats, static_argnums=1)(keys, config, x)
    return {k: np.asarray(v, np.float64) for k, v in stats.items()}


def test_selu_lecun_keeps_every_layer_at_mean_0_variance_1():
    s = probe(ProbeConfig("selu", "lecun_normal", width=512, depth=200))
    mean, var = s["mean"].mean(0), s["var"].mean(0)
    assert np.all(np.abs(mean) < 0.1), np.abs(mean).max()
    assert np.all((var > 0.8) & (var < 1.25)), (var.min(), var.max())
    assert np.all(s["dead_fraction"] == 0.0)


def test_selu_follows_theory_at_width_1024():
    s = probe(ProbeConfig("selu", "lecun_normal", width=1024, depth=30), seeds=4, batch=256, input_var=1.5)
    predicted = theory.predict_layers("selu", 1.5, 30)
    q = s["second_moment"].mean(0)
    np.testing.assert_allclose(q, predicted["second_moment"], rtol=0.05)
    np.testing.assert_allclose(s["mean"].mean(0), predicted["mean"], atol=0.03)


def test_relu_second_moment_halves_with_lecun_and_is_preserved_with_he():
    # Per-layer ratio of second moments, averaged over layers and seeds: finite width makes each
    # path a random walk in log q, but its per-layer step is what the theory predicts.
    for init, expected in (("lecun_normal", 0.5), ("he_normal", 1.0)):
        s = probe(ProbeConfig("relu", init, width=512, depth=30), seeds=4, batch=64)
        q = s["second_moment"]
        ratio = np.exp(np.mean(np.log(q[:, 1:] / q[:, :-1])))
        assert ratio == pytest.approx(expected, rel=0.1), (init, ratio)
        first = q[:, 0].mean()
        assert first == pytest.approx(expected, rel=0.1)  # first layer from unit-variance input


@pytest.mark.parametrize("nu0,expected", [(16, [9.017, 5.620, 2.258, 1.263, 1.0017]),
                                          (4, None)])
def test_selu_pulls_unnormalized_inputs_back(nu0, expected):
    s = probe(ProbeConfig("selu", "lecun_normal", width=512, depth=40), input_var=nu0)
    var = s["var"].mean(0)
    # Pooled over units, each layer's input second moment is nu + mu^2 (every unit has its own random
    # weight sum): the pooled map predicts the empirical curve closely ...
    np.testing.assert_allclose(var, theory.predict_layers("selu", nu0, 40)["var"], rtol=0.06)
    if expected is not None:
        # ... and the paper's omega = 0 map (REFERENCES.md), which ignores that mu^2, to within 20%.
        np.testing.assert_allclose(var[[0, 1, 4, 9, 29]], expected, rtol=0.2)
    assert abs(var[29] - 1.0) < 0.1 and np.all(np.abs(s["mean"].mean(0)[29:]) < 0.1)


def test_what_breaks_self_normalization():
    skip = probe(ProbeConfig("selu", "lecun_normal", width=256, depth=40, architecture="skip"))["var"].mean(0)
    assert np.all(np.diff(np.log(skip)) > 0) and skip[-1] > 1e3  # grows every layer
    he = probe(ProbeConfig("selu", "he_normal", width=256, depth=40))["var"].mean(0)
    assert he[-1] > 5.0  # not self-normalizing: variance runs away
    alpha = probe(ProbeConfig("selu", width=256, depth=40, dropout="alpha", dropout_rate=0.1))["var"].mean(0)
    assert np.all((alpha > 0.8) & (alpha < 1.25))  # alpha dropout keeps the fixed point


def test_conv_variant_is_self_normalizing_with_circular_padding():
    config = ProbeConfig("selu", "lecun_normal", width=16, depth=30, architecture="conv")
    x = jax.random.normal(jax.random.key(1), (16, 6, 6, 16))
    s = jax.jit(seeded_layer_stats, static_argnums=1)(jax.random.split(jax.random.key(0), 2), config, x)
    var = np.asarray(s["var"]).mean(0)
    assert np.all((var > 0.7) & (var < 1.35)), var


def test_compile_time_does_not_grow_with_depth():
    x = jnp.ones((8, 16))
    keys = jax.random.split(jax.random.key(0), 2)

    def compile_seconds(depth):
        f = jax.jit(seeded_layer_stats, static_argnums=1)
        t0 = time.perf_counter()
        f.lower(keys, ProbeConfig(width=16, depth=depth), x).compile()
        return time.perf_counter() - t0

    compile_seconds(3)  # warm up tracing caches
    shallow = min(compile_seconds(10) for _ in range(2))
    deep = min(compile_seconds(1000) for _ in range(2))
    assert deep <= 1.5 * shallow + 0.05, (shallow, deep)


def test_probe_config_errors_are_clear():
    with pytest.raises(ValueError, match="Unknown activation"):
        ProbeConfig("sellu")
    with pytest.raises(ValueError, match="Unknown initializer 'lecun'.*Did you mean 'lecun_normal'"):
        ProbeConfig(init="lecun")
    with pytest.raises(ValueError, match="architecture"):
        ProbeConfig(architecture="resnet")
    with pytest.raises(ValueError, match="dropout_rate"):
        ProbeConfig(dropout="alpha", dropout_rate=1.0)


@pytest.mark.parametrize("name,gain", [("lecun_normal", 1.0), ("he_normal", 2.0), ("glorot_normal", 1.0),
                                       ("lecun_uniform", 1.0), ("he_uniform", 2.0), ("orthogonal", 1.0),
                                       ("uniform:0.058", 512 * 0.058**2 / 3)])
def test_initializer_variances(name, gain):
    w = initializer(name)(jax.random.key(0), (512, 512), jnp.float32)
    assert weight_variance_gain(name, 512, 512) == pytest.approx(gain)
    assert float(jnp.var(w)) * 512 == pytest.approx(gain, rel=0.02)


def test_study_quick_end_to_end(tmp_path):
    from experiments import selfnorm_depth

    out = str(tmp_path / "study")
    results = selfnorm_depth.main(["--quick", "--out", out, "--variants", "tanh", "--widths", "32",
                                   "--activations", "selu,relu", "--inits", "lecun_normal,he_normal"])
    for name in ("results.json", "report.md", "depth_curves.png", "heatmap_final_variance.png",
                 "selu_map_field.png", "grad_norm.png", "width_drift.png"):
        assert os.path.getsize(os.path.join(out, name)) > 0, name
    with open(os.path.join(out, "results.json")) as fh:
        saved = json.load(fh)
    assert saved["theory"]["selu_alpha_01"] == pytest.approx(1.6732632423543772, abs=1e-12)
    assert saved["theory"]["selu_spectral_norm_at_0_1"] == pytest.approx(0.7877, abs=1e-4)
    assert saved["theory"]["self_normalizing_variants"]["elu"]["attracting"]
    run = next(r for r in saved["runs"] if r["label"].startswith("SELU, LeCun"))
    assert run["summary"]["self_normalizing"]
    assert len(run["layers"]["var"]["mean"]) == results["config"]["depth"]
    assert {"activation", "init", "input", "architecture", "width", "depth", "seeds", "dtype", "backend",
            "device_count"} <= set(run["settings"])
    relu = next(r for r in saved["runs"] if r["label"] == "ReLU, LeCun")
    assert not relu["summary"]["self_normalizing"]
    # nothing already written is lost: a second run into the same folder refuses
    with pytest.raises(SystemExit, match="exists"):
        selfnorm_depth.main(["--quick", "--out", out])


def test_study_rejects_bad_names(tmp_path):
    from experiments import selfnorm_depth

    with pytest.raises(SystemExit, match="Unknown activation 'sleu'"):
        selfnorm_depth.main(["--quick", "--out", str(tmp_path / "x"), "--activations", "selu,sleu"])
    assert not os.path.exists(tmp_path / "x")
