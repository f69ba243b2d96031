"""The queue screen driven with the keyboard (Pilot), at 80x24: listing, validation errors
inline, queueing and reordering, adding by path, help, the command palette and quitting."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Static

from edgetui.tui.app import EdgeApp
from edgetui.tui.dialogs import ConfirmScreen, HelpScreen, InputScreen
from edgetui.tui.palette import ScreenActions
from edgetui.tui.screens.queue import QueueScreen

REPO = Path(__file__).resolve().parent.parent

BAD = """name = "bad"
repetitons = 3

[[models]]
name = "smollm2-135m-q4_1"
"""


def second_profile(text: str, name: str) -> str:
    return text.replace('name = "smoke"', f'name = "{name}"')


@pytest.fixture
def profiles_dir(tmp_path: Path) -> Path:
    d = tmp_path / "profiles"
    d.mkdir()
    smoke = (REPO / "profiles" / "smoke.toml").read_text()
    (d / "a_smoke.toml").write_text(smoke)
    (d / "b_other.toml").write_text(second_profile(smoke, "other"))
    (d / "c_bad.toml").write_text(BAD)
    return d


def make_app(profiles_dir: Path, tmp_path: Path) -> EdgeApp:
    return EdgeApp(profiles_dir=str(profiles_dir), runs_dir=tmp_path / "runs")


def queue_names(screen: QueueScreen) -> list[str]:
    return [screen._entry(k).name for k in screen.queue]


def text_of(widget: Static) -> str:
    return str(widget.render())


@pytest.mark.asyncio
async def test_profiles_listed_with_counts_estimates_and_errors_inline(profiles_dir, tmp_path):
    app = make_app(profiles_dir, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, QueueScreen)
        table = screen.query_one("#profiles", DataTable)
        assert table.row_count == 3
        await pilot.pause()  # the estimates follow the first frame (they read the model files' headers)
        await pilot.pause()
        rows = [[str(c) for c in table.get_row_at(i)] for i in range(3)]
        assert rows[0][1:4] == ["smoke", "1", rows[0][3]] and rows[0][3].startswith("~")
        assert rows[2][1] == "c_bad" and rows[2][4] == "✗" and rows[2][2] == "-"
        # the bad profile's message, with file and line, is shown without leaving the app
        await pilot.press("j", "j")
        details = text_of(screen.query_one("#details", Static))
        assert "c_bad.toml:2" in details and 'did you mean "repetitions"' in details
        # and it cannot be queued
        await pilot.press("space")
        assert screen.queue == []


@pytest.mark.asyncio
async def test_space_queues_and_capital_k_j_reorder_and_d_removes(profiles_dir, tmp_path):
    app = make_app(profiles_dir, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await pilot.press("space", "j", "space")
        assert queue_names(screen) == ["smoke", "other"]
        await pilot.press("tab")  # to the queue pane
        assert screen.focused is screen.query_one("#queue", DataTable)
        await pilot.press("j", "K")  # highlight "other", move it up
        assert queue_names(screen) == ["other", "smoke"]
        await pilot.press("J")
        assert queue_names(screen) == ["smoke", "other"]
        await pilot.press("d")
        assert queue_names(screen) == ["smoke"]
        await pilot.press("tab", "k", "space")  # back in the profiles pane: space takes it out again
        assert queue_names(screen) == []


@pytest.mark.asyncio
async def test_add_by_path_shows_a_bad_file_error_and_queues_a_good_one(profiles_dir, tmp_path):
    outside = tmp_path / "elsewhere.toml"
    outside.write_text(second_profile((REPO / "profiles" / "smoke.toml").read_text(), "elsewhere"))
    app = make_app(profiles_dir, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("a")
        dialog = app.screen
        assert isinstance(dialog, InputScreen)
        inp = dialog.query_one(Input)
        inp.value = str(tmp_path / "nope.toml")
        await pilot.press("enter")
        assert app.screen is dialog  # still open, with the reason
        assert "no such profile file" in text_of(dialog.query_one("#dialog-error", Static))
        inp.value = str(profiles_dir / "c_bad.toml")
        await pilot.press("enter")
        assert "unknown key" in text_of(dialog.query_one("#dialog-error", Static))
        inp.value = str(outside)
        await pilot.press("enter")
        screen = app.screen
        assert isinstance(screen, QueueScreen)
        assert queue_names(screen) == ["elsewhere"]


@pytest.mark.asyncio
async def test_help_lists_the_keys_and_the_palette_offers_the_same_actions(profiles_dir, tmp_path):
    app = make_app(profiles_dir, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        queue = app.screen
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        help_text = str(app.screen.query_one("VerticalScroll Static", Static).render())
        for words in ("Queue/unqueue", "Run queue", "Move up", "Move down", "Remove", "Add file", "Quit"):
            assert words in help_text
        await pilot.press("escape")
        assert app.screen is queue
        provider = ScreenActions(queue)
        names = [hit.text async for hit in provider.discover()]
        assert {"Queue/unqueue", "Run queue", "Add file", "Results"} <= set(names)
        assert "Live run" not in names  # no run: the palette does not offer what cannot be done
        hits = [hit async for hit in provider.search("add file")]
        assert hits
        await hits[0].command()
        await pilot.pause()
        assert isinstance(app.screen, InputScreen)


@pytest.mark.asyncio
async def test_q_quits_at_once_when_no_run_is_active(profiles_dir, tmp_path):
    app = make_app(profiles_dir, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0


@pytest.mark.asyncio
async def test_q_asks_first_while_a_run_is_active_and_says_the_run_goes_on(profiles_dir, tmp_path):
    from edgetui.run.session import RunFollower

    run_dir = tmp_path / "runs" / "20260101-000000-smoke"
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text('{"schema": 1, "status": "running", "runner_pid": 1, "configs": []}')
    app = EdgeApp(profiles_dir=str(profiles_dir), runs_dir=tmp_path / "runs", attach=False)
    async with app.run_test(size=(80, 24)) as pilot:
        app.follower = RunFollower(run_dir, attach=True, alive=lambda pid: True)
        app.follower.poll()
        await pilot.press("q")
        dialog = app.screen
        assert isinstance(dialog, ConfirmScreen)
        assert "does NOT stop it" in dialog.message
        await pilot.press("n")
        assert isinstance(app.screen, QueueScreen)
        await pilot.press("q", "y")
        await pilot.pause()
    assert app.return_code == 0


def test_profiles_given_on_the_command_line_come_first(tmp_path):
    from edgetui.tui.screens.queue import discover

    shutil.copy(REPO / "profiles" / "smoke.toml", tmp_path / "mine.toml")
    entries = discover(tmp_path / "no-such-dir", [str(tmp_path / "mine.toml")])
    assert [e.name for e in entries] == ["smoke"]
    entries = discover(REPO / "profiles", [str(tmp_path / "mine.toml")])
    assert entries[0].path == tmp_path / "mine.toml"


@pytest.mark.asyncio
async def test_a_second_queue_is_not_started_beside_a_run_in_progress(profiles_dir, tmp_path):
    from edgetui.tui.screens.live import LiveScreen

    busy = tmp_path / "runs" / "20260101-000000-other"
    busy.mkdir(parents=True)
    (busy / "run.json").write_text('{"schema": 1, "status": "running", "runner_pid": 4242, "configs": []}')
    app = EdgeApp(profiles_dir=str(profiles_dir), runs_dir=tmp_path / "runs", attach=False,
                  alive=lambda pid: pid == 4242)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("space", "r")
        await pilot.pause()
        assert [d.name for d in (tmp_path / "runs").iterdir()] == [busy.name]  # no new run folder
        assert isinstance(app.screen, LiveScreen) and app.screen.follower.run_dir == busy


@pytest.mark.asyncio
async def test_keys_are_remapped_by_binding_id_from_the_keymap_file(profiles_dir, tmp_path, monkeypatch):
    keymap = tmp_path / "keymap.toml"
    keymap.write_text('"queue.add" = "A"\n')
    monkeypatch.setenv("EDGETUI_KEYMAP", str(keymap))
    app = make_app(profiles_dir, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("a")
        assert isinstance(app.screen, QueueScreen)  # "a" no longer adds
        await pilot.press("A")
        assert isinstance(app.screen, InputScreen)
        await pilot.press("escape", "question_mark")
        help_text = str(app.screen.query_one("VerticalScroll Static", Static).render())
        assert "A  Add file" in help_text and "[queue.add]" in help_text


@pytest.mark.asyncio
async def test_a_broken_keymap_is_reported_and_the_default_keys_kept(profiles_dir, tmp_path, monkeypatch):
    keymap = tmp_path / "keymap.toml"
    keymap.write_text('"queue.add" = 3\n')
    monkeypatch.setenv("EDGETUI_KEYMAP", str(keymap))
    app = make_app(profiles_dir, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert any("expected a key as a string" in str(n.message) for n in app._notifications)
        await pilot.press("a")
        assert isinstance(app.screen, InputScreen)


@pytest.mark.asyncio
async def test_the_first_frame_lists_the_profiles_before_their_estimates(profiles_dir, tmp_path, monkeypatch):
    """The estimates read each model file's header (a vocabulary of up to 250,000 strings): the
    profiles are drawn first, their estimates right after, not read before the first frame."""
    from textual.app import App

    from edgetui.profiles import estimate as estimate_mod

    drawn, frames = [0], []
    app = make_app(profiles_dir, tmp_path)
    real, display = estimate_mod.estimate_plan, App._display

    def counted(self, screen, renderable):  # a frame written to the terminal
        if isinstance(screen, QueueScreen):
            drawn[0] += 1
        return display(self, screen, renderable)

    def estimating(*a, **k):
        frames.append(drawn[0])
        return real(*a, **k)

    monkeypatch.setattr(App, "_display", counted)
    monkeypatch.setattr("edgetui.tui.screens.queue.estimate_plan", estimating)
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(4):
            await pilot.pause()
        table = app.screen.query_one("#profiles", DataTable)
        assert str(table.get_row_at(0)[3]).startswith("~")
    assert frames and min(frames) >= 1  # every estimate made after the queue screen's first frame
