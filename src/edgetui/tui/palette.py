"""The command palette provider: each screen's keyed actions."""

from __future__ import annotations

from functools import partial

from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider


class ScreenActions(Provider):
    """The command palette offers the keyed actions of the screen it was opened from."""

    def _commands(self) -> list[tuple[str, str, str]]:
        screen = self.screen
        out = []
        for binding in getattr(screen, "BINDINGS", []):
            if not isinstance(binding, Binding) or not binding.description:
                continue
            if screen.check_action(binding.action, ()) is False:
                continue
            key = self.app.get_key_display(Binding(binding.key.split(",")[0], binding.action))
            out.append((binding.description, binding.action, binding.tooltip or f"key: {key}"))
        return out

    async def discover(self) -> Hits:
        for name, action, help_text in self._commands():
            yield DiscoveryHit(name, partial(self.screen.run_action, action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, action, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), partial(self.screen.run_action, action), help=help_text)
