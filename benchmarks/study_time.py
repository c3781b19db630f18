"""Where the depth study's time goes: start-up, probe, theory, figures; a first run and a rerun.

    python -m benchmarks.study_time                  # the default study (a few minutes on 2 CPU cores)
    python -m benchmarks.study_time --quick          # any flag of experiments.selfnorm_depth is passed on

Runs ``python -m experiments.selfnorm_depth`` twice as a user would, each in a fresh process with a new
temporary output folder: first with an empty cache folder (a first run on a new machine), then again with
the cache the first run filled (the theory's results and XLA's compiled programs). Prints the split of each
run's wall time, read from its results.json (``timing``) and the process's own wall clock; start-up (Python,
JAX and the package imported, the backend initialised) is timed by a third process that does only that.
The theory runs in a thread beside the probe, so "theory" overlaps "probe"; "waiting for the theory" is
what it adds after the probe is done.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

STARTUP = "import jax, experiments.selfnorm_depth; jax.devices()"


def _wall(argv: list[str]) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"error: {' '.join(argv[2:4])} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> list[dict]:
    argv = sys.argv[1:] if argv is None else list(argv)
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__)
        return []
    if any(a == "--out" or a.startswith("--out=") or a.startswith("--cache-dir") for a in argv):
        raise SystemExit("error: study_time chooses --out and --cache-dir itself (temporary folders); drop them")
    # Checked before the long runs: a bad study flag is the study's own one-line error.
    from experiments import selfnorm_depth

    selfnorm_depth.config_from_argv(argv)
    import jax

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        startup = _wall([sys.executable, "-c", STARTUP])
        cache = os.path.join(tmp, "cache")
        for name in ("first run (empty cache)", "rerun (cache filled)"):
            out = os.path.join(tmp, f"out{len(rows)}")
            wall = _wall([sys.executable, "-m", "experiments.selfnorm_depth", *argv, "--out", out, "--cache-dir", cache])
            with open(os.path.join(out, "results.json")) as fh:
                r = json.load(fh)
            t = r["timing"]
            rows.append({"run": name, "wall": wall, "startup": startup, "study": r["seconds"], "probe": t["probe"],
                         "theory": t["theory"], "theory_wait": t["theory_wait"],
                         "figures_and_report": max(0.0, wall - startup - r["seconds"]),
                         "theories": f"{t['theories_computed']} computed, {t['theories_cached']} cached",
                         "programs": r["programs"], "configurations": len(r["runs"])})
    print(f"backend {jax.default_backend()}, {jax.device_count()} device(s), {os.cpu_count()} CPU cores; "
          f"study flags: {' '.join(argv) or '(defaults)'}")
    print("| run | wall (s) | start-up | study | probe (compile + run) | theory (beside the probe) | "
          "waiting for the theory | figures and report | theories |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['run']} | {row['wall']:.1f} | {row['startup']:.1f} | {row['study']:.1f} | {row['probe']:.1f} | "
              f"{row['theory']:.1f} | {row['theory_wait']:.1f} | {row['figures_and_report']:.1f} | {row['theories']} |")
    return rows


if __name__ == "__main__":
    main()
