"""Regenerate screenshots/*.svg from a real run of the bundled models (`make screenshots`).

    .venv/bin/python scripts/screenshots.py [--profile profiles/demo.toml] [--size 120x36]

The console is driven as a person would (keys through Textual's Pilot, in a headless terminal of
the given size): the queue with the demo profile queued, the live screen mid-run, the results
screen when the queue has finished, and its trade-off plot (g) of decode against peak memory.
The run is real: the runner is started detached by the console, the bundled models are loaded
and measured on this machine, and the panes show this machine's sensors (here: none for power
and temperature, so they say n/a and why).

screenshots/builder.svg is the profile builder (n on the queue screen) with the models this machine
has (the bundled ones, GGUF files in ./models, ~/models and the Hugging Face cache) and the plan of
a sweep over both bundled models; `--only builder` takes that one alone (no run needed).

With chromium installed, screenshots/browser.png shows the same console served by `edgetui serve`
in a headless Chromium (tests/browser.py drives it over the DevTools protocol), the demo profile
queued by keys typed into the page.

With --sensor-fixture NAME (a tree under tests/fixtures, e.g. jetson-orin-nano) one more live
screenshot is taken with the sensors read from that fixture tree, to show panes with power rails
and zones; its title says so, and the speeds in it are still this machine's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from edgetui.tui.app import EdgeApp  # noqa: E402
from edgetui.tui.screens.live import LiveScreen  # noqa: E402
from edgetui.tui.screens.results import ResultsScreen  # noqa: E402


def write(app: EdgeApp, out: Path, name: str, title: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / name).write_text(app.export_screenshot(title=title))
    print(f"wrote {out / name}", flush=True)


async def wait_for(pilot, predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        await pilot.pause(0.25)


async def shoot(profile: Path, size: tuple[int, int], out: Path, suffix: str, sysfs_root: str | None,
                live_only: bool, live_after_configs: int) -> None:
    app = EdgeApp(profiles_dir=str(profile.parent), files=[], sysfs_root=sysfs_root, attach=False)
    label = f"{size[0]}x{size[1]}"
    where = f" (sensors: fixture tree {Path(sysfs_root).name}; speeds: this machine)" if sysfs_root else ""
    async with app.run_test(size=size) as pilot:
        queue = app.screen
        # highlight the profile and queue it
        for _ in range(len(queue.entries)):
            entry = queue.highlighted()
            if entry is not None and entry.path.resolve() == profile.resolve():
                break
            await pilot.press("j")
        await pilot.press("space")
        await pilot.pause()
        if not live_only:
            write(app, out, f"queue{suffix}.svg", f"edgetui: queue ({label})")
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, LiveScreen), 30, "the live screen")
        state = app.screen.follower.state
        # mid-run: a few configurations done and the next one decoding, so every pane has history
        await wait_for(pilot, lambda: (len(state.outcomes) >= live_after_configs and state.decoding
                                       and len(state.decode_history) > 8) or app.screen.follower.ended,
                       900, "the run to be under way")
        app.tick()
        await pilot.pause()
        write(app, out, f"live{suffix}.svg", f"edgetui: live run ({label}){where}")
        await wait_for(pilot, lambda: isinstance(app.screen, ResultsScreen) and app.screen.ranking is not None,
                       1800, "the results screen")
        if live_only:
            return
        # weights a person might choose: speed first, then time to first token and memory
        results = app.screen
        await pilot.press("plus", "plus")  # decode x3
        await pilot.press("j", "j", "space")  # TTFT x1
        for _ in range(6):
            await pilot.press("j")
        await pilot.press("space")  # peak memory x1
        await pilot.pause()
        assert results.ranking is not None
        # the rank intervals come from the ranking worker after the table: the picture shows them
        await wait_for(pilot, lambda: results.view is not None and results.view.has_intervals, 60,
                       "the rank intervals")
        write(app, out, f"results{suffix}.svg", f"edgetui: results ({label})")
        # g: the trade-off plot; y steps to peak memory (this machine has no power sensor: the plot
        # opens on the first criterion that has values), saved with Textual's save_screenshot
        await pilot.press("g")
        while results.plot_data is not None and results.plot_data.y.key != "rss_mb":
            await pilot.press("y")
        await pilot.pause()
        app.save_screenshot(f"results-plot{suffix}.svg", str(out))
        print(f"wrote {out / f'results-plot{suffix}.svg'}", flush=True)


async def builder_shot(profiles: Path, size: tuple[int, int], out: Path) -> None:
    """screenshots/builder.svg: n on the queue screen, a name typed, both bundled models picked."""
    app = EdgeApp(profiles_dir=str(profiles), files=[], attach=False)
    async with app.run_test(size=size) as pilot:
        await pilot.press("n")
        await app.workers.wait_for_complete()
        await pilot.pause()
        for ch in "my-sweep":
            await pilot.press(ch)
        await pilot.press("tab", "space", "down", "space")
        await pilot.pause()
        write(app, out, "builder.svg", f"edgetui: profile builder ({size[0]}x{size[1]})")


def browser_shot(out: Path, profiles: Path) -> None:
    """screenshots/browser.png: `edgetui serve` in a headless Chromium, the queue screen with a profile
    queued by keys typed into the page."""
    import socket

    sys.path.insert(0, str(REPO / "tests"))
    from browser import Browser, ServedConsole, find_chromium

    exe = find_chromium()
    if exe is None:
        print("no chromium: browser.png not taken (apt-get install chromium)", flush=True)
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    async def shoot_page(url: str) -> None:
        async with Browser(exe, width=1280, height=760) as page:
            await page.open(url)  # as printed, with its token
            await page.wait_for_output("Profiles", timeout=90)
            await page.press(" ", code="Space", key_code=32, text=" ")  # queue the highlighted profile
            await asyncio.sleep(1.5)  # the page's terminal fades in and draws the queued profile
            out.mkdir(parents=True, exist_ok=True)
            await page.screenshot(out / "browser.png")
            print(f"wrote {out / 'browser.png'}", flush=True)

    with ServedConsole(port, profiles) as served:  # returns once it listens
        asyncio.run(shoot_page(served.url))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default=str(REPO / "profiles" / "demo.toml"))
    ap.add_argument("--out", default=str(REPO / "screenshots"))
    ap.add_argument("--size", action="append", help="WxH, repeatable (default 120x36 and 80x24)")
    ap.add_argument("--only", choices=["builder"], help="take this screenshot alone")
    ap.add_argument("--sensor-fixture", default="jetson-orin-nano",
                    help="fixture tree for the extra live screenshot ('' for none)")
    args = ap.parse_args()
    sizes = [tuple(int(x) for x in s.split("x")) for s in (args.size or ["120x36", "80x24"])]
    out = Path(args.out)
    profile = Path(args.profile)
    if args.only == "builder":
        asyncio.run(builder_shot(profile.parent, sizes[0], out))
        return
    with tempfile.TemporaryDirectory() as runs:
        os.environ["EDGETUI_RUNS_DIR"] = runs  # the screenshot runs stay out of the user's data folder
        for i, size in enumerate(sizes):
            suffix = "" if i == 0 else f"-{size[0]}x{size[1]}"
            asyncio.run(shoot(profile, size, out, suffix, None, live_only=False, live_after_configs=2))
        asyncio.run(builder_shot(profile.parent, sizes[0], out))
        browser_shot(out, profile.parent)
        if args.sensor_fixture:
            tree = REPO / "tests" / "fixtures" / args.sensor_fixture
            asyncio.run(shoot(profile, sizes[0], out, f"-{args.sensor_fixture}-fixture", str(tree),
                              live_only=True, live_after_configs=1))


if __name__ == "__main__":
    main()
