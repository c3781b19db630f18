"""Claim 8's timing helper: every call timed once per repeat, in rotated order, after untimed warm-up."""

import numpy as np

from experiments.claims import elu_speed


def test_time_alternately_rotates_the_order_and_warms_up_untimed():
    log = []
    calls = {"a": lambda: log.append("a"), "b": lambda: log.append("b")}
    seconds = elu_speed.time_alternately(calls, repeats=4, warmup=1)
    assert log == ["a", "b"] + ["a", "b", "b", "a", "a", "b", "b", "a"]
    assert {k: v.shape for k, v in seconds.items()} == {"a": (4,), "b": (4,)}
    assert all(np.all(v >= 0) for v in seconds.values())


def test_time_alternately_measures_the_slower_call_as_slower():
    import time

    seconds = elu_speed.time_alternately({"slow": lambda: time.sleep(0.004), "fast": lambda: None}, repeats=5,
                                         warmup=0)
    assert np.all(seconds["slow"] > seconds["fast"])
    assert np.all(seconds["slow"] >= 0.004)
