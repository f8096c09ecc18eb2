"""The engine-facing half of the main screen: loading snapshots, live refresh from engine events,
and running one destructive job at a time in a thread worker.

Workers and the event thread only post messages; widgets are touched here, on the UI thread.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable

from textual import work
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import ProgressBar

from tui.app.first_read import FirstRead
from tui.app.messages import (
    JobEvent,
    JobFinished,
    LoadFailed,
    LoadProgress,
    SnapshotLoaded,
    StoreChanged,
)
from tui.app.source import ExecutionResultLike, StoreSource
from tui.app.widgets.log_panel import LogPanel
from tui.config import Config
from tui.core.model import Snapshot
from tui.core.plan import Plan
from tui.core.usage import human_size

JOB_EVENT_FLUSH = 0.2
"""Seconds between redraws of the progress bar while a job runs (the job's thread only collects
its events: a removal of 500 images sends some 3,000, and a message each woke the UI thread 3,000
times, which the job's thread then waited for)."""

JOB_LOG_FLUSH = 1.0
"""Seconds between writes of the job's collected result lines to the log while it runs (and once
at its end). A write grows the log's scroll area, which lays out and draws the whole screen again
(some 25 ms of the UI thread on a loaded machine, which the job's thread and the engine wait
for): five of them a second cost a removal of 500 images about 1.5 s of UI time."""

JOB_SWITCH_INTERVAL: float | None = 0.001
"""The interpreter's thread switch interval while a job runs (``sys.setswitchinterval``; ``None``:
left as it is, 5 ms by default). The job's thread waits on the engine most of the time, and each
answer it gets back needs the GIL: while the UI thread draws, that wait lasted up to the whole
interval, twice or more per engine call of some 5 ms."""

LOAD_PROGRESS_EVERY = 0.25
"""Seconds between progress reports of a layer read (each one wakes the UI thread, which the
read's own threads then wait for, and draws a frame: some 10-25 ms of the UI thread on a loaded
machine, as Textual asks every widget whose clip overlaps the dirty area to render, and the clip of
a widget directly on the screen is the whole screen)."""


def job_total_line(result: ExecutionResultLike) -> tuple[str, str]:
    """A job's outcome on one log line: ``(kind, text)``."""
    parts = [
        f"Total reclaimed space: {human_size(result.reclaimed_bytes)}",
        f"{len(result.deleted)} image(s) deleted",
    ]
    if result.errors:
        parts.append(f"{len(result.errors)} error(s), the rest was done")
    if result.cancelled:
        parts.append(f"cancelled, not run: {', '.join(result.not_run)}")
    if result.store_changed:
        parts.append(f"{len(result.store_changed)} step(s) skipped: the store changed after the plan")
    if result.unexpected:
        parts.append(
            f"{len(result.unexpected)} response line(s) not in the plan: {', '.join(result.unexpected)}"
        )
    kind = (
        "error"
        if result.errors or result.unexpected
        else "skipped"
        if result.cancelled or result.store_changed
        else "total"
    )
    return kind, " · ".join(parts)


class StoreScreen(Screen[None]):
    """Holds the current snapshot and marks; subclasses lay out the widgets (a ``#log`` LogPanel
    and a ``#progress`` ProgressBar) and react in :meth:`store_updated`."""

    def __init__(
        self, source: StoreSource, *, now: Callable[[], float] = time.time, config: Config | None = None
    ) -> None:
        super().__init__()
        self.config = config or Config()
        self.protection = self.config.protection()
        self.source = source
        self.now = now
        self.snapshot: Snapshot = Snapshot([])
        self.marked: set[str] = set()
        self.job_running = False
        self.cancel_event = threading.Event()
        self._watching = False
        self._reload_timer: object | None = None
        self._engine_logged: object = None
        self._store_warned: object = None
        self._job_events: list[JobEvent] = []  # collected by the job's thread, shown by a timer
        self._job_events_lock = threading.Lock()
        self._job_input: tuple[Plan, Snapshot] | None = None
        self._job_flush_timer: Timer | None = None
        self._job_lines: list[tuple[str, str]] = []  # taken from the events, not yet in the log
        self._held_listing: SnapshotLoaded | None = None  # a reload's listing not drawn (yet)
        # the last stage a load posted (set on its thread): an earlier stage of the same read that
        # the UI gets to after it was posted is out of date
        self._newest_stage: SnapshotLoaded | None = None
        self._switch_interval: float | None = None  # to restore when the job ends
        self._job_lines_written = 0.0  # when they were last written (time.monotonic())

    # -- hooks for the subclass --------------------------------------------------------------
    def store_updated(self) -> None:
        """The snapshot or the marks changed."""

    def refresh_status(self, plan: Plan | None = None) -> None:
        """Redraw the status line."""

    def log_line(self, kind: str, text: str) -> None:
        self.query_one("#log", LogPanel).add(kind, text)

    # -- loading -------------------------------------------------------------------------------
    def start(self) -> None:
        """Load the store and follow the engine's events."""
        self.log_line("info", f"Connecting to {self.source.description} …")
        take: Callable[[StoreSource], FirstRead | None] | None = getattr(self.app, "take_first_read", None)
        first = take(self.source) if take is not None else None
        # events from here on may not be in the first read
        started = first.started_ns if first is not None else time.time_ns()
        self.load(first)
        watch = getattr(self.source, "watch", None)
        if watch is not None:
            self._watching = True
            # A daemon thread (not a worker): the event stream blocks, and must not hold up quitting.
            threading.Thread(
                target=watch,
                args=(self._store_changed, lambda: not self._watching, started),
                name="docker-sweep-events",
                daemon=True,
            ).start()

    def on_unmount(self) -> None:
        self._watching = False

    @work(thread=True, exclusive=True, group="load", exit_on_error=False, description="read store")
    def load(self, first: FirstRead | None = None) -> None:
        """Read the store (``first``: replay that read, already running) and post its stages."""
        from textual.worker import get_current_worker

        worker = get_current_worker()
        stages = iter(("listed", "layers", "complete"))
        reported = 0.0

        def progress(done: int, total: int) -> None:
            nonlocal reported
            now = time.monotonic()
            if done >= total or now - reported >= LOAD_PROGRESS_EVERY:
                reported = now
                self.post_message(LoadProgress(done, total))

        try:
            read = first.replay if first is not None else self.source.load
            for snapshot in read(progress=progress, cancelled=lambda: worker.is_cancelled):
                snapshot.prepare_views()
                stage = SnapshotLoaded(snapshot, next(stages, "complete"), load=worker)
                self._newest_stage = stage
                self.post_message(stage)
        except Exception as exc:  # every failure becomes a message in the log, never a traceback
            self.post_message(LoadFailed(str(exc) or type(exc).__name__))

    def on_snapshot_loaded(self, message: SnapshotLoaded) -> None:
        newest = self._newest_stage
        if newest is not message and newest is not None and newest.load is message.load:
            # A later stage of this read is queued behind it (``can_replace`` drops such a stage
            # only when nothing lies between them, and a progress report usually does): showing
            # this one would redraw the table and the panes once more before the first frame.
            return
        self._held_listing = None
        if message.stage == "listed" and self._reload_lists_no_new_image(message.snapshot):
            # its layer stage follows from the layer cache, shown in one table change; should
            # that stage fail, this listing is shown then (the removed rows must not stay)
            self._held_listing = message
            return
        self._show_loaded(message)

    def _show_loaded(self, message: SnapshotLoaded) -> None:
        if self._reload_changes_nothing(message.snapshot):
            if message.stage != "listed":
                self.query_one("#progress", ProgressBar).display = self.job_running
            return
        self.snapshot = message.snapshot
        self.marked &= set(self.snapshot.images)
        self.store_updated()
        facts = self.snapshot.facts
        if facts != self._engine_logged:  # once per engine (a later stage may stand for "listed")
            self._engine_logged = facts
            self.log_line(
                "engine",
                f"Engine {facts.version} (API {facts.api_version}, "
                f"{facts.storage_driver}, {facts.image_store} store) at {facts.host}: "
                f"{len(self.snapshot.images)} images, {len(self.snapshot.containers)} "
                "containers",
            )
        if (
            message.stage != "listed"
            and message.load is not self._store_warned
            and self.snapshot.containerd
            and any(i.content is None for i in self.snapshot.images.values())
        ):
            self._store_warned = message.load  # once per read
            self.log_line(
                "error",
                "containerd image store: its content store is not readable "
                "from here, so content shared between images is counted per image; "
                "plan bytes may differ from what the engine frees.",
            )
        if message.stage != "listed":
            self.query_one("#progress", ProgressBar).display = self.job_running

    def _reload_lists_no_new_image(self, listed: Snapshot) -> bool:
        """True when a reload's first stage ``listed`` (no layer data) lists no image that the
        complete snapshot on screen lacks, as after a removal. Its next stage then comes from the
        layer cache right behind it (every image listed was read before), and showing ``listed``
        first would change every row twice: sizes to "…" and back (a table of 1,000 rows, twice,
        on the UI thread while the user moves the cursor)."""
        old = self.snapshot
        return old.disk is not None and old.layers_complete and listed.images.keys() <= old.images.keys()

    def _reload_changes_nothing(self, new: Snapshot) -> bool:
        """True when a reload's stage ``new`` brings nothing the complete snapshot on screen lacks:
        its listing is the same and it is an earlier stage, or it is the last stage and reads the
        same store and disk usage. The screen then keeps its snapshot (and the cursor, the scroll
        and any plan made on it), and an engine event of no consequence costs no redraw."""
        old = self.snapshot
        if old.disk is None or not old.layers_complete or not old.same_listing(new):
            return False
        if new.disk is None:
            return True
        return new.disk == old.disk and new.same_store(old)

    def on_load_progress(self, message: LoadProgress) -> None:
        bar = self.query_one("#progress", ProgressBar)
        if not self.job_running:
            bar.display = message.done < message.total
            bar.update(total=message.total, progress=message.done)

    def on_load_failed(self, message: LoadFailed) -> None:
        held, self._held_listing = self._held_listing, None
        if held is not None:
            self._show_loaded(held)
        self.log_line("error", f"Error: {message.error}")
        self.query_one("#progress", ProgressBar).display = False

    # -- live refresh --------------------------------------------------------------------------
    def _store_changed(self, what: str) -> None:
        """Called from the event thread. While a job runs its own removals come here by the
        hundred; the UI would drop them (the job's end reloads), so they are not posted: each
        post wakes the UI thread, and the job's thread waits for it."""
        if self._watching and not self.job_running:
            self.post_message(StoreChanged(what))

    def on_store_changed(self, message: StoreChanged) -> None:
        if self.job_running:
            return  # the job's end reloads anyway
        if self._reload_timer is None:
            self._reload_timer = self.set_timer(0.7, self._reload_after_events)

    def _reload_after_events(self) -> None:
        self._reload_timer = None
        if not self.job_running:
            self.load()

    # -- the one destructive job -------------------------------------------------------------
    def ready_for_job(self) -> bool:
        if self.job_running:
            self.notify("A job is running: wait for it, or press x to cancel it.", severity="warning")
            return False
        if not self.snapshot.layers_complete:
            self.notify(
                "Still reading layers; the exact plan needs them. Try again in a moment.", severity="warning"
            )
            return False
        return True

    def start_job(self, plan: Plan, snapshot: Snapshot) -> None:
        if self.job_running:
            self.notify("A job is running already.", severity="warning")
            return
        self.job_running = True
        self.cancel_event.clear()
        if JOB_SWITCH_INTERVAL is not None and self._switch_interval is None:
            self._switch_interval = sys.getswitchinterval()
            sys.setswitchinterval(JOB_SWITCH_INTERVAL)
        bar = self.query_one("#progress", ProgressBar)
        bar.display = True
        bar.update(total=max(plan.step_count, 1), progress=0)  # steps not made on this thread
        self.log_line("job", f"Running: {plan.description}")
        self.refresh_status()
        if self._job_flush_timer is None:
            self._job_flush_timer = self.set_interval(JOB_EVENT_FLUSH, self._flush_job_events)
        # handed over, not as the worker's arguments: a finished thread worker stays in a
        # reference cycle until a full collection (see PlanWorkers), and would keep the plan and
        # the snapshot from before the job
        self._job_input = (plan, snapshot)
        self.run_job()

    @work(thread=True, group="job", exit_on_error=False, description="remove images")
    def run_job(self) -> None:
        job_input, self._job_input = self._job_input, None
        if job_input is None:  # never: set just before the worker starts
            self.post_message(JobFinished(None, "no job to run"))
            return
        plan, snapshot = job_input
        total = len(plan.steps)
        try:
            gen = self.source.execute(plan, snapshot, self.cancel_event.is_set)
            while True:
                try:
                    event = next(gen)
                except StopIteration as stop:
                    self.post_message(JobFinished(stop.value))
                    return
                with self._job_events_lock:  # shown by the UI's timer (no message: no wake-up)
                    self._job_events.append(JobEvent(event, getattr(event, "step", 0), total))
        except Exception as exc:  # reported in the log, the app keeps running
            self.post_message(JobFinished(None, str(exc) or type(exc).__name__))

    def _flush_job_events(self) -> None:
        """Move the progress bar to the newest job event collected since the last call, and write
        the result lines collected so far to the log (one layout pass) when :data:`JOB_LOG_FLUSH`
        has passed since the last write, or the job has ended: every line gets there, in order."""
        ended = not self.job_running
        if ended and self._job_flush_timer is not None:
            self._job_flush_timer.stop()
            self._job_flush_timer = None
        with self._job_events_lock:
            events, self._job_events = self._job_events, []
        if events:
            self._job_lines.extend((m.event.kind, m.event.text) for m in events)
            last = events[-1]
            self.query_one("#progress", ProgressBar).update(total=max(last.total, 1), progress=last.step + 1)
        now = time.monotonic()
        if self._job_lines and (ended or now - self._job_lines_written >= JOB_LOG_FLUSH):
            lines, self._job_lines = self._job_lines, []
            self._job_lines_written = now
            self.query_one("#log", LogPanel).add_many(lines)

    def on_job_finished(self, message: JobFinished) -> None:
        self.job_running = False
        if self._switch_interval is not None:
            sys.setswitchinterval(self._switch_interval)
            self._switch_interval = None
        self._flush_job_events()  # every event came before this message (the same thread)
        self.query_one("#progress", ProgressBar).display = False
        result = message.result
        if result is None:
            self.log_line("error", f"Error: {message.error}")
        else:
            self.log_line(*job_total_line(result))
            self.marked -= set(result.deleted)
        self.load()

    def action_cancel_job(self) -> None:
        if self.job_running:
            self.cancel_event.set()
            self.log_line("skipped", "Cancelling after the current step …")
        else:
            self.notify("No job is running.")
