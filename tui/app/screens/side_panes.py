"""The main screen's side panes and status line: details of the highlighted image, its layers,
the df summary and the marks' plan. Their plans run in workers on big stores
(:mod:`tui.app.screens.planning`); each pane shows the newest answer of its own request."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.timer import Timer
from textual.widgets import Static, TabbedContent

from tui.app.screens.planning import PlanWorkers
from tui.app.screens.store import StoreScreen
from tui.app.widgets.charts import AgeChart, RepositoryChart
from tui.app.widgets.detail_pane import DetailPane, removal_plans
from tui.app.widgets.df_pane import DfPane
from tui.app.widgets.image_table import ImageTable
from tui.app.widgets.layer_tree import LayerTree
from tui.core.charts import AgeBucket, age_buckets
from tui.core.marking import plan_images
from tui.core.model import Snapshot
from tui.core.plan import Plan
from tui.core.usage import UsageSummary, human_size, summarize

DETAILS_PLAN_DELAY = 0.3
"""Seconds the cursor rests on an image of a big store before its removal plan is made (arrow
keys pressed one after the other come some 0.1-0.2 s apart)."""


class SidePanes(PlanWorkers, StoreScreen):
    """Mixed into the main screen, which owns the view state read here."""

    wide: bool | None
    sort_key: str
    reverse: bool
    filter_text: str
    repository: str | None
    dangling_only: bool
    show_all: bool
    now: Callable[[], float]
    _marked_plan: tuple[tuple[Snapshot, frozenset[str]], Plan] | None
    _marked_pending: tuple[Snapshot, frozenset[str]] | None
    _df_pending: tuple[Snapshot, bool] | None
    _age_pending: Snapshot | None = None
    _details_shown: tuple[Snapshot, str, DetailPane] | None = None
    _details_timer: Timer | None = None

    @property
    def table(self) -> ImageTable:
        return self.query_one("#images", ImageTable)

    @property
    def details_pane(self) -> DetailPane:
        """The details pane on screen (beside the tabs when wide, else in the Details tab)."""
        return self.query_one("#details-side" if self.wide else "#details", DetailPane)

    def marked_plan(self) -> Plan | None:
        """The plan for the marks (kept until the snapshot or the marks change: every cursor move
        redraws the side panes). ``None`` while a worker makes it; the status line and the layer
        tree are redrawn when it is ready."""
        if self._marked_plan is not None and self._marked_plan[0][0] is not self.snapshot:
            # made for a snapshot no longer shown (it would hold that snapshot and its plan)
            self._marked_plan = None
        if not self.marked or not self.snapshot.layers_complete:
            return None
        key = (self.snapshot, frozenset(self.marked))
        if self._marked_plan is not None and self._marked_plan[0] == key:
            return self._marked_plan[1]
        if self._marked_pending == key:
            return None
        self._marked_pending = key
        snapshot, marked, protection = self.snapshot, set(self.marked), self.protection

        def ready(plan: Plan) -> None:
            self._marked_plan, self._marked_pending = (key, plan), None
            if key == (self.snapshot, frozenset(self.marked)):
                self._show_layers(plan)
                self.refresh_status(plan)

        if self.plan_then("marks", lambda: plan_images(snapshot, marked, protection=protection), ready):
            return self._marked_plan[1] if self._marked_plan is not None else None
        return None

    def refresh_side(self) -> None:
        image_id = self.table.current_image_id
        plan = self.marked_plan()
        self._show_details(image_id)
        self._show_layers(plan)
        self._show_df()
        self.query_one("#space", RepositoryChart).show(self.snapshot, self.protection)
        self.show_age_chart()
        self.refresh_status(plan)

    def show_age_chart(self) -> None:
        """Draw the age chart for the snapshot. Its buckets plan a prune each (a tenth of a second
        per 1,000 images, for every load stage): on a big store they are made in a worker, and
        only while the chart's tab is shown (showing the tab draws it)."""
        chart, snapshot, now, protection = (
            self.query_one("#age", AgeChart),
            self.snapshot,
            self.now(),
            self.protection,
        )
        if chart.shows(snapshot) or self._age_pending is snapshot:
            return
        if len(snapshot.images) > self.inline_limit:
            if self.query_one("#side", TabbedContent).active != "tab-age":
                return
            self._age_pending = snapshot

        def ready(buckets: list[AgeBucket]) -> None:
            self._age_pending = None
            chart.show(snapshot, now, protection, buckets=buckets)

        self.plan_then("age", lambda: age_buckets(snapshot, now, protection), ready)

    def _show_layers(self, plan: Plan | None) -> None:
        freed = set(plan.freed_layers) if plan is not None else set()
        self.query_one("#layers", LayerTree).show(self.snapshot, self.table.current_image_id, freed)

    def _show_details(self, image_id: str | None) -> None:
        snapshot, protection, pane = self.snapshot, self.protection, self.details_pane
        if image_id is None or not snapshot.layers_complete or len(snapshot.images) <= self.inline_limit:
            self.plan_pending("details")
            self._details_shown = None
            pane.show(snapshot, image_id, protection)
            return
        key = (snapshot, image_id, pane)
        if key == self._details_shown:
            return  # its plans are on screen already (the status or the marks changed)
        self._details_shown = key
        pane.show(snapshot, image_id, protection, plans="pending")
        self.plan_pending("details")  # an answer for the image highlighted before is not shown
        if self._details_timer is not None:
            self._details_timer.stop()

        def plan() -> None:
            self._details_timer = None
            if self._details_shown != key:
                return
            self.plan_then(
                "details",
                lambda: removal_plans(snapshot, image_id, protection),
                lambda plans: pane.show(snapshot, image_id, protection, plans=plans),
            )

        # Only once the cursor rests: every plan of a big store holds the GIL for a while, and one
        # per key held down starves the threads that read the store or run a job.
        self._details_timer = self.set_timer(DETAILS_PLAN_DELAY, plan)

    def _show_df(self) -> None:
        df, snapshot, narrow = self.query_one("#df", DfPane), self.snapshot, not self.wide
        if df.shows(snapshot, narrow) or self._df_pending == (snapshot, narrow):
            return
        if not snapshot.layers_complete:
            df.show(snapshot, narrow=narrow)
            return
        self._df_pending = (snapshot, narrow)

        def ready(summary: UsageSummary) -> None:
            self._df_pending = None
            df.show(snapshot, narrow=narrow, summary=summary)

        self.plan_then("df", lambda: summarize(snapshot), ready)

    def refresh_status(self, plan: Plan | None = None) -> None:
        shown = len(self.table.shown)
        parts = [f"{shown} image(s)"]
        if self.marked:
            at_least = "at least " if plan is not None and plan.unknown_layers else ""
            frees = f", frees {at_least}{human_size(plan.reclaim_bytes)}" if plan is not None else ""
            if plan is not None and plan.blocked:
                frees += f", {len(plan.blocked)} blocked"
            parts.append(f"{len(self.marked)} marked{frees}")
        arrow = "↑" if self.reverse else "↓"
        parts.append(f"sort: {self.sort_key} {arrow}")
        if self.filter_text:
            parts.append(f"filter: {self.filter_text} (/ edits)")
        if self.repository is not None:
            parts.append(f"repository: {self.repository} (esc shows all)")
        legend = self.table.flag_legend()
        if legend:
            parts.append(legend)
        if self.dangling_only:
            parts.append("dangling only")
        if self.show_all:
            parts.append("showing intermediates")
        if self.job_running:
            parts.append("job running (x cancels)")
        self.query_one("#status", Static).update(Text(" · ".join(parts)))
