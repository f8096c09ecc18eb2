"""Charts drawn with Rich text bars (Textual's own primitives): space by repository (a selectable
list: Enter or a click filters the table to that repository), disk use before and after a plan,
and images per age bucket. The numbers come from :mod:`tui.core.charts`."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from tui.core.charts import AgeBucket, RepositoryUsage, age_buckets, before_after, space_by_repository
from tui.core.model import Snapshot
from tui.core.plan import Plan
from tui.core.protect import Protection
from tui.core.usage import human_size

FULL = "█"
SHARED = "▒"
REST = "░"
STYLE_FREED = "bold red"
STYLE_UNIQUE = "yellow"
STYLE_SHARED = "blue"
STYLE_KEPT = "green"


def _cells(part: int, whole: int, width: int) -> int:
    """Cells for ``part`` of ``whole`` in ``width`` cells; a non-zero part gets at least one."""
    if whole <= 0 or part <= 0:
        return 0
    return max(1, round(part * width / whole))


def stacked_bar(parts: list[tuple[int, str, str]], whole: int, width: int) -> Text:
    """``parts`` = ``(bytes, character, style)``, drawn left to right in ``width`` cells."""
    t = Text()
    used = 0
    for size, char, style in parts:
        n = min(_cells(size, whole, width), width - used)
        t.append(char * n, style=style)
        used += n
    t.append(" " * (width - used))
    return t


def before_after_bar(snapshot: Snapshot, plan: Plan, width: int = 50) -> Text:
    """``Images on disk  [kept|freed]  62.1MB → 55.0MB  (frees 7.1MB, exact)``."""
    numbers = before_after(snapshot, plan)
    t = Text("Images on disk ", style="bold")
    t.append("▕")
    t.append(
        stacked_bar(
            [(numbers.after, FULL, STYLE_KEPT), (numbers.freed, FULL, STYLE_FREED)], numbers.before, width
        )
    )
    t.append("▏ ")
    t.append(f"{human_size(numbers.before)} → {human_size(numbers.after)}", style="bold")
    t.append("  frees ")
    t.append(human_size(numbers.freed), style=STYLE_FREED)
    t.append(" (exact)" if plan.layers_known else " (layers not read)", style="dim")
    return t


def repository_bar(row: RepositoryUsage, largest: int, *, name_width: int = 22, width: int = 30) -> Text:
    name = row.repository if len(row.repository) <= name_width else row.repository[: name_width - 1] + "…"
    t = Text(f"{name:<{name_width}} ")
    t.append(
        stacked_bar(
            [
                (row.reclaimable, FULL, STYLE_FREED),
                (row.unique - row.reclaimable, FULL, STYLE_UNIQUE),
                (row.shared, SHARED, STYLE_SHARED),
            ],
            largest,
            width,
        )
    )
    t.append(f" {human_size(row.total):>7}", style="bold")
    t.append(f"  {row.images} img")
    if row.reclaimable:
        t.append(f"  frees {human_size(row.reclaimable)}", style=STYLE_FREED)
    return t


def chart_legend() -> Text:
    t = Text()
    t.append(FULL * 2, style=STYLE_FREED)
    t.append(" freed by removing its unused images  ")
    t.append(FULL * 2, style=STYLE_UNIQUE)
    t.append(" only it uses  ")
    t.append(SHARED * 2, style=STYLE_SHARED)
    t.append(" shared  ")
    t.append("enter: show only it", style="dim")
    return t


class RepositoryChart(OptionList):
    """Space by repository, one selectable bar per repository (sorted by what removal frees)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._key: tuple[object, ...] = ()
        self.rows: list[RepositoryUsage] = []
        self._snapshot_protection: tuple[Snapshot, Protection | None] | None = None

    def on_resize(self) -> None:
        if self._snapshot_protection is not None:  # after the list's own resize handling
            self.call_after_refresh(self.show, *self._snapshot_protection)

    def show(self, snapshot: Snapshot, protection: Protection | None = None) -> None:
        """Draw the chart for ``snapshot``; while its tab is hidden (no width) only remember it:
        the chart is made when the tab is shown (its resize), not for every load stage."""
        self._snapshot_protection = (snapshot, protection)
        if not self.size.width:
            self._key = ()
            return
        key = (snapshot, snapshot.layers_complete, self.size.width)
        if key == self._key:
            return
        self._key = key
        self.rows = space_by_repository(snapshot, protection)
        highlighted = self.highlighted
        self.clear_options()
        if not self.rows:
            self.add_option(Option(Text("Reading layers…", style="dim"), disabled=True))
            return
        largest = max(r.total for r in self.rows)
        # name, bar and "  99.9MB  99 img  frees 99.9MB" (about 32 cells) on one line
        width = self.size.width
        name_width = max(8, min(22, max(len(r.repository) for r in self.rows), width // 4))
        bar_width = max(6, min(40, width - name_width - 32))
        self.add_options(
            Option(repository_bar(r, largest, name_width=name_width, width=bar_width), id=r.repository)
            for r in self.rows
        )
        self.highlighted = highlighted if highlighted is not None and highlighted < len(self.rows) else 0


def age_table(buckets: list[AgeBucket], width: int = 12) -> Table:
    table = Table(box=None, padding=(0, 1), expand=False)
    for column, justify in (
        ("AGE", "left"),
        ("IMAGES", "right"),
        ("", "left"),
        ("SIZE", "right"),
        ("prune --all until=", "left"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    largest = max((b.bytes for b in buckets), default=0)
    for bucket in buckets:
        prune = Text("-", style="dim")
        if bucket.prune_until:
            prune = Text(f"{bucket.prune_until}: frees ")
            prune.append(human_size(bucket.prune_all_frees), style=STYLE_FREED)
        table.add_row(
            bucket.label,
            str(bucket.images),
            stacked_bar([(bucket.bytes, FULL, STYLE_UNIQUE)], largest, width),
            human_size(bucket.bytes),
            prune,
        )
    return table


class AgeChart(Static):
    """Images and bytes per age bucket, with the exact bytes each ``until`` would free."""

    _key: tuple[object, ...] = ()

    def shows(self, snapshot: Snapshot) -> bool:
        """True when the chart is drawn for this snapshot already."""
        return (snapshot, snapshot.layers_complete) == self._key

    def show(
        self,
        snapshot: Snapshot,
        now: float,
        protection: Protection | None = None,
        *,
        buckets: list[AgeBucket] | None = None,
    ) -> None:
        """Draw the buckets of ``snapshot`` (``buckets``: made by a worker, else made here: each
        bucket plans a prune)."""
        key = (snapshot, snapshot.layers_complete)
        if key == self._key:
            return
        self._key = key
        if buckets is None:
            buckets = age_buckets(snapshot, now, protection)
        if not buckets:
            self.update(Text("Reading layers…", style="dim"))
            return
        from rich.console import Group

        age = "the time each image entered the store" if snapshot.containerd else "the config's Created"
        note = Text(
            f"Age is {age}, what prune's until compares on this store. Sizes are the distinct "
            "bytes of each bucket's images; a prune frees only what no remaining image or "
            "container uses.",
            style="dim",
        )
        self.update(Group(age_table(buckets), note))
