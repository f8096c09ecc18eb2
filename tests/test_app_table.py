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

from tests.frozen import NOW
from tests.pilot import wait_for
from tests.storegen import make_image, snapshot
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
