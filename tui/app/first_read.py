"""The store's first read, started with the app object: the engine answers the lists while Textual
reads its CSS, composes the screen and draws the first frame (some 0.2-0.5 s), instead of after.
The next stage (the layer read) waits until the screen takes the read, unless the source says it
reads nothing (``layers_cached``, see :class:`~tui.app.source.StoreSource`): then it is done by the
time the screen is up, and the first frame can show the layers.

The main screen's first load replays it (stages and progress as ``StoreSource.load`` gives them);
a screen that does not take it, or stops listening, cancels it as its own cancelled load would.
This module imports no Textual: a caller can start the read before importing the app.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator

from tui.app.source import StoreSource
from tui.core.model import Snapshot

PROGRESS_EVERY = 0.05
"""Seconds between the progress reports handed to the screen's load (the load thins them out
again): each one wakes the screen's load thread."""


class FirstRead:
    """``source.load`` running on its own thread from construction on."""

    def __init__(self, source: StoreSource) -> None:
        self.source = source
        self.started_ns = time.time_ns()  # engine events from here on may not be in this read
        self.cancelled = threading.Event()
        # set when the screen replays the read (or it is cancelled): the read's next stage, the
        # layer read's busy threads, would only compete with Textual's start-up for the GIL
        self._go_on = threading.Event()
        self._items: queue.SimpleQueue[tuple[str, object]] = queue.SimpleQueue()
        self._reported = 0.0
        threading.Thread(target=self._read, name="docker-sweep-first-read", daemon=True).start()

    def _progress(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done >= total or now - self._reported >= PROGRESS_EVERY:
            self._reported = now
            self._items.put(("progress", (done, total)))

    def _read(self) -> None:
        layers_cached: Callable[[Snapshot], bool] | None = getattr(self.source, "layers_cached", None)
        try:
            for snapshot in self.source.load(progress=self._progress, cancelled=self.cancelled.is_set):
                self._items.put(("snapshot", snapshot))
                if not self._go_on.is_set() and layers_cached is not None and layers_cached(snapshot):
                    self._go_on.set()  # the rest is CPU work on cached data and the engine's df
                self._go_on.wait()
        except BaseException as exc:  # handed to the screen's load, which reports it
            self._items.put(("error", exc))
        else:
            self._items.put(("end", None))

    def replay(
        self, *, progress: Callable[[int, int], None], cancelled: Callable[[], bool]
    ) -> Iterator[Snapshot]:
        """What ``source.load(progress=..., cancelled=...)`` would give, from the running read."""
        self._go_on.set()
        while True:
            if cancelled():
                self.cancel()
                return
            try:
                kind, value = self._items.get(timeout=0.1)
            except queue.Empty:
                continue
            if kind == "progress":
                assert isinstance(value, tuple)
                progress(*value)
            elif kind == "snapshot":
                assert isinstance(value, Snapshot)
                yield value
            elif kind == "error":
                assert isinstance(value, BaseException)
                raise value
            else:
                return

    def cancel(self) -> None:
        """Stop the read (its source sees ``cancelled()``)."""
        self.cancelled.set()
        self._go_on.set()
