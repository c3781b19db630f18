"""Tries the training and depth-study commands the way a careless user and a hostile machine would:
bad flags, damaged files, SIGKILL and Ctrl-C mid-run, corrupt checkpoints, absurd learning rates.

    .venv/bin/python scripts/check_robustness.py            # ~5-10 min on 2 CPU cores
    .venv/bin/python scripts/check_robustness.py --only resume,kill
    .venv/bin/python scripts/check_robustness.py --only runs     # issue 21: sweeps, diverging seeds, resume (~3 min)

Every check runs the real command line in a subprocess and sorts the outcome:
  ok        a run that should succeed did, and its result verified (e.g. resumed == uninterrupted)
  clear     a refused input ended with a one-line message naming what is wrong, and no traceback
  traceback a traceback reached the user
  wrong     the command succeeded but its result is wrong (or a refusal lost earlier work)
  silent    nonsense was accepted without a word
  unclear   an error without a one-line message
Prints one row per check and the totals; exits 1 unless there are 0 tracebacks, 0 wrong, 0 silent.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = [sys.executable, "-m", "experiments.train"]
STUDY = [sys.executable, "-m", "experiments.selfnorm_depth"]
TINY = ["--dataset", "synthetic", "--seeds", "2", "--width", "16", "--depth", "2", "--batch-size", "100",
        "--log-every", "7", "--checkpoint-every", "15", "--epochs", "12"]
ENV = {**os.environ, "JAX_PLATFORMS": os.environ.get("JAX_PLATFORMS", "cpu"), "PYTHONUNBUFFERED": "1"}


@dataclasses.dataclass
class Result:
    code: int | None
    output: str


def run(cmd: list[str], timeout: float = 600) -> Result:
    p = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=timeout)
    return Result(p.returncode, p.stdout + p.stderr)


def start(cmd: list[str], log: str) -> subprocess.Popen:
    with open(log, "a") as fh:
        return subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=fh, stderr=subprocess.STDOUT, text=True)


def wait_for_lines(proc: subprocess.Popen, path: str, n: int, timeout: float = 300) -> bool:
    t0 = time.time()
    while time.time() - t0 < timeout and proc.poll() is None:
        if os.path.exists(path):
            with open(path) as fh:
                if sum(1 for _ in fh) >= n:
                    return True
        time.sleep(0.02)
    return False


def classify_refusal(r: Result, before: dict | None = None, after: dict | None = None) -> tuple[str, str]:
    """For inputs that must be refused."""
    if "Traceback" in r.output:
        return "traceback", r.output.strip().splitlines()[-1][:160]
    if r.code == 0:
        return "silent", "exit 0"
    if before is not None and before != after:
        return "wrong", "files written earlier were changed"
    last = [line for line in r.output.strip().splitlines() if line.strip()]
    message = last[-1] if last else ""
    if not message or len(message) < 15:
        return "unclear", message
    return "clear", message[:160]


def snapshot(folder: str) -> dict:
    out = {}
    for root, _, files in os.walk(folder):
        for f in files:
            p = os.path.join(root, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, folder)] = hash(fh.read())
    return out


def params(out: str) -> np.ndarray:
    sys.path.insert(0, ROOT)
    from jaxacts.training import param_vector

    return param_vector(out)


def rows(out: str) -> list:
    with open(os.path.join(out, "metrics.jsonl")) as fh:
        return [json.loads(line) for line in fh]


class Checks:
    def __init__(self, tmp: str):
        self.tmp = tmp
        self.results: list[tuple[str, str, str, str]] = []
        self._reference: str | None = None

    def record(self, group: str, name: str, status: str, detail: str) -> None:
        self.results.append((group, name, status, detail))
        print(f"{status:9s} {group:8s} {name}: {detail}", flush=True)

    def path(self, name: str) -> str:
        return os.path.join(self.tmp, name.replace(" ", "_").replace("/", "_"))

    @property
    def reference(self) -> str:
        if self._reference is None:
            self._reference = self.path("reference")
            r = run(TRAIN + ["--out", self._reference] + TINY)
            if r.code != 0:
                raise SystemExit(f"the reference run failed:\n{r.output[-3000:]}")
        return self._reference

    def copy_reference(self, name: str) -> str:
        out = self.path(name)
        shutil.copytree(self.reference, out)
        return out

    # -------------------------------------------------------------------------------- groups

    def flags(self):
        file_path = self.path("a_file")
        with open(file_path, "w") as fh:
            fh.write("x")
        cases = {
            "empty activation": ["--activation", ""],
            "comma activation": ["--activation", ","],
            "unknown activation": ["--activation", "reluu"],
            "bad hyperparameter value": ["--activation", "elu(alpha=x)"],
            "unknown hyperparameter": ["--activation", "elu(slope=1)"],
            "unknown init": ["--init", "lecun"],
            "channels not numbers": ["--channels", "a,b"],
            "negative seed": ["--seed", "-1"],
            "dropout rate without dropout": ["--dropout", "none", "--dropout-rate", "0.5"],
            "nan weight decay": ["--weight-decay", "nan"],
            "zero learning rate": ["--lr", "0"],
            "nan learning rate": ["--lr", "nan"],
            "zero epochs": ["--epochs", "0"],
            "zero batch": ["--batch-size", "0"],
            "batch above dataset": ["--batch-size", "100000"],
            "data dir with built-in data": ["--data-dir", self.tmp],
            "warmup without warmup schedule": ["--warmup-steps", "10"],
            "validation fraction above 1": ["--val-fraction", "1.5"],
            "steps beside epochs": ["--steps", "5"],
            "unknown data order": ["--data-order", "random"],
            "torch_default with a constant bias": ["--init", "torch_default", "--bias-init", "0.1"],
            "out is a file": ["--out", file_path],
            "out under a file": ["--out", os.path.join(file_path, "sub")],
        }
        for name, extra in cases.items():
            out = extra[extra.index("--out") + 1] if "--out" in extra else self.path(name)
            args = [a for a in TINY]
            r = run(TRAIN + (["--out", out] if "--out" not in extra else []) + args + extra)
            status, detail = classify_refusal(r)
            if status == "clear" and "--out" not in extra and os.path.exists(out) and os.listdir(out):
                status, detail = "wrong", "refused, but only after writing to --out"
            self.record("flags", name, status, detail)
        for name, extra in {"cifar10 from a file": ["--dataset", "cifar10", "--data-dir", file_path],
                            "mnist without data dir": ["--dataset", "mnist"]}.items():
            r = run(TRAIN + ["--out", self.path(name)] + TINY[2:] + extra)
            self.record("flags", name, *classify_refusal(r))

    def resume(self):
        for name, extra in {"different lr": ["--lr", "0.05"], "different width": ["--width", "64"],
                            "more epochs on a finished run": ["--epochs", "30"]}.items():
            out = self.copy_reference(name)
            before = snapshot(out)
            r = run(TRAIN + ["--out", out, "--resume"] + TINY + extra)
            self.record("resume", name, *classify_refusal(r, before, snapshot(out)))
        for name in ("missing folder", "empty folder"):
            out = self.path(name)
            if name == "empty folder":
                os.makedirs(out)
            r = run(TRAIN + ["--out", out, "--resume"] + TINY)
            self.record("resume", name, *classify_refusal(r))
        out = self.copy_reference("checkpoints deleted")
        shutil.rmtree(os.path.join(out, "checkpoints"))
        os.remove(os.path.join(out, "summary.json"))
        self.record("resume", "checkpoints deleted", *classify_refusal(run(TRAIN + ["--out", out, "--resume"] + TINY)))

        def damaged(name: str, damage: Callable[[str], None], expect_warning: str):
            out = self.copy_reference(name)
            os.remove(os.path.join(out, "summary.json"))
            damage(out)
            r = run(TRAIN + ["--out", out, "--resume"] + TINY)
            if "Traceback" in r.output:
                self.record("resume", name, "traceback", r.output.strip().splitlines()[-1][:160])
            elif r.code != 0:
                self.record("resume", name, "wrong", "could not resume: " + r.output.strip().splitlines()[-1][:120])
            elif expect_warning not in r.output:
                self.record("resume", name, "silent", f"no warning containing {expect_warning!r}")
            elif not np.allclose(params(out), params(self.reference), rtol=0, atol=0):
                self.record("resume", name, "wrong", "parameters differ from the uninterrupted run")
            else:
                self.record("resume", name, "ok", "warned, fell back, and ended equal to the uninterrupted run")

        def latest(out):
            steps = sorted(int(s) for s in os.listdir(os.path.join(out, "checkpoints")))
            folder = os.path.join(out, "checkpoints", str(steps[-1]))
            return max((os.path.join(r, f) for r, _, fs in os.walk(folder) for f in fs), key=os.path.getsize)

        def random_bytes(out):
            path = latest(out)
            with open(path, "wb") as fh:
                fh.write(os.urandom(os.path.getsize(path) or 64))

        def flipped(out):
            path = latest(out)
            with open(path, "rb") as fh:
                data = bytearray(fh.read())
            for i in range(40):
                data[(len(data) // 3 + 7 * i) % len(data)] ^= 0xFF
            with open(path, "wb") as fh:
                fh.write(bytes(data))

        damaged("random bytes in the latest checkpoint", random_bytes, "moved to")
        damaged("40 flipped bytes in the latest checkpoint", flipped, "checksum mismatch")

        def log_damage(name, damage, expect):
            out = self.copy_reference(name)
            os.remove(os.path.join(out, "summary.json"))
            steps = sorted(int(s) for s in os.listdir(os.path.join(out, "checkpoints")))
            shutil.rmtree(os.path.join(out, "checkpoints", str(steps[-1])))  # resume from the older one
            damage(out)
            r = run(TRAIN + ["--out", out, "--resume"] + TINY)
            if "Traceback" in r.output:
                self.record("resume", name, "traceback", r.output.strip().splitlines()[-1][:160])
            elif r.code != 0 or expect not in r.output:
                self.record("resume", name, "silent" if r.code == 0 else "wrong", f"expected a warning {expect!r}")
            else:
                self.record("resume", name, "ok", [l for l in r.output.splitlines() if expect in l][0][:160])

        log_damage("metrics log deleted", lambda out: os.remove(os.path.join(out, "metrics.jsonl")), "lacks the rows")

        def cut(out):
            path = os.path.join(out, "metrics.jsonl")
            with open(path) as fh:
                text = fh.read()
            with open(path, "w") as fh:
                fh.write(text[:-30])
        log_damage("metrics log cut short", cut, "is damaged")

    def kill(self):
        ref_rows, ref_params = rows(self.reference), params(self.reference)
        for n, moments in enumerate(((5,), (12, 40), (3, 20, 60))):
            out = self.path(f"killed {n}")
            log = out + ".log"
            for m in moments:
                proc = start(TRAIN + ["--out", out] + TINY + (["--resume"] if os.path.exists(out) else []), log)
                wait_for_lines(proc, os.path.join(out, "metrics.jsonl"), m)
                proc.send_signal(signal.SIGKILL)
                proc.wait()
            r = run(TRAIN + ["--out", out, "--resume"] + TINY)
            name = f"SIGKILL after {', '.join(map(str, moments))} log lines, then resume"
            if "Traceback" in r.output:
                self.record("kill", name, "traceback", r.output.strip().splitlines()[-1][:160])
            elif r.code != 0:
                self.record("kill", name, "wrong", r.output.strip().splitlines()[-1][:160])
            elif rows(out) != ref_rows or not np.array_equal(params(out), ref_params):
                self.record("kill", name, "wrong", "metrics or parameters differ from the uninterrupted run")
            else:
                self.record("kill", name, "ok", "metrics.jsonl and parameters equal the uninterrupted run")
        for sig in (signal.SIGINT, signal.SIGTERM):
            out = self.path(f"signal {sig.name}")
            proc = start(TRAIN + ["--out", out] + TINY, out + ".log")
            wait_for_lines(proc, os.path.join(out, "metrics.jsonl"), 10)
            proc.send_signal(sig)
            proc.wait(timeout=120)
            with open(out + ".log") as fh:
                text = fh.read()
            lines = [line for line in text.replace("\r", "\n").splitlines() if "interrupted at step" in line]
            name = f"{sig.name} mid-run"
            if "Traceback" in text:
                self.record("kill", name, "traceback", f"{text.count('Traceback')} traceback(s)")
                continue
            r = run(TRAIN + ["--out", out, "--resume"] + TINY)
            if len(lines) != 1 or proc.returncode != 130:
                self.record("kill", name, "unclear", f"exit {proc.returncode}, {len(lines)} interruption line(s)")
            elif r.code != 0 or rows(out) != ref_rows or not np.array_equal(params(out), ref_params):
                self.record("kill", name, "wrong", "the resumed run differs from the uninterrupted one")
            else:
                self.record("kill", name, "ok", lines[0].strip()[:160])

        # Ctrl-C as soon as the run's first file appears, while checkpoint 0 is being written: the run must
        # stop with one clear line and leave a folder that --resume finishes like an uninterrupted run.
        out = self.path("SIGINT at start")
        proc = start(TRAIN + ["--out", out] + TINY, out + ".log")
        deadline = time.time() + 300
        while not os.path.exists(os.path.join(out, "config.json")) and proc.poll() is None and time.time() < deadline:
            time.sleep(0.005)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=120)
        with open(out + ".log") as fh:
            text = fh.read()
        name = "SIGINT while checkpoint 0 is written"
        if "Traceback" in text:
            self.record("kill", name, "traceback", f"{text.count('Traceback')} traceback(s)")
        elif proc.returncode != 130:
            self.record("kill", name, "unclear", f"exit {proc.returncode}")
        else:
            r = run(TRAIN + ["--out", out, "--resume"] + TINY)
            if r.code != 0 or rows(out) != ref_rows or not np.array_equal(params(out), ref_params):
                self.record("kill", name, "wrong", "the resumed run differs from the uninterrupted one")
            else:
                said = [line for line in text.replace("\r", "\n").splitlines() if "interrupted" in line]
                self.record("kill", name, "ok", (said[-1] if said else "").strip()[:160])

    def diverge(self):
        for name, extra, expect in (("adam at lr 1e6", ["--lr", "1e6"], "diverged"),
                                    ("sgd at lr 1e9", ["--optimizer", "sgd", "--lr", "1e9"], "diverged"),
                                    ("init uniform:inf", ["--init", "uniform:inf"], "finite")):
            out = self.path(name)
            r = run(TRAIN + ["--out", out] + TINY + extra)
            status, detail = classify_refusal(r)
            if status == "clear" and expect not in r.output:
                status, detail = "unclear", detail
            kept = os.path.join(out, "checkpoints")
            if status == "clear" and os.path.isdir(kept) and os.listdir(kept):
                if not np.all(np.isfinite(params(out))):  # the latest kept checkpoint, the one --resume takes
                    status, detail = "wrong", "the kept checkpoint is not finite"
            self.record("diverge", name, status, detail)

    def data(self):
        rng = np.random.default_rng(0)

        def npz(name, **override):
            folder = self.path(name)
            os.makedirs(folder)
            arrays = dict(x_train=rng.integers(0, 256, (100, 32, 32, 3), np.uint8), y_train=np.arange(100) % 10,
                          x_test=rng.integers(0, 256, (20, 32, 32, 3), np.uint8), y_test=np.arange(20) % 10)
            arrays.update(override)
            np.savez(os.path.join(folder, "cifar10.npz"), **arrays)
            return folder

        cases = {
            "50 labels for 100 images": dict(y_train=np.arange(50) % 10),
            "labels of shape (100, 2)": dict(y_train=np.zeros((100, 2), int)),
            "NaN training pixels": dict(x_train=np.full((100, 32, 32, 3), np.nan, np.float32)),
            "NaN test pixels": dict(x_test=np.full((20, 32, 32, 3), np.nan, np.float32)),
            "test label -1": dict(y_test=np.full(20, -1)),
            "test images of another shape": dict(x_test=np.zeros((20, 16, 16, 3), np.uint8)),
            "empty training set": dict(x_train=np.zeros((0, 32, 32, 3), np.uint8), y_train=np.zeros(0, int)),
        }
        for name, override in cases.items():
            folder = npz(name, **override)
            r = run(TRAIN + ["--out", self.path(name + " run"), "--dataset", "cifar10", "--data-dir", folder,
                             "--epochs", "1", "--batch-size", "10", "--seeds", "1"])
            self.record("data", name, *classify_refusal(r))
        folder = self.path("not a zip")
        os.makedirs(folder)
        with open(os.path.join(folder, "cifar10.npz"), "wb") as fh:
            fh.write(b"definitely not a zip file")
        r = run(TRAIN + ["--out", self.path("not a zip run"), "--dataset", "cifar10", "--data-dir", folder])
        self.record("data", "npz that is not a zip", *classify_refusal(r))

    def runs(self):
        """Issue 21: a sweep without a validation split, one diverging seed among healthy ones, a value
        given to a learnable name, and --resume with no other flags (one run and a comparison)."""
        def failed(name, r):
            if "Traceback" in r.output:
                self.record("runs", name, "traceback", r.output.strip().splitlines()[-1][:160])
                return True
            if r.code != 0:
                self.record("runs", name, "wrong", "exit " + str(r.code) + ": " + r.output.strip().splitlines()[-1][:140])
                return True
            return False

        def summary(out):
            path = os.path.join(out, "summary.json")
            if not os.path.exists(path):
                return None
            with open(path) as fh:
                return json.load(fh)

        def unfinish(out):  # as if killed after the previous checkpoint: the last one and the summary go
            steps = sorted(int(p) for p in os.listdir(os.path.join(out, "checkpoints")))
            shutil.rmtree(os.path.join(out, "checkpoints", str(steps[-1])))
            os.remove(os.path.join(out, "checksums", f"{steps[-1]}.json"))
            os.remove(os.path.join(out, "summary.json"))

        name = "sweep with --val-fraction 0, then its summary lost and --resume"
        out = self.path(name)
        r = run(TRAIN + ["--out", out] + TINY + ["--lr", "1e-3,1e-2", "--val-fraction", "0"])
        if not failed(name, r):
            first = summary(out)
            if first is None or first["chosen"].get("on") != "training" or "training loss" not in r.output:
                self.record("runs", name, "wrong", "no summary, or the choice on the training loss not stated")
            else:
                os.remove(os.path.join(out, "summary.json"))
                r = run(TRAIN + ["--out", out, "--resume"])
                again = summary(out)
                if not failed(name, r):
                    same = again is not None and again["chosen"] == first["chosen"]
                    self.record("runs", name, "ok" if same else "wrong",
                                f"chosen on the training loss: setting {first['chosen']['index']}; resume finished it"
                                if same else "the resumed run chose differently or wrote no summary")

        name = "one diverging seed (digits, SGD lr 3, 4 seeds)"
        out = self.path(name)
        r = run(TRAIN + ["--out", out, "--dataset", "digits", "--depth", "2", "--width", "64", "--optimizer", "sgd",
                         "--lr", "3", "--schedule", "constant", "--seeds", "4", "--val-fraction", "0.1", "--epochs",
                         "3", "--batch-size", "100"])
        s = summary(out)
        if "Traceback" in r.output:
            self.record("runs", name, "traceback", r.output.strip().splitlines()[-1][:160])
        elif s is None:
            status, detail = classify_refusal(r)  # every seed diverged here: that must be a clear refusal
            self.record("runs", name, "ok" if status == "clear" and "every run diverged" in r.output else "wrong",
                        "every seed diverged here: " + detail if status == "clear" else "no summary: " + detail)
        else:
            diverged = s["settings"][0]["diverged"]
            lines = [line for line in r.output.splitlines() if line.startswith("diverged: seed")]
            marked = [v is None for v in s["settings"][0]["test_accuracy"]["per_seed"]] == diverged
            if len(lines) == sum(diverged) and marked and s["seeds_trained"] == 4 - sum(diverged):
                self.record("runs", name, "ok", f"{sum(diverged)} of 4 diverged, named on the console; the "
                            f"setting's results over the {s['seeds_trained']} that trained")
            else:
                self.record("runs", name, "wrong", f"diverged {diverged}, {len(lines)} console line(s)")

        name = "prelu(slope=0.3) learns its slope"
        out = self.path(name)
        r = run(TRAIN + ["--out", out] + TINY + ["--activation", "prelu(slope=0.3),leaky_relu(negative_slope=0.3)"])
        if not failed(name, r):
            learned = params(os.path.join(out, "prelu_slope=0.3")).size
            fixed = params(os.path.join(out, "leaky_relu_negative_slope=0.3")).size
            self.record("runs", name, "ok" if learned > fixed else "wrong",
                        f"{learned - fixed} more numbers in its checkpoint than the fixed slope's (slopes, moments)"
                        if learned > fixed else "no learned slope in the checkpoint")

        for name, activation, folder in (("tanh run resumed with --resume alone", "tanh", ""),
                                         ("comparison resumed with --resume alone", "relu,tanh", "tanh")):
            out = self.path(name)
            r = run(TRAIN + ["--out", out] + TINY + ["--activation", activation])
            if failed(name, r):
                continue
            target = os.path.join(out, folder)
            before = params(target)
            unfinish(target)
            r = run(TRAIN + ["--out", out, "--resume"])
            if failed(name, r):
                continue
            named = (all(f"| {a} |" in r.output for a in activation.split(","))
                     and ("| relu |" in r.output) == ("relu" in activation))
            if not named:
                self.record("runs", name, "wrong", "the result table names other activations")
            elif not np.array_equal(params(target), before):
                self.record("runs", name, "wrong", "the resumed run differs from the uninterrupted one")
            else:
                self.record("runs", name, "ok", f"resumed {activation} with its saved settings, equal to the "
                            "uninterrupted run")

    def study(self):
        file_path = self.path("study_file")
        with open(file_path, "w") as fh:
            fh.write("x")
        cases = {
            "out is a file": ["--out", file_path],
            "out under a file": ["--out", os.path.join(file_path, "sub")],
            "zero seeds": ["--seeds", "0"],
            "zero batch": ["--batch", "0"],
            "negative seeds": ["--seeds", "-1"],
            "unknown variant": ["--variants", "nope"],
            "zero image size": ["--image-size", "0"],
            "unknown activation": ["--activations", "selu,sleu"],
            "negative seed": ["--seed", "-1"],
        }
        for name, extra in cases.items():
            out = [] if "--out" in extra else ["--out", self.path("study " + name)]
            r = run(STUDY + ["--quick"] + out + extra)
            self.record("study", name, *classify_refusal(r))
        out = self.path("study preset")
        r = run(STUDY + ["--quick", "--out", out, "--width", "256", "--depth", "200", "--activations", "selu",
                         "--inits", "lecun_normal", "--variants", "tanh", "--widths", "32"])
        if r.code != 0:
            self.record("study", "explicit flags beat --quick", "traceback" if "Traceback" in r.output else "wrong",
                        r.output.strip().splitlines()[-1][:160])
            return
        with open(os.path.join(out, "results.json")) as fh:
            text = fh.read()

        def strict(token):
            raise ValueError(f"non-standard JSON token {token}")
        try:
            saved = json.loads(text, parse_constant=strict)
            ok = saved["config"]["width"] == 256 and saved["config"]["depth"] == 200
            self.record("study", "explicit flags beat --quick", "ok" if ok else "wrong",
                        f"width {saved['config']['width']}, depth {saved['config']['depth']}")
            self.record("study", "results.json is strict JSON", "ok", "no NaN or Infinity tokens")
        except ValueError as e:
            self.record("study", "results.json is strict JSON", "wrong", str(e))


GROUPS = ("flags", "resume", "kill", "diverge", "runs", "data", "study")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", default=",".join(GROUPS), help=f"comma-separated groups of {GROUPS}")
    args = p.parse_args(argv)
    groups = [g.strip() for g in args.only.split(",") if g.strip()]
    unknown = sorted(set(groups) - set(GROUPS))
    if unknown:
        raise SystemExit(f"error: unknown group(s) {unknown}; choose from {', '.join(GROUPS)}")
    with tempfile.TemporaryDirectory() as tmp:
        checks = Checks(tmp)
        for g in groups:
            getattr(checks, g)()
    counts = {k: sum(r[2] == k for r in checks.results) for k in
              ("ok", "clear", "traceback", "wrong", "silent", "unclear")}
    print("\n| tried | ok | clear errors | tracebacks | wrong results | silent acceptances | unclear errors |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {len(checks.results)} | {counts['ok']} | {counts['clear']} | {counts['traceback']} | {counts['wrong']} | "
          f"{counts['silent']} | {counts['unclear']} |")
    return 0 if counts["traceback"] == counts["wrong"] == counts["silent"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
