"""Smoke tests of the benchmark scripts at tiny sizes: they run, return finite numbers, and the lean
training loop that benchmarks/train_run.py times against the package really learns."""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np
import pytest

from benchmarks import train_run, train_step


@pytest.fixture(autouse=True)
def standard_promotion():
    # optax raises Python floats to int32 step counts, which strict promotion (conftest.py) rejects.
    with jax.numpy_dtype_promotion("standard"):
        yield


def test_lean_loop_learns_digits_in_one_epoch_with_vmapped_seeds():
    result = train_run.lean_run(epochs=1, seeds=2, dataset="digits", depth=1, width=64, batch_size=16, lr=1e-2)
    acc, loss = result["test_accuracy"], result["test_loss"]
    assert len(acc) == 2 and np.isfinite(result["train_loss"]) and np.all(np.isfinite(loss))
    assert min(acc) > 0.5  # chance is 0.1
    assert loss[0] != loss[1]  # each seed its own initialization and data order


def test_train_step_main_runs_at_tiny_size():
    # --seeds 0 skips the vmapped step (the lean-loop test covers vmapped seeds) to keep this test short.
    rows = train_step.main(["--sizes", "16x8", "--depth", "1", "--seeds", "0", "--repeats", "2"])
    assert [(r["width"], r["batch"]) for r in rows] == [(16, 8)]
    row = rows[0]
    times = [v for k, v in row.items() if k not in ("width", "batch")]
    assert "jax nnx" in row and all(np.isfinite(t) and t > 0 for t in times)
    device, _ = train_step.torch_device()
    assert ("pytorch" in row) == (device is not None)  # absent when torch is missing or on another device


def test_sizes_are_parsed_and_checked():
    assert train_step.parse_sizes("256x128, 1024X64") == [(256, 128), (1024, 64)]
    with pytest.raises(ValueError, match="WIDTHxBATCH"):
        train_step.parse_sizes("256by128")


def _study_time_at_its_smallest(monkeypatch=None, cache_dir=None):
    # The quick study at its smallest (two tiny programs); the rerun reads every theory from the cache the
    # first run filled.
    from benchmarks import study_time

    flags = ["--quick", "--depth", "4", "--heatmap-depth", "3", "--widths", "8", "--width", "8", "--batch", "4",
             "--activations", "selu", "--inits", "lecun_normal", "--variants", "tanh", "--conv-channels", "2",
             "--image-size", "2"]
    if monkeypatch is not None:  # each "process" run in this one: the same split, without three JAX start-ups
        from experiments import selfnorm_depth

        def in_process(argv):
            t0 = time.perf_counter()
            if argv[1:3] == ["-m", "experiments.selfnorm_depth"]:
                # A cache folder that outlives the benchmark's temporary one: XLA's cache, once opened in this
                # process, keeps writing where it was first pointed.
                i = argv.index("--cache-dir") + 1
                argv = argv[:i] + [str(cache_dir)] + argv[i + 1:]
                xla_cache = jax.config.jax_compilation_cache_dir
                try:
                    selfnorm_depth.main(argv[3:])
                finally:  # the study points XLA's cache into the benchmark's temporary folder
                    jax.config.update("jax_compilation_cache_dir", xla_cache)
            return time.perf_counter() - t0

        monkeypatch.setattr(study_time, "_wall", in_process)
    first, rerun = study_time.main(flags)
    assert first["theories"].endswith(" computed, 0 cached") and rerun["theories"].startswith("0 computed")
    for row in (first, rerun):
        parts = [row[k] for k in ("startup", "study", "probe", "theory", "figures_and_report")]
        assert all(np.isfinite(t) and t >= 0 for t in parts) and row["wall"] >= row["study"]
    return study_time


def test_study_time_splits_a_first_run_and_a_cached_rerun(monkeypatch, tmp_path):
    study_time = _study_time_at_its_smallest(monkeypatch, tmp_path / "cache")
    with pytest.raises(SystemExit, match="chooses --out"):
        study_time.main(["--out", "x"])


def test_probe_floor_counts_each_layers_products_and_draws(monkeypatch):
    # One dense and one convolutional network, counted by hand: every hidden layer's product forward and back,
    # the first layer's (from the input's features) forward only, one draw per weight, for each seed.
    from benchmarks import study_time
    from experiments import selfnorm_depth
    from jaxacts.probe import ProbeConfig

    dense = selfnorm_depth.Run("d", "curves", ProbeConfig(width=8, depth=4), "gaussian:0:1")
    conv = selfnorm_depth.Run("c", "curves", ProbeConfig(width=2, depth=3, architecture="conv"), "gaussian:0:1")
    monkeypatch.setattr(selfnorm_depth, "plan", lambda c: [(dense, None, (4, 5)), (conv, None, (2, 3, 3, 2))])
    floor = study_time.probe_floor(["--seeds", "2"], layers=2)
    dense_flops = 4 * (2 * 5 * 8 + 4 * 3 * 8 * 8)  # 4 rows; first layer 5 -> 8, then three 8 -> 8
    conv_flops = (2 * 3 * 3) * (2 * 9 * 2 * 2 + 4 * 2 * 9 * 2 * 2)  # 18 pixel rows; patches of 9 x 2 channels
    assert floor["flops"] == 2 * (dense_flops + conv_flops)
    assert floor["draws"] == 2 * ((5 * 8 + 3 * 8 * 8) + (9 * 2 * 2 + 2 * 9 * 2 * 2))
    assert 0 < floor["product_seconds"] < 60 and 0 < floor["draw_seconds"] < 60


@pytest.mark.slow
def test_study_time_runs_the_study_in_fresh_processes():
    _study_time_at_its_smallest()
