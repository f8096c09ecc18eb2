"""The log panel: one line per engine result as it arrives, coloured by kind; ids shortened like
the docker CLI's tables (``sha256:`` and 12 hex digits; the JSON output keeps full ids)."""

from __future__ import annotations

import re

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
    "engine": "dim",
    "job": "bold cyan",
    "total": "bold",
}

_LONG_ID = re.compile(r"\b(sha256:)?([0-9a-f]{12})[0-9a-f]{52}\b")


def shorten_ids(text: str) -> str:
    """``sha256:<64 hex>`` and bare 64-hex ids as their 12-digit short form."""
    return _LONG_ID.sub(lambda m: (m.group(1) or "") + m.group(2), text)


class LogPanel(RichLog):
    """A scrollable session log (one line per event; scroll sideways for long ones)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, wrap=False, markup=False, highlight=False, max_lines=10_000, min_width=1)
        self.lines_written: list[str] = []

    def add(self, kind: str, text: str) -> None:
        line = shorten_ids(text)
        self.lines_written.append(line)
        self.write(Text(line, style=STYLES.get(kind, ""), no_wrap=True))

    def add_many(self, lines: list[tuple[str, str]]) -> None:
        """Several ``(kind, text)`` lines as one write: one measure, one render, one scroll and
        one redraw (a write per line costs a measure and a render of its own, which a removal of
        hundreds of images makes the UI thread's largest cost)."""
        if not lines:
            return
        batch = Text(no_wrap=True, end="")
        for index, (kind, text) in enumerate(lines):
            line = shorten_ids(text)
            self.lines_written.append(line)
            batch.append(line + ("\n" if index < len(lines) - 1 else ""), style=STYLES.get(kind, ""))
        self.write(batch)
