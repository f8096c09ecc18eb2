"""The main screen's build cache flow: read the records (a worker), the dialog with its exact
preview, confirm by key, prune (a worker), one log line per deleted record and the engine's total.

Sources that can do it have ``build_cache()`` and ``prune_build_cache(prune)`` (the engine source
does); on others the key says it is not available.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual import work
from textual.message import Message

from tui.app.screens.buildcache import BuildCacheDialog
from tui.core.buildcache import BuildCachePrune, CacheRecord
from tui.core.usage import human_size


@dataclass
class BuildCacheRead(Message):
    records: list[CacheRecord] | None
    error: str = ""


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
        screen: Any = self
        if message.records is None:
            screen.log_line("error", f"Error: build cache: {message.error}")
            return

        def chosen(prune: BuildCachePrune | None) -> None:
            if prune is None:
                screen.log_line("info", "Cancelled; nothing was deleted.")
                return
            self.job_running = True
            screen.log_line("job", f"Running: prune {prune.describe()}")
            self.run_build_cache_prune(prune)

        screen.app.push_screen(BuildCacheDialog(message.records, now=screen.now), chosen)

    @work(thread=True, group="job", exit_on_error=False, description="prune build cache")
    def run_build_cache_prune(self, prune: BuildCachePrune) -> None:
        screen: Any = self
        try:
            result = self.source.prune_build_cache(prune)
            screen.post_message(BuildCachePruned(result.deleted, result.reclaimed_bytes))
        except Exception as exc:
            screen.post_message(BuildCachePruned((), 0, str(exc) or type(exc).__name__))

    def on_build_cache_pruned(self, message: BuildCachePruned) -> None:
        screen: Any = self
        self.job_running = False
        if message.error:
            screen.log_line("error", f"Error: build cache prune: {message.error}")
        for record_id in message.deleted:
            screen.log_line("deleted", f"Deleted build cache object: {record_id}")
        screen.log_line(
            "total",
            f"Total reclaimed space: {human_size(message.reclaimed_bytes)} · "
            f"{len(message.deleted)} build cache record(s)",
        )
        screen.load()
