"""The command palette: every main-screen action by name (ctrl+p)."""

from __future__ import annotations

from functools import partial

from textual.binding import Binding
from textual.command import Hit, Hits, Provider


class SweepCommands(Provider):
    """Offers the main screen's bindings as commands."""

    async def search(self, query: str) -> Hits:
        from tui.app.screens.main import MainScreen

        screen = self.screen  # the screen the palette was opened on
        if not isinstance(screen, MainScreen):
            return
        matcher = self.matcher(query)
        for binding in MainScreen.BINDINGS:
            if not isinstance(binding, Binding):
                continue
            text = f"{binding.description}"
            score = matcher.match(f"{text} {binding.tooltip}")
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(text),
                    partial(screen.run_action, binding.action),
                    help=binding.tooltip,
                )
