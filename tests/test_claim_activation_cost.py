"""Claim 12's timing helpers: blocked medians call every function interleaved in every block, and the train
step runner runs the package's step (its parameters change, the same work each call)."""

import time

import jax
import numpy as np
import pytest

from experiments.claims import activation_cost as A
from experiments.claims import timing
from jaxacts.models import ModelConfig


def test_blocked_medians_are_per_block_medians_of_interleaved_calls():
    calls = []

    def make(name, seconds):
        def f():
            calls.append(name)
            time.sleep(seconds)
            return np.zeros(())
        return f

    out = timing.blocked_medians({"fast": make("fast", 0.001), "slow": make("slow", 0.004)}, (), blocks=3, calls=2)
    assert set(out) == {"fast", "slow"} and all(v.shape == (3,) for v in out.values())
    assert np.all(out["slow"] > out["fast"]) and np.all(out["fast"] >= 0.001)
    # each block: one untimed call each, then the timed calls round-robin
    assert calls[:6] == ["fast", "slow", "fast", "slow", "fast", "slow"]


@pytest.fixture
def standard_promotion():
    # the package's training loop runs under standard promotion, as the claims runner does
    with jax.numpy_dtype_promotion("standard"):
        yield


def test_train_step_runner_runs_the_package_step_the_given_number_of_times(standard_promotion):
    run = timing.train_step_runner(ModelConfig(depth=1, width=8), (6,), 3, batch_size=4, steps=3)
    state = run()
    assert int(state.step[0]) == 3 and not bool(state.diverged[0])  # an MLP's steps: one loop from the start
    assert all(np.all(np.isfinite(np.asarray(v))) for v in jax.tree.leaves(state.params))


def test_every_activation_spec_is_a_registry_and_model_spec():
    from jaxacts._src import layers, registry
    for label, (alone, in_model) in A.ACTIVATIONS.items():
        name, hp = registry.parse_spec(alone)
        registry.get(name, **hp)
        layers.check_activation(in_model)
