"""The app's plans made in thread workers (what big stores do) show what the inline plans show.

Stores above ``inline_limit`` images plan off the UI thread: the detail pane's removal plan, the
df summary's prune plans, the marks' plan and the confirm screen's first plan. These tests set
the limit to 0 so the small fixture store takes the worker path, and compare with the inline one.
"""

from __future__ import annotations

import gc
import weakref

import pytest

from tests.enginecase import APP_V1, DB, STANDARD, seed, state
from tests.pilot import highlight, loaded, log_text, make_app, press_confirm, wait_for
from tui.app.screens.confirm import ConfirmScreen
from tui.app.screens.main import MainScreen
from tui.app.widgets.df_pane import DfPane
from tui.core.marking import plan_images
from tui.sandbox import imagegen as gen

V1_ID, DB_ID = gen.image_id(APP_V1), gen.image_id(DB)


def _details(screen: MainScreen) -> str:
    return str(screen.details_pane.content)


def _df(screen: MainScreen) -> str:
    return str(screen.query_one("#df", DfPane).content)


@pytest.mark.classic_store
async def test_worker_plans_show_what_inline_plans_show(engine, monkeypatch):
    seed(engine.api, engine.url, STANDARD, (("old-app", "myapp:1.5.0", False), ("db-1", "db:16", True)))
    monkeypatch.setattr(MainScreen, "inline_limit", 0)
    app = make_app(engine.url)
    async with app.run_test(size=(150, 45)) as pilot:
        screen = await loaded(pilot)
        await wait_for(pilot, lambda: "prune --all frees" in _df(screen))
        worker_df = _df(screen)
        shown: dict[str, str] = {}
        for image_id in (V1_ID, DB_ID):
            await highlight(pilot, screen, image_id)
            await wait_for(
                pilot, lambda: "Removing it:" in _details(screen) and "planning" not in _details(screen)
            )
            shown[image_id] = _details(screen)
        assert "blocked: stopped container by old-app" in shown[V1_ID] and "press c" in shown[V1_ID]
        assert "blocked: running container by db-1 (running)" in shown[DB_ID]

        screen.inline_limit = 10**9  # the same screens, planned on the UI thread
        screen.query_one("#df", DfPane)._shown = None
        for image_id in (V1_ID, DB_ID):
            await highlight(pilot, screen, image_id)
            await pilot.pause()
            assert _details(screen) == shown[image_id]
        screen.refresh_side()
        assert _df(screen) == worker_df


@pytest.mark.classic_store
async def test_worker_confirm_plan_and_row_updates_after_a_removal(engine, monkeypatch):
    seed(engine.api, engine.url, STANDARD)
    monkeypatch.setattr(MainScreen, "inline_limit", 0)
    app = make_app(engine.url)
    async with app.run_test(size=(150, 45)) as pilot:
        screen = await loaded(pilot)
        snapshot = screen.snapshot
        before = state(engine.api)
        await highlight(pilot, screen, V1_ID)
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        confirm = app.screen
        assert isinstance(confirm, ConfirmScreen)
        assert confirm.plan == plan_images(snapshot, [V1_ID], protection=screen.protection)
        assert V1_ID in confirm.plan.delete
        await press_confirm(pilot)
        await wait_for(pilot, lambda: not screen.job_running and V1_ID not in screen.snapshot.images)
        await wait_for(pilot, lambda: screen.snapshot.disk is not None and screen.snapshot.layers_complete)
        await pilot.pause()
        assert "Total reclaimed space" in log_text(screen)
        # the table removed the row in place: its rows are exactly the images it says it shows
        table = screen.table
        assert [str(k.value) for k in table.rows] == [i.id for i in table.shown]
        assert V1_ID not in [i.id for i in table.shown]
    assert state(engine.api) == {k: v for k, v in before.items() if k != V1_ID}


@pytest.mark.classic_store
async def test_a_replaced_snapshot_is_freed_without_the_collector(engine, monkeypatch):
    """After a removal the snapshot from before it goes as soon as the screen shows the new one:
    nothing the plans, the marks' plan, the job or the confirm screen made keeps it, and no
    reference cycle does (the app's collector runs full collections rarely)."""
    seed(engine.api, engine.url, STANDARD)
    monkeypatch.setattr(MainScreen, "inline_limit", 0)
    app = make_app(engine.url)
    was_enabled = gc.isenabled()
    try:
        async with app.run_test(size=(150, 45)) as pilot:
            screen = await loaded(pilot)
            await wait_for(pilot, lambda: "prune --all frees" in _df(screen))
            gc.disable()
            before = weakref.ref(screen.snapshot)
            await highlight(pilot, screen, V1_ID)
            await wait_for(
                pilot, lambda: "Removing it:" in _details(screen) and "planning" not in _details(screen)
            )
            screen.marked = {V1_ID}
            screen.refresh_table()
            await wait_for(pilot, lambda: screen.marked_plan() is not None)
            await pilot.press("d")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await press_confirm(pilot)
            await wait_for(pilot, lambda: not screen.job_running and V1_ID not in screen.snapshot.images)
            await wait_for(
                pilot, lambda: screen.snapshot.disk is not None and screen.snapshot.layers_complete
            )
            await wait_for(pilot, lambda: "prune --all frees" in _df(screen))  # the df plan on the new one
            await pilot.pause(0.3)
            assert before() is None, "the snapshot from before the removal is still referenced"
    finally:
        if was_enabled:
            gc.enable()
