"""The profile builder (`n` and `e` on the queue screen) driven with keys alone (Pilot), at 80x24:
a valid profile saved and listed at once, an invalid one refused with the schema's message, a
shipped profile edited as a copy, leaving with changes asks; and the queue's question before a
plan too large or too big for the memory runs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, SelectionList, Static

from edgetui.profiles.draft import MARK
from edgetui.profiles.schema import load_profile
from edgetui.tui.app import EdgeApp
from edgetui.tui.dialogs import ConfirmScreen
from edgetui.tui.screens.builder import BuilderScreen
from edgetui.tui.screens.queue import QueueScreen

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    shutil.copy(REPO / "profiles" / "smoke.toml", profiles / "smoke.toml")
    (tmp_path / "models").mkdir()
    return tmp_path


def make_app(workdir: Path, **kw) -> EdgeApp:
    return EdgeApp(profiles_dir="profiles", runs_dir=workdir / "runs", attach=False,
                   model_folders=[("folder", workdir / "models")], ollama_url=None, **kw)


async def type_text(pilot, text: str) -> None:
    for ch in text:
        await pilot.press({" ": "space"}.get(ch, ch))


async def open_builder(pilot, key: str = "n") -> BuilderScreen:
    await pilot.press(key)
    await pilot.app.workers.wait_for_complete()  # the model list is found off the loop
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, BuilderScreen)
    return screen


async def clear(pilot) -> None:
    await pilot.press("ctrl+a", "ctrl+k")  # select all... then delete to the end: an emptied field


@pytest.mark.asyncio
async def test_a_valid_profile_is_saved_from_keys_alone_and_listed_at_once(workdir):
    app = make_app(workdir)
    async with app.run_test(size=(80, 24)) as pilot:
        builder = await open_builder(pilot)
        assert builder.focused is builder.query_one("#name", Input)  # the name field first
        await type_text(pilot, "mine")
        await pilot.press("tab")  # the model list: the bundled models first
        assert builder.focused is builder.query_one("#models", SelectionList)
        await pilot.press("space")  # the first bundled model
        await pilot.press("tab")  # threads
        await clear(pilot)
        await type_text(pilot, "1 2")
        await pilot.pause()
        preview = str(builder.query_one("#preview", Static).render())
        assert "2 configuration(s)" in preview and "estimated" in preview
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, QueueScreen)
        saved = workdir / "profiles" / "mine.toml"
        assert saved.read_text().startswith(MARK)
        profile = load_profile(saved)
        assert profile.name == "mine" and [m.name for m in profile.models] == ["smollm2-135m-q4_1"]
        assert profile.sweep["n_threads"] == [1, 2] and profile.prompt_tokens == (512,) and profile.gen_tokens == (128,)
        queue = app.screen
        names = [e.name for e in queue.entries]
        assert "mine" in names
        table = queue.query_one("#profiles", DataTable)
        assert queue.entries[table.cursor_row].name == "mine"  # highlighted, ready to queue


@pytest.mark.asyncio
async def test_an_invalid_profile_is_refused_with_the_schemas_message(workdir):
    app = make_app(workdir)
    async with app.run_test(size=(80, 24)) as pilot:
        builder = await open_builder(pilot)
        await type_text(pilot, "broken")
        await pilot.press("tab", "space", "tab")
        await clear(pilot)
        await type_text(pilot, "0")  # threads 0: the schema wants 1 to 1024
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is builder
        problem = str(builder.query_one("#problem", Static).render())
        assert "sweep.n_threads: expected an integer from 1 to 1024, got 0" in problem
        assert not (workdir / "profiles" / "broken.toml").exists()
        # threads put right, and no model at all: the schema's own words again
        await clear(pilot)
        await type_text(pilot, "1")
        await pilot.press("shift+tab", "space")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "at least one [[models]] entry is required" in str(builder.query_one("#problem", Static).render())
        assert not (workdir / "profiles" / "broken.toml").exists()


@pytest.mark.asyncio
async def test_a_shipped_profile_is_edited_as_a_copy(workdir):
    before = (workdir / "profiles" / "smoke.toml").read_text()
    app = make_app(workdir)
    async with app.run_test(size=(80, 24)) as pilot:
        builder = await open_builder(pilot, "e")  # the highlighted profile: smoke
        assert builder.query_one("#name", Input).value == "smoke-copy"
        sel = builder.query_one("#models", SelectionList)
        assert [builder.choices[i].name for i in sel.selected] == ["smollm2-135m-q4_1"]
        assert builder.query_one("#threads", Input).value == "2"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, QueueScreen)
    assert (workdir / "profiles" / "smoke.toml").read_text() == before
    copy = load_profile(workdir / "profiles" / "smoke-copy.toml")
    original = load_profile(workdir / "profiles" / "smoke.toml")
    assert copy.name == "smoke-copy"
    # everything else as it was: the same configurations, so the same ids
    assert (copy.sweep, copy.prompt_tokens, copy.gen_tokens, copy.repetitions, copy.warmup, copy.idle_baseline_s) == \
        (original.sweep, original.prompt_tokens, original.gen_tokens, original.repetitions, original.warmup,
         original.idle_baseline_s)


@pytest.mark.asyncio
async def test_a_builders_own_profile_is_edited_in_place_and_a_duplicate_name_refused(workdir):
    app = make_app(workdir)
    async with app.run_test(size=(80, 24)) as pilot:
        builder = await open_builder(pilot)
        await type_text(pilot, "smoke")  # the shipped profile's name
        await pilot.press("tab", "space", "ctrl+s")
        await pilot.pause()
        assert app.screen is builder
        assert "names must be unique" in str(builder.query_one("#problem", Static).render())
        await pilot.press("shift+tab", "end")
        await type_text(pilot, "2")
        await pilot.press("ctrl+s")
        await pilot.pause()
        queue = app.screen
        assert isinstance(queue, QueueScreen)
        builder = await open_builder(pilot, "e")  # smoke2, the builder's own: the name kept
        assert builder.query_one("#name", Input).value == "smoke2"
        await pilot.press("tab", "tab", "tab", "tab")  # models, threads, quant, context
        await clear(pilot)
        await type_text(pilot, "1024")
        await pilot.press("ctrl+s")
        await pilot.pause()
    assert load_profile(workdir / "profiles" / "smoke2.toml").sweep["n_ctx"] == [1024]
    assert not (workdir / "profiles" / "smoke2-copy.toml").exists()


@pytest.mark.asyncio
async def test_leaving_with_changes_asks_and_without_does_not(workdir):
    app = make_app(workdir)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_builder(pilot)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, QueueScreen)
        await open_builder(pilot)
        await type_text(pilot, "x")
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, BuilderScreen)
        await pilot.press("escape", "y")
        await pilot.pause()
        assert isinstance(app.screen, QueueScreen)
    assert not list((workdir / "profiles").glob("x*.toml"))


@pytest.mark.asyncio
async def test_presets_set_the_workload(workdir):
    app = make_app(workdir)
    async with app.run_test(size=(120, 36)) as pilot:
        builder = await open_builder(pilot)
        await type_text(pilot, "paper-like")
        await pilot.press("tab", "space", "tab", "tab", "tab", "tab")  # to the workload preset
        await pilot.press("enter", "down", "enter")  # llama-bench -> paper
        await pilot.pause()
        assert builder.query_one("#gen_tokens", Input).value == "100"
        await pilot.press("ctrl+s")
        await pilot.pause()
    profile = load_profile(workdir / "profiles" / "paper-like.toml")
    assert profile.prompt == "Q: Why is the sky blue?\nA:" and profile.gen_tokens == (100,)


@pytest.mark.asyncio
async def test_the_queue_asks_before_running_a_plan_that_will_not_fit(workdir, monkeypatch):
    started = []
    app = make_app(workdir, available_bytes=10 * 2**20)  # 10 MB: no model fits
    monkeypatch.setattr(app, "start_run", lambda paths: started.append(paths))
    async with app.run_test(size=(80, 24)) as pilot:
        queue = app.screen
        await pilot.pause()
        details = str(queue.query_one("#details", Static).render())
        assert "will not fit in memory: needs ~" in details and "10 MB available" in details
        await pilot.press("space", "r")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert not started
        await pilot.press("y")
        await pilot.pause()
    assert started


@pytest.mark.asyncio
async def test_the_queue_asks_before_running_more_than_500_configurations(workdir, monkeypatch):
    ctx = ", ".join(str(256 + i) for i in range(26))
    (workdir / "profiles" / "smoke.toml").write_text(
        f'name = "big"\n[[models]]\nname = "smollm2-135m-q4_1"\n[sweep]\n'
        f'n_threads = [{", ".join(str(t) for t in range(1, 21))}]\nn_ctx = [{ctx}]\n'
        f'[workload]\nprompt_tokens = 16\ngen_tokens = 16\n')
    started = []
    app = make_app(workdir, available_bytes=10**12)
    monkeypatch.setattr(app, "start_run", lambda paths: started.append(paths))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("space", "r")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert "520 configurations" in str(app.screen.query_one(".dialog-body", Static).render())
        await pilot.press("n")
        await pilot.pause()
        assert not started and isinstance(app.screen, QueueScreen)


@pytest.mark.asyncio
async def test_an_ollama_server_typed_as_the_engine_lists_its_models(workdir):
    from standins.ollama_server import StandinOllama

    server = StandinOllama(models=("qwen2.5:0.5b",)).start()
    try:
        app = make_app(workdir)
        async with app.run_test(size=(120, 36)) as pilot:
            builder = await open_builder(pilot)
            await type_text(pilot, "served")
            while builder.focused is not builder.query_one("#engine", Input):
                await pilot.press("tab")
            await clear(pilot)
            await type_text(pilot, f"ollama {server.url}")
            await pilot.app.workers.wait_for_complete()
            await pilot.pause()
            names = [c.name for c in builder.choices]
            assert "qwen2.5:0.5b" in names
            sel = builder.query_one("#models", SelectionList)
            sel.focus()
            sel.highlighted = names.index("qwen2.5:0.5b")
            await pilot.press("space")
            await pilot.press("tab", "ctrl+a", "ctrl+k")  # threads: the server's own choice
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert isinstance(app.screen, QueueScreen), builder.problem
    finally:
        server.stop()
    profile = load_profile(workdir / "profiles" / "served.toml")
    assert (profile.engine.kind, profile.engine.url) == ("ollama", server.url)
    assert [m.name for m in profile.models] == ["qwen2.5:0.5b"] and profile.sweep["n_threads"] == [0]
