"""The ``docker system df``-style summary, with exact prune sizes and the engine it describes."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from tui.core.model import Snapshot
from tui.core.usage import human_size, summarize


class DfPane(Static):
    """Disk usage summary of the current snapshot."""

    _shown: Snapshot | None = None

    def show(self, snapshot: Snapshot) -> None:
        if snapshot is self._shown:
            return  # the summary plans two prunes: only redo it for a new snapshot
        self._shown = snapshot
        if not snapshot.layers_complete:
            self.update(Text("Reading layers…", style="dim"))
            return
        summary = summarize(snapshot)
        table = Table(box=None, padding=(0, 1), expand=True)
        for column in ("TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"):
            table.add_column(column, justify="left" if column == "TYPE" else "right")
        for row in summary.rows:
            table.add_row(row.type, str(row.total), str(row.active),
                          human_size(row.size) if row.size >= 0 else "…",
                          human_size(row.reclaimable) if row.reclaimable >= 0 else "…")
        footer = Text()
        footer.append("Exact: ", style="bold")
        footer.append(f"prune frees {human_size(summary.prune_dangling_bytes)}, "
                      f"prune --all frees {human_size(summary.prune_all_bytes)}\n")
        footer.append(f"Engine {summary.version} · {summary.storage_driver} · {summary.root_dir}\n",
                      style="dim")
        footer.append(summary.engine, style="dim")
        if snapshot.disk is None:
            footer.append("\n(containers, volumes, build cache: reading df…)", style="dim")
        from rich.console import Group

        self.update(Group(table, footer))
