"""The ``docker system df``-style summary in two lines, always on screen: images, containers,
volumes and build cache (count, size, reclaimable), the exact bytes ``prune`` and ``prune --all``
free, and the engine it describes."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from tui.core.model import Snapshot
from tui.core.usage import UsageRow, UsageSummary, human_size, summarize


def _row(t: Text, row: UsageRow, active: str, narrow: bool) -> None:
    t.append(row.type.replace("Local ", "") if narrow else row.type, style="bold")
    t.append(f" {row.total}")
    if row.total and not narrow:
        t.append(f" ({row.active} {active})", style="dim")
    t.append(" " + (human_size(row.size) if row.size >= 0 else "…"))
    if row.reclaimable > 0:
        t.append(", free " if narrow else ", reclaimable ")
        t.append(human_size(row.reclaimable), style="bold red")


class DfPane(Static):
    """Disk usage summary of the current snapshot (two lines)."""

    _shown: Snapshot | None = None

    _narrow = False

    def shows(self, snapshot: Snapshot, narrow: bool) -> bool:
        """True when the pane shows this snapshot's summary in this width already."""
        return snapshot is self._shown and narrow == self._narrow

    def show(self, snapshot: Snapshot, *, narrow: bool = False, summary: UsageSummary | None = None) -> None:
        """Show the summary of ``snapshot`` (``summary``: made by a worker, else made here)."""
        if self.shows(snapshot, narrow):
            return  # the summary plans two prunes: only redo it for a new snapshot
        self._shown = snapshot
        self._narrow = narrow
        if not snapshot.layers_complete:
            self.update(Text(f"Reading layers of {len(snapshot.images)} images…", style="dim"))
            return
        if summary is None:
            summary = summarize(snapshot)
        rows = {row.type: row for row in summary.rows}
        t = Text()
        images = rows["Images"]
        sep = " │ " if narrow else "  │  "
        t.append("Images", style="bold")
        t.append(
            f" {images.total} {human_size(images.size)}"
            if narrow
            else f" {images.total} ({images.active} in use) {human_size(images.size)}"
        )
        t.append(" · " if narrow else " · exact: ", style="dim")
        t.append("prune " if narrow else "prune frees ")
        t.append(human_size(summary.prune_dangling_bytes), style="bold red")
        t.append(", --all " if narrow else ", prune --all frees ")
        t.append(human_size(summary.prune_all_bytes), style="bold red")
        t.append(sep, style="dim")
        _row(t, rows["Containers"], "running", narrow)
        t.append("\n")
        if "Local Volumes" in rows:
            _row(t, rows["Local Volumes"], "in use", narrow)
            t.append(sep, style="dim")
            _row(t, rows["Build Cache"], "in use", narrow)
            if summary.build_cache_shared and not narrow:  # buildx du's "Shared": in the images' size
                t.append(f" (+{human_size(summary.build_cache_shared)} shared with images)", style="dim")
        else:
            t.append("volumes, build cache: reading df…", style="dim")
        if not narrow:
            t.append(sep, style="dim")
            t.append(f"Engine {summary.version} · {summary.storage_driver} · {summary.root_dir}", style="dim")
        gap = summary.engine_unattributed
        if gap:  # containerd: the engine's df counts snapshots no image or container holds
            t.append(sep, style="dim")
            t.append(
                f"engine df +{human_size(gap)} not in any image/container"
                if gap > 0
                else f"engine df {human_size(-gap)} less than the images hold",
                style="yellow",
            )
        self.update(t)
