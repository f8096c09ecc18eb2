"""The help screen: every key, and how marking works."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

MARKING = (
    "The table has one row per image, with all of its tags in one cell. "
    "Marking a row marks the whole image: removing it untags every tag and then deletes the image, "
    "exactly as the confirm screen shows. To drop a single tag, use `docker-sweep rm REPO:TAG`. "
    "<none>:<none> rows are dangling images (no tag, no child); intermediate images of classic "
    "builds are hidden unless 'show all' (A) is on. Sizes are exact: UNIQUE is what only this image "
    "uses, SHARED what it shares with others; a removal frees only layers nothing else keeps."
)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,q,question_mark", "close", "Close", id="help.close", tooltip="Close the help")
    ]

    def __init__(self, bindings: list[BindingType]) -> None:
        super().__init__()
        self.keys = bindings

    def compose(self) -> ComposeResult:
        table = Table(box=None, padding=(0, 2))
        table.add_column("key", style="bold cyan")
        table.add_column("action")
        table.add_column("what it does", style="dim")
        for b in self.keys:
            if isinstance(b, Binding):
                table.add_row(b.key_display or b.key, b.description, b.tooltip)
        table.add_row("ctrl+p", "Commands", "the command palette: every action by name")
        with Vertical(id="help-box"), VerticalScroll():
            yield Static(Text("docker-sweep — keys", style="bold"))
            yield Static(table)
            yield Static(Text("\n" + MARKING))

    def action_close(self) -> None:
        self.dismiss(None)
