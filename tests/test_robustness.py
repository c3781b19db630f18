"""Runs never lose work: kills and Ctrl-C in real subprocesses, damaged checkpoints and logs, divergence
that keeps a finite loss, and bad input to the training command line and the data loaders."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import jax
from jaxacts import models as M
from jaxacts import data as D
from jaxacts import training as T

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# synthetic: 1500 training examples, so 15 steps an epoch at batch 100; a checkpoint every epoch.
ARGS = ["--dataset", "synthetic", "--seeds", "2", "--width", "16", "--depth", "2", "--batch-size", "100",
        "--log-every", "7", "--checkpoint-every", "15"]


@pytest.fixture(autouse=True)
def standard_promotion():
    with jax.numpy_dtype_promotion("standard"):
        yield


def train(*argv):
    from experiments import train as cli

    return cli.main(list(argv))


def rows(out):
    with open(os.path.join(out, "metrics.jsonl")) as fh:
        return [json.loads(line) for line in fh]


def start(out, *extra):
    """The training command in a real subprocess; its output goes to OUT.log (a pipe could fill and block)."""
    log = open(out.rstrip("/") + ".log", "a")
    proc = subprocess.Popen([sys.executable, "-m", "experiments.train", "--out", out, *ARGS, *extra], cwd=ROOT,
                            stdout=log, stderr=subprocess.STDOUT, text=True)
    log.close()
    return proc


def output(out):
    with open(out.rstrip("/") + ".log") as fh:
        return fh.read()


def run_to_end(out, *extra):
    proc = start(out, *extra)
    assert proc.wait(timeout=300) == 0, output(out)[-3000:]


def wait_for_rows(proc, out, n, timeout=120.0):
    t0 = time.time()
    path = os.path.join(out, "metrics.jsonl")
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            raise AssertionError(f"run ended before {n} rows: {output(out)[-2000:]}")
        if os.path.exists(path):
            with open(path) as fh:
                if sum(1 for _ in fh) >= n:
                    return
        time.sleep(0.02)
    raise AssertionError("timed out")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    # A subprocess, like the interrupted runs: the test process enables x64, which changes float rounding.
    out = str(tmp_path_factory.mktemp("ref") / "run")
    run_to_end(out, "--epochs", "20")
    with open(os.path.join(out, "summary.json")) as fh:
        return out, json.load(fh)


# ----------------------------------------------------------------------------- interruption


def test_killed_then_interrupted_then_resumed_equals_an_uninterrupted_run(tmp_path, reference):
    ref_out, ref_summary = reference
    out = str(tmp_path / "run")
    proc = start(out, "--epochs", "20")
    wait_for_rows(proc, out, 9)
    proc.send_signal(signal.SIGKILL)  # no warning, no cleanup
    proc.wait()
    proc = start(out, "--epochs", "20", "--resume")
    wait_for_rows(proc, out, 30)
    proc.send_signal(signal.SIGINT)  # Ctrl-C
    proc.wait(timeout=60)
    err = output(out)
    assert proc.returncode == 130, err[-3000:]
    assert "Traceback" not in err
    message = [line for line in err.replace("\r", "\n").splitlines() if "interrupted at step" in line]
    assert len(message) == 1 and "continue with --resume" in message[0], err[-3000:]
    assert "the checkpoint at step" in message[0]
    run_to_end(out, "--epochs", "20", "--resume")
    assert rows(out) == rows(ref_out)  # line for line: nothing lost, nothing duplicated
    np.testing.assert_array_equal(T.param_vector(out), T.param_vector(ref_out))
    with open(os.path.join(out, "summary.json")) as fh:
        assert json.load(fh)["test_accuracy"] == ref_summary["test_accuracy"]


# ----------------------------------------------------------------------------- damaged runs


@pytest.fixture()
def finished(tmp_path, reference):
    out = str(tmp_path / "run")
    shutil.copytree(reference[0], out)
    return out


def test_damaged_latest_checkpoint_falls_back_to_the_older_one(finished, reference, capsys):
    steps = sorted(int(s) for s in os.listdir(os.path.join(finished, "checkpoints")))
    os.remove(os.path.join(finished, "summary.json"))
    folder = os.path.join(finished, "checkpoints", str(steps[-1]))
    victim = max((os.path.join(r, f) for r, _, fs in os.walk(folder) for f in fs), key=os.path.getsize)
    with open(victim, "rb") as fh:
        data = bytearray(fh.read())
    for i in range(0, 40 * 7, 7):  # 40 flipped bytes: still a readable file, but not the saved weights
        data[len(data) // 3 + i] ^= 0xFF
    with open(victim, "wb") as fh:
        fh.write(bytes(data))
    with open(os.path.join(finished, "config.json")) as fh:
        config = T.config_from_dict(json.load(fh))
    T.fit(config, finished, resume=True, progress=False)
    assert f"checkpoint {steps[-1]} is damaged (checksum mismatch); moved to" in capsys.readouterr().err
    # (this process enables x64, the reference ran without: equal up to float rounding)
    np.testing.assert_allclose(T.param_vector(finished), T.param_vector(reference[0]), rtol=1e-4, atol=1e-6)


def test_random_bytes_in_every_checkpoint_is_a_clear_error(finished):
    os.remove(os.path.join(finished, "summary.json"))
    for root, _, files in os.walk(os.path.join(finished, "checkpoints")):
        for f in files:
            with open(os.path.join(root, f), "wb") as fh:
                fh.write(os.urandom(64))
    with pytest.raises(SystemExit, match="no usable checkpoint"):
        train("--out", finished, "--resume", *ARGS)


def test_resume_refuses_what_it_cannot_continue(finished, tmp_path):
    with pytest.raises(SystemExit, match=r"differing: optim.lr: 0.05 \(saved 0.002\)"):
        train("--out", finished, "--resume", "--lr", "0.05", *ARGS)
    with pytest.raises(SystemExit, match=r"differing: .*model.width: 64 \(saved 16\)"):
        train("--out", finished, "--resume", *ARGS, "--width", "64")
    with pytest.raises(SystemExit, match=r"epochs: 60 \(saved 20\)"):
        train("--out", finished, "--resume", "--epochs", "60", *ARGS)
    for folder in (tmp_path / "missing", tmp_path / "empty"):
        if folder.name == "empty":
            folder.mkdir()
        with pytest.raises(SystemExit, match="holds no run"):
            train("--out", str(folder), "--resume", *ARGS)
    shutil.rmtree(os.path.join(finished, "checkpoints"))
    os.remove(os.path.join(finished, "summary.json"))
    with pytest.raises(SystemExit, match="no usable checkpoint"):
        train("--out", finished, "--resume", *ARGS)


def test_lost_and_cut_log_rows_are_reported(tmp_path, reference, capsys):
    out = str(tmp_path / "run")
    train("--out", out, "--epochs", "20", *ARGS[:-2], "--checkpoint-every", "150")
    shutil.rmtree(os.path.join(out, "checkpoints", "300"))
    os.remove(os.path.join(out, "checksums", "300.json"))
    os.remove(os.path.join(out, "summary.json"))
    with open(os.path.join(out, "metrics.jsonl"), "a") as fh:
        fh.write('{"step": 301, "kind": "tr')  # a line cut short by a kill
    os.remove(os.path.join(out, "metrics.jsonl"))
    summary = train("--out", out, "--epochs", "20", "--resume", *ARGS[:-2], "--checkpoint-every", "150")["relu"]
    err = capsys.readouterr().err
    assert "lacks the rows for steps 1..150" in err
    assert summary["lost_log_rows"] == [[0, 150]]
    assert summary["steps_to_target_loss"]["per_seed"] == [None, None]
    out2 = str(tmp_path / "cut")
    shutil.copytree(reference[0], out2)
    os.remove(os.path.join(out2, "summary.json"))
    with open(os.path.join(out2, "metrics.jsonl")) as fh:
        text = fh.read()
    with open(os.path.join(out2, "metrics.jsonl"), "w") as fh:
        fh.write(text[:-25])  # cut the last line short
    shutil.rmtree(os.path.join(out2, "checkpoints", "300"))
    os.remove(os.path.join(out2, "checksums", "300.json"))
    train("--out", out2, "--resume", *ARGS)
    assert "metrics.jsonl line" in capsys.readouterr().err
    assert [r["step"] for r in rows(out2)] == [r["step"] for r in rows(reference[0])]


def test_ctrl_c_during_the_first_checkpoint_leaves_a_run_to_resume_or_nothing(tmp_path, monkeypatch, capsys):
    from jaxacts._src import loop

    real = loop._save

    def interrupted_save(manager, step, state, out_dir):  # Ctrl-C arrives while checkpoint 0 is written
        if step == 0:
            os.kill(os.getpid(), signal.SIGINT)
        real(manager, step, state, out_dir)

    out = str(tmp_path / "once")
    monkeypatch.setattr(loop, "_save", interrupted_save)
    with pytest.raises(SystemExit) as e:
        train("--out", out, "--epochs", "1", *ARGS)
    assert e.value.code == 130
    err = capsys.readouterr().err
    assert "interrupted at step 0; the checkpoint at step 0 is kept" in err and "Traceback" not in err
    monkeypatch.setattr(loop, "_save", real)
    assert train("--out", out, "--resume", "--epochs", "1", *ARGS)["relu"]["per_seed"]["test_accuracy"]

    def forced_stop(manager, step, state, out_dir):  # a second Ctrl-C: stop at once
        raise KeyboardInterrupt

    out = str(tmp_path / "twice")
    monkeypatch.setattr(loop, "_save", forced_stop)
    with pytest.raises(SystemExit):
        train("--out", out, "--epochs", "1", *ARGS)
    assert "removed what it had begun" in capsys.readouterr().err
    assert os.listdir(out) == []  # nothing half-made blocks a rerun
    monkeypatch.setattr(loop, "_save", real)
    train("--out", out, "--epochs", "1", *ARGS)


# ----------------------------------------------------------------------------- divergence


def test_a_loss_that_explodes_but_stays_finite_is_divergence(tmp_path):
    with pytest.raises(T.TrainingDiverged, match="exceeds 1000 x its first step's loss"):
        T.fit(T.TrainConfig(dataset="synthetic", model=M.ModelConfig(depth=2, width=16), epochs=3, batch_size=100,
                            optim=T.OptimConfig("adam", lr=1e6)), str(tmp_path / "boom"), progress=False)
    restored = T.param_vector(str(tmp_path / "boom"))
    assert np.all(np.isfinite(restored))  # the kept checkpoint is good


def test_non_finite_initial_parameters_are_refused_before_any_checkpoint(tmp_path):
    with pytest.raises(SystemExit, match="initial parameters .* not finite: check --init"):
        train("--out", str(tmp_path / "x"), "--init", "uniform:1e39", "--epochs", "1", *ARGS)  # inf in float32
    assert not os.path.exists(tmp_path / "x" / "checkpoints" / "0")
    with pytest.raises(SystemExit, match="'uniform:inf': A must be a finite number > 0"):
        train("--out", str(tmp_path / "y"), "--init", "uniform:inf", "--epochs", "1", *ARGS)


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("flags,message", [
    (["--activation", ""], "names no activation"),
    (["--activation", ","], "names no activation"),
    (["--channels", "a,b"], "argument --channels: expected comma-separated integers"),
    (["--seed", "-1"], "seed must be 0 to 2^31 - 1"),
    (["--seed", str(2**31)], "seed must be 0 to 2^31 - 1"),
    (["--dropout", "none", "--dropout-rate", "0.5"], "needs a dropout kind"),
    (["--weight-decay", "nan"], "weight_decay must be finite"),
    (["--data-dir", "/tmp"], "built in and reads no files"),
    (["--warmup-steps", "10"], "warmup_steps needs the warmup_cosine schedule"),
    (["--epochs", "3", "--steps", "10"], "give --epochs or --steps, not both"),
    (["--steps", "-1"], "steps must be >= 0"),
    (["--data-order", "random"], "data_order 'random' is not one of"),
    (["--init", "torch_default", "--bias-init", "0.1"], "'torch_default' draws the biases too"),
])
def test_bad_flags_are_one_line_errors(tmp_path, flags, message, capsys):
    with pytest.raises(SystemExit) as e:
        train("--out", str(tmp_path / "x"), "--dataset", "synthetic", *flags)
    assert message in str(e.value) + capsys.readouterr().err
    assert not os.path.exists(tmp_path / "x")


def test_out_or_data_dir_that_is_a_file(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(SystemExit, match="is a file, not a folder"):
        train("--out", str(tmp_path / "file"), "--dataset", "synthetic")
    with pytest.raises(D.DataError, match="is not a folder"):
        D.load_dataset("cifar10", data_dir=str(tmp_path / "file"))


def _npz(path, n_train=6, n_test=2, **override):
    rng = np.random.default_rng(0)
    arrays = dict(x_train=rng.integers(0, 256, (n_train, 32, 32, 3), np.uint8), y_train=np.arange(n_train) % 10,
                  x_test=rng.integers(0, 256, (n_test, 32, 32, 3), np.uint8), y_test=np.arange(n_test) % 10)
    arrays.update(override)
    np.savez(path / "cifar10.npz", **arrays)


@pytest.mark.parametrize("override,message", [
    (dict(y_train=np.arange(3)), r"'y_train' must hold one label per image \(6,\)"),
    (dict(y_train=np.zeros((6, 2), int)), r"'y_train' must hold one label per image"),
    (dict(x_train=np.full((6, 32, 32, 3), np.nan, np.float32)), "'x_train' holds non-finite pixels"),
    (dict(x_test=np.full((2, 32, 32, 3), np.nan, np.float32)), "'x_test' holds non-finite pixels"),
    (dict(y_test=np.array([-1, 0])), r"'y_test' holds labels in \[-1, 0\]"),
    (dict(x_test=np.zeros((2, 16, 16, 3), np.uint8)), r"'x_test' must have shape \(N, 32, 32, 3\)"),
    (dict(x_train=np.zeros((0, 32, 32, 3), np.uint8), y_train=np.zeros((0,), int)), "'x_train' must have shape"),
    (dict(x_train=np.full((6, 32, 32, 3), 0.5, np.float64)), None),  # float pixels in [0, 1] are kept
])
def test_cifar_npz_is_validated_field_by_field(tmp_path, override, message):
    _npz(tmp_path, **override)
    if message is None:
        assert D.load_dataset("cifar10", data_dir=str(tmp_path)).x_train.std() < 1e-6  # 0.5 everywhere
        return
    with pytest.raises(D.DataError, match="cifar10.npz: field " + message):
        D.load_dataset("cifar10", data_dir=str(tmp_path))


def test_other_loader_faults_are_data_errors(tmp_path):
    (tmp_path / "cifar10.npz").write_bytes(b"not a zip file at all")
    with pytest.raises(D.DataError, match="not an .npz file"):
        D.load_dataset("cifar10", data_dir=str(tmp_path))
    import gzip
    broken = bytearray(gzip.compress(b"\x00" * 4000))
    broken[20:40] = b"\xff" * 20
    (tmp_path / "bad.gz").write_bytes(bytes(broken))
    with pytest.raises(D.DataError, match="corrupt gzip"):
        D.read_idx(str(tmp_path / "bad.gz"))
    import pickle
    batches = tmp_path / "b"
    batches.mkdir()
    (batches / "data_batch_1").write_bytes(pickle.dumps(np.zeros((2, 3072), np.uint8)))
    (batches / "test_batch").write_bytes(pickle.dumps(np.zeros((2, 3072), np.uint8)))
    with pytest.raises(D.DataError, match="not a CIFAR-10 python batch"):
        D.load_dataset("cifar10", data_dir=str(batches))
    (batches / "data_batch_1").write_bytes(pickle.dumps({b"data": np.full((2, 3072), 0.5), b"labels": [0, 1]}))
    (batches / "test_batch").write_bytes(pickle.dumps({b"data": np.full((2, 3072), 3.0), b"labels": [0, 1]}))
    with pytest.raises(D.DataError, match=r"test_batch: field 'data' holds float pixels in \[3, 3\]"):
        D.load_dataset("cifar10", data_dir=str(batches))
    idx = tmp_path / "idx"
    idx.mkdir()
    header = lambda code, shape: bytes([0, 0, 0x08, len(shape)]) + b"".join(int(s).to_bytes(4, "big") for s in shape)
    for split in ("train", "t10k"):
        (idx / f"{split}-images-idx3-ubyte").write_bytes(header(8, (0, 28, 28)))
        (idx / f"{split}-labels-idx1-ubyte").write_bytes(header(8, (0,)))
    with pytest.raises(D.DataError, match="the train set is empty"):
        D.load_dataset("mnist", data_dir=str(idx))
