"""What the main screen leaves out to stay quick on big stores (no engine: sources in this file).

* A later load stage queued behind an earlier one of the same read replaces it (one redraw, and
  the engine line still logged once).
* The table takes the widths of the rows it makes as it makes them: they are what Rich measures.
* On a big store the details plan waits until the cursor rests, and the age chart (a prune plan
  per bucket) is made only while its tab is shown.
* A job's result lines are collected by its thread and shown by the UI's timer while it runs (no
  message per line), all of them, in order.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from rich.console import Console, Group
from rich.table import Table
from textual.render import measure

from tests.frozen import NOW
from tests.pilot import wait_for
from tests.storegen import make_image, snapshot
from tui.app.main import SweepApp
from tui.app.messages import SnapshotLoaded
from tui.app.screens import side_panes
from tui.app.screens.main import MainScreen
from tui.app.widgets.charts import AgeChart
from tui.app.widgets.log_panel import LogPanel
from tui.core.marking import plan_images
from tui.core.model import Snapshot
from tui.engine.actions import ExecutionResult

COUNT = 60


def _store() -> Snapshot:
    base = [("base", 5_000_000)]
    return snapshot(
        [
            make_image(
                f"app{n}",
                [*base, (f"own{n}", 10_000 + n * 997)],
                tags=[f"app/{n % 7}:{n}", *([f"extra/long-name-{n}:v{n}"] if n % 5 == 0 else [])],
                created=NOW - n * 86_400,
            )
            for n in range(COUNT)
        ]
    )


class Stages:
    """Yields the store without layers, then with them."""

    description = "unix:///stages/docker.sock"

    def __init__(self, complete: Snapshot) -> None:
        self.complete = complete
        self.listed = Snapshot([replace(i, layers=None) for i in complete.images.values()], ())

    def load(
        self, *, progress: Callable[[int, int], None], cancelled: Callable[[], bool]
    ) -> Iterator[Snapshot]:
        yield self.listed
        yield self.complete

    def execute(self, *args: object) -> Iterator[object]:
        raise RuntimeError("executes nothing")


def _app(source: Stages) -> SweepApp:
    return SweepApp(source, None, now=lambda: NOW)  # type: ignore[arg-type]


async def _loaded(pilot, app: SweepApp) -> MainScreen:  # type: ignore[no-untyped-def]
    await wait_for(
        pilot,
        lambda: (
            isinstance(app.screen, MainScreen)
            and app.screen.snapshot.layers_complete
            and app.screen.table.row_count == COUNT
        ),
    )
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, MainScreen)
    return screen


async def test_a_queued_stage_of_the_same_read_gives_way_to_the_later_one(monkeypatch):
    source = Stages(_store())
    app = _app(source)
    async with app.run_test(size=(150, 45)) as pilot:
        screen = await _loaded(pilot, app)
        shown: list[Snapshot] = []
        refresh_table = MainScreen.refresh_table

        def counted(self: MainScreen) -> None:
            shown.append(self.snapshot)
            refresh_table(self)

        monkeypatch.setattr(MainScreen, "refresh_table", counted)
        screen._engine_logged = None  # as on a first read: the engine line is due
        smaller = Snapshot(list(source.complete.images.values())[:-3], ())
        listed = Snapshot([replace(i, layers=None) for i in smaller.images.values()], ())
        read = object()
        # both queued before the screen gets to them (as when a stage takes the UI a while)
        screen.post_message(SnapshotLoaded(listed, "listed", load=read))
        screen.post_message(SnapshotLoaded(smaller, "layers", load=read))
        await wait_for(pilot, lambda: screen.snapshot is smaller)
        await pilot.pause()
        assert shown == [smaller]  # the listed stage was never drawn
        assert screen.table.row_count == COUNT - 3
        engine_lines = [
            line
            for line in screen.query_one("#log", LogPanel).lines_written
            if f"{COUNT - 3} images," in line
        ]
        assert len(engine_lines) == 1

        # stages of different reads are each shown
        other = Snapshot(list(source.complete.images.values())[:-5], ())
        screen.post_message(SnapshotLoaded(listed, "listed", load=object()))
        screen.post_message(SnapshotLoaded(other, "layers", load=object()))
        await wait_for(pilot, lambda: screen.snapshot is other)
        await pilot.pause()
        assert shown[1:] == [listed, other]
        await pilot.press("q")


async def test_column_widths_are_what_rich_measures():
    app = _app(Stages(_store()))
    async with app.run_test(size=(150, 45)) as pilot:
        screen = await _loaded(pilot, app)
        table = screen.table
        console = Console(width=200)
        for key, column in table.columns.items():
            cells = table.get_column(key)
            expected = max(measure(console, c, 1) for c in [column.label, *cells])
            assert column.content_width == expected, key.value
        widest = max(len(", ".join(i.tags)) for i in screen.snapshot.images.values())
        assert table.columns[next(k for k in table.columns if k.value == "name")].content_width == widest
        await pilot.press("q")


def _planned(screen: MainScreen) -> bool:
    text = str(screen.details_pane.content)
    return "Removing it:" in text and "planning" not in text


async def test_big_store_plans_details_once_the_cursor_rests(monkeypatch):
    monkeypatch.setattr(MainScreen, "inline_limit", 0)
    monkeypatch.setattr(side_panes, "DETAILS_PLAN_DELAY", 1.0)
    planned: list[str] = []
    removal_plans = side_panes.removal_plans

    def counted(snapshot, image_id, protection):  # type: ignore[no-untyped-def]
        planned.append(image_id)
        return removal_plans(snapshot, image_id, protection)

    monkeypatch.setattr(side_panes, "removal_plans", counted)
    app = _app(Stages(_store()))
    async with app.run_test(size=(150, 45)) as pilot:
        screen = await _loaded(pilot, app)
        await wait_for(pilot, lambda: _planned(screen))
        planned.clear()
        await pilot.press("down", "down", "down", "down")
        assert planned == []  # nothing planned for the rows passed over
        assert "planning" in str(screen.details_pane.content)
        rested = screen.table.current_image_id
        await wait_for(pilot, lambda: _planned(screen))
        assert planned == [rested]
        screen.refresh_side()  # the same image on the same snapshot: its plans stay
        await pilot.pause(0.2)
        assert planned == [rested] and _planned(screen)
        await pilot.press("q")


async def test_big_store_draws_the_age_chart_when_its_tab_is_shown(monkeypatch):
    monkeypatch.setattr(MainScreen, "inline_limit", 0)
    app = _app(Stages(_store()))
    async with app.run_test(size=(150, 45)) as pilot:
        screen = await _loaded(pilot, app)
        chart = screen.query_one("#age", AgeChart)
        assert not chart.shows(screen.snapshot)
        await pilot.press("o")
        await wait_for(pilot, lambda: chart.shows(screen.snapshot))
        await pilot.pause()
        assert isinstance(chart.content, Group)  # the buckets table and its note
        buckets = chart.content.renderables[0]
        assert isinstance(buckets, Table) and buckets.row_count > 0
        await pilot.press("q")


@dataclass(frozen=True)
class _Line:
    kind: str
    text: str
    step: int


class _Job(Stages):
    """Executes a plan as ``lines`` result lines, holding after the first 40 until ``gate``."""

    def __init__(self, complete: Snapshot, lines: int) -> None:
        super().__init__(complete)
        self.lines = lines
        self.gate = threading.Event()

    def execute(self, plan: object, snapshot: Snapshot, cancelled: Callable[[], bool]) -> Iterator[object]:
        for n in range(self.lines):
            if n == 40:
                assert self.gate.wait(60)
            yield _Line("untagged", f"Untagged: line {n}", n * 3 // self.lines)
        return ExecutionResult(reclaimed_bytes=0)


async def test_job_events_are_shown_in_batches_while_the_job_runs(monkeypatch):
    posted: list[str] = []
    post_message = MainScreen.post_message

    def counted(self: MainScreen, message: object) -> bool:
        posted.append(type(message).__name__)
        return post_message(self, message)  # type: ignore[arg-type]

    monkeypatch.setattr(MainScreen, "post_message", counted)
    source = _Job(_store(), 300)
    async with _app(source).run_test(size=(150, 45)) as pilot:
        screen = await _loaded(pilot, pilot.app)  # type: ignore[arg-type]
        image = next(iter(screen.snapshot.images))
        posted.clear()
        screen.start_job(plan_images(screen.snapshot, [image]), screen.snapshot)
        log = screen.query_one("#log", LogPanel)
        # the 40 lines before the hold are shown while the job runs (by the UI's timer)
        await wait_for(pilot, lambda: "Untagged: line 39" in log.lines_written)
        assert screen.job_running
        assert "JobEvent" not in posted  # the job's thread posts no message per line
        source.gate.set()
        await wait_for(pilot, lambda: not screen.job_running)
        await pilot.pause()
        lines = [line for line in log.lines_written if line.startswith("Untagged: line ")]
        assert lines == [f"Untagged: line {n}" for n in range(300)]  # all, in order
        assert "JobEvent" not in posted and posted.count("JobFinished") == 1
        assert any(line.startswith("Total reclaimed space") for line in log.lines_written)
        await pilot.press("q")
