"""The main screen: image table, side panes (details, layers, disk), progress, log.

Engine work runs in thread workers that post messages back; widgets are only touched here, on the
UI thread. One destructive job runs at a time; it can be cancelled between steps.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.timer import Timer
from textual.widgets import (
    DataTable,
    Header,
    Input,
    OptionList,
    ProgressBar,
    Static,
    TabbedContent,
    TabPane,
)

from tui.app.screens.buildcache_flow import BuildCacheFlow
from tui.app.screens.flows import RemovalFlows
from tui.app.screens.side_panes import SidePanes
from tui.app.source import StoreSource
from tui.app.widgets.charts import AgeChart, RepositoryChart, chart_legend
from tui.app.widgets.detail_pane import DetailPane
from tui.app.widgets.df_pane import DfPane
from tui.app.widgets.image_table import ImageTable
from tui.app.widgets.key_footer import KeyFooter
from tui.app.widgets.layer_tree import LayerTree
from tui.app.widgets.log_panel import LogPanel
from tui.config import Config
from tui.core.model import Snapshot
from tui.core.plan import Plan
from tui.core.views import SORT_KEYS


def _b(
    key: str,
    action: str,
    description: str,
    tooltip: str,
    *,
    show: bool = True,
    key_display: str | None = None,
) -> Binding:
    return Binding(
        key, action, description, show=show, key_display=key_display, id=f"main.{action}", tooltip=tooltip
    )


WIDE = 120
"""From this many columns on, details sit beside the tabs and the FLAGS column is shown."""

SIDE_PANES_DELAY_IN_JOB = 0.25
"""While a job runs on a big store, the side panes follow the cursor once it has rested this many
seconds: each redraw of them lays out and draws the whole screen (some 40-80 ms of the UI thread
on a loaded machine), and a key held down would take that from the job's thread and the engine
at every row. The cursor itself moves at once."""


class MainScreen(BuildCacheFlow, SidePanes, RemovalFlows):
    """Browse, mark, plan, confirm, watch."""

    BINDINGS = [
        _b("space", "toggle_mark", "Mark", "Mark or unmark the highlighted image"),
        _b("a", "mark_all", "Mark shown", "Mark every image the table shows", show=False),
        _b("u", "unmark_all", "Unmark all", "Clear all marks", show=False),
        _b("d", "remove", "Remove", "Plan removing the marked images (or the highlighted one)"),
        _b(
            "c",
            "remove_with_containers",
            "With containers",
            "Plan the removal including the stopped containers that block it (never running ones)",
        ),
        _b(
            "M",
            "remove_platform",
            "Remove platform",
            "Plan removing one platform of a multi-platform image (containerd store, Docker 28+)",
            show=False,
            key_display="shift+m",
        ),
        _b("p", "prune", "Prune", "Open the prune dialog (dangling or all unused, until, labels)"),
        _b(
            "b",
            "build_cache",
            "Build cache",
            "Prune the build cache (like docker builder prune) with an exact preview",
            show=False,
        ),
        _b(
            "C",
            "clean_unused",
            "Clean unused",
            "Remove every unused image, and the stopped containers that keep them",
            show=False,
            key_display="shift+c",
        ),
        # priority: the focus must move when the key arrives, not after it went through the table,
        # or keys typed right after / reach the table (in a real terminal keys come that fast)
        Binding(
            "slash",
            "filter",
            "Filter",
            key_display="/",
            priority=True,
            id="main.filter",
            tooltip="Filter by repository, tag, id or label",
        ),
        _b("s", "sort", "Sort", "Cycle the sort: size, unique size, created, name"),
        _b("S", "reverse", "Reverse", "Reverse the sort order", show=False, key_display="shift+s"),
        _b(
            "D",
            "dangling_only",
            "Dangling only",
            "Show only dangling (<none>) images",
            show=False,
            key_display="shift+d",
        ),
        _b("A", "show_all", "Show all", "Also show intermediate images", show=False, key_display="shift+a"),
        _b(
            "P",
            "policy",
            "Policy",
            "Mark what a named policy from the config selects",
            show=False,
            key_display="shift+p",
        ),
        _b("t", "tree_mode", "Tree mode", "Layer tree: highlighted image or whole store", show=False),
        _b(
            "g",
            "space_chart",
            "Space chart",
            "Space by repository; Enter on a bar shows only that repository",
            show=False,
        ),
        _b(
            "o",
            "age_chart",
            "Age chart",
            "Images and bytes per age bucket, and what each until frees",
            show=False,
        ),
        _b("r", "refresh", "Refresh", "Read the store again"),
        _b("x", "cancel_job", "Cancel job", "Cancel the running removal between steps", show=False),
        _b("enter", "details", "Details", "Show the highlighted image's details", show=False),
        _b("question_mark", "help", "Help", "All keys and how marking works", key_display="?"),
        _b("q", "quit", "Quit", "Leave docker-sweep"),
    ]

    def __init__(
        self, source: StoreSource, *, now: Callable[[], float] = time.time, config: Config | None = None
    ) -> None:
        super().__init__(source, now=now, config=config)
        default_sort = self.config.ui.default_sort
        self.sort_key = default_sort if default_sort in SORT_KEYS else "size"
        self.reverse = False
        self.dangling_only = False
        self.show_all = False
        self.filter_text = ""
        self.repository: str | None = None  # chosen on the space chart
        self.wide: bool | None = None
        self.confirm_enabled = self.config.ui.confirm
        self._marked_plan: tuple[tuple[Snapshot, frozenset[str]], Plan] | None = None
        self._marked_pending: tuple[Snapshot, frozenset[str]] | None = None
        self._df_pending: tuple[Snapshot, bool] | None = None
        self._side_timer: Timer | None = None

    # -- layout ------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(
            placeholder="filter: repository, tag, id or label (enter/esc: close, keep the filter)",
            id="filter",
            select_on_focus=False,
        )  # keys typed right after / are kept
        yield DfPane(id="df")
        yield ImageTable(
            now=self.now, id="images", columns=self.config.ui.columns, protection=self.protection
        )
        with Horizontal(id="statusbar"):
            yield Static(id="status")
            yield ProgressBar(id="progress", show_eta=False)
        with Horizontal(id="bottom"):
            with VerticalScroll(id="details-wide"):
                yield DetailPane(id="details-side")
            with TabbedContent(id="side"):
                with TabPane("Details", id="tab-details"), VerticalScroll():
                    yield DetailPane(id="details")
                with TabPane("Layers (t)", id="tab-layers"):
                    yield LayerTree(id="layers")
                with TabPane("Space (g)", id="tab-space"):
                    yield Static(chart_legend(), id="space-legend")
                    yield RepositoryChart(id="space")
                with TabPane("Age (o)", id="tab-age"), VerticalScroll():
                    yield AgeChart(id="age")
            yield LogPanel(id="log")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#filter", Input).display = False
        self.query_one("#progress", ProgressBar).display = False
        self.query_one("#log", LogPanel).border_title = "Log"
        self.query_one("#images", ImageTable).focus()
        self._apply_width(self.app.size.width)
        self.start()

    def on_resize(self, event: events.Resize) -> None:
        self._apply_width(event.size.width)

    def _apply_width(self, width: int) -> None:
        """Wide terminals show the details beside the tabs; narrow ones use a Details tab and the
        one-character flag column instead of FLAGS."""
        wide = width >= WIDE
        if wide == self.wide:
            return
        self.wide = wide
        side = self.query_one("#side", TabbedContent)
        self.query_one("#details-wide").display = wide
        if wide:
            if side.active == "tab-details":
                side.active = "tab-layers"
            side.hide_tab("tab-details")
        else:
            side.show_tab("tab-details")
        self.table.set_narrow(not wide)
        if self.snapshot.images:
            self.refresh_table()

    # -- helpers -------------------------------------------------------------------------------
    def store_updated(self) -> None:
        self.refresh_table()

    def refresh_table(self) -> None:
        self.table.show(
            self.snapshot,
            self.marked,
            filter_text=self.filter_text,
            dangling_only=self.dangling_only,
            show_all=self.show_all,
            sort_key=self.sort_key,
            reverse=self.reverse,
            repository=self.repository,
        )
        self.refresh_side()

    # -- table events -----------------------------------------------------------------------
    @on(DataTable.RowHighlighted, "#images")
    def _highlighted(self) -> None:
        if not self.snapshot.images:
            return
        if self._side_timer is not None:
            self._side_timer.stop()
            self._side_timer = None
        if self.job_running and len(self.snapshot.images) > self.inline_limit:
            self._side_timer = self.set_timer(SIDE_PANES_DELAY_IN_JOB, self._cursor_rested)
            return
        self.refresh_side()

    def _cursor_rested(self) -> None:
        self._side_timer = None
        if self.snapshot.images:
            self.refresh_side()

    @on(DataTable.RowSelected, "#images")
    def _selected(self) -> None:
        self.action_details()

    # -- marking, views ------------------------------------------------------------------------
    def action_toggle_mark(self) -> None:
        image_id = self.table.current_image_id
        if image_id is None:
            return
        if image_id in self.marked:
            self.marked.discard(image_id)
        else:
            self.marked.add(image_id)
        self.table.set_mark(image_id, image_id in self.marked)
        if self.table.cursor_row < len(self.table.shown) - 1:
            self.table.move_cursor(row=self.table.cursor_row + 1)
        self.refresh_side()

    def action_mark_all(self) -> None:
        self.marked |= {i.id for i in self.table.shown}
        self.refresh_table()

    def action_unmark_all(self) -> None:
        self.marked.clear()
        self.refresh_table()

    def action_sort(self) -> None:
        self.sort_key = SORT_KEYS[(SORT_KEYS.index(self.sort_key) + 1) % len(SORT_KEYS)]
        self.refresh_table()

    def action_reverse(self) -> None:
        self.reverse = not self.reverse
        self.refresh_table()

    def action_dangling_only(self) -> None:
        self.dangling_only = not self.dangling_only
        self.refresh_table()

    def action_show_all(self) -> None:
        self.show_all = not self.show_all
        self.refresh_table()

    def action_tree_mode(self) -> None:
        tree = self.query_one("#layers", LayerTree)
        tree.mode = "store" if tree.mode == "image" else "image"
        self.query_one("#side", TabbedContent).active = "tab-layers"
        self.refresh_side()

    def action_details(self) -> None:
        if not self.wide:
            self.query_one("#side", TabbedContent).active = "tab-details"

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        if self.focused is box:  # the binding has priority: a / typed in the bar is text
            box.insert_text_at_cursor("/")
            return
        box.display = True
        self.set_focus(box)  # now, not after a refresh: the next key typed goes into the bar

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value
        self.refresh_table()

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self._close_filter()

    def _close_filter(self) -> None:
        """Hide the filter bar and keep its filter (the status line shows it; / edits it)."""
        self.query_one("#filter", Input).display = False
        self.table.focus()
        self.refresh_status(self.marked_plan())

    def key_escape(self) -> None:
        if self.focused is self.query_one("#filter", Input):
            self._close_filter()
        elif self.repository is not None:
            self.repository = None
            self.refresh_table()

    @on(OptionList.OptionSelected, "#space")
    def _repository_selected(self, event: OptionList.OptionSelected) -> None:
        """A bar of the space chart was chosen (Enter or a click): show only that repository."""
        self.repository = event.option.id
        self.refresh_table()
        self.table.focus()

    @on(ImageTable.MarkClicked)
    def _mark_clicked(self, event: ImageTable.MarkClicked) -> None:
        self.marked.symmetric_difference_update({event.image_id})
        self.table.set_mark(event.image_id, event.image_id in self.marked)
        self.refresh_side()

    @on(TabbedContent.TabActivated, "#side")
    def _tab_activated(self) -> None:
        # a chart in a hidden tab had no width: draw it again once the tab is laid out
        self.call_after_refresh(self._redraw_charts)

    def _redraw_charts(self) -> None:
        if self.snapshot.images:
            self.query_one("#space", RepositoryChart).show(self.snapshot, self.protection)
            self.show_age_chart()

    def action_space_chart(self) -> None:
        self.query_one("#side", TabbedContent).active = "tab-space"
        self.query_one("#space", RepositoryChart).focus()

    def action_age_chart(self) -> None:
        self.query_one("#side", TabbedContent).active = "tab-age"

    def action_refresh(self) -> None:
        self.log_line("info", "Refreshing …")
        self.load()

    def action_help(self) -> None:
        from tui.app.screens.help import HelpScreen  # imported when first opened

        self.app.push_screen(HelpScreen(list(self.BINDINGS)))

    def action_quit(self) -> None:
        self.app.exit()
