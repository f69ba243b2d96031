"""`edgetui fleet check|run|status|resume`: argument handling and plain-text output over the fleet
core; the console's fleet pane calls the same functions."""

from __future__ import annotations

import argparse
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from edgetui import __version__
from edgetui.errors import EXIT_FAILED_CONFIGS, EXIT_OK, UserError
from edgetui.fmt import printable

if TYPE_CHECKING:
    from edgetui.fleet.controller import FleetController, FleetOptions


# the top-level parser's class (edgetui.cli's own ArgumentParser subclass)
ParserT = TypeVar("ParserT", bound=argparse.ArgumentParser)


def add_parser(sub: argparse._SubParsersAction[ParserT]) -> None:
    f = sub.add_parser("fleet", help="one queue across many boards over SSH, on an Ansible inventory")
    fs = f.add_subparsers(dest="fleet_command", metavar="check|run|status|resume")
    fs.required = True

    c = fs.add_parser("check", help="per host: reachable, Python, edgetui and its version, free disk, board, sensors")
    c.add_argument("inventory", metavar="INVENTORY", help="an Ansible inventory (INI or YAML file, or folder)")
    c.add_argument("--limit", metavar="HOST,...", help="only these inventory hosts")

    r = fs.add_parser("run", help="install or upgrade edgetui where needed, run the profiles on every host, "
                                  "follow them, merge the rankings")
    r.add_argument("inventory", metavar="INVENTORY")
    r.add_argument("profiles", nargs="+", metavar="PROFILE")
    r.add_argument("--out", metavar="FLEET_RUN", help="fleet run folder (default: a new one under the runs folder)")
    r.add_argument("--headless", action="store_true", help="no console: one line per board event, then the ranking")
    r.add_argument("--limit", metavar="HOST,...", help="only these inventory hosts")
    r.add_argument("--wheel", metavar="PATH", help="an edgetui wheel (or a folder of wheels) to copy to boards that "
                                                   "need an install (required for those: edgetui is not on PyPI yet)")
    r.add_argument("--reconnect-for", type=float, default=600.0, metavar="SECONDS",
                   help="how long a board may stay unreachable before the controller stops waiting (default 600)")
    r.add_argument("--deploy-deadline", type=float, default=3600.0, metavar="SECONDS",
                   help="a deploy (install and launch) not done by then is that host's failure (default 3600)")

    s = fs.add_parser("status", help="where a fleet run stands, host by host")
    s.add_argument("fleet_dir", metavar="FLEET_RUN")

    u = fs.add_parser("resume", help="follow, collect and continue a fleet run whose controller was closed or crashed")
    u.add_argument("fleet_dir", metavar="FLEET_RUN")
    u.add_argument("--headless", action="store_true",
                   help="as for `fleet run` (a resume from here is always headless: one line per board event)")
    u.add_argument("--reconnect-for", type=float, default=600.0, metavar="SECONDS")
    u.add_argument("--deploy-deadline", type=float, default=3600.0, metavar="SECONDS")


def _limit(text: str | None) -> list[str] | None:
    return [h.strip() for h in text.split(",") if h.strip()] if text else None


Say = Callable[[str], None]


def cmd_fleet(args: argparse.Namespace, say: Say) -> int:
    """The headless fleet commands; say prints a line (and survives a terminal that went away)."""
    if args.fleet_command == "check":
        return cmd_check(args, say)
    if args.fleet_command == "run":
        return cmd_run(args, say)
    if args.fleet_command == "status":
        return cmd_status(args)
    return cmd_resume(args, say)


def cmd_check(args: argparse.Namespace, say: Say) -> int:
    from edgetui.fleet.check import HostCheck, check_fleet

    say(f"checking the hosts of {args.inventory} ...")
    def tell(check: HostCheck) -> None:
        for line in check.lines():
            say(line)

    checks = check_fleet(args.inventory, limit=_limit(args.limit), on_host=tell)
    bad = [c.host for c in checks if not c.reachable]
    say(f"{len(checks) - len(bad)} of {len(checks)} host(s) reachable" + (f"; not: {', '.join(bad)}" if bad else ""))
    return EXIT_FAILED_CONFIGS if bad else EXIT_OK


def _options(args: argparse.Namespace) -> FleetOptions:
    from edgetui.fleet.controller import FleetOptions

    return FleetOptions(reconnect_for_s=args.reconnect_for, deploy_deadline_s=args.deploy_deadline)


def cmd_run(args: argparse.Namespace, say: Say) -> int:
    from edgetui.fleet.controller import FleetController, default_fleet_dir

    if args.out:
        out = Path(args.out)
    else:
        from edgetui.profiles.schema import load_profiles

        out = default_fleet_dir([p.name for p in load_profiles(args.profiles)])
    controller = FleetController.create(out, args.inventory, args.profiles, limit=_limit(args.limit),
                                        wheel=args.wheel, on_line=say, options=_options(args))
    controller.claim()
    hosts = list(controller.hosts)
    say(f"edgetui {__version__} fleet: {len(hosts)} host(s) ({', '.join(hosts)}) -> {out}")
    return _drive(controller, say, deploy_plan={h: "new" for h in hosts}, follow=[])


def cmd_resume(args: argparse.Namespace, say: Say) -> int:
    from edgetui.fleet.controller import FleetController

    controller = FleetController.open(args.fleet_dir, on_line=say, options=_options(args))
    controller.claim()
    controller.allow_remote_resume = True
    plan, follow = controller.resume_plan()
    say(f"resuming the fleet run {args.fleet_dir}: following {', '.join(follow) or 'none'}"
        + (f"; deploying to {', '.join(plan)}" if plan else ""))
    return _drive(controller, say, deploy_plan=plan, follow=follow)


def _drive(controller: FleetController, say: Say, *, deploy_plan: dict[str, str], follow: list[str]) -> int:
    # An SSH drop of the controller's own terminal must not stop it (as for `edgetui run --headless`).
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    started = time.monotonic()
    try:
        code = controller.run(deploy_plan=deploy_plan, follow=follow)
    except KeyboardInterrupt:
        controller.stop.set()
        say(f"\ncontroller stopped; the boards' runs go on. `edgetui fleet resume {controller.dir.root}` "
            "follows and collects them")
        return 130
    say("")
    say(fleet_summary(controller.dir.root))
    ranking = ranking_text(controller.dir.root)
    if ranking:
        say("")
        say(ranking)
    say(f"\nmerged results: {controller.dir.root / 'results.csv'} ({time.monotonic() - started:.0f} s)")
    return code


def ranking_text(fleet_dir: Path) -> str | None:
    """The merged ranking as `edgetui rank FLEET_RUN` prints it, or None when no row finished."""
    from edgetui.ranking.cli import format_ranking
    from edgetui.ranking.criteria import DEFAULT_WEIGHTS
    from edgetui.ranking.rank import rank
    from edgetui.ranking.sources import load_results

    try:
        ranking = rank(load_results([fleet_dir]), dict(DEFAULT_WEIGHTS))
    except UserError:
        return None
    if ranking.table.height == 0:
        return None
    return format_ranking(ranking)


# States only a running controller keeps true: with none running they are what was last known.
LIVE_STATES = ("pending", "deploying", "launched", "following", "reconnecting", "ended")


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"


def fleet_summary(fleet_dir: str | Path, *, controller_alive: bool = True) -> str:
    """One line per host: its state and why, its progress, when last heard from. With no
    controller running, a live state (following, ...) is told as what was last known, and when."""
    from datetime import datetime

    from edgetui.fleet.layout import FleetDir
    from edgetui.fleet.view import run_counts

    fd = FleetDir(fleet_dir)
    manifest = fd.read_manifest()
    hosts = fd.hosts()
    width = max((len(h) for h in manifest.get("hosts", [])), default=4)
    lines = []
    for name in manifest.get("hosts", []):
        entry = hosts.get(name, {})
        n, done, bad = run_counts(fd.mirror(name))
        progress = f"{done}/{n} done" + (f", {bad} failed or skipped" if bad else "") if n is not None else "no run yet"
        seen = entry.get("last_seen")
        state = entry.get("state", "pending")
        detail = f" ({entry['detail']})" if entry.get("detail") else ""
        if not controller_alive and state in LIVE_STATES:
            when = ""
            try:
                since = datetime.fromisoformat(str(entry["since"])).astimezone()
                when = f" at {since:%Y-%m-%d %H:%M:%S}"
            except (KeyError, ValueError):
                pass
            heard = f", last heard from {_ago(time.time() - seen)}" if isinstance(seen, (int, float)) else ""
            lines.append(f"{name:<{width}}  last known{when}: {state}{detail}; {progress}{heard} "
                         "(no controller follows it now)")
            continue
        ago = f", heard {time.time() - seen:.0f} s ago" if isinstance(seen, (int, float)) and \
            state not in ("collected", "failed") else ""
        lines.append(f"{name:<{width}}  {state}{detail}; {progress}{ago}")
    return "\n".join(lines)


def cmd_status(args: argparse.Namespace) -> int:
    from edgetui.fleet.layout import FleetDir
    from edgetui.rundir.state import runner_alive

    fd = FleetDir(args.fleet_dir)
    manifest = fd.read_manifest()
    pid = manifest.get("controller_pid")
    alive = runner_alive(pid)
    print(printable(f"fleet run {args.fleet_dir}: {len(manifest.get('hosts', []))} host(s), profiles "
                    f"{', '.join(Path(p).name for p in manifest.get('profiles', []))}, inventory {manifest.get('inventory')}"))
    print(f"controller: {'running, pid ' + str(pid) if alive else 'not running'}")
    print(printable(fleet_summary(args.fleet_dir, controller_alive=alive)))  # hosts' states and reasons come from boards
    hosts = fd.hosts()
    unfinished = [h for h in manifest.get("hosts", []) if not (hosts.get(h, {}).get("state") == "collected"
                  and hosts[h].get("remote_status") in ("finished", "aborted"))]
    if not alive and unfinished:
        print(printable(f"-> edgetui fleet resume {args.fleet_dir}  (follows, collects or starts: {', '.join(unfinished)})"))
    if manifest.get("merged"):
        print(printable(f"merged results: {Path(args.fleet_dir) / 'results.csv'} ({manifest.get('merged_rows')} rows, "
                        f"{manifest['merged']})"))
    return EXIT_OK

