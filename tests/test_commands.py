"""Command lines shared by every command (jaxacts.cli) and output sets (experiments.outputs): bad values are
one-line errors before any work, and a killed command leaves the old outputs or the new ones, never a mix."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from experiments import gallery, outputs
from jaxacts import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclasses.dataclass(frozen=True)
class _Sweep:
    """A sweep.

    Attributes:
        lr: learning rates
        shift: a shift
    """

    lr: tuple[float, ...] = (1e-3,)
    shift: float = 0.0


def test_negative_numbers_after_a_space_are_values():
    args = cli.parse(_Sweep, ["--lr", "-1e-3,2", "--shift", "-.5"], "")
    assert getattr(args, "lr") == (-1e-3, 2.0) and getattr(args, "shift") == -0.5
    assert cli.given_flags(_Sweep, ["--shift", "-1e-3"]) == {"shift"}


@pytest.mark.parametrize("text, words", [("1e-3,,1e-2", "empty item"), ("1e-3,", "empty item"),
                                         ("1e-3,1e-3", "given more than once")])
def test_lists_with_empty_or_repeated_items_are_refused(text, words, capsys):
    with pytest.raises(SystemExit):
        cli.parse(_Sweep, ["--lr", text], "")
    assert words in capsys.readouterr().err


def _benchmark(name):
    import importlib

    return importlib.import_module(f"benchmarks.{name}")


@pytest.mark.parametrize("name, flags, words", [
    ("activations", ["--names", "nope"], "Unknown activation 'nope'"),
    ("activations", ["--names", ""], "--names is empty"),
    ("activations", ["--names", "maxout"], "maxout is not elementwise"),
    ("activations", ["--size", "-1"], "--size must be 10 to 28"),
    ("activations", ["--size", "60"], "--size must be 10 to 28"),
    ("activations", ["--repeats", "0"], "--repeats must be >= 1"),
    ("train_run", ["--epochs", "0"], "--epochs must be >= 1"),
    ("train_run", ["--seeds", "0"], "--seeds must be >= 1"),
    ("train_run", ["--repeats", "-3"], "--repeats must be >= 1"),
    ("train_run", ["--only", "both"], "--only must be lean or package"),
    ("train_step", ["--depth", "-1"], "--depth must be >= 1"),
    ("train_step", ["--seeds", "-2"], "--seeds must be >= 0"),
    ("train_step", ["--sizes", "256by128"], "is not WIDTHxBATCH"),
    ("probe_memory", ["--width", "0"], "--width must be >= 1"),
    ("probe_memory", ["--depths", "-5"], "--depths must be one or more depths >= 1"),
    ("probe_memory", ["--depths", "abc"], "expected comma-separated integers"),
    ("probe_memory", ["--architecture", "resnet"], "--architecture must be one of"),
])
def test_benchmark_command_lines_refuse_bad_values_in_one_line(name, flags, words, capsys):
    with pytest.raises(SystemExit) as e:
        _benchmark(name).main(flags)
    message = (str(e.value) if not isinstance(e.value.code, int) else "") + capsys.readouterr().err
    assert words in message and "Traceback" not in message


@pytest.mark.parametrize("flags, words", [
    (["--xmax", "inf"], "--xmax must be a finite number"),
    (["--xmin", "nan"], "--xmin must be a finite number"),
    (["--xmin", "2", "--xmax", "1"], "--xmin must be < --xmax"),
    (["--names", "nope"], "Unknown activation"),
    (["--out", ""], "--out is empty"),
    (["--out", "/proc/x"], "cannot write beside --out /proc/x"),
])
def test_gallery_refuses_bad_values_before_any_work(tmp_path, flags, words):
    with pytest.raises(SystemExit, match=words.replace("(", r"\(")):
        gallery.main(["--out", str(tmp_path / "g")] + flags)
    assert not os.path.exists(tmp_path / "g")


def test_gallery_refuses_to_overwrite_and_replaces_its_set_whole(tmp_path):
    out = tmp_path / "g"
    gallery.main(["--out", str(out), "--names", "relu,selu"])
    (out / "notes.txt").write_text("mine")
    with pytest.raises(SystemExit, match="already holds a gallery; pass --overwrite"):
        gallery.main(["--out", str(out), "--names", "tanh"])
    gallery.main(["--out", str(out), "--names", "tanh", "--overwrite"])
    # the old set's figures are gone, the user's file stays, no staging folder is left beside
    assert sorted(os.listdir(out)) == [outputs.MANIFEST, "notes.txt", "overview.png", "tanh.png"]
    assert os.listdir(tmp_path) == ["g"]


def test_a_failed_write_leaves_the_earlier_set_whole(tmp_path):
    out = tmp_path / "o"
    with outputs.output_set(str(out)) as staging:
        for name in ("a.json", "a.png"):
            (Path(staging) / name).write_text("old")
    with pytest.raises(RuntimeError):
        with outputs.output_set(str(out)) as staging:
            (Path(staging) / "a.json").write_text("new")
            raise RuntimeError("killed while drawing")
    assert {n: (out / n).read_text() for n in ("a.json", "a.png")} == {"a.json": "old", "a.png": "old"}
    assert os.listdir(tmp_path) == ["o"]


def test_a_killed_gallery_leaves_the_old_set_or_the_new_one(tmp_path):
    out = tmp_path / "g"
    gallery.main(["--out", str(out), "--names", "relu"])
    old = sorted(os.listdir(out))
    new = sorted([outputs.MANIFEST, "overview.png"] + [f"{n}.png" for n in ("tanh", "selu", "elu", "gelu")])
    for delay in (4.0, 7.0):  # while importing or drawing, depending on the machine
        proc = subprocess.Popen([sys.executable, "-m", "experiments.gallery", "--out", str(out), "--overwrite",
                                 "--names", "tanh,selu,elu,gelu"], cwd=ROOT)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        now = sorted(os.listdir(out))
        assert now in (old, new), now
