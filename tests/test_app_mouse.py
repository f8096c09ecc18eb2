"""The mouse on a real engine: the wheel scrolls every pane (table, layer tree, log, details, the
space and age charts); a click on a row's mark column marks it (also in
``test_app_keys.test_click_on_mark_column_marks_and_space_chart_filters``)."""

from __future__ import annotations

from textual.events import MouseScrollDown, MouseScrollUp
from textual.widget import Widget

from tests.enginecase import STANDARD, data_layer, seed, spec
from tests.pilot import loaded, make_app, wait_for

# enough repositories, layers and ages that every pane overflows at 80×24
MANY = (
    *STANDARD,
    *(
        spec((f"svc{n:02d}:1.{n}",), tuple(data_layer(f"svc{n}-{k}", 1_000 + n * 10 + k) for k in range(4)),
             age_days=n * 3 + 0.5)
        for n in range(18)
    ),
)  # fmt: skip


async def _wheel(pilot, widget: Widget, down: bool) -> None:
    event = MouseScrollDown if down else MouseScrollUp
    width, height = widget.content_region.size
    offset = (max(1, width // 2), max(1, height // 2))
    under, _ = pilot.app.get_widget_at(
        widget.content_region.x + offset[0], widget.content_region.y + offset[1]
    )
    assert under is widget or widget in under.ancestors, f"the mouse is over {under}, not {widget}"
    await pilot._post_mouse_events([event], widget, offset=offset)
    await pilot.pause()


async def _scrolls(pilot, widget: Widget, name: str) -> None:
    """Two turns of the wheel down move the pane, two up move it back."""
    await wait_for(pilot, lambda: widget.max_scroll_y > 0)
    assert widget.scroll_y == 0, name
    for _ in range(2):
        await _wheel(pilot, widget, down=True)
    await wait_for(pilot, lambda: widget.scroll_y > 0)
    down = widget.scroll_y
    for _ in range(2):
        await _wheel(pilot, widget, down=False)
    await wait_for(pilot, lambda: widget.scroll_y < down)


async def test_mouse_wheel_scrolls_every_pane(engine):
    seed(engine.api, engine.url, MANY)
    app = make_app(engine.url)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await loaded(pilot)
        bottom = screen.query_one("#bottom").region
        assert bottom.bottom <= app.size.height - 1, "the bottom panes end above the footer"
        await _scrolls(pilot, screen.table, "table")
        for n in range(40):
            screen.log_line("info", f"line {n}")
        log = screen.query_one("#log")
        await pilot.pause()
        log.scroll_home(animate=False)
        await pilot.pause()
        await _scrolls(pilot, log, "log")
        details = screen.query_one("#details").parent
        assert details is not None
        if not details.region.area:  # wide: the details have their own pane beside the tabs
            details = screen.query_one("#details-wide")
        await _scrolls(pilot, details, "details")
        await pilot.press("t")
        await pilot.pause()
        tree = screen.query_one("#layers")
        tree.root.expand_all()
        await pilot.pause()
        await _scrolls(pilot, tree, "layer tree")
        await pilot.press("g")
        await pilot.pause()
        await _scrolls(pilot, screen.query_one("#space"), "space chart")
        await pilot.press("o")
        await pilot.pause()
        await _scrolls(pilot, screen.query_one("#age").parent, "age chart")
