"""Run the claims: ``python -m experiments.claims`` (every claim), ``--only ID,...``, ``--quick``
(a seconds-scale version of each: a data subset, few epochs, 2 seeds), ``--out DIR``.

Writes DIR/claims.json ({"claims": [{id, claim, source, protocol, measurements, statistic, ci95,
verdict, rule, figures}], "environment": {...}}), one figure per claim (DIR/<id>.png, listed by file name) and
DIR/report.md (the verdict table, then a section per claim). claims.json and report.md are rewritten
after each claim, so an interrupted run keeps the claims it finished.
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__" and "--quick" in sys.argv[1:]:
    # The quick version's models are tiny, so compiling dominates its time, and XLA's backend
    # optimizations cost more than they save (about 3x faster in all). Set before JAX starts its backend.
    _flags = os.environ.get("XLA_FLAGS", "")
    if "xla_backend_optimization_level" not in _flags:
        os.environ["XLA_FLAGS"] = f"{_flags} --xla_backend_optimization_level=0".strip()

import dataclasses  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from experiments import outputs  # noqa: E402
from experiments.claims import CLAIMS  # noqa: E402
from experiments.claims.common import VERDICTS  # noqa: E402
from jaxacts import data as D  # noqa: E402
from jaxacts import cli, distributed  # noqa: E402


@dataclasses.dataclass(frozen=True)
class RunnerConfig:
    """The claims runner's command line."""

    out: str = "results/claims"
    only: tuple[str, ...] = ()
    quick: bool = False
    seeds: int = 0
    dataset: str = "mnist1d"
    data_dir: str = ""
    overwrite: bool = False


HELP = {
    "out": "output folder (refused if it holds results, unless --overwrite)",
    "only": f"claims to run, comma-separated, from: {', '.join(CLAIMS)} (default: all)",
    "quick": "a seconds-scale version of each claim (data subset, few epochs, 2 seeds) to check the pipeline",
    "seeds": "seeds per configuration (0: each claim's own, at least 5; --quick: 2)",
    "dataset": "mnist1d (canonical), or cifar10 / mnist from --data-dir; digits for smoke tests only",
    "data_dir": "folder with the files of cifar10 or mnist",
    "overwrite": "replace results already in --out",
}


def configs(runner: RunnerConfig) -> dict:
    """Each chosen claim's config, with the runner's overrides applied (validated here, before any work)."""
    unknown = [i for i in runner.only if i not in CLAIMS]
    if unknown:
        raise ValueError(f"unknown claim {', '.join(map(repr, unknown))}; choose from {', '.join(CLAIMS)}")
    if runner.seeds < 0 or runner.seeds == 1:
        raise ValueError(f"--seeds must be 0 (each claim's own) or >= 2 for an interval, got {runner.seeds}")
    if runner.dataset not in D.DATASETS:
        raise ValueError(f"--dataset {runner.dataset!r} is not one of {', '.join(D.DATASETS)}")
    if runner.dataset not in D.BUILTIN_DATASETS and not runner.data_dir:
        raise ValueError(f"--dataset {runner.dataset} is read from files: give --data-dir")
    if runner.data_dir and not os.path.isdir(runner.data_dir):
        raise ValueError(f"--data-dir {runner.data_dir} is not a folder")
    out = {}
    for cid in runner.only or tuple(CLAIMS):
        module = CLAIMS[cid]
        config = module.QUICK if runner.quick else module.Config()
        data = dataclasses.replace(config.data, dataset=runner.dataset, data_dir=runner.data_dir)
        config = dataclasses.replace(config, data=data, **({"seeds": runner.seeds} if runner.seeds else {}))
        out[cid] = config
    return out


def environment(runner: RunnerConfig) -> dict:
    import flax
    import optax

    device = jax.devices()[0]
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "backend": jax.default_backend(), "device": getattr(device, "device_kind", str(device)),
        "device_count": jax.device_count(), "cpu_count": os.cpu_count(), "python": platform.python_version(),
        "platform": platform.platform(), "jax": jax.__version__, "flax": flax.__version__,
        "optax": optax.__version__, "numpy": np.__version__, "quick": runner.quick,
        "command": "python -m experiments.claims " + " ".join(sys.argv[1:]),
    }


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def verdict_table(entries: list[dict]) -> str:
    rows = ["| claim | measured effect (95% CI) | verdict |", "|---|---|---|"]
    for e in entries:
        rows.append(f"| {_cell(e['title'])} | {_cell(e['effect'])} | **{e['verdict']}** |")
    return "\n".join(rows)


def report(entries: list[dict], env: dict) -> str:
    lines = ["# Claims about activations, tested", "",
             f"{len(entries)} claim(s); {env['backend']} ({env['device']}), jax {env['jax']}"
             f"{', QUICK (pipeline check, not evidence)' if env['quick'] else ''}; `{env['command']}`.", "",
             "Each verdict follows the decision rule written beside its experiment before it was run. Intervals "
             "are 95% bootstrap intervals over seeds (paired: seeds share initialization and data order across "
             "the compared activations); learning rates were chosen on a validation split carved from the "
             "training set, never on the test set.", "", verdict_table(entries), ""]
    for e in entries:
        lines += [f"## {e['title']}", "", f"**Claim** ({e['source']}): {e['claim']}", "",
                  f"**Verdict: {e['verdict']}.** {e['statistic']['name']} = {e['statistic']['value']:.4g}, "
                  f"95% CI [{e['ci95'][0]:.4g}, {e['ci95'][1]:.4g}].", "", f"**Decision rule:** {e['rule']}", ""]
        lines += [f"![{e['id']}]({f})" for f in e["figures"]] + [""]
        lines += ["**Protocol:**", ""] + [f"- {k}: {_cell(v)}" for k, v in e["protocol"].items()] + [""]
        lines += e["details"] + [f"", f"({e['seconds']:.0f} s)", ""]
    return "\n".join(lines)


def _write(path: str, text: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def main(argv: Sequence[str] | None = None) -> dict:
    args = cli.parse(RunnerConfig, argv, __doc__, HELP, distributed.add_flags)
    distributed.initialize(args)  # before any JAX computation
    runner = cli.config_from_args(RunnerConfig, args)
    try:
        chosen = configs(runner)
        outputs.check_out(runner.out)
        if os.path.isdir(runner.out) and os.listdir(runner.out) and not runner.overwrite:
            raise ValueError(f"{runner.out} already holds results; pass --overwrite or choose another --out")
    except ValueError as e:
        raise SystemExit(f"error: {e}")
    staging = outputs.new_staging(runner.out)  # the set goes in place whole at the end (experiments.outputs)
    env = environment(runner)
    print(f"claims: {', '.join(chosen)} on {env['backend']} ({env['device']}){' [quick]' if runner.quick else ''}",
          flush=True)
    entries: list[dict] = []
    bar = tqdm(chosen.items(), desc="claims", total=len(chosen))
    try:
        for cid, config in bar:
            bar.set_postfix_str(cid)
            module = CLAIMS[cid]
            t0 = time.time()
            try:
                result = module.run(config)
            except D.DataError as e:
                raise SystemExit(f"error: {cid}: {e}")
            verdict = module.verdict(result)
            assert verdict in VERDICTS, verdict
            figure = os.path.join(staging, f"{cid}.png")
            module.figure(result, figure)
            entries.append({
                "id": cid, "title": module.TITLE, "claim": module.CLAIM, "source": module.SOURCE,
                "protocol": result["protocol"], "measurements": result["measurements"],
                "statistic": result["statistic"], "ci95": result["ci95"], "verdict": verdict, "rule": module.RULE,
                "figures": [os.path.basename(figure)], "effect": result["effect"], "details": result["details"],
                "config": dataclasses.asdict(config), "seconds": time.time() - t0})
            _write(os.path.join(staging, "claims.json"),
                   json.dumps({"claims": entries, "environment": env}, indent=1, allow_nan=False))
            _write(os.path.join(staging, "report.md"), report(entries, env))
        outputs.put_in_place(staging, runner.out)
    except KeyboardInterrupt:
        if not entries:
            raise SystemExit("interrupted before the first claim finished; nothing was written") from None
        kept = outputs.keep_partial(staging, runner.out)
        raise SystemExit(f"interrupted; {len(entries)} finished claim(s) are kept in {kept}") from None
    finally:
        bar.close()
        shutil.rmtree(staging, ignore_errors=True)
    print(verdict_table(entries))
    print(f"wrote {runner.out}/claims.json, report.md and {len(entries)} figure(s) in "
          f"{sum(e['seconds'] for e in entries):.0f} s")
    return {"claims": entries, "environment": env}


if __name__ == "__main__":
    main()
