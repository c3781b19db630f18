"""Several processes (hosts) through JAX's own distributed runtime: joining, agreeing, one writer.

Every command takes ``--coordinator-address HOST:PORT --num-processes N --process-id I`` (the
arguments of ``jax.distributed.initialize``), or ``--distributed`` alone on a cluster whose
environment JAX detects by itself (SLURM, Open MPI, Cloud TPU); :func:`initialize` joins before any
JAX computation. Afterwards ``jax.devices()`` spans every process, and the library works on it:

* global arrays are made on their sharding and read back with :func:`to_host` (an all-gather where
  an array spans other processes' devices), so every process holds the same host values;
* process 0 alone writes logs, JSON, figures and checksums (:func:`is_writer`); every process takes
  part in orbax saves, which need one folder that all of them see;
* decisions that stop or refuse a run are agreed (:func:`any_process`, :func:`agree`), so no process
  is left waiting in a collective for one that has gone.

With one process every helper is free: no collective runs and nothing changes.
"""

from __future__ import annotations

import argparse
import hashlib
import os
from collections.abc import Callable
from typing import Any

import jax
import numpy as np


def add_flags(parser: argparse.ArgumentParser) -> None:
    """Adds ``--coordinator-address``, ``--num-processes``, ``--process-id`` and ``--distributed``."""
    group = parser.add_argument_group("several hosts (jax.distributed.initialize)")
    group.add_argument("--coordinator-address", default=None, metavar="HOST:PORT",
                       help="address of process 0's coordinator, the same on every process")
    group.add_argument("--num-processes", type=int, default=None, metavar="N", help="processes taking part")
    group.add_argument("--process-id", type=int, default=None, metavar="I", help="this process, 0 to N - 1")
    group.add_argument("--distributed", action="store_true",
                       help="join a cluster whose environment JAX detects (SLURM, Open MPI, Cloud TPU), without "
                            "the three flags above")


def _check_flags(args: argparse.Namespace) -> dict[str, Any] | None:
    """The keyword arguments of ``jax.distributed.initialize`` that the flags ask for (None: do not call
    it); a ValueError for flags that do not fit together."""
    given = {"--coordinator-address": args.coordinator_address, "--num-processes": args.num_processes,
             "--process-id": args.process_id}
    if all(v is None for v in given.values()):
        return {} if args.distributed else None
    missing = [flag for flag, v in given.items() if v is None]
    if missing:
        raise ValueError(f"--coordinator-address, --num-processes and --process-id go together; missing "
                         f"{', '.join(missing)} (or give --distributed alone where JAX detects the cluster)")
    host, _, port = args.coordinator_address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--coordinator-address must be HOST:PORT (port 1 to 65535), got {args.coordinator_address!r}")
    if args.num_processes < 1:
        raise ValueError(f"--num-processes must be >= 1, got {args.num_processes}")
    if not 0 <= args.process_id < args.num_processes:
        raise ValueError(f"--process-id must be 0 to {args.num_processes - 1} (--num-processes "
                         f"{args.num_processes}), got {args.process_id}")
    return dict(coordinator_address=args.coordinator_address, num_processes=args.num_processes,
                process_id=args.process_id)


def initialize(args: argparse.Namespace) -> None:
    """Joins the processes named by the flags of :func:`add_flags` (nothing without them); bad flags, or a
    failure to join, end the program with one line. Call it before any JAX computation."""
    try:
        kwargs = _check_flags(args)
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None
    if kwargs is None:
        return
    platforms = os.environ.get("JAX_PLATFORMS", "") or jax.config.jax_platforms or ""
    if not platforms or "cpu" in platforms.split(","):
        # CPU devices of different processes talk through gloo; without it their collectives fail. The
        # setting concerns the CPU backend only, so where a GPU serves the computation it changes nothing.
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    try:
        jax.distributed.initialize(**kwargs)
    except (RuntimeError, ValueError) as e:  # XLA's errors arrive as RuntimeError (XlaRuntimeError)
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise SystemExit(f"error: could not join the distributed run ({first})") from None


def is_writer() -> bool:
    """Whether this process writes the run's files (process 0; the only process when there is one)."""
    return jax.process_index() == 0


def _host_value(x):
    if not isinstance(x, jax.Array) or x.is_fully_addressable:
        return np.asarray(x)
    if x.is_fully_replicated:
        return np.asarray(x.addressable_data(0))
    from jax.experimental import multihost_utils

    return np.asarray(multihost_utils.process_allgather(x, tiled=True))


def to_host(tree):
    """``tree`` with every array as a numpy array of its global value, on every process.

    An array that spans devices of other processes is all-gathered (a collective: every process must
    call this with the same tree, in the same order); the others are plain copies."""
    return jax.tree.map(_host_value, tree)


def _gathered(values: np.ndarray) -> np.ndarray:
    """(processes, ...) every process's ``values`` (equal shapes and dtypes everywhere)."""
    if jax.process_count() == 1:
        return values[None]
    from jax.experimental import multihost_utils

    return np.asarray(multihost_utils.process_allgather(values))


def any_process(flag: bool) -> bool:
    """Whether ``flag`` holds on any process (all get the same answer; a collective with several)."""
    return bool(_gathered(np.asarray([flag], np.int32)).any())


def barrier(name: str) -> None:
    """Waits until every process reaches the barrier of this ``name`` (nothing with one process)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def agree(check: Callable[[], Any]) -> Any:
    """``check()`` on every process; if it raises on any, it raises on all, so none goes on to wait in a
    collective for one that stopped. A process whose own check passed raises a ValueError naming the
    processes that refused (a SystemExit with that line, where one of them exited)."""
    try:
        value, error = check(), None
    except (Exception, SystemExit) as e:  # re-raised below, after every process has heard of it
        value, error = None, e
    kind = 0 if error is None else 2 if isinstance(error, SystemExit) else 1
    kinds = _gathered(np.asarray([kind], np.int32))[:, 0]
    if error is not None:
        raise error
    if kinds.any():
        message = (f"process(es) {', '.join(map(str, np.flatnonzero(kinds)))} refused to start; their error is on "
                   "their console")
        raise SystemExit(f"error: {message}") if (kinds == 2).any() else ValueError(message)
    return value


def same_path(path: str, flag: str = "--out") -> None:
    """Raises a ValueError unless every process names the same ``path`` (as an absolute path): orbax
    needs one shared folder that all processes write their shards into, and process 0 writes the rest."""
    digest = hashlib.sha256(os.path.abspath(path).encode()).digest()[:8]
    everyone = _gathered(np.frombuffer(digest, np.int32).copy())
    differ = [i for i in range(everyone.shape[0]) if not np.array_equal(everyone[i], everyone[0])]
    if differ:
        raise ValueError(f"{flag} differs between processes (process(es) {', '.join(map(str, differ))} name another "
                         f"path than process 0; this one, {jax.process_index()}, has {os.path.abspath(path)}): give "
                         "every process the same folder, on a file system they all share")
