"""The main screen: image table, side panes (details, layers, disk), progress, log.

Engine work runs in thread workers that post messages back; widgets are only touched here, on the
UI thread. One destructive job runs at a time; it can be cancelled between steps.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, ProgressBar, Static, TabbedContent, TabPane

from tui.app.messages import (
    JobEvent,
    JobFinished,
    LoadFailed,
    LoadProgress,
    SnapshotLoaded,
    StoreChanged,
)
from tui.app.screens.confirm import ConfirmScreen
from tui.app.screens.help import HelpScreen
from tui.app.screens.prune import PruneDialog, PruneRequest
from tui.app.source import StoreSource
from tui.app.widgets.detail_pane import DetailPane
from tui.app.widgets.df_pane import DfPane
from tui.app.widgets.image_table import ImageTable
from tui.app.widgets.layer_tree import LayerTree
from tui.app.widgets.log_panel import LogPanel
from tui.config import Config
from tui.core.model import Snapshot
from tui.core.plan import Plan, plan_images, plan_prune
from tui.core.policy import select
from tui.core.usage import human_size
from tui.core.views import SORT_KEYS


def _b(key: str, action: str, description: str, tooltip: str, *, show: bool = True,
       key_display: str | None = None) -> Binding:
    return Binding(key, action, description, show=show, key_display=key_display,
                   id=f"main.{action}", tooltip=tooltip)


class MainScreen(Screen[None]):
    """Browse, mark, plan, confirm, watch."""

    BINDINGS = [
        _b("space", "toggle_mark", "Mark", "Mark or unmark the highlighted image"),
        _b("a", "mark_all", "Mark shown", "Mark every image the table shows", show=False),
        _b("u", "unmark_all", "Unmark all", "Clear all marks", show=False),
        _b("d", "remove", "Remove", "Plan removing the marked images (or the highlighted one)"),
        _b("c", "remove_with_containers", "With containers",
           "Plan the removal including the stopped containers that block it (never running ones)"),
        _b("p", "prune", "Prune", "Open the prune dialog (dangling or all unused, until, labels)"),
        _b("C", "clean_unused", "Clean unused", "Remove every unused image, and the stopped containers "
           "that keep them", show=False, key_display="shift+c"),
        _b("slash", "filter", "Filter", "Filter by repository, tag, id or label", key_display="/"),
        _b("s", "sort", "Sort", "Cycle the sort: size, unique size, created, name"),
        _b("S", "reverse", "Reverse", "Reverse the sort order", show=False, key_display="shift+s"),
        _b("D", "dangling_only", "Dangling only", "Show only dangling (<none>) images", show=False,
           key_display="shift+d"),
        _b("A", "show_all", "Show all", "Also show intermediate images", show=False,
           key_display="shift+a"),
        _b("P", "policy", "Policy", "Mark what a named policy from the config selects", show=False,
           key_display="shift+p"),
        _b("t", "tree_mode", "Tree mode", "Layer tree: highlighted image or whole store", show=False),
        _b("r", "refresh", "Refresh", "Read the store again"),
        _b("x", "cancel_job", "Cancel job", "Cancel the running removal between steps", show=False),
        _b("enter", "details", "Details", "Show the highlighted image's details", show=False),
        _b("question_mark", "help", "Help", "All keys and how marking works", key_display="?"),
        _b("q", "quit", "Quit", "Leave docker-sweep"),
    ]

    def __init__(self, source: StoreSource, *, now: Callable[[], float] = time.time,
                 config: Config | None = None) -> None:
        super().__init__()
        config = config or Config()
        self.config = config
        self.protection = config.protection()
        default_sort = config.ui.default_sort
        confirm = config.ui.confirm
        self.source = source
        self.now = now
        self.snapshot: Snapshot = Snapshot([])
        self.marked: set[str] = set()
        self.sort_key = default_sort if default_sort in SORT_KEYS else "size"
        self.reverse = False
        self.dangling_only = False
        self.show_all = False
        self.filter_text = ""
        self.job_running = False
        self.cancel_event = threading.Event()
        self.confirm_enabled = confirm

    # -- layout ------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(placeholder="filter: repository, tag, id or label (esc to close)", id="filter")
        yield ImageTable(now=self.now, id="images", columns=self.config.ui.columns)
        with Horizontal(id="statusbar"):
            yield Static(id="status")
            yield ProgressBar(id="progress", show_eta=False)
        with Horizontal(id="bottom"):
            with TabbedContent(id="side"):
                with TabPane("Details", id="tab-details"):
                    yield DetailPane(id="details")
                with TabPane("Layers", id="tab-layers"):
                    yield LayerTree(id="layers")
                with TabPane("Disk", id="tab-disk"):
                    yield DfPane(id="df")
            yield LogPanel(id="log")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#filter", Input).display = False
        self.query_one("#progress", ProgressBar).display = False
        self.query_one("#log", LogPanel).border_title = "Log"
        self.query_one("#images", ImageTable).focus()
        self.log_line("info", f"Connecting to {self.source.description} …")
        self.load()
        self._watching = True
        self._dirty = False
        self._reload_timer: object | None = None
        watch = getattr(self.source, "watch", None)
        if watch is not None:
            # A daemon thread (not a worker): the event stream blocks, and must not hold up quitting.
            threading.Thread(target=watch, args=(self._store_changed, lambda: not self._watching),
                             name="docker-sweep-events", daemon=True).start()

    def on_unmount(self) -> None:
        self._watching = False

    def _store_changed(self, what: str) -> None:
        """Called from the event thread."""
        if self._watching:
            self.post_message(StoreChanged(what))

    def on_store_changed(self, message: StoreChanged) -> None:
        if self.job_running:
            self._dirty = True  # the job's end reloads anyway
            return
        if self._reload_timer is None:
            self._reload_timer = self.set_timer(0.7, self._reload_after_events)

    def _reload_after_events(self) -> None:
        self._reload_timer = None
        if not self.job_running:
            self.load()

    # -- helpers -------------------------------------------------------------------------------
    @property
    def table(self) -> ImageTable:
        return self.query_one("#images", ImageTable)

    def log_line(self, kind: str, text: str) -> None:
        self.query_one("#log", LogPanel).add(kind, text)

    def refresh_table(self) -> None:
        self.table.protection = self.protection
        self.table.show(self.snapshot, self.marked, filter_text=self.filter_text,
                        dangling_only=self.dangling_only, show_all=self.show_all,
                        sort_key=self.sort_key, reverse=self.reverse)
        self.refresh_side()

    def marked_plan(self) -> Plan | None:
        if not self.marked or not self.snapshot.layers_complete:
            return None
        return plan_images(self.snapshot, self.marked, protection=self.protection)

    def refresh_side(self) -> None:
        image_id = self.table.current_image_id
        plan = self.marked_plan()
        freed = set(plan.freed_layers) if plan is not None else set()
        self.query_one("#details", DetailPane).show(self.snapshot, image_id, self.protection)
        self.query_one("#layers", LayerTree).show(self.snapshot, image_id, freed)
        self.query_one("#df", DfPane).show(self.snapshot)
        self.refresh_status(plan)

    def refresh_status(self, plan: Plan | None = None) -> None:
        shown = len(self.table.shown)
        parts = [f"{shown} image(s)"]
        if self.marked:
            frees = f", frees {human_size(plan.reclaim_bytes)}" if plan is not None else ""
            if plan is not None and plan.blocked:
                frees += f", {len(plan.blocked)} blocked"
            parts.append(f"{len(self.marked)} marked{frees}")
        arrow = "↑" if self.reverse else "↓"
        parts.append(f"sort: {self.sort_key} {arrow}")
        if self.filter_text:
            parts.append(f"filter: {self.filter_text}")
        if self.dangling_only:
            parts.append("dangling only")
        if self.show_all:
            parts.append("showing intermediates")
        if self.job_running:
            parts.append("job running (x cancels)")
        self.query_one("#status", Static).update(Text(" · ".join(parts)))

    # -- loading -------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="load", exit_on_error=False, description="read store")
    def load(self) -> None:
        from textual.worker import get_current_worker

        worker = get_current_worker()
        stages = iter(("listed", "layers", "complete"))

        def progress(done: int, total: int) -> None:
            self.post_message(LoadProgress(done, total))

        try:
            for snapshot in self.source.load(progress=progress, cancelled=lambda: worker.is_cancelled):
                self.post_message(SnapshotLoaded(snapshot, next(stages, "complete")))
        except Exception as exc:  # every failure becomes a message in the log, never a traceback
            self.post_message(LoadFailed(str(exc) or type(exc).__name__))

    def on_snapshot_loaded(self, message: SnapshotLoaded) -> None:
        self.snapshot = message.snapshot
        self.marked &= set(self.snapshot.images)
        self.refresh_table()
        if message.stage == "listed":
            facts = self.snapshot.facts
            self.log_line("info", f"Engine {facts.version} (API {facts.api_version}, "
                          f"{facts.storage_driver}, {facts.image_store} store) at {facts.host}: "
                          f"{len(self.snapshot.images)} images, {len(self.snapshot.containers)} "
                          "containers")
            if facts.image_store == "containerd":
                self.log_line("error", "This engine uses the containerd image store: plans follow "
                              "the classic store's rules and may differ from what it does.")
        if message.stage != "listed":
            self.query_one("#progress", ProgressBar).display = self.job_running

    def on_load_progress(self, message: LoadProgress) -> None:
        bar = self.query_one("#progress", ProgressBar)
        if not self.job_running:
            bar.display = message.done < message.total
            bar.update(total=message.total, progress=message.done)

    def on_load_failed(self, message: LoadFailed) -> None:
        self.log_line("error", f"Error: {message.error}")
        self.query_one("#progress", ProgressBar).display = False

    # -- table events -----------------------------------------------------------------------
    @on(DataTable.RowHighlighted, "#images")
    def _highlighted(self) -> None:
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
        self.query_one("#side", TabbedContent).active = "tab-details"

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value
        self.refresh_table()

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.table.focus()

    def key_escape(self) -> None:
        box = self.query_one("#filter", Input)
        if box.has_focus:
            if not box.value:
                box.display = False
            self.table.focus()

    def action_refresh(self) -> None:
        self.log_line("info", "Refreshing …")
        self.load()

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(list(self.BINDINGS)))

    def action_quit(self) -> None:
        self.app.exit()

    # -- destructive flows -------------------------------------------------------------------
    def _ready_for_job(self) -> bool:
        if self.job_running:
            self.notify("A job is running: wait for it, or press x to cancel it.", severity="warning")
            return False
        if not self.snapshot.layers_complete:
            self.notify("Still reading layers; the exact plan needs them. Try again in a moment.",
                        severity="warning")
            return False
        return True

    def _targets(self) -> set[str]:
        if self.marked:
            return set(self.marked)
        current = self.table.current_image_id
        return {current} if current else set()

    def action_remove(self, with_containers: bool = False) -> None:
        if not self._ready_for_job():
            return
        targets = self._targets()
        if not targets:
            self.notify("Nothing highlighted or marked.", severity="warning")
            return
        snapshot = self.snapshot

        def build(force: bool) -> Plan:
            return plan_images(snapshot, targets, force=force, with_stopped_containers=with_containers,
                               protection=self.protection)

        self._confirm_then_run(build, snapshot, allow_force=True)

    def action_remove_with_containers(self) -> None:
        self.action_remove(with_containers=True)

    def action_prune(self, everything: bool = False) -> None:
        if not self._ready_for_job():
            return
        snapshot = self.snapshot

        def chosen(request: PruneRequest | None) -> None:
            if request is None:
                return

            def build(_force: bool) -> Plan:
                return plan_prune(snapshot, request.filters,
                                  with_stopped_containers=request.with_containers,
                                  protection=self.protection)

            self._confirm_then_run(build, snapshot, allow_force=False)

        self.app.push_screen(PruneDialog(snapshot, now=self.now, everything=everything,
                                         protection=self.protection), chosen)

    def action_clean_unused(self) -> None:
        self.action_prune(everything=True)

    def action_policy(self) -> None:
        if not self.config.policies:
            self.notify("No policies in the config: add [policies.NAME] (see config.example.toml).",
                        severity="warning")
            return
        from tui.app.screens.policy import PolicyPicker

        def chosen(name: str | None) -> None:
            if name is None or not self.snapshot.layers_complete:
                return
            policy = self.config.policy(name)
            selected = select(self.snapshot, policy, self.now())
            self.marked = set(selected)
            self.refresh_table()
            self.log_line("info", f"Policy {name} marks {len(selected)} image(s); press d to see the plan")

        self.app.push_screen(PolicyPicker(self.config), chosen)

    def _confirm_then_run(self, build: Callable[[bool], Plan], snapshot: Snapshot, *,
                          allow_force: bool) -> None:
        def confirmed(plan: Plan | None) -> None:
            if plan is None:
                self.log_line("info", "Cancelled; nothing was deleted.")
                return
            self.start_job(plan, snapshot)

        if not self.confirm_enabled:
            confirmed(build(False))
            return
        self.app.push_screen(ConfirmScreen(build, snapshot, allow_force=allow_force,
                                           local_only_confirm=self.config.local_only.confirm),
                             confirmed)

    def start_job(self, plan: Plan, snapshot: Snapshot) -> None:
        if self.job_running:
            self.notify("A job is running already.", severity="warning")
            return
        self.job_running = True
        self.cancel_event.clear()
        bar = self.query_one("#progress", ProgressBar)
        bar.display = True
        bar.update(total=max(len(plan.steps), 1), progress=0)
        self.log_line("info", f"Running: {plan.description}")
        self.refresh_status()
        self.run_job(plan, snapshot)

    @work(thread=True, group="job", exit_on_error=False, description="remove images")
    def run_job(self, plan: Plan, snapshot: Snapshot) -> None:
        total = len(plan.steps)
        try:
            gen = self.source.execute(plan, snapshot, self.cancel_event.is_set)
            while True:
                try:
                    event = next(gen)
                except StopIteration as stop:
                    self.post_message(JobFinished(stop.value))
                    return
                self.post_message(JobEvent(event, getattr(event, "step", 0), total))
        except Exception as exc:  # reported in the log, the app keeps running
            self.post_message(JobFinished(None, str(exc) or type(exc).__name__))

    def on_job_event(self, message: JobEvent) -> None:
        self.log_line(message.event.kind, message.event.text)
        self.query_one("#progress", ProgressBar).update(total=max(message.total, 1),
                                                        progress=message.step + 1)

    def on_job_finished(self, message: JobFinished) -> None:
        self.job_running = False
        self.query_one("#progress", ProgressBar).display = False
        result = message.result
        if result is None:
            self.log_line("error", f"Error: {message.error}")
        else:
            if result.cancelled:
                self.log_line("skipped", f"Cancelled; not run: {', '.join(result.not_run)}")
            if result.errors:
                self.log_line("error", f"{len(result.errors)} error(s); the rest was done")
            self.log_line("total", f"Total reclaimed space: {human_size(result.reclaimed_bytes)}")
            self.marked -= set(result.deleted)
        self.load()

    def action_cancel_job(self) -> None:
        if self.job_running:
            self.cancel_event.set()
            self.log_line("skipped", "Cancelling after the current step …")
        else:
            self.notify("No job is running.")
