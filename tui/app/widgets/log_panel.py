"""The log panel: every engine result line as it arrives, errors in red, totals; keeps history."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import RichLog

STYLES = {
    "untagged": "yellow",
    "deleted": "green",
    "deleted_layer": "dim green",
    "container_removed": "cyan",
    "error": "bold red",
    "skipped": "magenta",
    "unexpected": "bold red",
    "info": "",
    "total": "bold",
}


class LogPanel(RichLog):
    """A scrollable session log."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, wrap=True, markup=False, highlight=False, max_lines=10_000, min_width=1)
        self.lines_written: list[str] = []

    def add(self, kind: str, text: str) -> None:
        self.lines_written.append(text)
        self.write(Text(text, style=STYLES.get(kind, "")))
