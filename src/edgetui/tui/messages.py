"""How the console's screens and the app speak: messages the screens post (the app handles them),
the message the follow worker posts when it has read a run folder, and the typed view of the
console the screens are given. No screen reaches into the app's attributes."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from textual.message import Message

from edgetui.engines.catalog import DEFAULT_OLLAMA_URL

if TYPE_CHECKING:  # the console's first frame follows no run: run.session is imported when one is
    from edgetui.run.session import RunFollower


@dataclass
class ConsoleView:
    """What the screens read of the console: where runs are, how a runner's liveness is checked,
    the clock of the runner's events, the run followed now (None before any), the fleet the queue
    runs on (`edgetui --fleet INVENTORY`; None: this machine), the keys as the user remapped them
    (binding id -> keys), and where the builder finds models."""

    runs_dir: Path | None
    alive: Callable[[int | None], bool]
    clock: Callable[[], float]
    follower: RunFollower | None = None
    fleet_inventory: str | None = None
    fleet_hosts: list[str] = field(default_factory=list)
    fleet_out: str | None = None  # where a fleet run started here writes (`--out`; None: a new folder)
    keymap: Mapping[str, str] = field(default_factory=dict)
    # where the profile builder looks for models: (source, folder) pairs (None: models.discover's
    # search_folders()), the Ollama server it asks (None: none), the memory taken as available for
    # the plans' memory check (None: psutil's, now)
    model_folders: list[tuple[str, Path]] | None = None
    ollama_url: str | None = DEFAULT_OLLAMA_URL
    available_bytes: int | None = None


class RunRead(Message):
    """The follow worker read the run folder (posted at the console's fixed rate, from its thread).
    What was read waits in the follower until the app takes it, so a message that the app had not
    handled yet is superseded by a newer one for the same run: nothing is lost, no backlog builds."""

    def __init__(self, follower: RunFollower) -> None:
        super().__init__()
        self.follower = follower

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RunRead) and message.follower is self.follower


class StartRun(Message):
    """Run these profiles (the queue screen's r)."""

    def __init__(self, profile_paths: Sequence[Path]) -> None:
        super().__init__()
        self.profile_paths = list(profile_paths)


class ResumeRun(Message):
    """Continue the followed run, or follow the runner already at work on it (the live screen's u)."""


class ShowLive(Message):
    """The live screen of the followed run."""


class ShowResults(Message):
    """The results screen on these run folders or results files."""

    def __init__(self, paths: Sequence[str | Path]) -> None:
        super().__init__()
        self.paths = list(paths)


class OpenBoard(Message):
    """A fleet board's live screen, from its run folder as mirrored here."""

    def __init__(self, follower: RunFollower) -> None:
        super().__init__()
        self.follower = follower


class GoBack(Message):
    """Close the screen on top (never the queue)."""


class ResultsChanged(Message):
    """The results of this run folder changed (its run ended): a results screen showing them reads
    them again (posted by the app to the screen; the screen decides)."""

    def __init__(self, run_dir: Path) -> None:
        super().__init__()
        self.run_dir = run_dir
