"""A modal's key footer: every key the modal answers, with what it does, on one wrapped line."""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.widgets import Static


def key_text(keys: Iterable[tuple[str, str]]) -> Text:
    """``[("y", "delete"), ("n/esc", "cancel")]`` as ``y delete · n/esc cancel`` (keys bold)."""
    t = Text()
    for i, (key, what) in enumerate(keys):
        if i:
            t.append("  ·  ", style="dim")
        t.append(key, style="bold reverse")
        t.append(f" {what}")
    return t


class KeyLine(Static):
    """The keys of a modal screen, shown at its bottom."""

    DEFAULT_CSS = """
    KeyLine {
        height: auto;
        width: 100%;
        padding: 0 1;
        background: $panel;
    }
    """

    def __init__(self, keys: Iterable[tuple[str, str]], *, id: str | None = None) -> None:
        super().__init__(key_text(keys), id=id)

    def show_keys(self, keys: Iterable[tuple[str, str]]) -> None:
        self.update(key_text(keys))
