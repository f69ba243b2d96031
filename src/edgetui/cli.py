"""Command line: `edgetui` (the console), `run`, `rank`, `plot`, `compare`, `results`, `serve`, `sensors`, `models`,
`status`.

The console and these commands call the same core functions."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, TextIO

from edgetui import __version__
from edgetui.errors import EXIT_BAD_INPUT, EXIT_FAILED_CONFIGS, EXIT_OK, DataWarning, UserError
from edgetui.fmt import printable


def _err(msg: str) -> None:
    print(f"edgetui: error: {printable(msg)}", file=sys.stderr)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse exits 2 too; keep our prefix and no usage dump
        _err(f"{message} (see `{self.prog} --help`)")
        raise SystemExit(EXIT_BAD_INPUT)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="edgetui", description="Benchmark, watch and rank small language model configurations on edge boards.")
    p.add_argument("--version", action="version", version=f"edgetui {__version__}")
    p.add_argument("--profiles", metavar="DIR", dest="profiles_dir",  # `run` has a positional "profiles"
                   help="folder of profiles for the console (default ./profiles)")
    p.add_argument("--sysfs-root", metavar="DIR", help="a folder standing for / when reading sensors (tests, fixtures)")
    p.add_argument("--fleet", metavar="INVENTORY",
                   help="the console's queue runs on the hosts of this Ansible inventory (see `edgetui fleet`)")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)

    r = sub.add_parser("run", help="run profiles (headless, or in the console without --headless)")
    r.add_argument("profiles", nargs="*", metavar="PROFILE", help="profile TOML files")
    r.add_argument("--headless", action="store_true", help="no console: progress lines and a summary table")
    r.add_argument("--out", metavar="DIR", help="results folder (default: a new one under the user data dir)")
    r.add_argument("--resume", metavar="DIR", help="continue an interrupted run in DIR from the first repetition not on disk")
    r.add_argument("--power-source", metavar="NAME", help="power backend to use (default: the profile's, else the best detected)")
    r.add_argument("--sysfs-root", metavar="DIR", dest="sub_sysfs_root")
    r.add_argument("--no-fetch", action="store_true", help="never fetch bundled models; fail if absent")
    r.add_argument("--detach", action="store_true",
                   help="with --headless: run in the background (survives logout) and return the prompt at once")
    r.add_argument("--prometheus", metavar="FILE.prom",
                   help="with --headless: live metrics in node_exporter's textfile format, rewritten every second")
    r.add_argument("--metrics-port", metavar="PORT", type=int,
                   help="with --headless: serve live metrics for Prometheus on 127.0.0.1:PORT/metrics")
    r.add_argument("--yes", action="store_true", help="run a plan of more than 500 configurations (see `edgetui plan`)")

    pl = sub.add_parser("plan", help="the configurations profiles expand to, each with its estimated duration "
                        "and memory, and the total")
    pl.add_argument("profiles", nargs="+", metavar="PROFILE", help="profile TOML files")
    pl.add_argument("--json", action="store_true")

    st = sub.add_parser("status", help="where runs stand: running, finished, or interrupted and resumable")
    st.add_argument("runs", nargs="*", metavar="DIR", help="run folders (default: the newest under the runs folder)")

    s = sub.add_parser("sensors", help="list every sensor backend, detected or not and why, with readings")
    s.add_argument("--json", action="store_true")
    s.add_argument("--sysfs-root", metavar="DIR", dest="sub_sysfs_root")

    m = sub.add_parser("models", help="bundled models, GGUF files found here and an Ollama server's models; "
                       "`models fetch NAME`")
    m.add_argument("action", nargs="?", choices=["list", "fetch"], default="list")
    m.add_argument("names", nargs="*", help="bundled model names (fetch: default all)")
    m.add_argument("--json", action="store_true")
    m.add_argument("--ollama", metavar="URL", help="the Ollama server to ask (default http://127.0.0.1:11434)")
    m.add_argument("--no-ollama", action="store_true", help="ask no Ollama server")

    k = sub.add_parser("rank", help="rank results (folders, results.json or results.csv) on weighted criteria")
    k.add_argument("results", nargs="+")
    k.add_argument("--weights", help="e.g. decode_tps=3,net_energy_j_per_token=2 (default: decode speed only)")
    k.add_argument("--export", metavar="FILE", help="write the ranking to FILE.toml or FILE.csv")
    k.add_argument("--force", action="store_true", help="overwrite an existing export file")
    k.add_argument("--filter", action="append", default=[], metavar="COL=VALUE",
                   help="keep rows whose model, board or engine equals VALUE (repeatable)")
    k.add_argument("--where", action="append", default=[], metavar="EXPR",
                   help="rank only rows meeting EXPR, e.g. power_w<=5 or kld<0.05 (repeatable; <=, <, >=, >, ==, "
                   "!= on a criterion or results column; a row without the value is left out and counted)")
    k.add_argument("--top", type=int, default=20, metavar="N",
                   help="print the first N rows (default 20; 0: all); the export always holds every row")

    g = sub.add_parser("plot", help="the trade-off figure of results (the console's `g`) as an SVG or PNG file")
    g.add_argument("results", nargs="+")
    g.add_argument("--out", required=True, metavar="FILE", help="FILE.svg or FILE.png")
    g.add_argument("--x", default="decode_tps", metavar="CRITERION", help="horizontal axis (default decode_tps)")
    g.add_argument("--y", default="power_w", metavar="CRITERION", help="vertical axis (default power_w)")
    g.add_argument("--weights", help="as for `rank`: the row with the best score is circled")
    g.add_argument("--filter", action="append", default=[], metavar="COL=VALUE",
                   help="keep rows whose model, board or engine equals VALUE (repeatable)")
    g.add_argument("--where", action="append", default=[], metavar="EXPR",
                   help="as for `rank`: plot only rows meeting EXPR (repeatable)")
    g.add_argument("--force", action="store_true", help="overwrite an existing file")

    cmp = sub.add_parser("compare", help="is NEW faster than BASE? per matched configuration: the ratio NEW/BASE "
                         "with its 95%% interval and a verdict")
    cmp.add_argument("base", metavar="BASE", help="run folder, results file or exported ranking")
    cmp.add_argument("new", metavar="NEW", help="run folder, results file or exported ranking")
    cmp.add_argument("--match", metavar="COLS", help="pair rows by these columns (comma separated; default config_id)")
    cmp.add_argument("--metric", default="decode_tps", help="decode_tps (default), prefill_tps, ttft_ms or e2e_tps")
    cmp.add_argument("--fail-below", type=float, metavar="RATIO",
                     help="exit 1 when any pair is significantly slower than RATIO times BASE (e.g. 0.95)")
    cmp.add_argument("--out", metavar="FILE", help="also write the comparison to FILE.csv or FILE.md")
    cmp.add_argument("--force", action="store_true", help="overwrite an existing FILE")

    w = sub.add_parser("serve", help="the console in a web browser (textual-serve); loopback only unless --host says")
    w.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; any other lets whoever reaches it control runs)")
    w.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    w.add_argument("--max-sessions", type=int, default=4, metavar="N",
                   help="consoles open at once, one process each (default 4); a tab past them is refused")
    w.add_argument("--sysfs-root", metavar="DIR", dest="sub_sysfs_root")

    ex = sub.add_parser("export", help="results in llama-bench's formats and field names (one record per "
                        "configuration and test)")
    ex.add_argument("results", nargs="+", metavar="RUN_OR_RESULTS")
    ex.add_argument("--format", dest="fmt", default="llama-bench-jsonl",
                    help="llama-bench-jsonl (default), llama-bench-md, json, csv or llama-bench-sql (a SQLite file: needs --out)")
    ex.add_argument("--out", metavar="FILE", help="write to FILE (default: the standard output)")
    ex.add_argument("--force", action="store_true", help="overwrite an existing FILE")
    ex.add_argument("--where", action="append", default=[], metavar="EXPR",
                    help="export only the rows meeting it, as for `rank` (repeatable)")

    res = sub.add_parser("results", help="open earlier results in the console's results screen")
    res.add_argument("results", nargs="+")

    from edgetui.fleet.cli import add_parser as add_fleet_parser

    add_fleet_parser(sub)
    return p


COMMANDS = ("run", "plan", "sensors", "models", "rank", "plot", "export", "results", "status", "serve", "fleet",
            "compare")


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: TextIO | None = None, line: str | None = None) -> None:  # warnings.showwarning's signature
    if issubclass(category, DataWarning):
        print(f"edgetui: warning: {printable(message)}", file=sys.stderr)
    else:
        _python_show_warning(message, category, filename, lineno, file, line)


_python_show_warning = warnings.showwarning


# the options before a sub-command that take a value: their values are not the sub-command
_GLOBAL_VALUED = ("--profiles", "--sysfs-root", "--fleet")


def _positional(argv: list[str]) -> list[str]:
    """The words of argv that are neither options nor the values of the global options."""
    words, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a in _GLOBAL_VALUED:
            skip = True
        elif not a.startswith("-"):
            words.append(a)
    return words


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    warnings.showwarning = _show_warning
    # `edgetui a.toml b.toml` lists those profiles in the console: split them off before argparse,
    # which cannot mix a free positional list with sub-commands.
    files = []
    positional = _positional(argv)
    if positional and positional[0] not in COMMANDS:
        files = [a for a in argv if a.endswith(".toml") and not a.startswith("-")]
        argv = [a for a in argv if a not in files]
    args = build_parser().parse_args(argv)
    args.files = files
    # --sysfs-root may stand before the sub-command or after it: one value, honoured by every command
    args.sysfs_root = getattr(args, "sub_sysfs_root", None) or args.sysfs_root
    try:
        if args.command == "run":
            return cmd_run(args)
        if args.command == "sensors":
            return cmd_sensors(args)
        if args.command == "models":
            return cmd_models(args)
        if args.command == "plan":
            return cmd_plan(args)
        if args.command == "status":
            return cmd_status(args)
        if args.command == "rank":
            from edgetui.ranking.cli import cmd_rank

            return cmd_rank(args)
        if args.command == "export":
            from edgetui.ranking.cli import cmd_export

            return cmd_export(args)
        if args.command == "plot":
            from edgetui.ranking.cli import cmd_plot

            return cmd_plot(args)
        if args.command == "compare":
            from edgetui.ranking.cli import cmd_compare

            return cmd_compare(args)
        if args.command == "results":
            return _console(args, results=args.results)
        if args.command == "serve":
            return cmd_serve(args)
        if args.command == "fleet":
            if args.fleet_command == "run" and not args.headless:
                return _console(args, run_profiles=args.profiles, fleet=args.inventory, fleet_out=args.out)
            from edgetui.fleet.cli import cmd_fleet

            return cmd_fleet(args, _resilient_print())
        return _console(args)
    except UserError as exc:
        _err(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    except BrokenPipeError:  # `edgetui sensors | head`: the reader left; nothing to report
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def _console(args: argparse.Namespace, results: list[str] | None = None, run_profiles: list[str] | None = None,
             fleet: str | None = None, fleet_out: str | None = None) -> int:
    try:
        from edgetui.tui.app import run_console
    except ImportError as exc:
        raise UserError(f"the console is not available ({exc}); use `edgetui run --headless`") from None
    return run_console(profiles_dir=getattr(args, "profiles_dir", None), files=getattr(args, "files", None) or [],
                       results=results, run_profiles=run_profiles,
                       sysfs_root=args.sysfs_root,
                       fleet=fleet or getattr(args, "fleet", None), fleet_out=fleet_out)


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        from edgetui.tui.serve import serve_console
    except ImportError as exc:
        raise UserError(f"the console is not available ({exc})") from None
    return serve_console(host=args.host, port=args.port, profiles_dir=args.profiles_dir,
                         sysfs_root=args.sysfs_root, max_sessions=args.max_sessions)


def cmd_run(args: argparse.Namespace) -> int:
    from edgetui.profiles.schema import load_profiles
    from edgetui.run.headless import check_before_launch, check_new_folder, check_not_busy, run_headless
    from edgetui.run.summary import summary_table
    from edgetui.rundir.layout import new_run_dir

    resume = bool(args.resume)
    if resume:
        from edgetui.rundir.store import RunStore

        manifest = RunStore(args.resume).read_manifest()
        if manifest is None:
            raise UserError("no run to resume here (no run.json)", where=args.resume)
        out = Path(args.resume)
        check_not_busy(out, resume=True)  # at once: a live runner's folder is not resumed twice
        from edgetui.rundir.events import MalformedRecord
        from edgetui.rundir.manifest import RunManifest

        try:
            planned = RunManifest.from_dict(manifest)
        except MalformedRecord as exc:
            raise UserError(f"cannot resume: {exc}", where=args.resume) from None
        paths = planned.profile_paths
        if not paths or len(paths) != len(planned.profiles):
            raise UserError("cannot resume: run.json names no profile file for some of its profiles", where=args.resume)
    else:
        if not args.profiles:
            raise UserError("name at least one profile, e.g. `edgetui run profiles/smoke.toml --headless`")
        paths = args.profiles
        out = None
    profiles = load_profiles(paths)
    if args.headless and not resume and not args.yes:
        _refuse_large_plan(profiles)
    if (args.prometheus or args.metrics_port is not None) and not args.headless:
        raise UserError("--prometheus and --metrics-port export a headless run: add --headless")
    if not args.headless and not resume:
        return _console(args, run_profiles=paths)
    out = out or (Path(args.out) if args.out else new_run_dir([p.name for p in profiles]))
    if not resume:
        check_new_folder(out)
    say = _resilient_print()
    metrics = None
    if args.prometheus or args.metrics_port is not None:
        from edgetui.run.metrics import MetricsOptions

        metrics = MetricsOptions(textfile=Path(args.prometheus).resolve() if args.prometheus else None,
                                 port=args.metrics_port)
    if args.detach:
        check_before_launch(profiles, out, resume=resume, sysfs_root=args.sysfs_root,
                            power_source=args.power_source, progress=say, metrics=metrics)
        return _detach(args, out, paths, resume)
    # An SSH drop hangs up the terminal: the queue goes on (the worker inherits the ignore),
    # and lines that can no longer be printed are dropped; everything is in the run folder.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    outcome = run_headless(profiles, out, resume=resume, sysfs_root=args.sysfs_root,
                           power_source=args.power_source, say=say, metrics=metrics)
    say("")
    say(summary_table(outcome.rows))
    say(f"\nresults: {outcome.results_csv}")
    if outcome.aborted:
        say(f"aborted by the user; `edgetui run --resume {out}` runs the rest")
    return EXIT_FAILED_CONFIGS if outcome.failed or outcome.aborted else EXIT_OK


def _resilient_print() -> Callable[[str], None]:
    alive = [True]

    def say(line: str) -> None:
        if not alive[0]:
            return
        try:
            print(printable(line), flush=True)  # board, model and error texts come from files and boards
        except OSError:  # the terminal went away (EIO, broken pipe): keep running silently
            alive[0] = False

    return say


def _detach(args: argparse.Namespace, out: Path, paths: list[str], resume: bool) -> int:
    """Start the same headless run in a session of its own, logging to out/runner.log."""
    from edgetui.run.launch import launch_runner

    proc = launch_runner(paths, out, sysfs_root=args.sysfs_root, power_source=args.power_source, resume=resume,
                         prometheus=args.prometheus, metrics_port=args.metrics_port)
    print(f"running in the background, pid {proc.pid}: {out}")
    print(f"follow it with `edgetui status {out}` or open the console with `edgetui`")
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    from edgetui.rundir.state import list_runs, run_state

    states = [run_state(d) for d in args.runs] if args.runs else list_runs()
    if not states:
        print("no runs yet")
    for s in states:
        print(printable(s.line()))
    return EXIT_OK


def cmd_sensors(args: argparse.Namespace) -> int:
    from edgetui.sensors import SensorSet, make_context
    from edgetui.sensors.catalogue import resolve
    from edgetui.sensors.host import board_model
    from edgetui.sensors.registry import detected_accelerators

    ctx = make_context(args.sysfs_root)
    sensors = SensorSet(ctx)
    report = sensors.describe()
    board = resolve(None, board_model(ctx.root), root=ctx.root, accelerators=detected_accelerators(sensors))
    if args.json:
        print(json.dumps({"board": board.to_dict(), "power_source": sensors.power_source_label, "backends": report},
                         indent=1))
        sensors.close()
        return EXIT_OK
    print(f"board: {board.describe()}")
    for b in report:
        mark = "yes" if b["detected"] else "no "
        star = "  <- power source" if b["power_source"] else ""
        print(f"[{mark}] {b['backend']}: {b['reason']}{star}")
        if b["backend"] == "cpufreq":  # a policy's clock, allowed ceiling and hardware maximum on one line
            from edgetui.sensors.cpufreq import policy_lines

            for line in policy_lines(b["readings"]):
                print(f"        {line}")
            continue
        for r in b["readings"]:
            v = r["value"]
            val = f"{v:.3f}" if isinstance(v, float) else str(v)
            print(f"        {r['kind']:<11} {r['name']:<28} {val:>12} {r['unit']:<5} {r['scope']}, {r['method']}")
    print(f"power: {sensors.power_source_label}")
    sensors.close()
    return EXIT_OK


def cmd_models(args: argparse.Namespace) -> int:
    from edgetui import models

    if args.action == "fetch":
        names = args.names or list(models.BUNDLED)
        for n in names:
            models.lookup(n)
        for n in names:
            print(models.fetch(n))
        return EXIT_OK
    from edgetui.engines.catalog import DEFAULT_OLLAMA_URL, catalogue
    from edgetui.models.discover import format_params, size_text

    cat = catalogue(ollama_url=None if args.no_ollama else (args.ollama or DEFAULT_OLLAMA_URL))
    if args.json:
        print(json.dumps(cat.to_dict(), indent=1))
        return EXIT_OK
    where = None
    for m in cat.models:
        if m.where != where:
            where = m.where
            print({"bundled": "bundled models", "folder": "GGUF files in", "hf-cache": "Hugging Face cache",
                   "ollama": "Ollama server"}[m.source] + ("" if m.source == "bundled" else f" {m.where}") + ":")
        size = size_text(m.size_bytes) if m.size_bytes is not None else "-"
        facts = f"{size:>9} {m.quant or '-':<8} {m.architecture or '-':<10} {format_params(m.n_params):>6}"
        tail = m.problem or m.note or m.path or ""
        mark = "  unreadable: " if m.problem else "  "
        print(f"  {_plain(m.name):<40} {facts}{mark}{_plain(tail)}")
    if cat.server and cat.server_problem and args.ollama:
        print(f"Ollama server {cat.server}: {_plain(cat.server_problem)}")
    elif cat.server and cat.server_problem:
        print(f"no Ollama server on {cat.server}")
    return EXIT_OK


def _plain(text: str) -> str:
    """A name from a file or a server, printed without its control characters (no escape sequence
    reaches the terminal)."""
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def _refuse_large_plan(profiles: list) -> None:  # noqa: ANN001 - list[Profile]
    from edgetui.fmt import duration
    from edgetui.profiles.estimate import LARGE_PLAN, estimate_seconds
    from edgetui.profiles.plan import expand

    configs = [c for p in profiles for c in expand(p)]
    if len(configs) > LARGE_PLAN:
        raise UserError(f"{len(configs)} configurations (estimated {duration(estimate_seconds(configs))}): "
                        f"more than {LARGE_PLAN}; `edgetui plan` lists them; add --yes to run them all")


def cmd_plan(args: argparse.Namespace) -> int:
    from edgetui.fmt import duration
    from edgetui.profiles.estimate import LARGE_PLAN, ModelFiles, bases_text, estimate_plan, swept, swept_values
    from edgetui.profiles.plan import expand
    from edgetui.profiles.schema import load_profiles
    from edgetui.rundir.history import board_history

    profiles = load_profiles(args.profiles)
    history = board_history()
    files = ModelFiles()
    everything = []
    out: list[dict] = []
    for p in profiles:
        configs = expand(p)
        estimates = estimate_plan(configs, history, files=files)
        everything += estimates
        fields = swept(configs)
        seconds = sum(e.seconds for e in estimates) + p.idle_baseline_s + p.cooldown_s * len(configs)
        out.append({"profile": p.name, "path": str(p.path), "seconds": seconds, "swept": fields, "configs": [
            {"config_id": e.config.config_id, "values": {f: getattr(e.config, f) for f in fields},
             "describe": e.config.describe(), "seconds": e.seconds, "basis": e.basis,
             "memory_bytes": e.memory_bytes, "fits": e.fits, "memory_note": e.memory_note()} for e in estimates]})
        if args.json:
            continue
        print(f"{p.path}: {p.name}, {len(configs)} configuration(s)"
              + (f", swept: {', '.join(fields)}" if fields else ""))
        for i, e in enumerate(estimates, 1):
            warn = f"  ! {e.memory_note()}" if e.memory_note() else ""
            if e.memory_bytes is None and e.config.in_process:
                warn = "  (memory not known: the model file is not here yet)"
            print(f"  {i:>4}  {swept_values(e.config, fields)}  ~{duration(e.seconds)} ({e.basis}){warn}")
        print(f"  estimated {duration(seconds)} ({bases_text(estimates)})")
    total = sum(d["seconds"] for d in out)
    n = len(everything)
    unfit = [e for e in everything if not e.fits]
    avail = everything[0].available_bytes if everything else None
    if args.json:
        print(json.dumps({"profiles": out, "configurations": n, "seconds": total, "available_bytes": avail,
                          "not_fitting": len(unfit), "needs_yes": n > LARGE_PLAN}, indent=1))
        return EXIT_OK
    print(f"{n} configuration(s), estimated {duration(total)} in all")
    if unfit:
        print(f"{len(unfit)} configuration(s) will not fit in the memory available ({unfit[0].memory_note()})")
    if n > LARGE_PLAN:
        print(f"more than {LARGE_PLAN} configurations: `edgetui run` asks for --yes")
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
