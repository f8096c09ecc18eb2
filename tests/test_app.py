"""Pilot tests of the app against the real engine: mark, preview, confirm, log, refresh, blockers."""

from __future__ import annotations

import threading
import time

import pytest
from textual.command import CommandList, CommandPalette
from textual.widgets import Button, Input, RadioButton, Static, TabbedContent

from tests.conftest import session_store
from tests.enginecase import APP_V1, DB, STANDARD, eid, seed, state
from tests.frozen import frozen_snapshot
from tests.pilot import (
    frozen_app,
    highlight,
    loaded,
    log_text,
    make_app,
    open_prune_dialog,
    press_confirm,
    wait_for,
)
from tui.app.main import SweepApp
from tui.app.screens.confirm import ConfirmScreen
from tui.app.screens.help import HelpScreen
from tui.app.screens.main import MainScreen
from tui.app.screens.prune import PruneDialog
from tui.app.widgets.layer_tree import LayerTree
from tui.core.usage import human_size
from tui.engine.client import Engine
from tui.engine.source import EngineSource

V1_ID, DB_ID = eid(APP_V1), eid(DB)


async def test_mark_preview_confirm_log_and_refresh(engine):
    seed(engine.api, engine.url, STANDARD)
    app = make_app(engine.url)
    async with app.run_test(size=(150, 45)) as pilot:
        screen = await loaded(pilot)
        assert {i.id for i in screen.table.shown} == {eid(s) for s in STANDARD}
        await highlight(pilot, screen, V1_ID)
        await pilot.press("space")
        assert screen.marked == {V1_ID}
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        confirm = app.screen
        assert confirm.plan.delete == (V1_ID,)
        # the classic store frees v1's own layer; the containerd store its content + snapshots
        assert session_store() == "containerd" or confirm.plan.reclaim_bytes == 1_000_000
        freed = human_size(confirm.plan.reclaim_bytes)
        shown = str(confirm.query_one("#confirm-plan", Static).content)
        assert "Untag (1)" in shown and "myapp:1.5.0" in shown and f"Will free: {freed}" in shown
        await press_confirm(pilot)
        await wait_for(pilot, lambda: "Total reclaimed space" in log_text(screen))
        text = log_text(screen)
        assert "Untagged: myapp:1.5.0" in text and f"Deleted: {V1_ID[:19]}" in text
        assert f"Total reclaimed space: {freed}" in text
        await wait_for(pilot, lambda: V1_ID not in screen.snapshot.images and screen.snapshot.disk)
        assert V1_ID not in {i.id for i in screen.table.shown}
        assert V1_ID not in state(engine.api) and not screen.marked


async def test_cancel_on_confirm_deletes_nothing(engine):
    seed(engine.api, engine.url, STANDARD)
    before = state(engine.api)
    app = make_app(engine.url)
    async with app.run_test(size=(150, 45)) as pilot:
        screen = await loaded(pilot)
        await highlight(pilot, screen, DB_ID)
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
        assert "Cancelled; nothing was deleted." in log_text(screen)
    assert state(engine.api) == before


async def test_an_event_that_changes_nothing_keeps_the_snapshot_and_the_open_plan(engine):
    """Re-tagging an image with the tag it has sends an engine event; the reload it triggers reads
    the same store, so the screen keeps its snapshot, and the prune dialog opened before it still
    reaches the confirm screen (it used to say "the store changed while planning")."""
    seed(engine.api, engine.url, STANDARD)
    app = make_app(engine.url)
    async with app.run_test(size=(150, 45)) as pilot:
        screen = await loaded(pilot)
        before = screen.snapshot
        source = screen.source
        reads: list[str] = []
        load = source.load

        def counted_load(**kwargs):  # type: ignore[no-untyped-def]
            yield from load(**kwargs)
            reads.append("done")

        source.load = counted_load  # type: ignore[method-assign]
        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, PruneDialog))
        engine.api.tag(DB_ID, "db", "16")  # the tag it has: an event, no change
        await wait_for(pilot, lambda: reads == ["done"])
        await pilot.pause(0.2)
        assert screen.snapshot is before
        await pilot.press("a", "y")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "store changed" not in log_text(screen)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))


async def test_blocked_removal_shows_containers_and_c_removes_them(engine):
    seed(engine.api, engine.url, STANDARD, (("old-app", "myapp:1.5.0", False), ("db-1", "db:16", True)))
    app = make_app(engine.url)
    async with app.run_test(size=(150, 45)) as pilot:
        screen = await loaded(pilot)
        await highlight(pilot, screen, V1_ID)
        details = str(screen.details_pane.content)
        assert "blocked: stopped container by old-app" in details and "press c" in details
        await highlight(pilot, screen, DB_ID)
        details = str(screen.details_pane.content)
        assert "blocked: running container by db-1 (running)" in details and "press c" not in details
        await highlight(pilot, screen, V1_ID)
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        plan = app.screen.plan
        assert [c.name for c in plan.remove_containers] == ["old-app"] and plan.delete == (V1_ID,)
        assert "Remove stopped containers (1)" in str(app.screen.query_one("#confirm-plan", Static).content)
        await press_confirm(pilot)
        await wait_for(pilot, lambda: "Total reclaimed space" in log_text(screen))
        assert "Removed container: old-app" in log_text(screen)
    assert V1_ID not in state(engine.api)
    assert [c["Names"][0] for c in engine.api.containers(all=True)] == ["/db-1"]


@pytest.mark.parametrize("size", [(80, 24), (60, 20)], ids=["80x24", "60x20"])
async def test_small_terminals_draw(size):
    """Narrow terminals: every part of the main screen is on it, help opens and closes, t switches
    the layer tree, q quits. The frozen store: drawing needs no engine."""
    width, height = size
    app = frozen_app()
    async with app.run_test(size=size) as pilot:
        screen = await loaded(pilot)
        assert {i.id for i in screen.table.shown} == set(frozen_snapshot().images)
        assert screen.wide is False  # details move into a tab
        for selector in ("#images", "#status", "#side", "#log", "Footer"):
            region = screen.query_one(selector).region
            assert region.area > 0 and region.right <= width and region.bottom <= height, (selector, region)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)
        tree = screen.query_one("#layers", LayerTree)
        before = tree.mode
        await pilot.press("t")
        await pilot.pause()
        assert tree.mode != before and screen.query_one("#side", TabbedContent).active == "tab-layers"
        await pilot.press("q")
        await wait_for(pilot, lambda: app.return_code == 0)


class _HeldSource(EngineSource):
    """The real source, whose executions wait until the test releases them."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.started = threading.Event()
        self.release = threading.Event()

    def execute(self, plan, snapshot, cancelled):
        self.started.set()
        self.release.wait(120)
        return (yield from super().execute(plan, snapshot, cancelled))


async def test_one_job_at_a_time(engine):
    seed(engine.api, engine.url, STANDARD)
    source = _HeldSource(Engine(engine.url))
    app = SweepApp(source)
    async with app.run_test(size=(150, 45)) as pilot:
        screen = await loaded(pilot)
        try:
            await highlight(pilot, screen, V1_ID)
            await pilot.press("d")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await press_confirm(pilot)
            await wait_for(pilot, source.started.is_set)
            assert screen.job_running
            await highlight(pilot, screen, DB_ID)
            for key in ("d", "c", "p"):  # remove, remove with containers, prune: all wait
                await pilot.press(key)
                await pilot.pause()
                assert app.screen is screen, key
        finally:
            source.release.set()
        await wait_for(pilot, lambda: "Total reclaimed space" in log_text(screen))
        # the reload after the job lists the store before it reads the layers: a removal asked for
        # in between is refused with "Still reading layers" (on the containerd store the layer
        # stage takes long enough for a key to land there)
        await wait_for(
            pilot,
            lambda: (
                not screen.job_running
                and V1_ID not in screen.snapshot.images
                and screen.snapshot.layers_complete
            ),
        )
        await highlight(pilot, screen, DB_ID)
        await pilot.press("d")  # the job is over: a new one may start
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert app.screen.plan.untag == ("db:16",)
        await pilot.press("escape")
    remaining = state(engine.api)
    assert V1_ID not in remaining and DB_ID in remaining


class _CancelAfterFirst(EngineSource):
    """The real source, with the user pressing x right after the first result line (on the app's
    thread, as a key press would: widgets are never touched from the worker)."""

    screen: MainScreen | None = None

    def execute(self, plan, snapshot, cancelled):
        gen = super().execute(plan, snapshot, cancelled)
        first = True
        try:
            while True:
                event = next(gen)
                yield event
                if first and self.screen is not None:
                    self.screen.app.call_from_thread(self.screen.action_cancel_job)
                    first = False
        except StopIteration as stop:
            return stop.value


async def test_cancel_job_between_steps(engine):
    seed(engine.api, engine.url, STANDARD)
    source = _CancelAfterFirst(Engine(engine.url))
    app = SweepApp(source)
    async with app.run_test(size=(150, 45)) as pilot:
        screen = await loaded(pilot)
        source.screen = screen
        for image_id in (V1_ID, DB_ID):
            await highlight(pilot, screen, image_id)
            await pilot.press("space")
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert len(app.screen.plan.steps) == 2
        await press_confirm(pilot)
        await wait_for(pilot, lambda: "Total reclaimed space" in log_text(screen))
        text = log_text(screen)
        assert "Cancelled" in text and "not run" in text
    remaining = state(engine.api)
    assert (V1_ID in remaining) != (DB_ID in remaining)  # exactly one of the two was removed


async def test_protection_and_policy_in_the_app(engine, tmp_path):
    from tui.app.screens.policy import PolicyPicker
    from tui.config import load_config

    seed(engine.api, engine.url, STANDARD)
    path = tmp_path / "c.toml"
    path.write_text('[protect]\nimages = ["db:*"]\n[policies.old]\nolder_than = "15d"\n')
    app = SweepApp(EngineSource(Engine(engine.url)), load_config(path))
    async with app.run_test(size=(150, 45)) as pilot:
        screen = await loaded(pilot)
        await highlight(pilot, screen, DB_ID)
        details = str(screen.details_pane.content)
        assert "protected by config (pattern db:*)" in details
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert app.screen.plan.blocked[0].reason == "protected" and app.screen.plan.empty
        await pilot.press("f")
        await pilot.pause()
        assert app.screen.plan.empty  # force does not bypass protection
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
        await pilot.press("P")
        await wait_for(pilot, lambda: isinstance(app.screen, PolicyPicker))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen) and screen.marked)
        expected = {eid(s) for s in STANDARD if (time.time() - s.created.timestamp()) > 15 * 86400}
        assert screen.marked == expected
        assert "Policy old marks" in log_text(screen)


class _SubscribedEngine(Engine):
    """The real engine adapter; ``subscribed`` is set once an event stream is open on the engine."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.subscribed = threading.Event()

    def new_client(self, *, timeout=None):
        client = super().new_client(timeout=timeout)
        events = client.events

        def subscribed_events(*args, **kwargs):
            stream = events(*args, **kwargs)  # the request is made (and answered) here
            self.subscribed.set()
            return stream

        client.events = subscribed_events
        return client


async def test_external_changes_refresh_the_table(engine):
    seed(engine.api, engine.url, STANDARD)
    sweep = _SubscribedEngine(engine.url)
    app = SweepApp(EngineSource(sweep))
    async with app.run_test(size=(150, 45)) as pilot:
        screen = await loaded(pilot)
        assert DB_ID in {i.id for i in screen.table.shown}
        await wait_for(pilot, sweep.subscribed.is_set)  # the app follows the engine's events
        engine.api.remove_image("db:16")  # someone else, outside the app
        await wait_for(pilot, lambda: DB_ID not in {i.id for i in screen.table.shown}, timeout=15)
        engine.api.tag(V1_ID, "myapp", "extra")
        await wait_for(pilot, lambda: "myapp:extra" in screen.snapshot.images[V1_ID].tags, timeout=15)


# -- no engine needed: the frozen store (tests/frozen.py) ------------------------------------------
def _frozen_id(tag: str) -> str:
    return next(i.id for i in frozen_snapshot().images.values() if tag in i.tags)


async def test_force_toggle_explains_and_changes_plan():
    app = frozen_app()
    async with app.run_test(size=(150, 45)) as pilot:
        screen = await loaded(pilot)
        await highlight(pilot, screen, _frozen_id("postgres:16"))  # a running container uses it
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        confirm = app.screen
        assert confirm.plan.blocked and confirm.query_one("#confirm-ok", Button).disabled
        await pilot.press("f")
        await pilot.pause()
        assert confirm.force and confirm.plan.untag == ("postgres:16",) and confirm.plan.delete == ()
        assert "never deletes an image a running container uses" in str(
            confirm.query_one("#confirm-force-help", Static).content
        )
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)


async def test_prune_dialog_validation_and_live_preview():
    app = frozen_app()
    async with app.run_test(size=(150, 45)) as pilot:
        await loaded(pilot)
        dialog = await open_prune_dialog(pilot)
        assert dialog.request is not None and not dialog.request.filters.until
        dialog.query_one("#prune-all", RadioButton).value = True
        until = dialog.query_one("#prune-until", Input)
        until.value = "yesterday"
        await pilot.pause()
        assert dialog.request is None
        assert "until" in str(dialog.query_one("#prune-error", Static).content)
        assert dialog.query_one("#prune-ok", Button).disabled
        until.value = "25d"
        await pilot.pause()
        assert dialog.request is not None and dialog.request.filters.until is not None
        preview = str(dialog.query_one("#prune-preview", Static).content)
        # older than 25 days on the frozen clock: myapp:1.5.0 (a stopped container keeps it) and the
        # untagged image, which alone goes
        assert "Delete (1)" in preview and "<none>:<none>" in preview and "converted to 600h" in preview
        await pilot.press("escape")


async def test_prune_dialog_plans_in_a_worker_on_a_big_store(monkeypatch):
    """From PruneDialog.inline_limit images on (0 here: every store counts as big), the preview is
    planned in a worker: a keystroke does not wait for it, Continue stays off until the preview of
    what the fields say now is shown, and y pressed before that continues once it is."""
    import tui.app.screens.prune as prune_module

    monkeypatch.setattr(PruneDialog, "inline_limit", 0)
    threads: list[str] = []
    plan_prune = prune_module.plan_prune

    def recorded(*args, **kwargs):  # type: ignore[no-untyped-def]
        threads.append(threading.current_thread().name)
        return plan_prune(*args, **kwargs)

    monkeypatch.setattr(prune_module, "plan_prune", recorded)
    app = frozen_app()
    async with app.run_test(size=(150, 45)) as pilot:
        await loaded(pilot)
        dialog = await open_prune_dialog(pilot)
        preview = dialog.query_one("#prune-preview", Static)
        await wait_for(pilot, lambda: dialog.request is not None)
        assert "Planning" not in str(preview.content)
        await pilot.press("a", "u", *"25d")
        await wait_for(pilot, lambda: dialog.request is not None and dialog.request.filters.until)
        assert not dialog.request.filters.dangling
        text = str(preview.content)
        assert "Delete (1)" in text and "<none>:<none>" in text and "converted to 600h" in text
        assert not dialog.query_one("#prune-ok", Button).disabled
        await pilot.press("backspace", "backspace", "backspace", "escape", "y")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert threads and threading.main_thread().name not in threads  # every preview off the UI thread
        # what the fields said when y was pressed: all unused, no until
        assert app.screen.plan.description == "all images not used by any container"
        await pilot.press("escape")


async def test_prune_dialog_on_a_big_store_plans_only_the_newest_request(monkeypatch):
    """A thread cannot be stopped: keys typed while a preview is being planned wait for it, and
    then only the newest request is planned. Here the first plan is held until ``a``, ``u`` and
    ``25d`` are typed (five requests): two plans run in all, the first and the one for what the
    fields say at the end; ``2`` and ``25`` are never planned."""
    import tui.app.screens.prune as prune_module

    monkeypatch.setattr(PruneDialog, "inline_limit", 0)
    plan_prune = prune_module.plan_prune
    gate = threading.Event()
    planned: list[tuple[bool, int | None]] = []

    def held(snapshot, filters, **kwargs):  # type: ignore[no-untyped-def]
        planned.append((filters.dangling, filters.until.ns if filters.until else None))
        if len(planned) == 1:
            assert gate.wait(60)
        return plan_prune(snapshot, filters, **kwargs)

    monkeypatch.setattr(prune_module, "plan_prune", held)
    app = frozen_app()
    async with app.run_test(size=(150, 45)) as pilot:
        await loaded(pilot)
        dialog = await open_prune_dialog(pilot)
        await wait_for(pilot, lambda: len(planned) == 1)
        await pilot.press("a", "u", *"25d")
        await wait_for(pilot, lambda: dialog.query_one("#prune-until", Input).value == "25d")
        assert len(planned) == 1 and dialog.request is None  # the rest waits for the first plan
        gate.set()
        await wait_for(pilot, lambda: dialog.request is not None)
        final = dialog.request
        assert final is not None and final.filters.until is not None and not final.filters.dangling
        assert planned == [(True, None), (False, final.filters.until.ns)]
        assert "converted to 600h" in str(dialog.query_one("#prune-preview", Static).content)
        await pilot.press("escape", "escape")


async def test_command_palette_reaches_actions():
    app = frozen_app()
    async with app.run_test(size=(150, 45)) as pilot:
        await loaded(pilot)
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
        palette = app.screen
        await pilot.press(*"prune")
        hits = palette.query_one(CommandList)

        def prune_highlighted() -> bool:
            searching = any(w.is_running for w in app.workers if w.node is palette)
            if searching or hits.highlighted is None:
                return False
            return "prune" in str(hits.get_option_at_index(hits.highlighted).prompt).lower()

        await wait_for(pilot, prune_highlighted)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, PruneDialog))
        await pilot.press("escape")


async def test_configured_columns(tmp_path):
    from tui.config import load_config

    path = tmp_path / "c.toml"
    path.write_text('[ui]\ncolumns = ["name", "size", "containers"]\ndefault_sort = "name"\n')
    app = frozen_app(load_config(path))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await loaded(pilot)
        # the one-letter flag column is always there (flags stay visible in any width)
        assert [str(c.label) for c in screen.table.columns.values()] == [
            "",
            "F",
            "REPOSITORY:TAG",
            "SIZE",
            "USED BY",
        ]
        assert screen.sort_key == "name"
        assert [i.tags[0] if i.tags else "" for i in screen.table.shown] == [
            "",
            "myapp:1.5.0",
            "myapp:2.0.0",
            "postgres:16",
            "web/nginx:1.25",
        ]
