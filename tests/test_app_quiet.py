"""What the main screen leaves undone while the engine works (no engine: sources in this file).

* While a job runs on a big store, the cursor moves at once and the side panes follow it once it
  rests; after the job they follow at once again.
* A job's result lines reach the log in batches, all of them, in order, the last batch at its end.
* A reload whose listed stage lists no image the screen lacks (after a removal) is drawn from its
  next stage only: the rows never show the sizes as unknown in between. A listing with a new image
  is drawn at once, as before.
* A load stage the UI gets to after a later stage of the same read was posted is not drawn, even
  with a progress report between them (which Textual's ``can_replace`` does not look past).
* The footer composes its keys again only when they change.
* The space chart is made only while its tab is shown, not for every load stage behind it.
* The app runs Python's cyclic collector with thresholds of its own (fewer collections).
"""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace

from textual.widgets import Input

from tests.pilot import wait_for
from tests.storegen import make_image
from tests.test_app_redraws import Stages, _Job, _loaded, _store
from tests.test_app_redraws import _app as _redraws_app
from tui.app.main import COLLECTOR_THRESHOLDS, SweepApp
from tui.app.screens import main as main_screen
from tui.app.screens import store as store_screen
from tui.app.screens.main import MainScreen
from tui.app.widgets import charts as charts_widget
from tui.app.widgets.key_footer import KeyFooter
from tui.app.widgets.layer_tree import LayerTree
from tui.app.widgets.log_panel import LogPanel
from tui.core.marking import plan_images
from tui.core.model import DiskUsage, Snapshot
from tui.core.views import display_name


def _tree_label(screen: MainScreen) -> str:
    return str(screen.query_one("#layers", LayerTree).root.label)


def _shows(screen: MainScreen, image_id: str | None) -> bool:
    assert image_id is not None
    return _tree_label(screen).startswith(display_name(screen.snapshot.images[image_id]))


async def test_while_a_job_runs_on_a_big_store_the_side_panes_wait_for_the_cursor_to_rest(monkeypatch):
    monkeypatch.setattr(MainScreen, "inline_limit", 0)  # every store counts as big
    monkeypatch.setattr(main_screen, "SIDE_PANES_DELAY_IN_JOB", 2.0)
    source = _Job(_store(), 300)
    async with _redraws_app(source).run_test(size=(150, 45)) as pilot:
        screen = await _loaded(pilot, pilot.app)  # type: ignore[arg-type]
        table = screen.table
        start = table.current_image_id
        assert _shows(screen, start)
        last = list(screen.snapshot.images)[-1]
        screen.start_job(plan_images(screen.snapshot, [last]), screen.snapshot)
        assert screen.job_running  # held after 40 lines until the gate opens
        await pilot.press("down", "down")
        rested = table.current_image_id
        assert rested not in (None, start) and table.cursor_row == 2  # the cursor moved at once
        assert _shows(screen, start)  # the panes still show where it was
        await wait_for(pilot, lambda: _shows(screen, rested))  # and follow once it rests
        source.gate.set()
        await wait_for(pilot, lambda: not screen.job_running)
        app = pilot.app
        await wait_for(  # the job's reload is over
            pilot,
            lambda: (
                all(w.is_finished for w in app.workers if w.group == "load")
                and screen.snapshot.layers_complete
            ),
        )
        await pilot.press("down")
        assert _shows(screen, table.current_image_id)  # no job: at once
        await pilot.press("q")


async def test_job_lines_reach_the_log_in_batches_all_of_them_in_order(monkeypatch):
    monkeypatch.setattr(store_screen, "JOB_LOG_FLUSH", 60.0)  # no batch but the first and the last
    source = _Job(_store(), 300)
    async with _redraws_app(source).run_test(size=(150, 45)) as pilot:
        screen = await _loaded(pilot, pilot.app)  # type: ignore[arg-type]
        log = screen.query_one("#log", LogPanel)
        image = next(iter(screen.snapshot.images))
        screen.start_job(plan_images(screen.snapshot, [image]), screen.snapshot)
        await wait_for(pilot, lambda: any(line.startswith("Untagged: line ") for line in log.lines_written))
        await pilot.pause(0.6)  # some progress ticks: the first batch is all the log has
        first_batch = [line for line in log.lines_written if line.startswith("Untagged: line ")]
        assert screen.job_running and 0 < len(first_batch) <= 40
        source.gate.set()
        await wait_for(pilot, lambda: not screen.job_running)
        await pilot.pause()
        lines = [line for line in log.lines_written if line.startswith("Untagged: line ")]
        assert lines == [f"Untagged: line {n}" for n in range(300)]
        total = next(n for n, line in enumerate(log.lines_written) if line.startswith("Total reclaimed"))
        assert total > log.lines_written.index("Untagged: line 299")  # the last batch came first
        await pilot.press("q")


async def test_a_job_runs_with_short_thread_switches_and_the_interval_comes_back_after_it():
    before = sys.getswitchinterval()
    assert store_screen.JOB_SWITCH_INTERVAL is not None and before > store_screen.JOB_SWITCH_INTERVAL
    source = _Job(_store(), 300)
    async with _redraws_app(source).run_test(size=(150, 45)) as pilot:
        screen = await _loaded(pilot, pilot.app)  # type: ignore[arg-type]
        image = next(iter(screen.snapshot.images))
        screen.start_job(plan_images(screen.snapshot, [image]), screen.snapshot)
        log = screen.query_one("#log", LogPanel)
        await wait_for(pilot, lambda: "Untagged: line 39" in log.lines_written)  # held at line 40
        assert screen.job_running and sys.getswitchinterval() == store_screen.JOB_SWITCH_INTERVAL
        source.gate.set()
        await wait_for(pilot, lambda: not screen.job_running)
        assert sys.getswitchinterval() == before
        await pilot.press("q")


async def test_the_app_runs_pythons_collector_with_its_own_thresholds():
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        async with _redraws_app(_Job(_store(), 3)).run_test(size=(150, 45)) as pilot:
            await _loaded(pilot, pilot.app)  # type: ignore[arg-type]
            assert gc.get_threshold() == COLLECTOR_THRESHOLDS != (700, 10, 10)
            assert gc.isenabled()  # collected, only less often
            await pilot.press("q")
    finally:
        gc.set_threshold(*before)


async def test_the_space_chart_is_made_only_while_its_tab_is_shown(monkeypatch):
    made: list[Snapshot] = []
    space_by_repository = charts_widget.space_by_repository

    def counted(snapshot: Snapshot, protection: object = None) -> object:
        made.append(snapshot)
        return space_by_repository(snapshot, protection)  # type: ignore[arg-type]

    monkeypatch.setattr(charts_widget, "space_by_repository", counted)
    source = Stages(_store())
    async with _redraws_app(source).run_test(size=(150, 45)) as pilot:
        screen = await _loaded(pilot, pilot.app)  # type: ignore[arg-type]
        chart = screen.query_one("#space", charts_widget.RepositoryChart)
        assert made == [] and chart.option_count == 0  # its tab was never shown
        await pilot.press("g")
        await wait_for(pilot, lambda: chart.option_count > 0)
        repositories = {r.repository for r in space_by_repository(screen.snapshot, screen.protection)}
        assert {chart.get_option_at_index(n).id for n in range(chart.option_count)} == repositories
        assert made and all(m is screen.snapshot for m in made)
        await pilot.press("q")


class Reloads:
    """The first read yields the store without layers, then with them and disk usage; each later
    read yields ``listings.pop(0)`` without layers, waits for ``gate``, then with them."""

    description = "unix:///reloads/docker.sock"

    def __init__(self, complete: Snapshot) -> None:
        self.listings: list[Snapshot] = [complete]
        self.reads = 0
        self.gate = threading.Event()
        self.listed_posted = threading.Event()
        self.fail_after_listing = False  # the next reload's layer stage fails (an engine gone)

    def load(
        self, *, progress: Callable[[int, int], None], cancelled: Callable[[], bool]
    ) -> Iterator[Snapshot]:
        self.reads += 1
        complete = self.listings.pop(0)
        yield Snapshot([replace(i, layers=None) for i in complete.images.values()], ())
        self.listed_posted.set()
        if self.reads > 1:
            assert self.gate.wait(60)
        if self.fail_after_listing:
            self.fail_after_listing = False
            raise RuntimeError("the engine went away")
        yield complete

    def execute(self, *args: object) -> Iterator[object]:
        raise RuntimeError("executes nothing")


def _with_disk(images: object) -> Snapshot:
    return Snapshot(images, (), disk=DiskUsage(layers_size=-1))  # type: ignore[arg-type]


async def _reload_until_listed(pilot, screen: MainScreen, source: Reloads, complete: Snapshot) -> None:  # type: ignore[no-untyped-def]
    source.gate.clear()
    source.listed_posted.clear()
    source.listings.append(complete)
    await pilot.press("r")
    await wait_for(pilot, lambda: source.listed_posted.is_set())
    for _ in range(5):  # the listed stage's message is handled by now
        await pilot.pause(0.05)


async def test_a_reload_listing_no_new_image_is_drawn_from_its_layer_stage():
    store = _store()
    images = list(store.images.values())
    source = Reloads(_with_disk(images))
    app = SweepApp(source, None)  # type: ignore[arg-type]
    async with app.run_test(size=(150, 45)) as pilot:
        screen = app.screen
        await wait_for(
            pilot, lambda: isinstance(app.screen, MainScreen) and app.screen.snapshot.disk is not None
        )
        screen = app.screen
        assert isinstance(screen, MainScreen)
        before = screen.snapshot
        rows = screen.table.row_count
        # one image fewer, as after its removal: the listed stage is not drawn
        fewer = _with_disk(images[1:])
        await _reload_until_listed(pilot, screen, source, fewer)
        assert screen.snapshot is before and screen.table.row_count == rows
        assert all("…" not in str(cell) for cell in screen.table.get_row_at(0))
        source.gate.set()
        await wait_for(pilot, lambda: screen.snapshot is fewer)
        assert screen.table.row_count == rows - 1
        # a new image: its listing is drawn at once (its layers may take a while to read)
        new = make_image("new-one", [("new-layer", 1234)], tags=["new:1"])
        more = _with_disk([*images[1:], new])
        await _reload_until_listed(pilot, screen, source, more)
        assert not screen.snapshot.layers_complete and new.id in screen.snapshot.images
        assert screen.table.row_count == rows
        source.gate.set()
        await wait_for(pilot, lambda: screen.snapshot is more)
        # two images fewer, and the layer stage fails: the listing is drawn then, so the
        # removed image's row does not stay
        rows = screen.table.row_count
        source.fail_after_listing = True
        await _reload_until_listed(pilot, screen, source, _with_disk(images[2:]))
        assert screen.snapshot is more and screen.table.row_count == rows
        source.gate.set()
        await wait_for(pilot, lambda: screen.table.row_count == rows - 2)  # images[1] and new gone
        assert set(screen.snapshot.images) == {i.id for i in images[2:]}
        await pilot.press("q")


class Queued(Reloads):
    """Each reload waits for ``go``, then yields its listing, reports progress and yields the
    complete store in one go, and sets ``all_posted``."""

    def __init__(self, complete: Snapshot) -> None:
        super().__init__(complete)
        self.go = threading.Event()
        self.all_posted = threading.Event()

    def load(
        self, *, progress: Callable[[int, int], None], cancelled: Callable[[], bool]
    ) -> Iterator[Snapshot]:
        self.reads += 1
        complete = self.listings.pop(0)
        if self.reads > 1:
            assert self.go.wait(60)
        yield Snapshot([replace(i, layers=None) for i in complete.images.values()], ())
        progress(len(complete.images), len(complete.images))
        yield complete
        self.all_posted.set()


async def test_a_stage_already_followed_by_a_later_one_of_its_read_is_not_drawn():
    images = list(_store().images.values())
    source = Queued(_with_disk(images))
    app = SweepApp(source, None)  # type: ignore[arg-type]
    async with app.run_test(size=(150, 45)) as pilot:
        await wait_for(
            pilot, lambda: isinstance(app.screen, MainScreen) and app.screen.snapshot.disk is not None
        )
        screen = app.screen
        assert isinstance(screen, MainScreen)
        shown: list[str] = []
        show = screen._show_loaded

        def recorded(message: store_screen.SnapshotLoaded) -> None:
            shown.append(message.stage)
            show(message)

        screen._show_loaded = recorded  # type: ignore[method-assign]
        new = make_image("new-one", [("new-layer", 1234)], tags=["new:1"])
        more = _with_disk([*images, new])  # a new image: a listing that would be drawn at once
        source.listings.append(more)
        source.all_posted.clear()  # set by the first read
        await pilot.press("r")
        source.go.set()
        # the UI thread waits here (this test runs on it) while the read posts its listing, a
        # progress report and its complete stage, in that order
        assert source.all_posted.wait(30)
        await wait_for(pilot, lambda: screen.snapshot is more)
        assert shown == ["layers"]  # the read's second stage; its listing was never drawn
        assert screen.table.row_count == len(images) + 1
        await pilot.press("q")


async def test_the_footer_composes_its_keys_again_only_when_they_change(monkeypatch):
    composed: list[int] = []
    compose = KeyFooter.compose

    def counted(self: KeyFooter):  # type: ignore[no-untyped-def]
        composed.append(1)
        return compose(self)

    monkeypatch.setattr(KeyFooter, "compose", counted)
    app = _redraws_app(_Job(_store(), 10))
    async with app.run_test(size=(150, 45)) as pilot:
        screen = await _loaded(pilot, app)
        footer = screen.query_one(KeyFooter)
        await pilot.pause(0.2)
        composed.clear()
        screen.refresh_bindings()  # the same keys
        await pilot.pause(0.2)
        assert composed == []
        keys = {str(k.description) for k in footer.query("FooterKey")}
        assert "Remove" in keys and "Quit" in keys
        await pilot.press("slash")  # the filter bar takes the focus: other keys
        assert isinstance(screen.focused, Input)
        await wait_for(pilot, lambda: composed != [])
        await pilot.pause(0.2)
        keys = {str(k.description) for k in footer.query("FooterKey")}
        assert "Filter" in keys and "Remove" not in keys  # the filter bar's keys
        await pilot.press("escape", "q")
