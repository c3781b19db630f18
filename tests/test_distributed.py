"""Several processes joined by ``jax.distributed``, for real: 2 processes x 2 CPU devices (gloo
collectives) against 1 process x 4 devices, for training, a stop and a kill, and the depth study.

Each command runs as real subprocesses on free local ports, as a user would start them on two hosts.
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Two settings x one seed: the mesh is ('runs' 2, 'data' 2), each batch split within a process and the runs
# across them; a checkpoint at every epoch end, so a stop and a kill have epoch ends to land on.
TRAIN = ["--dataset", "digits", "--depth", "1", "--width", "16", "--epochs", "4", "--seeds", "1", "--lr",
         "1e-3,3e-3", "--batch-size", "64", "--log-every", "5", "--checkpoint-every", "1"]
# The quick study at its smallest (as benchmarks.study_time's test runs it); 3 seeds, padded to 4 devices.
STUDY = ["--quick", "--activations", "selu", "--inits", "lecun_normal", "--variants", "tanh", "--widths", "8",
         "--width", "8", "--depth", "4", "--heatmap-depth", "3", "--batch", "4", "--conv-channels", "2",
         "--image-size", "2", "--seeds", "3"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(module: str, args: list[str], *, processes: int, devices: int) -> list[subprocess.Popen]:
    """``python -m module args`` as ``processes`` processes of ``devices`` CPU devices each."""
    # The session's other XLA flags (conftest.py) with this command's device count.
    flags = re.sub(r"--xla_force_host_platform_device_count=\d+", "", os.environ.get("XLA_FLAGS", ""))
    env = {**os.environ, "XLA_FLAGS": f"{flags} --xla_force_host_platform_device_count={devices}".strip(),
           "JAX_PLATFORMS": "cpu", "PYTHONPATH": ROOT}
    join = []
    if processes > 1:
        join = ["--coordinator-address", f"127.0.0.1:{_free_port()}", "--num-processes", str(processes)]
    return [subprocess.Popen([sys.executable, "-m", module, *args, *join,
                              *(["--process-id", str(i)] if processes > 1 else [])],
                             cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for i in range(processes)]


def _finish(procs: list[subprocess.Popen], timeout: float = 900) -> list[tuple[int, str]]:
    """(exit status, stderr) of each process, after it ends."""
    out = []
    for p in procs:
        try:
            _, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
                q.communicate()
            raise
        out.append((p.returncode, err))
    return out


def _ok(results: list[tuple[int, str]]) -> None:
    for i, (code, err) in enumerate(results):
        assert code == 0, f"process {i} exited with {code}:\n{err[-3000:]}"


def _lines(path) -> list[str]:
    with open(path) as fh:
        return fh.read().splitlines()


def _summary(path) -> dict:
    with open(os.path.join(path, "summary.json")) as fh:
        return json.load(fh)


def _wait_for(path: str, procs: list[subprocess.Popen], timeout: float = 180) -> None:
    t0 = time.time()
    while not os.path.exists(path):
        if any(p.poll() is not None for p in procs):
            raise AssertionError(f"a process ended before {path} appeared: "
                                 f"{[(p.returncode, p.stderr.read()[-2000:]) for p in procs if p.poll() is not None]}")
        assert time.time() - t0 < timeout, f"{path} did not appear"
        time.sleep(0.02)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The same training run by 2 processes x 2 devices and by 1 process x 4 devices, started together."""
    root = tmp_path_factory.mktemp("trained")
    pair, one = str(root / "pair"), str(root / "one")
    procs = _start("experiments.train", TRAIN + ["--out", pair], processes=2, devices=2)
    procs += _start("experiments.train", TRAIN + ["--out", one], processes=1, devices=4)
    _ok(_finish(procs))
    return pair, one


def test_two_processes_train_as_one_process_with_four_devices(trained):
    from jaxacts.training import param_vector

    pair, one = trained
    assert _lines(os.path.join(pair, "metrics.jsonl")) == _lines(os.path.join(one, "metrics.jsonl"))
    a, b = _summary(pair), _summary(one)
    for key in ("test_accuracy", "test_loss", "train_loss", "per_seed", "settings", "chosen", "steps"):
        assert a[key] == b[key], key
    assert a["device_count"] == b["device_count"] == 4
    # One writer: the same files, none left half-written under a temporary name.
    assert sorted(os.listdir(pair)) == sorted(os.listdir(one))
    assert sorted(os.listdir(os.path.join(pair, "checksums"))) == sorted(os.listdir(os.path.join(one, "checksums")))
    assert not [f for _, _, files in os.walk(pair) for f in files if ".tmp" in f]
    # The 2-process checkpoint (a shard per process) opens on this process's devices, as the 1-process one does.
    np.testing.assert_array_equal(param_vector(pair), param_vector(one))


def test_a_stop_on_one_process_stops_both_and_a_kill_resumes_like_an_uninterrupted_run(trained, tmp_path):
    pair, _ = trained
    out = str(tmp_path / "cut")
    spe = _summary(pair)["steps_per_epoch"]
    # SIGTERM to process 1 alone: both stop at the same epoch end, with one checkpoint.
    procs = _start("experiments.train", TRAIN + ["--out", out], processes=2, devices=2)
    _wait_for(os.path.join(out, "checksums", f"{spe}.json"), procs)
    procs[1].send_signal(signal.SIGTERM)
    stopped = _finish(procs)
    assert [code for code, _ in stopped] == [130, 130], stopped
    steps = {line.split("interrupted at step ")[1].split(";")[0] for _, err in stopped for line in err.splitlines()
             if "interrupted at step" in line}
    assert len(steps) == 1, stopped  # the same step on both
    # SIGKILL one process of the resumed run; the other is stuck in a collective and goes too (a cluster
    # ends the job); then both resume.
    procs = _start("experiments.train", ["--out", out, "--resume"], processes=2, devices=2)
    _wait_for(os.path.join(out, "checksums", f"{int(steps.pop()) + spe}.json"), procs)
    procs[1].kill()
    procs[0].kill()
    _finish(procs)
    assert not os.path.exists(os.path.join(out, "summary.json")), "the run ended before the kill; lengthen it"
    _ok(_finish(_start("experiments.train", ["--out", out, "--resume"], processes=2, devices=2)))
    assert _lines(os.path.join(out, "metrics.jsonl")) == _lines(os.path.join(pair, "metrics.jsonl"))
    a, b = _summary(out), _summary(pair)
    for key in ("test_accuracy", "test_loss", "train_loss", "per_seed", "settings"):
        assert a[key] == b[key], key


def test_two_processes_run_the_depth_study_as_one_process_with_four_devices(tmp_path):
    pair, one = str(tmp_path / "pair"), str(tmp_path / "one")
    # The theory is the same host computation on every process: the pair reads what the first run cached.
    cache = ["--cache-dir", str(tmp_path / "cache")]
    _ok(_finish(_start("experiments.selfnorm_depth", STUDY + cache + ["--out", one], processes=1, devices=4)))
    _ok(_finish(_start("experiments.selfnorm_depth", STUDY + cache + ["--out", pair], processes=2, devices=2)))
    results = []
    for out in (pair, one):
        with open(os.path.join(out, "results.json")) as fh:
            r = json.load(fh)
        for key in ("seconds", "timing", "theory_seconds"):
            r.pop(key)
        r["config"].pop("out")
        results.append(r)
    assert results[0] == results[1]
    assert all(len(run["layers"]["var"]["seeds"]) == 3 for run in results[0]["runs"])  # the padding is dropped
    assert sorted(os.listdir(pair)) == sorted(os.listdir(one))
    assert results[0]["runs"][0]["settings"]["device_count"] == 4


@pytest.mark.parametrize("flags, message", [
    (["--num-processes", "2"], "go together; missing --coordinator-address, --process-id"),
    (["--coordinator-address", "localhost", "--num-processes", "2", "--process-id", "0"], "HOST:PORT"),
    (["--coordinator-address", "127.0.0.1:1234", "--num-processes", "2", "--process-id", "2"], "0 to 1"),
    (["--coordinator-address", "127.0.0.1:1234", "--num-processes", "0", "--process-id", "0"], ">= 1"),
])
def test_bad_distributed_flags_are_one_line_errors_before_any_work(tmp_path, flags, message):
    from experiments import selfnorm_depth, train

    for main in (train.main, selfnorm_depth.main):
        with pytest.raises(SystemExit, match=message) as e:
            main(["--out", str(tmp_path / "x"), *flags])
        assert str(e.value).startswith("error: ") and "\n" not in str(e.value)
        assert not os.path.exists(tmp_path / "x")


def test_two_processes_run_a_quick_claim_as_one_process_with_four_devices(tmp_path):
    args = ["--quick", "--only", "leaky_slope", "--dataset", "digits"]
    procs = _start("experiments.claims", args + ["--out", str(tmp_path / "pair")], processes=2, devices=2)
    procs += _start("experiments.claims", args + ["--out", str(tmp_path / "one")], processes=1, devices=4)
    results = _finish(procs)
    _ok(results)
    assert "leaky_slope" not in results[1][1]  # process 1 wrote and printed nothing of the result
    saved = []
    for out in ("pair", "one"):
        with open(tmp_path / out / "claims.json") as fh:
            r = json.load(fh)
        for c in r["claims"]:
            for key in ("seconds", "cpu_seconds", "run"):
                c.pop(key)
        saved.append(r)
    assert saved[0]["claims"] == saved[1]["claims"]
    assert saved[0]["environment"]["process_count"] == 2 and saved[1]["environment"]["device_count"] == 4
    assert sorted(os.listdir(tmp_path / "pair")) == sorted(os.listdir(tmp_path / "one"))


@pytest.mark.slow  # a second pair of claim runs; the agreed stop of training runs by default
def test_a_stop_on_one_process_of_a_claims_run_stops_both_and_keeps_the_finished_claims(tmp_path):
    out = tmp_path / "claims"
    args = ["--quick", "--only", "leaky_slope,tanh_vs_sigmoid", "--dataset", "digits", "--out", str(out)]
    procs = _start("experiments.claims", args, processes=2, devices=2)
    t0 = time.time()  # the first claim's figure appears in the writer's staging folder beside --out
    while not any(n.endswith("leaky_slope.png") for root, _, names in os.walk(tmp_path) for n in names):
        assert all(p.poll() is None for p in procs) and time.time() - t0 < 600, "the first claim did not finish"
        time.sleep(0.1)
    procs[1].send_signal(signal.SIGINT)  # process 1 (not the writer) is stopped; process 0 must stop too
    results = _finish(procs, timeout=300)
    assert [code for code, _ in results] == [130, 130]
    assert f"interrupted; 1 finished claim(s) are kept in {out}" in results[0][1]
    with open(out / "claims.json") as fh:
        assert [c["id"] for c in json.load(fh)["claims"]] == ["leaky_slope"]
