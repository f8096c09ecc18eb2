"""The footer: Textual's, composed again only when the keys it shows change.

Textual's Footer composes all its key widgets again after every change of focus or of the screen
stack (each key mounted and styled anew: some 20-50 ms of the UI thread on a loaded machine),
and the main screen's start makes several such changes while its first read runs, none of which
changes the keys shown. This one remembers what it composed and skips a change that shows the same.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer

Shown = tuple[tuple[object, ...], ...]


class KeyFooter(Footer):
    """A :class:`~textual.widgets.Footer` that composes again only when its keys change."""

    _composed: Shown | None = None

    def _shown(self) -> Shown:
        """What ``compose`` reads: each active binding, its display, whether it is enabled."""
        app = self.app
        return tuple(
            (
                binding.key,
                app.get_key_display(binding),
                binding.description,
                binding.action,
                binding.show,
                binding.group,
                enabled,
                tooltip,
            )
            for (_, binding, enabled, tooltip) in self.screen.active_bindings.values()
        ) + ((self.show_command_palette, app.ENABLE_COMMAND_PALETTE),)

    def compose(self) -> ComposeResult:
        if getattr(self, "_bindings_ready", False):
            self._composed = self._shown()
        yield from super().compose()

    def bindings_changed(self, screen: Screen[object]) -> None:
        if (
            self._composed is not None
            and self.is_attached
            and screen is self.screen
            and self._shown() == self._composed
        ):
            return  # the same keys: nothing to compose
        super().bindings_changed(screen)
