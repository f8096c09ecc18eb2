"""The docker-sweep Textual app: a thin shell around the main screen."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

from textual.app import App

from tui.app.commands import SweepCommands
from tui.app.first_read import FirstRead
from tui.app.screens.main import MainScreen
from tui.app.source import StoreSource
from tui.config import Config

COLLECTOR_THRESHOLDS = (20_000, 20, 20)
"""Python's cyclic garbage collector in the app (``gc.set_threshold``; Python's own: 700, 10, 10).
A store's read and the table's rows make hundreds of thousands of objects that live on, and with
Python's thresholds each 700 of them started a young collection and the oldest generation was
walked again and again: in a cold launch at 5,000 images 630-odd collections, 5 of them full, took
0.77 s of the UI thread's GIL (0.47 s at 1,500 images). With these, 20 young ones took 0.24-0.31 s,
and a cold launch's peak RSS stayed the same (103-116 MiB). Garbage with reference cycles waits
longer to be collected (full collections are rare): nothing big may be kept by a cycle. A replaced
snapshot is freed by its reference count (tests/test_plan_workers.py, test_plan_scratch.py); while
one was kept by cycles, a removal of 500 at 5,000 images peaked at 155-164 MiB (see
bench/RESULTS.md, session 12)."""


class SweepApp(App[int]):
    """Browse and prune local Docker images, exactly and safely."""

    CSS_PATH = "app.tcss"
    TITLE = "docker-sweep"
    COMMANDS = App.COMMANDS | {SweepCommands}

    def __init__(
        self,
        source: StoreSource,
        config: Config | None = None,
        *,
        now: Callable[[], float] = time.time,
        first_read: FirstRead | None = None,
    ) -> None:
        super().__init__()
        gc.set_threshold(*COLLECTOR_THRESHOLDS)  # for the whole process, from now on
        self.source = source
        # the store is read from now on (or from when the caller started ``first_read``: it needs
        # no Textual, so it can start before Textual is imported), while Textual starts; the main
        # screen's first load replays it
        self.first_read: FirstRead | None = first_read if first_read is not None else FirstRead(source)
        self.config = config or Config()
        self.now = now
        self.sub_title = source.description
        self.theme = (
            self.config.ui.theme if self.config.ui.theme in self.available_themes else ("textual-dark")
        )

    def take_first_read(self, source: StoreSource) -> FirstRead | None:
        """The read started with the app, for the first screen that loads ``source`` (once)."""
        first, self.first_read = self.first_read, None
        if first is not None and first.source is not source:
            first.cancel()
            return None
        return first

    def on_mount(self) -> None:
        self.push_screen(MainScreen(self.source, now=self.now, config=self.config))


def run_app(source: StoreSource, config: Config, first_read: FirstRead | None = None) -> int:
    """Run the app on ``source`` (built by the caller: :mod:`tui.cli`, :mod:`tui.demo`); its exit
    code. ``first_read``: the store's read, started by the caller (see :class:`SweepApp`)."""
    result = SweepApp(source, config, first_read=first_read).run()
    return int(result or 0)
