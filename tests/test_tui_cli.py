"""How the command line opens the console: `edgetui`, `edgetui run PROFILE...` (queue and run at
once), `edgetui --profiles DIR`, `edgetui results DIR...`."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgetui import cli

SMOKE = str(Path(__file__).resolve().parent.parent / "profiles" / "smoke.toml")


@pytest.fixture
def console_calls(monkeypatch):
    calls = []

    def fake_run_console(**kwargs):
        calls.append(kwargs)
        return 0

    import edgetui.tui.app

    monkeypatch.setattr(edgetui.tui.app, "run_console", fake_run_console)
    return calls


def test_run_without_headless_opens_the_console_with_that_queue(console_calls):
    assert cli.main(["run", SMOKE]) == 0
    [call] = console_calls
    assert call["run_profiles"] == [SMOKE]
    assert call["profiles_dir"] is None  # the run's file list is not the profiles folder


def test_profiles_folder_files_and_results_reach_the_console(console_calls, tmp_path):
    assert cli.main(["--profiles", str(tmp_path)]) == 0
    assert console_calls[-1]["profiles_dir"] == str(tmp_path) and console_calls[-1]["run_profiles"] is None
    assert cli.main([SMOKE]) == 0
    assert console_calls[-1]["files"] == [SMOKE]
    assert cli.main(["results", "a", "b"]) == 0
    assert console_calls[-1]["results"] == ["a", "b"]
