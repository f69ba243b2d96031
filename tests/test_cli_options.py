"""One --sysfs-root, honoured by every command wherever it stands on the command line."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from edgetui import cli

from conftest import REPO


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What the headless runner and the console were asked to read sensors from."""
    got: dict[str, Any] = {}

    def run_headless(profiles: Any, out: Any, **kw: Any) -> SimpleNamespace:
        got["headless"] = kw["sysfs_root"]
        return SimpleNamespace(rows=[], results_csv=Path(out) / "results.csv", aborted=False, failed=0)

    monkeypatch.setattr("edgetui.run.headless.run_headless", run_headless)
    monkeypatch.setattr("edgetui.run.summary.summary_table", lambda rows: "")
    monkeypatch.setattr(cli, "_console", lambda args, **kw: got.setdefault("console", args.sysfs_root) and 0)
    return got


@pytest.mark.parametrize("before", [True, False], ids=["before the command", "after it"])
def test_a_headless_run_reads_the_sysfs_root_given_anywhere(seen: dict[str, Any], tmp_path: Path, before: bool):
    root = str(tmp_path / "board")
    opt = ["--sysfs-root", root]
    run = ["run", str(REPO / "profiles" / "smoke.toml"), "--headless", "--out", str(tmp_path / "out")]
    cli.main(opt + run if before else run + opt)
    assert seen["headless"] == root


@pytest.mark.parametrize("before", [True, False], ids=["before the command", "after it"])
def test_the_console_started_by_run_reads_the_sysfs_root_given_anywhere(seen: dict[str, Any], tmp_path: Path,
                                                                        before: bool):
    root = str(tmp_path / "board")
    opt = ["--sysfs-root", root]
    run = ["run", str(REPO / "profiles" / "smoke.toml")]
    cli.main(opt + run if before else run + opt)
    assert seen["console"] == root
