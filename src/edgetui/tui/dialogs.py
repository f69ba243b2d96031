"""Dialogs shared by every screen: confirm, input, help."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Input, Label, Static

from edgetui.tui.keymap import keymap_path


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question; y or enter says yes, n or escape says no."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no"),
    ]

    def __init__(self, title: str, message: str, yes: str = "Yes", no: str = "No") -> None:
        super().__init__(classes="dialog-screen")
        self.title_text = title
        self.message = message
        self.yes_label = yes
        self.no_label = no

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield Static(self.message, classes="dialog-body")
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self.yes_label} (y)", id="yes", variant="primary")
                yield Button(f"{self.no_label} (n)", id="no")

    def on_mount(self) -> None:
        self.query_one("#yes", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class InputScreen(ModalScreen[str | None]):
    """Ask for a line of text (a path, weights), a default offered; `check` returns an error shown
    inline (the dialog stays open), or None to accept."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="input.cancel")]

    def __init__(self, title: str, default: str, hint: str, check: Callable[[str], str | None]) -> None:
        super().__init__(classes="dialog-screen")
        self.title_text = title
        self.default = default
        self.hint = hint
        self.check = check

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield Static(self.hint, classes="dialog-hint")
            yield Input(value=self.default, id="dialog-input")
            yield Static("", id="dialog-error", classes="dialog-error")
            yield Static("enter: accept   escape: cancel", classes="dialog-hint")

    def on_mount(self) -> None:
        inp = self.query_one(Input)
        inp.focus()
        inp.cursor_position = len(inp.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        value = event.value.strip()
        error = self.check(value) if value else "nothing given"
        if error:
            self.query_one("#dialog-error", Static).update(Text(error))
            return
        self.dismiss(value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class HelpScreen(ModalScreen[None]):
    """Every key of the screen below it (and the app's), with what it does."""

    BINDINGS = [Binding("escape,question_mark,q", "close", "Close", id="help.close")]

    def __init__(self, screen: Screen, keymap: Mapping[str, str] | None = None) -> None:
        super().__init__(classes="dialog-screen")
        self.target = screen
        self.keymap = dict(keymap or {})  # binding id -> keys, as the user remapped them

    def compose(self) -> ComposeResult:
        lines = Text()
        seen: set[tuple[str, str]] = set()
        for node in (self.target, self.app):
            for binding in getattr(node, "BINDINGS", []):
                if not isinstance(binding, Binding) or not binding.description:
                    continue
                available = node is not self.target or self.target.check_action(binding.action, ()) is not False
                key = self.keymap.get(binding.id or "", binding.key)
                keys = ", ".join(self.app.get_key_display(Binding(k.strip(), binding.action))
                                 for k in key.split(","))
                if (keys, binding.description) in seen:
                    continue
                seen.add((keys, binding.description))
                lines.append(f"{keys:>14}  ", style="bold" if available else "dim")
                lines.append(binding.description, style="" if available else "dim")
                if binding.tooltip:
                    lines.append(f"  {binding.tooltip}", style="dim")
                if binding.id:
                    lines.append(f"  [{binding.id}]", style="dim italic")
                if not available:
                    lines.append("  (not now)", style="dim italic")
                lines.append("\n")
        with Vertical(classes="dialog help"):
            yield Label(f"Keys: {self.target.title or self.target.__class__.__name__}", classes="dialog-title")
            with VerticalScroll():
                yield Static(lines)
            yield Static(f"ctrl+p: command palette (the same actions)   escape: close\n"
                         f"remap keys by id in {keymap_path()}, e.g. \"queue.run\" = \"R\"", classes="dialog-hint")

    def action_close(self) -> None:
        self.dismiss(None)
