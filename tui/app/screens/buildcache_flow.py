"""The main screen's build cache flow, the same as an image prune: read the records (a worker),
the dialog with its exact preview, the confirm screen, then the job (a worker): re-read the cache
and refuse, deleting nothing, if it no longer gives the confirmed plan; else prune and stream the
log: the check, one line per deleted record, any record the plan did not list, the engine's total.

Sources that can do it have ``build_cache()`` and ``prune_build_cache_as_planned(plan)`` (the
engine source does); on others the key says it is not available.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual import work
from textual.message import Message

from tui.core.buildcache import BuildCachePlan, CacheRecord
from tui.core.usage import human_size


@dataclass
class BuildCacheRead(Message):
    records: list[CacheRecord] | None
    error: str = ""


@dataclass
class BuildCacheLog(Message):
    """One log line of the running build cache prune."""

    kind: str
    text: str


@dataclass
class BuildCachePruned(Message):
    deleted: tuple[str, ...]
    reclaimed_bytes: int
    error: str = ""


class BuildCacheFlow:
    """Mixed into the main screen (a :class:`~tui.app.screens.store.StoreScreen`)."""

    source: Any
    job_running: bool

    def action_build_cache(self) -> None:
        screen: Any = self
        if not hasattr(self.source, "build_cache"):
            screen.notify("This store has no build cache to prune.", severity="warning")
            return
        if self.job_running:
            screen.notify("A job is running: wait for it, or press x to cancel it.", severity="warning")
            return
        self.read_build_cache()

    @work(
        thread=True, exclusive=True, group="buildcache", exit_on_error=False, description="read build cache"
    )
    def read_build_cache(self) -> None:
        screen: Any = self
        try:
            screen.post_message(BuildCacheRead(self.source.build_cache()))
        except Exception as exc:  # shown in the log
            screen.post_message(BuildCacheRead(None, str(exc) or type(exc).__name__))

    def on_build_cache_read(self, message: BuildCacheRead) -> None:
        from tui.app.screens.buildcache import BuildCacheConfirm, BuildCacheDialog  # when first used

        screen: Any = self
        if message.records is None:
            screen.log_line("error", f"Error: build cache: {message.error}")
            return

        def confirmed(plan: BuildCachePlan | None) -> None:
            if plan is None:
                screen.log_line("info", "Cancelled; nothing was deleted.")
                return
            if self.job_running:
                screen.notify("A job is running already.", severity="warning")
                return
            self.job_running = True
            screen.log_line("job", f"Running: prune {plan.prune.describe()}")
            self.run_build_cache_prune(plan)

        def chosen(plan: BuildCachePlan | None) -> None:
            if plan is None:
                screen.log_line("info", "Cancelled; nothing was deleted.")
                return
            screen.app.push_screen(BuildCacheConfirm(plan), confirmed)

        screen.app.push_screen(BuildCacheDialog(message.records, now=screen.now), chosen)

    @work(thread=True, group="job", exit_on_error=False, description="prune build cache")
    def run_build_cache_prune(self, plan: BuildCachePlan) -> None:
        screen: Any = self
        try:
            screen.post_message(BuildCacheLog("info", "Re-reading the build cache before pruning …"))
            result = self.source.prune_build_cache_as_planned(plan)
        except Exception as exc:  # BuildCacheChanged among them: nothing was deleted
            screen.post_message(BuildCachePruned((), 0, str(exc) or type(exc).__name__))
            return
        for record_id in result.deleted:
            screen.post_message(BuildCacheLog("deleted", f"Deleted build cache object: {record_id[:12]}"))
        for record_id in result.unplanned(plan):
            screen.post_message(
                BuildCacheLog("unexpected", f"Not in the plan, deleted by the engine: {record_id}")
            )
        screen.post_message(BuildCachePruned(result.deleted, result.reclaimed_bytes))

    def on_build_cache_log(self, message: BuildCacheLog) -> None:
        screen: Any = self
        screen.log_line(message.kind, message.text)

    def on_build_cache_pruned(self, message: BuildCachePruned) -> None:
        screen: Any = self
        self.job_running = False
        if message.error:
            screen.log_line("error", f"Error: build cache prune: {message.error}")
        else:
            screen.log_line(
                "total",
                f"Total reclaimed space: {human_size(message.reclaimed_bytes)} "
                f"({message.reclaimed_bytes:,} bytes) · {len(message.deleted)} build cache record(s)",
            )
        screen.load()
