"""A command's outputs as one set: written into a staging folder beside ``--out``, then put in place whole.

A kill at any moment leaves ``--out`` holding either the previous set or the new one, never a mix of
the two (the depth study's results.json beside an older report, say). The set's file names are kept
in ``.outputs`` inside it, so that replacing a set removes exactly the files of the old set; any other
file a user keeps in ``--out`` (notes, say) is carried over into the new folder.

    with output_set(out) as staging:
        write(staging)            # everything the command writes, relative names only
    # here ``out`` holds the new set

Inside the set every command takes one path from results to report (:func:`render`): the results as
JSON, then the figures and report.md drawn from that JSON as read back, so :func:`redraw` remakes them
from the JSON alone.

The swap is two renames (``out`` aside, the staging folder in its place): a kill between them leaves
both complete sets in the parent folder, the old one named ``.{name}.old-*``; nothing is ever half written.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence

MANIFEST = ".outputs"


def check_out(out: str, flag: str = "--out") -> None:
    """Raises ValueError, before any work, if ``out`` cannot take an output set: a file, or a folder
    whose parent cannot be written (the staging folder goes beside it)."""
    if not out:
        raise ValueError(f"{flag} is empty: give a folder")
    if os.path.exists(out) and not os.path.isdir(out):
        raise ValueError(f"{flag} {out} is an existing file, not a folder")
    parent = os.path.dirname(os.path.abspath(out))
    try:
        os.makedirs(parent, exist_ok=True)
        tempfile.TemporaryDirectory(dir=parent).cleanup()
    except OSError as e:
        raise ValueError(f"cannot write beside {flag} {out}: {e.strerror or e}") from None


def _previous_set(out: str) -> set[str] | None:
    """The file names of the set in ``out`` (None: a folder without a manifest, written by hand or by an
    older version: its files are all kept)."""
    try:
        with open(os.path.join(out, MANIFEST)) as fh:
            return {line.strip() for line in fh if line.strip()}
    except OSError:
        return None


@contextlib.contextmanager
def output_set(out: str) -> Iterator[str]:
    """A fresh staging folder to write the whole set into; on leaving the block without an exception it
    replaces ``out``. On an exception the staging folder is removed and ``out`` is untouched."""
    staging = new_staging(out)
    try:
        yield staging
        put_in_place(staging, os.path.abspath(out))
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def put_in_place(staging: str, out: str) -> None:
    """Replaces ``out`` by the folder ``staging`` (see the module docstring)."""
    written = sorted(os.listdir(staging))
    with open(os.path.join(staging, MANIFEST), "w") as fh:
        fh.write("\n".join(n for n in written if n != MANIFEST) + "\n")
    if not os.path.isdir(out):
        os.rename(staging, out)
        return
    old_set = _previous_set(out)
    for entry in os.listdir(out):  # a user's own files travel to the new folder
        if entry == MANIFEST or entry in written or (old_set is not None and entry in old_set):
            continue
        os.rename(os.path.join(out, entry), os.path.join(staging, entry))
    aside = tempfile.mkdtemp(prefix=f".{os.path.basename(out)}.old-", dir=os.path.dirname(out))
    os.rmdir(aside)
    os.rename(out, aside)
    os.rename(staging, out)
    shutil.rmtree(aside, ignore_errors=True)


def new_staging(out: str) -> str:
    """An empty staging folder beside ``out`` (for a command that manages the set itself; see output_set)."""
    out = os.path.abspath(out)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    return tempfile.mkdtemp(prefix=f".{os.path.basename(out)}.new-", dir=os.path.dirname(out))


def keep_partial(staging: str, out: str) -> str:
    """Where an interrupted command's finished part goes: into ``out`` if it holds nothing yet, else beside
    it as ``{out}.interrupted-N`` (the earlier complete set stays as it was). Returns the folder."""
    if not os.path.isdir(out) or not os.listdir(out):
        if os.path.isdir(out):
            os.rmdir(out)
        put_in_place(staging, out)
        return out
    n = 1
    while os.path.exists(f"{out}.interrupted-{n}"):
        n += 1
    os.rename(staging, f"{out}.interrupted-{n}")
    return f"{out}.interrupted-{n}"


def write_atomic(path: str, text: str) -> None:
    """Writes ``path`` through a temporary file in its folder and os.replace: never a half-written file."""
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


Draw = Callable[[dict, str], list]  # (results as read from JSON, folder) -> file names of the figures
Report = Callable[[dict, list], "str | dict[str, str]"]  # (results, figures) -> report.md, or {file name: text}


def render(folder: str, name: str, results: dict, draw: Draw, report: Report) -> list[str]:
    """Writes ``results`` to ``folder/name`` (strict JSON), then the figures and report.md (or every document
    ``report`` returns) drawn from the JSON as read back, so they never use what the JSON does not hold.
    Returns the figures' file names."""
    text = json.dumps(results, indent=1, allow_nan=False)  # a failure here writes nothing
    write_atomic(os.path.join(folder, name), text)
    data = json.loads(text)
    figures = draw(data, folder)
    documents = report(data, figures)
    for doc, body in ({"report.md": documents} if isinstance(documents, str) else documents).items():
        write_atomic(os.path.join(folder, doc), body)
    return figures


def redraw(folder: str, name: str, required: Sequence[str], draw: Draw, report: Report, command: str,
           kind: str) -> list[str]:
    """Redraws the figures and report.md of ``folder`` from its ``name`` (JSON), as one set; a file that is
    missing, corrupt, or not ``kind`` results (one of ``required`` keys absent) raises SystemExit with one line
    that names ``command``, the command that writes it."""
    path = os.path.join(folder, name)
    try:
        with open(path) as fh:
            data = json.load(fh)
    except (OSError, ValueError) as e:
        raise SystemExit(f"error: cannot read {path}: {e}")
    missing = [k for k in required if not isinstance(data, dict) or k not in data]
    if missing:
        raise SystemExit(f"error: {path} is not {kind} {name} (no {', '.join(missing)}); write one with {command}")
    try:
        with output_set(folder) as staging:
            return render(staging, name, data, draw, report)
    except (KeyError, TypeError, ValueError, IndexError) as e:
        raise SystemExit(f"error: {path} does not hold what this version draws ({type(e).__name__}: {e}); "
                         f"rerun {command}") from None
