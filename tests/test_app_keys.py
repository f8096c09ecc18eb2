"""Keyboard only, on a real engine: find, mark, remove a local-only image, prune with a preview,
pick a policy; every modal by its keys; focus and Tab order; mouse marking; the space chart."""

from __future__ import annotations

from textual.widgets import Checkbox, Input, RadioButton

from tests.conftest import session_store
from tests.enginecase import APP_V1, DANGLING, DB, STANDARD, eid, seed, seed_for_until, state
from tests.pilot import find, focused_id, loaded, log_text, make_app, wait_for
from tui.app.main import SweepApp
from tui.app.screens.confirm import ConfirmScreen
from tui.app.screens.main import MainScreen
from tui.app.screens.prune import PruneDialog
from tui.app.widgets.key_line import KeyLine
from tui.core.model import short_id
from tui.core.usage import human_size
from tui.engine.client import Engine
from tui.engine.source import EngineSource

V1_ID, DANGLING_ID, DB_ID = eid(APP_V1), eid(DANGLING), eid(DB)


async def test_remove_local_only_image_with_keys_alone(engine):
    seed(engine.api, engine.url, STANDARD)
    app = make_app(engine.url)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await loaded(pilot)
        await find(pilot, "myapp:1.5.0")
        assert not screen.query_one("#filter", Input).display, "Enter closes the filter bar"
        assert [i.id for i in screen.table.shown] == [V1_ID] and screen.table.has_focus
        assert "filter: myapp:1.5.0" in str(screen.query_one("#status").content)
        await pilot.press("space", "d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        confirm = app.screen
        assert confirm.needs_local_ack and focused_id(app) == "confirm-local"
        assert "(l)" in str(confirm.query_one("#confirm-local", Checkbox).label)
        keys = str(confirm.query_one("#confirm-keys", KeyLine).content)
        assert "l I understand" in keys and "y delete" in keys and "n/esc cancel" in keys
        await pilot.press("y")  # refused: not acknowledged yet
        await pilot.pause()
        assert app.screen is confirm and focused_id(app) == "confirm-local"
        await pilot.press("l")
        await pilot.pause()
        assert confirm.query_one("#confirm-local", Checkbox).value and focused_id(app) == "confirm-ok"
        assert not confirm.force
        freed = human_size(confirm.plan.reclaim_bytes)
        assert session_store() == "containerd" or freed == "1MB"  # classic: v1's own layer
        await pilot.press("y")
        await wait_for(pilot, lambda: "Total reclaimed space" in log_text(screen))
        text = log_text(screen)
        assert f"Deleted: sha256:{short_id(V1_ID)}" in text and V1_ID not in text  # short ids
        assert f"Total reclaimed space: {freed} · 1 image(s) deleted" in text
        await wait_for(pilot, lambda: V1_ID not in screen.snapshot.images)
        version = engine.api.version()["Version"]
        assert text.count(f"Engine {version}") == 1 and log_text(screen).count("Engine ") == 1
    assert V1_ID not in state(engine.api)


async def test_tab_order_never_reaches_force(engine):
    seed(engine.api, engine.url, STANDARD)
    app = make_app(engine.url)
    async with app.run_test(size=(150, 45)) as pilot:
        await loaded(pilot)
        await find(pilot, "myapp:1.5.0")
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        confirm = app.screen
        seen = [focused_id(app)]
        for key in ["tab"] * 6 + ["shift+tab"] * 12:
            await pilot.press(key)
            seen.append(focused_id(app))
        assert "confirm-force" not in seen and not confirm.force
        assert {"confirm-local", "confirm-cancel"} <= set(seen)  # Delete is disabled until l
        await pilot.press("f")  # only its key turns force on
        await pilot.pause()
        assert confirm.force
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
    assert V1_ID in state(engine.api)


async def test_prune_dialog_with_keys_alone(engine):
    until = seed_for_until(engine.api, engine.url)
    app = make_app(engine.url)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await loaded(pilot)
        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, PruneDialog))
        dialog = app.screen
        assert focused_id(app) == "prune-mode"
        await pilot.press("a")
        assert dialog.query_one("#prune-all", RadioButton).value
        await pilot.press("u", *until)
        await pilot.pause()
        assert dialog.query_one("#prune-until", Input).value == until
        await pilot.press("escape")  # leaves the field, keeps the dialog and the value
        await pilot.pause()
        assert app.screen is dialog and focused_id(app) == "prune-mode"
        assert dialog.request is not None and dialog.request.filters.until is not None
        await pilot.press("d", "a")  # d and a switch the mode when no field is being edited
        assert dialog.query_one("#prune-all", RadioButton).value
        bar = str(dialog.query_one("#prune-bar").content)
        assert "Images on disk" in bar and "frees" in bar
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        confirm = app.screen
        planned = set(confirm.plan.delete)
        assert planned == {V1_ID, DANGLING_ID}  # older than `until`, not used by containers
        assert focused_id(app) == "confirm-local"
        await pilot.press("l", "y")
        await wait_for(pilot, lambda: "Total reclaimed space" in log_text(screen))
    assert set(state(engine.api)) == {eid(s) for s in STANDARD} - planned


async def test_policy_picker_by_number_and_keys_shown(engine, tmp_path):
    from tui.app.screens.policy import PolicyPicker
    from tui.config import load_config

    seed(engine.api, engine.url, STANDARD)
    path = tmp_path / "c.toml"
    path.write_text('[policies.dangling]\ndangling_only = true\n[policies.old]\nolder_than = "15d"\n')
    app = SweepApp(EngineSource(Engine(engine.url)), load_config(path))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await loaded(pilot)
        await pilot.press("P")
        await wait_for(pilot, lambda: isinstance(app.screen, PolicyPicker))
        assert focused_id(app) == "policy-list"
        assert "1-2 pick" in str(app.screen.query_one("#policy-keys", KeyLine).content)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
        assert not screen.marked
        await pilot.press("P")
        await wait_for(pilot, lambda: isinstance(app.screen, PolicyPicker))
        await pilot.press("1")  # "dangling" sorts first
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen) and screen.marked)
        assert screen.marked == {DANGLING_ID}


async def test_filter_bar_escape_keeps_filter(engine):
    seed(engine.api, engine.url, STANDARD)
    app = make_app(engine.url)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await loaded(pilot)
        await pilot.press("slash", *"db:16")
        await pilot.pause()
        assert screen.query_one("#filter", Input).has_focus
        await pilot.press("escape")
        await pilot.pause()
        assert not screen.query_one("#filter", Input).display and screen.table.has_focus
        assert [i.id for i in screen.table.shown] == [DB_ID]
        assert "filter: db:16" in str(screen.query_one("#status").content)


async def test_click_on_mark_column_marks_and_space_chart_filters(engine):
    seed(engine.api, engine.url, STANDARD)
    app = make_app(engine.url)
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await loaded(pilot)
        second = screen.table.shown[1].id
        await pilot.click("#images", offset=(1, 2))  # mark column, second row (row 0 is the header)
        await pilot.pause()
        assert screen.marked == {second}
        await pilot.click("#images", offset=(1, 2))
        await pilot.pause()
        assert not screen.marked
        await pilot.click("#images", offset=(30, 2))  # elsewhere on the row: moves the cursor only
        await pilot.pause()
        assert not screen.marked and screen.table.current_image_id == second
        await pilot.press("g")
        await pilot.pause()
        chart = screen.query_one("#space")
        await wait_for(pilot, lambda: chart.option_count > 0 and chart.has_focus)
        first = chart.get_option_at_index(0).id
        await pilot.press("enter")
        await pilot.pause()
        assert screen.repository == first and screen.table.shown
        assert all(
            first in " ".join(i.tags) or (first == "<none>" and not i.tags) for i in screen.table.shown
        )
        assert f"repository: {first}" in str(screen.query_one("#status").content)
        await pilot.press("escape")
        await pilot.pause()
        assert screen.repository is None and len(screen.table.shown) == len(STANDARD)
