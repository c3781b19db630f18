"""Run the claims: ``python -m experiments.claims`` (every claim), ``--only ID,...``, ``--quick``
(a seconds-scale version of each: a data subset, few epochs, 2 seeds), ``--out DIR``;
``--redraw DIR`` remakes the figures, report.md and guide.md of DIR from its claims.json alone.

Writes DIR/claims.json ({"claims": [{id, claim, source, tested, protocol, measurements, statistic, ci95,
interval, tuning, subverdicts, preregistration, verdict, rule, figures, plot}], "environment": {...}}), one
figure per claim (DIR/<id>.png), DIR/report.md (the verdict table, then a section per claim) and DIR/guide.md
with guide.png ("which activation should I use?", generated from claims.json: ``experiments.claims.guide``), one path
from results to report (``experiments.outputs.render``). They are rewritten after each claim, so an
interrupted run keeps the claims it finished. A claim whose pre-registration (decision rule and config)
differs from the committed full run's (docs/claims/claims.json) is flagged in the report.
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
from experiments.claims import common as C  # noqa: E402
from experiments.claims import guide  # noqa: E402
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
    merge: bool = False
    redraw: str = ""
    combine: tuple[str, ...] = ()


HELP = {
    "out": "output folder (refused if it holds results, unless --overwrite)",
    "only": f"claims to run, comma-separated, from: {', '.join(CLAIMS)} (default: all)",
    "quick": "a seconds-scale version of each claim (data subset, few epochs, 2 seeds) to check the pipeline",
    "seeds": "seeds per configuration (0: each claim's own, at least 5; --quick: 2)",
    "dataset": "mnist1d (canonical), or cifar10 / mnist from --data-dir; digits for smoke tests only",
    "data_dir": "folder with the files of cifar10 or mnist",
    "overwrite": "replace results already in --out",
    "merge": "keep the other claims already in --out's claims.json and replace or add only these (each claim records "
             "its own run: date, command, device)",
    "redraw": "a folder written by this command: redraw its figures and report.md from its claims.json, nothing else",
    "combine": "folders written by this command, comma-separated: put their claims together in --out (a later folder's "
               "claim replaces an earlier one's), each checked to have been run under this code's pre-registration",
}
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REGISTERED = os.path.join(ROOT, "docs", "claims", "claims.json")  # the committed full run


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
        "device_count": jax.device_count(), "process_count": jax.process_count(), "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(), "jax": jax.__version__, "flax": flax.__version__,
        "optax": optax.__version__, "numpy": np.__version__, "quick": runner.quick,
        "command": "python -m experiments.claims " + " ".join(sys.argv[1:]),
    }


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def registered() -> dict:
    """{claim id: (pre-registration hash, date)} of the committed full run (empty where there is none)."""
    try:
        with open(REGISTERED) as fh:
            saved = json.load(fh)
    except (OSError, ValueError):
        return {}
    if saved.get("environment", {}).get("quick", True):
        return {}
    date = saved["environment"].get("date", "?")
    return {c["id"]: (c.get("preregistration"), c.get("run", {}).get("date", date)) for c in saved.get("claims", [])}


def registration_note(entry: dict, env: dict) -> str:
    """Whether a claim's pre-registration matches the committed full run's (only a full run is compared)."""
    if env["quick"]:
        return "quick run: its config is not the registered one"
    earlier = registered().get(entry["id"])
    if earlier is None or earlier[0] is None:
        return "no earlier registered full run of this claim"
    if earlier[0] == entry["preregistration"]:
        return f"unchanged since the committed full run of {earlier[1]}"
    return f"**CHANGED** since the committed full run of {earlier[1]} (was {earlier[0][:12]})"


def _sub(s: dict) -> str:
    return f"{s['clause']}: {s['verdict']}"


def verdict_table(entries: list[dict]) -> str:
    rows = ["| claim | tested on | measured effect (95% CI) | clauses | verdict |", "|---|---|---|---|---|"]
    for e in entries:
        clauses = "; ".join(_sub(s) for s in e["subverdicts"]) if len(e["subverdicts"]) > 1 else "-"
        rows.append(f"| {_cell(e['title'])} | {_cell(e['tested'])} | {_cell(e['effect'])} | {_cell(clauses)} | "
                    f"**{e['verdict']}** |")
    return "\n".join(rows)


def _interval(ci) -> str:
    return "[" + ", ".join("inf" if v is None else f"{v:.4g}" for v in ci) + "]"


def report(results: dict, figures: list[str] | None = None) -> str:
    entries, env = results["claims"], results["environment"]
    lines = ["# Claims about activations, tested", "",
             f"{len(entries)} claim(s); {env['backend']} ({env['device']}), jax {env['jax']}"
             f"{', QUICK (pipeline check, not evidence)' if env['quick'] else ''}; `{env['command']}`.", "",
             "Each verdict follows the decision rule fixed with its experiment before it was run (its sha256 is "
             "printed below). Intervals are 95% Student t-intervals over evaluation seeds, on the difference or on "
             "the log of a ratio, paired by seed (seeds share initialization and data order across the compared "
             "arms), with their coverage simulated at the claim's seed count. Learning rates were tuned on tuning "
             "seeds and a validation split carved from the training set; the statistics come from separate "
             "evaluation seeds trained afresh at the chosen rates, and never from the test set's choice.", "",
             verdict_table(entries), ""]
    for e in entries:
        iv = e["interval"]
        lines += [f"## {e['title']}", "", f"**Claim** ({e['source']}): {e['claim']}", "",
                  f"**Tested on:** {e['tested']}.", "",
                  f"**Verdict: {e['verdict']}.** {e['statistic']['name']} = {e['statistic']['value']:.4g}, "
                  f"95% CI {_interval(e['ci95'])} ({iv['method']}; simulated coverage {iv['coverage']:.3f} at "
                  f"{len(e['tuning']['evaluation_seeds']) if e['tuning'] else e['protocol'].get('seeds', '?')} seeds).", "",
                  "| clause | verdict | statistic | 95% CI |", "|---|---|---|---|"]
        lines += [f"| {_cell(s['clause'])} | {s['verdict']} | {_cell(s['statistic']['name'])} = "
                  f"{s['statistic']['value']:.4g} | {_interval(s['ci95'])} |" for s in e["subverdicts"]]
        lines += ["", f"**Decision rule:** {e['rule']}", "",
                  f"**Pre-registration** (sha256 of the rule and config): `{e['preregistration']}`; "
                  f"{registration_note(e, env)}.", ""]
        lines += [f"![{e['id']}]({f})" for f in e["figures"]] + [""]
        lines += ["**Protocol:**", ""] + [f"- {k}: {_cell(v)}" for k, v in e["protocol"].items()] + [""]
        if e["tuning"]:
            lines += ["**Learning rates** (chosen on tuning seeds " + ", ".join(map(str, e["tuning"]["seeds"])) +
                      "; evaluated on seeds " + f"{e['tuning']['evaluation_seeds'][0]}-{e['tuning']['evaluation_seeds'][-1]}):", ""]
            lines += [f"- {a['arm']}: {a['chosen']:g} from {[float(f'{v:.4g}') for v in a['grid']]}"
                      + (f", grid extended by {a['extended']}" if a["extended"] else "")
                      + ("" if a["interior"] else f"; **at the edge** ({a['stopped']})") for a in e["tuning"]["arms"]]
            lines += [""]
        run = e.get("run", env)
        cpu = f", {e['cpu_seconds']:.0f} s of CPU time" if "cpu_seconds" in e else ""
        lines += e["details"] + ["", f"({e['seconds']:.0f} s{cpu}; run {run['date']} on {run['backend']} ({run['device']}): "
                                 f"`{run['command']}`)", ""]
    return "\n".join(lines)


def draw(results: dict, folder: str) -> list[str]:
    """Each claim's figure, drawn from its ``plot`` in claims.json, and the guide's."""
    names = []
    for e in results["claims"]:
        name = f"{e['id']}.png"
        CLAIMS[e["id"]].figure(e, os.path.join(folder, name))
        names.append(name)
    guide.figure(results, os.path.join(folder, "guide.png"))
    return names + ["guide.png"]


def documents(results: dict, figures: list[str]) -> dict[str, str]:
    """report.md and guide.md, from claims.json alone."""
    return {"report.md": report(results, figures), "guide.md": guide.guide(results)}


REQUIRED = ("claims", "environment")


def earlier_claims(out: str, chosen: dict) -> list[dict]:
    """The claims of ``out``'s claims.json that this run does not redo (for --merge); [] where there is none."""
    path = os.path.join(out, "claims.json")
    if not os.path.exists(path):
        return []
    try:
        with open(path) as fh:
            saved = json.load(fh)
        earlier = [c for c in saved["claims"] if c["id"] not in chosen]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"--merge: cannot read {path}: {e}") from None
    unknown = [c["id"] for c in earlier if c["id"] not in CLAIMS]
    if unknown:
        raise ValueError(f"--merge: {path} holds claims this version does not know: {', '.join(unknown)}")
    return earlier


def combined(folders: Sequence[str]) -> dict:
    """The claims of several runs' claims.json, a later folder's claim replacing an earlier one of the same id,
    each claim kept checked against this code's pre-registration (one run under another rule or config is
    refused; one replaced by a later folder's is not read), with the latest environment."""
    by_id, env = {}, None
    for folder in folders:
        path = os.path.join(folder, "claims.json")
        try:
            with open(path) as fh:
                saved = json.load(fh)
            claims, env = saved["claims"], saved["environment"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ValueError(f"cannot read {path}: {e}") from None
        for c in claims:
            if CLAIMS.get(c.get("id")) is None:
                raise ValueError(f"{path}: claim {c.get('id')!r} is not one of {', '.join(CLAIMS)}")
            c.setdefault("run", {k: saved["environment"].get(k) for k in ("date", "command", "backend", "device",
                                                                            "quick")})
            by_id[c["id"]] = (c, path)
    for cid, (c, path) in by_id.items():
        module = CLAIMS[cid]
        config = module.QUICK if c["run"].get("quick") else module.Config()
        if c.get("preregistration") != C.preregistration(module.RULE, config):
            raise ValueError(f"{path}: claim {cid} was run under another pre-registration than this code's; rerun it")
    return {"claims": in_order([c for c, _ in by_id.values()]), "environment": env}


def in_order(entries: list[dict]) -> list[dict]:
    return sorted(entries, key=lambda e: list(CLAIMS).index(e["id"]))


def main(argv: Sequence[str] | None = None) -> dict:
    args = cli.parse(RunnerConfig, argv, __doc__, HELP, distributed.add_flags)
    distributed.initialize(args)  # before any JAX computation
    runner = cli.config_from_args(RunnerConfig, args)
    if (runner.combine or runner.redraw) and not distributed.is_writer():
        return {}  # files only, no computation: process 0 does it
    if runner.combine:
        try:
            outputs.check_out(runner.out)
            results = combined(runner.combine)
        except ValueError as e:
            raise SystemExit(f"error: {e}")
        with outputs.output_set(runner.out) as staging:
            outputs.render(staging, "claims.json", results, draw, documents)
        print(verdict_table(results["claims"]))
        print(f"combined {len(results['claims'])} claim(s) from {', '.join(runner.combine)} into {runner.out}")
        return results
    if runner.redraw:
        figures = outputs.redraw(runner.redraw, "claims.json", REQUIRED, draw, documents, "python -m experiments.claims",
                                 "a claims run's")
        print(f"redrew {len(figures)} figure(s) and report.md in {runner.redraw}")
        return {}
    writer = distributed.is_writer()  # process 0 writes; every process trains its share of each sweep

    def plan():
        distributed.same_path(runner.out)
        chosen = configs(runner)
        outputs.check_out(runner.out)
        earlier = earlier_claims(runner.out, chosen) if runner.merge else []
        if os.path.isdir(runner.out) and os.listdir(runner.out) and not (runner.overwrite or runner.merge):
            raise ValueError(f"{runner.out} already holds results; pass --overwrite or --merge, or choose another "
                             "--out")
        return chosen, earlier

    try:  # every process checks; a refusal on any stops all (none is left waiting for the others)
        chosen, earlier = distributed.agree(plan)
    except ValueError as e:
        raise SystemExit(f"error: {e}")
    staging = outputs.new_staging(runner.out) if writer else None  # the set goes in place whole at the end
    env = environment(runner)
    if writer:
        processes = f" on {jax.process_count()} processes" if jax.process_count() > 1 else ""
        print(f"claims: {', '.join(chosen)} on {env['backend']} ({env['device']}){processes}"
              f"{' [quick]' if runner.quick else ''}", flush=True)
    entries: list[dict] = []
    bar = tqdm(chosen.items(), desc="claims", total=len(chosen), disable=not writer)
    try:
        with C.agreed_stops():  # several processes: a stop on any stops all at one epoch end
            for cid, config in bar:
                bar.set_postfix_str(cid)
                module = CLAIMS[cid]
                # CPU time: what a shared, loaded machine does not inflate
                t0, cpu0 = time.time(), time.process_time()
                try:
                    result = module.run(config)
                except D.DataError as e:
                    raise SystemExit(f"error: {cid}: {e}")
                verdict = module.verdict(result)
                assert verdict in VERDICTS, verdict
                keys = ("tested", "protocol", "measurements", "statistic", "ci95", "interval", "tuning",
                        "subverdicts", "effect", "details", "plot")
                entries.append({"id": cid, "title": module.TITLE, "claim": module.CLAIM, "source": module.SOURCE,
                                **{k: result[k] for k in keys}, "verdict": verdict, "rule": module.RULE,
                                "preregistration": C.preregistration(module.RULE, config), "figures": [f"{cid}.png"],
                                "config": dataclasses.asdict(config), "seconds": time.time() - t0,
                                "cpu_seconds": time.process_time() - cpu0,
                                "run": {k: env[k] for k in ("date", "command", "backend", "device", "quick")}})
                if writer:
                    outputs.render(staging, "claims.json",
                                   {"claims": in_order(earlier + entries), "environment": env}, draw, documents)
        if writer:
            outputs.put_in_place(staging, runner.out)
    except KeyboardInterrupt:
        if not writer:
            raise SystemExit(130) from None
        if not entries:
            print("interrupted before the first claim finished; nothing was written", file=sys.stderr)
        else:
            kept = outputs.keep_partial(staging, runner.out)
            print(f"interrupted; {len(entries)} finished claim(s) are kept in {kept}", file=sys.stderr)
        raise SystemExit(130) from None  # as the training command: the shell's code for Ctrl-C
    finally:
        bar.close()
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    if not writer:
        return {"claims": entries, "environment": env}
    print(verdict_table(entries))
    print(f"wrote {runner.out}/claims.json, report.md and {len(entries)} figure(s) in "
          f"{sum(e['seconds'] for e in entries):.0f} s")
    return {"claims": entries, "environment": env}


if __name__ == "__main__":
    main()
