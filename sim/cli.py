"""The ``fleetsim`` command line: run, check, report, policies, sweep, tune, data.

Bad input exits with status 2 and one line on stderr (no traceback, no results folder).
"""
from __future__ import annotations

import argparse
import sys
from concurrent.futures import BrokenExecutor
from pathlib import Path

from sim import __version__
from sim.core.errors import FleetsimInputError, ScenarioError
from sim.core.inputs import quote, show_path
from sim.core.quantities import co2_kg, count, energy_kwh, power_w, usd
from sim.publish import FolderLock, check_out_path, check_replaceable, update_folder

EXIT_CHECKS_FAILED = 1
EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (``fleetsim: error: ...``, exit status 2), no usage block."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise FleetsimInputError(" ".join(message.split()))


def _add_scenario_args(p: argparse.ArgumentParser, optional: bool) -> None:
    p.add_argument("scenario", nargs="?" if optional else None, default=None,
                   help="scenario TOML file" + (" (default: the built-in scenario)" if optional else ""))
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a scenario key, e.g. --set fleet.vehicles=5000 (repeatable; VALUE is "
                        "a TOML value, or a plain string if it is not valid TOML)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``fleetsim``."""
    parser = _Parser(
        prog="fleetsim",
        description="Simulate a fleet of parked electric cars serving AI inference: capacity, "
                    "latency, energy, cost and CO2, hour by hour.",
    )
    parser.add_argument("--version", action="version", version=f"fleetsim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p_run = sub.add_parser("run", help="run a scenario and write a results folder with its report",
                           description="Run a scenario (default: the built-in one) and write a results "
                                       "folder: summary.json, scenario.toml, timeseries.csv, jobs.csv, "
                                       "vehicles.csv, figures/*.png and report.html.")
    _add_scenario_args(p_run, optional=True)
    p_run.add_argument("--out", metavar="DIR", help="results folder (default: results/<run.name>_seed<seed>); "
                                                    "an earlier fleetsim results folder there is replaced, "
                                                    "any other existing folder is refused")
    p_run.add_argument("--seed", type=int, metavar="N", help="root seed (same as --set run.seed=N)")
    p_run.add_argument("--print-scenario", action="store_true",
                       help="print the fully resolved scenario as TOML and exit without running")
    p_run.add_argument("--no-report", action="store_true", help="skip the figures and report page")
    p_run.add_argument("--no-progress", action="store_true",
                       help="no progress bar over simulated days (it shows only on a terminal)")
    p_run.add_argument("--workers", type=int, default=1, metavar="N",
                       help="replicates (run.replicates > 1) run in parallel on N worker processes (default 1)")
    p_run.add_argument("--scheduler", metavar="ADDRESS|local",
                       help="run the replicates on a Dask cluster: 'local' starts one with N workers, or a scheduler "
                            "address (needs the dask extra)")
    _add_budget_arguments(p_run)

    p_check = sub.add_parser("check", help="validate a scenario without running it",
                             description="Validate a scenario file and its overrides; print the resolved "
                                         "scenario's size on success.")
    _add_scenario_args(p_check, optional=False)
    _add_budget_arguments(p_check)

    p_rep = sub.add_parser("report", help="redraw the figures and report page of a results folder",
                           description="Redraw figures/*.png and report.html from a results folder.")
    p_rep.add_argument("results", help="results folder written by 'fleetsim run', or a sweep folder written by "
                                        "'fleetsim sweep' (comparison report: bars with CIs, Pareto front, lines)")

    sub.add_parser("policies", help="list the dispatch policies", description="List the dispatch policies.")
    _add_sweep_parser(sub)
    _add_tune_parser(sub)
    _add_data_parser(sub)
    return parser


def _add_data_parser(sub) -> None:
    p = sub.add_parser("data", help="list, download and locate the public data sets (traces, carbon, weather)",
                       description="The public data sets a scenario can name instead of a path "
                                   "(workload.trace = \"azure_conv_2023\"): list them with license and citation, "
                                   "download one from its original location (checked against a pinned SHA-256, "
                                   "kept in the user's cache folder; needs pip install 'fleetsim[data]'), or print "
                                   "the local path of one. See docs/data.md.")
    actions = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    actions.add_parser("list", help="every data set: name, description, size, license, citation, where it is",
                       description="List every data set with its description, size, license, citation, source "
                                   "and where its local copy is (cached, shared copy, or not downloaded).")
    p_fetch = actions.add_parser("fetch", help="download data sets into the cache folder",
                                 description="Download each named data set from its original public location into "
                                             "the cache folder ($FLEETSIM_CACHE, default the user's cache folder), "
                                             "check its SHA-256, and print its path, license and citation.")
    p_fetch.add_argument("names", nargs="+", metavar="NAME", help="a data set's name (fleetsim data list)")
    p_path = actions.add_parser("path", help="print the local path of a data set",
                                description="Print the local path of a data set: the cached copy, else a shared "
                                            "copy ($FLEETSIM_DATA, default ../shared/data beside a source "
                                            "checkout); exit status 2 if there is none.")
    p_path.add_argument("name", metavar="NAME", help="a data set's name (fleetsim data list)")


def _add_tune_parser(sub) -> None:
    p = sub.add_parser("tune", help="search policy parameters for the best objective (Optuna)",
                       description="Search scenario keys (a policy's parameters, a chip preset, ...) for the "
                                   "lowest weighted sum of summary metrics under constraints, averaged over "
                                   "seeds: best.json, trials.csv, history.png, pareto.png, tune.json. Needs "
                                   "the tune extra (pip install 'fleetsim[tune]').")
    p.add_argument("tune", help="tune file (TOML tables [tune], [set], [params], [objective], [[constraints]]; "
                                "format: pydoc sim.studies.tune)")
    p.add_argument("--out", metavar="DIR", help="tune folder (default: results/tune_<name>)")
    _add_executor_arguments(p, "replicate runs")


def _add_sweep_parser(sub) -> None:
    p = sub.add_parser("sweep", help="run a scenario over axes and seeds, in parallel, resumable",
                       description="Run every point (configuration x seed) of a sweep file into a sweep "
                                   "folder: points/<id>/, sweep.json, sweep.csv, aggregate.csv (mean and "
                                   "95 % confidence interval over seeds) and failures.csv. A rerun skips "
                                   "finished points and retries failed ones.")
    p.add_argument("sweep", help="sweep file (TOML tables [sweep], [set], [axes]; format: pydoc sim.studies.sweep)")
    p.add_argument("--out", metavar="DIR", help="sweep folder (default: results/sweep_<name>)")
    _add_executor_arguments(p, "points")
    p.add_argument("--no-report", action="store_true",
                   help="skip the comparison figures and report page (fleetsim report SWEEP_DIR draws them later)")


def _add_budget_arguments(p) -> None:
    """--max-memory and --force: the resource check before anything runs (sim.budget)."""
    p.add_argument("--max-memory", metavar="SIZE",
                   help="refuse to start what needs more memory than SIZE, e.g. 4G or 512M (default: the "
                        "memory available now)")
    p.add_argument("--force", action="store_true",
                   help="run even if the estimate says it needs more memory, disk or work than is available")


def _limits(args):
    """The resource limits the command line asks for."""
    from sim.budget import Limits, parse_size

    return Limits(parse_size(args.max_memory) if args.max_memory is not None else None, args.force)


def _add_executor_arguments(p, what: str) -> None:
    """--workers, --scheduler and --no-progress, shared by sweep and tune (``what`` runs in parallel)."""
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help=f"{what} run in parallel (default 1: one worker process)")
    p.add_argument("--scheduler", metavar="ADDRESS|local",
                   help="run on a Dask cluster: 'local' starts one with N workers, or a scheduler address "
                        "such as tcp://10.0.0.5:8786 (needs the dask extra)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_budget_arguments(p)


def _load(args) -> object:
    from sim.scenario import load_scenario

    overrides = list(args.overrides)
    if getattr(args, "seed", None) is not None:
        overrides.append(f"run.seed={args.seed}")
    return load_scenario(args.scenario, overrides)


def cmd_run(args) -> int:
    """``fleetsim run``."""
    from sim.budget import check_run
    from sim.results import NonFiniteSummary, write_results
    from sim.runner import Simulation

    scenario = _load(args)
    if args.print_scenario:
        sys.stdout.write(scenario.to_toml())
        return 0
    default = Path("results") / f"{scenario['run.name']}_seed{scenario['run.seed']}"
    out = check_out_path(default if args.out is None else args.out,
                         protect=[Path(args.scenario)] if args.scenario else [])
    report = scenario["report.figures"] and not args.no_report
    replicates = scenario["run.replicates"]
    if args.workers < 1:
        raise ScenarioError(f"--workers = {args.workers!r}: allowed: an integer >= 1")
    if replicates == 1 and (args.workers > 1 or args.scheduler):
        raise ScenarioError("--workers/--scheduler: allowed only with run.replicates > 1 (they run the replicates)")
    # replicate 0 in this process while up to --workers others run beside it
    parallel = 1 + min(args.workers, replicates - 1) if replicates > 1 and not args.scheduler else 1
    check_run(scenario, _limits(args), out_dir=out, report=report, parallel_runs=parallel)
    with FolderLock(out):
        check_replaceable(out, "results")
        sim = Simulation(scenario)
        for signal, hours in sim.filled_hours().items():
            if hours:
                key = "grid.carbon" if signal == "carbon" else "grid.tariff"
                print(f"fleetsim: warning: {key} = {quote(scenario[key])}: {hours:,.4g} hours of the run have no "
                      "data row; each holds the last value before it (summary checks.signal_filled_hours)",
                      file=sys.stderr)
        progress = not args.no_progress and sys.stderr.isatty()
        sim.execute(progress)
        if scenario["run.replicates"] > 1:
            from sim.studies.executors import make_executor
            from sim.studies.replicates import add_intervals

            if progress:
                print(f"fleetsim: {scenario['run.replicates'] - 1} more replicates on {args.workers} worker(s) ...",
                      file=sys.stderr, flush=True)
            results = sim.results()
            sim = None  # only the results are kept while the other replicates run
            try:
                with make_executor(args.workers, args.scheduler) as executor:
                    add_intervals(scenario, results, executor)
            except BrokenExecutor as exc:
                print(f"fleetsim: error: a replicate's worker process died ({type(exc).__name__}: {exc}); nothing "
                      "was written", file=sys.stderr)
                return EXIT_CHECKS_FAILED
        else:
            results = sim.results()
        if progress:  # the tables, files and figures take seconds more: say so
            print(f"fleetsim: writing the results{' and figures' if report else ''} ...", file=sys.stderr, flush=True)
        draw = None
        if report:
            from reports import build_report

            draw = build_report
        try:
            folder = write_results(results, out, before_publish=draw)
        except NonFiniteSummary as exc:
            print(f"fleetsim: error: {exc}; this is a bug in fleetsim, nothing was written", file=sys.stderr)
            return EXIT_CHECKS_FAILED
    _print_headline(results.summary, folder)
    checks = results.summary["checks"]
    if not checks["passed"]:
        print(f"fleetsim: warning: end-of-run balance checks failed ({checks}); the results are suspect",
              file=sys.stderr)
        return EXIT_CHECKS_FAILED
    return 0


def _print_headline(s: dict, folder: Path) -> None:
    """The run's headline on stdout: jobs, latency per class, energy, cost and CO2."""
    j, e, c = s["jobs"], s["energy_kwh"], s["cost_usd"]
    slo = f"{100 * j['slo_attainment']:.1f} %" if j["slo_attainment"] is not None else "n/a"
    p95 = []
    for name, cls in j["by_class"].items():
        value = cls["latency_s"]["p95"]
        if value is not None:
            p95.append(f"{name} {value:,.1f} s")
    breakdown = ", ".join(f"{label} {usd(c[key])}" for key, label in (
        ("electricity", "electricity"), ("demand_charges", "demand charges"), ("solar_export", "PV export"),
        ("carbon", "carbon price"), ("owner_payouts", "owner payouts")) if c.get(key))
    lines = [
        f"fleetsim {s['fleetsim_version']}: scenario '{s['scenario']}', seed {s['seed']}, "
        f"{s['run']['days']:g} days, {count(s['fleet']['vehicles_simulated'])} vehicles, "
        f"{s['run']['wall_s']:.1f} s wall",
        f"  jobs: {count(j['arrived'])} arrived, {count(j['completed'])} completed, {count(j['dropped'])} dropped, "
        + (f"{count(j['overflowed'])} to the data center, " if s.get("overflow") else "")
        + f"{count(j['running_at_end'])} running and {count(j['queued_at_end'])} queued at the end; "
        f"{count(j['preempted'])} preemptions",
        f"  latency p95: {', '.join(p95) or 'n/a'}; SLO attainment {slo}",
        f"  utilization {100 * s['utilization']['mean']:.1f} %; grid {energy_kwh(e['grid_import'])}, "
        f"{co2_kg(s['co2_kg']['total'])}; cost {usd(c['total'])}" + (f" ({breakdown})" if breakdown else "")
        + f"; trips impacted {count(s['fleet']['trips_impacted'])}",
        *_interval_lines(s),
        f"  results: {folder}",
    ]
    print("\n".join(lines))


#: the headline's numbers with intervals (run.replicates > 1): summary key, label, how to show a value
_INTERVALS = (("availability.available_gw", "available inference power", lambda v: power_w(v * 1e9)),
              ("energy_kwh.grid_import", "grid", energy_kwh), ("co2_kg.total", "CO2", co2_kg),
              ("comparison.fleet.usd_per_million_tokens", "cost per million tokens", usd))


def _interval_lines(s: dict) -> list[str]:
    """One line of 95 % intervals of the headline's numbers over the replicates (none without them)."""
    ci = {e["key"]: e for e in s.get("ci95") or []}
    shown = [f"{label} {fmt(e['mean'])} ({fmt(e['low'])} to {fmt(e['high'])})"
             for key, label, fmt in _INTERVALS if (e := ci.get(key)) and e["low"] is not None]
    if not shown:
        return []
    return [f"  95 % intervals of the mean over {max(e['n'] for e in ci.values())} replicates: " + "; ".join(shown)]


def cmd_check(args) -> int:
    """``fleetsim check``."""
    from sim.budget import check_run
    from sim.runner import Simulation

    scenario = _load(args)
    estimate = check_run(scenario, _limits(args))
    Simulation(scenario)  # builds every component: resolves policy, signals, trace files
    print(f"{args.scenario}: ok ({scenario['fleet.vehicles']} vehicles, {scenario['run.days']:g} days, "
          f"policy {scenario['dispatch.policy']}; needs {estimate.describe()})")
    return 0


def cmd_report(args) -> int:
    """``fleetsim report``."""
    folder = Path(args.results)
    paths = redraw_report(folder)
    print(f"wrote {len(paths)} files to {folder}")
    return 0


def redraw_report(folder: Path) -> list[Path]:
    """Draw the report of an existing results or sweep folder, replacing only the files fleetsim wrote."""
    from reports import build_report

    def draw(tmp: Path) -> list[Path]:
        try:
            return build_report(folder, out=tmp)
        except FleetsimInputError:
            raise
        except Exception as exc:
            raise FleetsimInputError(f"{show_path(folder)}: cannot read the folder ({type(exc).__name__}: "
                                     f"{quote(str(exc))})") from None

    return update_folder(folder, ("results", "sweep"), draw, redrawn=("figures",))


def cmd_policies(_args) -> int:
    """``fleetsim policies``."""
    from fleet.policies import policy_class, policy_names

    for name in policy_names():
        print(f"{name:<16} {policy_class(name).summary}")
    return 0


def cmd_sweep(args) -> int:
    """``fleetsim sweep``: exit status 1 if any point failed (a rerun retries them)."""
    from reports import build_report
    from sim.studies.sweep import format_report, run_sweep

    tables = run_sweep(args.sweep, args.out, workers=args.workers, scheduler=args.scheduler,
                       progress=not args.no_progress, limits=_limits(args), point_report=build_report)
    print(format_report(tables))
    if not args.no_report and (tables.points["status"] == "ok").any():
        redraw_report(Path(tables.stats["out"]))
    return 1 if len(tables.failures) else 0


def cmd_tune(args) -> int:
    """``fleetsim tune``."""
    from sim.budget import check_tune, tune_run_estimate
    from sim.studies.tune import load_tune, run_tune
    from sim.studies.tune_output import format_best

    spec = load_tune(args.tune)
    out = Path(args.out) if args.out is not None else Path("results") / f"tune_{spec.name}"
    check_tune(spec.trials, spec.seeds, _limits(args), per_run=tune_run_estimate(spec),
               workers=args.workers if args.scheduler in (None, "local") else 0, source=spec.source, out_dir=out)
    from reports.tune_figures import draw_tune_figures

    result = run_tune(spec, out, workers=args.workers, scheduler=args.scheduler,
                      progress=not args.no_progress and sys.stderr.isatty(), draw=draw_tune_figures)
    print(format_best(result.spec, result.best, len(result.trials)))
    print(f"tune folder: {result.out_dir}")
    return 0


def cmd_data(args) -> int:
    """``fleetsim data list | fetch NAME... | path NAME``."""
    from sim import datasets

    if args.data_command == "list":
        for ds in datasets.CATALOGUE.values():
            found = datasets.local_path(ds)
            where = f"{found[1]}: {found[0]}" if found else f"not downloaded: fleetsim data fetch {ds.name}"
            print("\n".join(datasets.describe(ds, where)))
        print(f"cache folder: {datasets.cache_folder()}")
        return 0
    if args.data_command == "path":
        print(datasets.require(args.name))
        return 0
    for name in args.names:
        datasets.get(name)  # every name is known before anything downloads
    for name in args.names:
        ds = datasets.get(name)
        path = datasets.fetch(name)
        print(f"{name}: {path} ({datasets.size_text(ds.size_bytes)}, sha256 {ds.sha256[:12]}... verified)\n"
              f"  license: {ds.license}\n  citation: {ds.citation}")
    return 0


def one_line(message: str, limit: int = 280) -> str:
    """``message`` on one line of at most ``limit`` characters, control characters escaped (``\\x1b``):
    the promise of every error line, whatever user text it quotes."""
    text = " ".join(message.split())
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


COMMANDS = {"run": cmd_run, "check": cmd_check, "report": cmd_report, "policies": cmd_policies,
            "sweep": cmd_sweep, "tune": cmd_tune, "data": cmd_data}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``fleetsim`` console script."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return EXIT_BAD_INPUT
        return COMMANDS[args.command](args)
    except FleetsimInputError as exc:
        print(f"fleetsim: error: {one_line(str(exc))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:  # output piped into a closed reader (e.g. head)
        sys.stderr.close()
        return 0
    except OSError as exc:  # the file system refused (permission, read-only, full): not a bug
        where = f"{show_path(exc.filename)}: " if exc.filename else ""
        print(f"fleetsim: error: {one_line(where + (exc.strerror or str(exc)))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("fleetsim: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
