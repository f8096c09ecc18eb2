"""The store's first read starts with the app object, before Textual's start-up (no engine: a
source that counts its reads and can hold one between its stages).

* The main screen's first load replays that read: its stages and progress, one read in all; its
  stages after the listed one wait until the screen takes it, unless the source says the next one
  reads only cached data (``layers_cached``): then the read goes on while Textual starts.
* A refresh while it runs cancels it (its source sees ``cancelled()``), as a cancelled load.
* A failing first read is reported in the log, as any load.
* A read started by the caller before the app (it needs no Textual) is the one replayed.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from tests.frozen import NOW, frozen_snapshot
from tests.pilot import loaded, log_text, wait_for
from tui.app.main import SweepApp
from tui.app.screens.main import MainScreen
from tui.core.model import Snapshot

REPO = Path(__file__).resolve().parent.parent


class Counted:
    """Yields the frozen store without layers, then (once ``gate`` is set) with them."""

    description = "unix:///counted/docker.sock"

    def __init__(self, *, fail: bool = False) -> None:
        self.complete = frozen_snapshot()
        self.listed = Snapshot(
            [replace(i, layers=None) for i in self.complete.images.values()],
            self.complete.containers,
            self.complete.facts,
        )
        self.reads: list[float] = []  # when each read started
        self.resumed: list[float] = []  # when each read went on after its listed stage
        self.progress: list[tuple[int, int]] = []
        self.cancelled: list[bool] = []  # what each read saw after its gate
        self.gate = threading.Event()
        self.fail = fail

    def load(
        self, *, progress: Callable[[int, int], None], cancelled: Callable[[], bool]
    ) -> Iterator[Snapshot]:
        self.reads.append(time.monotonic())
        if self.fail:
            raise RuntimeError("engine went away")
        yield self.listed
        self.resumed.append(time.monotonic())
        first = len(self.reads) == 1
        if first:
            assert self.gate.wait(60)
        self.cancelled.append(cancelled())
        if self.cancelled[-1]:
            return
        total = len(self.complete.images)
        for done in range(1, total + 1):
            progress(done, total)
        yield self.complete

    def execute(self, *args: object) -> Iterator[object]:
        raise RuntimeError("executes nothing")


async def test_the_first_load_replays_the_read_started_with_the_app():
    source = Counted()
    app = SweepApp(source, None, now=lambda: NOW)  # type: ignore[arg-type]
    deadline = time.monotonic() + 30
    while not source.reads and time.monotonic() < deadline:  # not run yet: read already
        time.sleep(0.01)
    assert len(source.reads) == 1
    time.sleep(0.3)
    assert source.resumed == []  # the listed stage waits for the screen
    async with app.run_test(size=(150, 45)) as pilot:
        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, MainScreen) and app.screen.table.row_count == len(source.listed.images)
            ),
        )
        screen = app.screen
        assert isinstance(screen, MainScreen)
        assert screen.snapshot is source.listed and not screen.snapshot.layers_complete
        source.gate.set()
        screen = await loaded(pilot)
        assert screen.snapshot is source.complete
        assert source.reads[1:] == [] and source.cancelled == [False]  # one read in all
        assert app.first_read is None  # taken by the screen
        assert "Engine" in log_text(screen)
        await pilot.press("r")
        await wait_for(pilot, lambda: len(source.reads) == 2 and source.cancelled == [False, False])
        await pilot.press("q")


@pytest.mark.parametrize("cached", [True, False])
async def test_a_layer_stage_the_source_has_cached_is_read_before_the_screen_takes_the_read(cached):
    source = Counted()
    asked: list[Snapshot] = []

    def layers_cached(listed: Snapshot) -> bool:
        asked.append(listed)
        return cached

    source.layers_cached = layers_cached  # type: ignore[attr-defined]
    source.gate.set()
    app = SweepApp(source, None, now=lambda: NOW)  # type: ignore[arg-type]
    deadline = time.monotonic() + 30
    while not source.resumed and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3 if not cached else 0)
    assert asked[:1] == [source.listed]
    assert len(source.resumed) == (1 if cached else 0)  # without the screen: only when cached
    async with app.run_test(size=(150, 45)) as pilot:
        screen = await loaded(pilot)
        assert screen.snapshot is source.complete
        assert len(source.reads) == 1 and source.cancelled == [False]  # one read in all
        await pilot.press("q")


async def test_a_refresh_cancels_the_first_read_while_it_runs():
    source = Counted()
    app = SweepApp(source, None, now=lambda: NOW)  # type: ignore[arg-type]
    async with app.run_test(size=(150, 45)) as pilot:
        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, MainScreen) and app.screen.table.row_count == len(source.listed.images)
            ),
        )
        await pilot.press("r")  # a new load: the first one is cancelled, and its read with it
        await wait_for(pilot, lambda: len(source.reads) == 2)
        screen = await loaded(pilot)
        assert screen.snapshot is source.complete
        source.gate.set()  # the first read goes on: it sees it was cancelled
        await wait_for(pilot, lambda: len(source.cancelled) == 2)
        assert source.cancelled == [False, True]
        await pilot.press("q")


async def test_a_failed_first_read_is_logged():
    source = Counted(fail=True)
    app = SweepApp(source, None, now=lambda: NOW)  # type: ignore[arg-type]
    async with app.run_test(size=(150, 45)) as pilot:
        await wait_for(
            pilot, lambda: isinstance(app.screen, MainScreen) and "engine went away" in log_text(app.screen)
        )
        assert isinstance(app.screen, MainScreen)
        assert "Error: engine went away" in log_text(app.screen)
        assert app.screen.table.row_count == 0
        await pilot.press("q")


def test_a_read_started_before_textual_is_imported_is_the_one_replayed():
    code = (
        "import sys\n"
        "from tui.app.first_read import FirstRead\n"
        "assert 'textual' not in sys.modules, 'first_read imports textual'\n"
        "from tests.frozen import FrozenSource\n"
        "first = FirstRead(FrozenSource())\n"
        "from tui.app.main import SweepApp\n"
        "app = SweepApp(first.source, first_read=first)\n"
        "assert app.take_first_read(first.source) is first\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
