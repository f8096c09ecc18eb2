"""The image table when a new load stage changes many cells (no engine: a source that yields a
listed store, then the same store with its layers, when the test says so).

DataTable measures every cell of a column again for each cell of it that gets narrower, so
updating the cells one by one cost changed cells x rows measurements: at 300 images the layer
stage froze the app for ~7 s (profiled on 20.10, bench/tui_bench.py's store). The table then draws
its rows again instead, keeping the cursor on its image and the scroll where the user left it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import replace

from textual.coordinate import Coordinate

from tests.frozen import NOW
from tests.pilot import wait_for
from tests.storegen import digest, make_image, snapshot
from tui.app.main import SweepApp
from tui.app.screens.main import MainScreen
from tui.app.widgets.image_table import ImageTable
from tui.core.model import Snapshot

COUNT = 200


class TwoStages:
    """Yields the store without layers, then (once ``gate`` is set) with them."""

    description = "unix:///two-stages/docker.sock"

    def __init__(self, complete: Snapshot) -> None:
        self.complete = complete
        self.listed = Snapshot([replace(i, layers=None) for i in complete.images.values()], ())
        self.gate = threading.Event()

    def load(
        self, *, progress: Callable[[int, int], None], cancelled: Callable[[], bool]
    ) -> Iterator[Snapshot]:
        yield self.listed
        assert self.gate.wait(60)
        yield self.complete

    def execute(self, *args: object) -> Iterator[object]:
        raise RuntimeError("executes nothing")


def _store() -> Snapshot:
    base = [("base", 5_000_000)]
    return snapshot(
        [
            make_image(
                f"app{n}", [*base, (f"own{n}", 10_000 + n)], tags=[f"app/{n % 9}:{n}"], created=NOW - n * 3600
            )
            for n in range(COUNT)
        ]
    )


async def test_a_layer_stage_redraws_the_table_once_and_keeps_cursor_and_scroll(monkeypatch):
    updates: list[str] = []
    update_cell = ImageTable.update_cell

    def counted(self, row_key, column_key, value, *, update_width=False):  # type: ignore[no-untyped-def]
        updates.append(str(column_key))
        return update_cell(self, row_key, column_key, value, update_width=update_width)

    monkeypatch.setattr(ImageTable, "update_cell", counted)
    source = TwoStages(_store())
    app = SweepApp(source, None, now=lambda: NOW)  # type: ignore[arg-type]
    async with app.run_test(size=(150, 45)) as pilot:
        await wait_for(
            pilot, lambda: isinstance(app.screen, MainScreen) and app.screen.table.row_count == COUNT
        )
        screen = app.screen
        assert isinstance(screen, MainScreen)
        table = screen.table
        table.move_cursor(row=150)
        await pilot.pause()
        chosen = table.current_image_id
        scrolled = table.scroll_y
        assert chosen is not None and scrolled > 0
        before = dict(table._rows_drawn)
        source.gate.set()
        await wait_for(pilot, lambda: screen.snapshot.layers_complete)
        await pilot.pause()
        await pilot.pause()
        changed = sum(
            1
            for key, row in table._rows_drawn.items()
            for old, new in zip(before[key], row, strict=True)
            if old.plain != new.plain
        )
        assert changed > len(table.columns_shown)  # the stage changed many cells (sizes)
        assert len(updates) <= len(table.columns_shown)  # drawn again, not cell by cell
        assert table.row_count == COUNT and table.current_image_id == chosen
        assert table.scroll_y == scrolled
        await pilot.press("q")


# --- updates in place: what a redraw would show ------------------------------------------------


class Reads:
    """Yields the stores of ``reads`` one read after the other (each load takes the next)."""

    description = "unix:///reads/docker.sock"

    def __init__(self, *reads: Snapshot) -> None:
        self.reads = list(reads)

    def load(
        self, *, progress: Callable[[int, int], None], cancelled: Callable[[], bool]
    ) -> Iterator[Snapshot]:
        yield self.reads.pop(0) if len(self.reads) > 1 else self.reads[0]

    def execute(self, *args: object) -> Iterator[object]:
        raise RuntimeError("executes nothing")


def _table_state(table: ImageTable) -> dict[str, object]:
    """What the user sees of the table: rows in order with their cells, cursor, scroll, widths."""
    rows = []
    for index in range(table.row_count):
        key = table.coordinate_to_cell_key(Coordinate(index, 0)).row_key.value
        cells = table.get_row_at(index)
        rows.append((key, [(c.plain, str(c.style), tuple(c.spans), c.justify) for c in cells]))
    return {
        "rows": rows,
        "cursor": table.cursor_row,
        "current": table.current_image_id,
        "scroll": table.scroll_y,
        "widths": [c.content_width for c in table.ordered_columns],
        "virtual": table.virtual_size.height,
        "cursor_visible": table.scroll_y
        <= table.cursor_row
        < table.scroll_y + table.scrollable_content_region.height - table.header_height,
    }


async def _after_change(monkeypatch, redraw: bool, new: Snapshot, cursor_on: int) -> tuple[dict, int]:  # type: ignore[no-untyped-def,type-arg]
    """The table's state after ``new`` replaced the 200-image store, the cursor on the image of
    row ``cursor_on`` and 3 images marked; ``redraw``: drawn again through DataTable's public
    API (as before the in-place update), else as the app does now. Also how many clears."""
    if redraw:
        monkeypatch.setattr(ImageTable, "_bulk_ready", lambda self: False)
    clears: list[int] = []
    clear = ImageTable.clear

    def counted(self, columns=False):  # type: ignore[no-untyped-def]
        clears.append(1)
        return clear(self, columns)

    monkeypatch.setattr(ImageTable, "clear", counted)
    app = SweepApp(Reads(_store(), new), None, now=lambda: NOW)  # type: ignore[arg-type]
    async with app.run_test(size=(150, 45)) as pilot:
        await wait_for(
            pilot, lambda: isinstance(app.screen, MainScreen) and app.screen.table.row_count == COUNT
        )
        screen = app.screen
        assert isinstance(screen, MainScreen)
        table = screen.table
        await pilot.pause()
        table.move_cursor(row=cursor_on)
        await pilot.pause()
        for image in table.shown[cursor_on - 1 : cursor_on + 2]:
            screen.marked.add(image.id)
        screen.refresh_table()
        await pilot.pause()
        clears.clear()
        screen.load()
        await wait_for(pilot, lambda: screen.snapshot is new)
        for _ in range(3):
            await pilot.pause()
        state = _table_state(table)
        state["marks"] = sorted(screen.marked)
        await pilot.press("q")
    monkeypatch.undo()
    return state, len(clears)


def _without(store: Snapshot, every: int, *, layers: bool = True) -> Snapshot:
    kept = [i for n, i in enumerate(store.images.values()) if n % every]
    return Snapshot([i if layers else replace(i, layers=None) for i in kept], ())


async def test_removed_rows_update_in_place_as_a_redraw_shows_them(monkeypatch):
    store = _store()
    # sorted by size, row r shows app{199 - r}: rows 149, 150, 151 are app50, app49, app48
    for new, removed, cursor_rows in (
        (_without(store, 3), 67, (150, 151)),  # app48 removed; the unique sizes change too
        (_without(store, 3, layers=False), 67, (151,)),  # and every size cell (a listed stage)
        (_without(store, 50), 4, (149, 150)),  # app50 removed
    ):
        assert len(store.images) - len(new.images) == removed
        for cursor_on in cursor_rows:
            in_place, clears = await _after_change(monkeypatch, False, new, cursor_on)
            redrawn, _ = await _after_change(monkeypatch, True, new, cursor_on)
            assert clears == 0  # updated in place
            assert len(in_place["rows"]) == len(new.images)  # type: ignore[arg-type]
            gone = digest(f"image:app{199 - cursor_on}") not in new.images
            if removed <= 20 and gone:
                # as when DataTable.remove_row took out a few rows: the cursor keeps its row index
                assert in_place["rows"] == redrawn["rows"] and in_place["marks"] == redrawn["marks"]
                assert in_place["cursor"] == cursor_on and redrawn["cursor"] == 0
            elif not redrawn["cursor_visible"]:
                # drawn again, the scroll came back after the cursor moved to its image's new row:
                # rows above it removed, the cursor was out of view; in place it is scrolled to
                assert in_place["cursor_visible"] and in_place["scroll"] != redrawn["scroll"]
                assert {**in_place, "scroll": 0, "cursor_visible": 0} == {
                    **redrawn,
                    "scroll": 0,
                    "cursor_visible": 0,
                }
            else:
                assert in_place == redrawn


def test_age_text_reads_as_humanizes_naturaltime_for_every_kind_of_age():
    """The table's remembered ages read as ``humanize.naturaltime`` would have (whole seconds
    under a day, whole days from one day on; the boundaries and a clock a little behind too)."""
    import random

    import humanize

    from tui.app.widgets.image_table import age_text

    rnd = random.Random(7)
    ages = [0.0, 0.4, 0.5, 1.5, 44.5, 59.5, 60, 89.5, 90.5, 3599.5, 3600, 5399.5, 86399.5, 86400]
    ages += [86400 * 30.5 * 11.5, 86400 * 365 - 0.5, 86400 * 365, 86400 * 800, -0.6, -90.5]
    ages += [rnd.uniform(0, 86400 * 3) for _ in range(3000)]
    ages += [rnd.uniform(0, 86400 * 900) for _ in range(3000)]
    for age in ages + ages[::-1]:  # asked twice: the second answer comes from what was remembered
        assert age_text(age) == humanize.naturaltime(age), age
