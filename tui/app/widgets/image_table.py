"""The image table: one row per image, all its tags in one cell, markers and sizes.

A one-character-per-flag column (``L`` local-only, ``D`` dangling, ``I`` intermediate, ``P``
protected) sits next to the mark, so flags stay visible in narrow terminals, where the long FLAGS
and SHARED columns are dropped. A click on the mark column marks the row.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import humanize
from rich.cells import cell_len
from rich.text import Text
from textual import events
from textual.message import Message
from textual.widgets import DataTable
from textual.widgets.data_table import RowKey

from tui.core.charts import repository as repository_of
from tui.core.model import Container, Image, Snapshot
from tui.core.protect import Protection
from tui.core.usage import human_size
from tui.core.views import TABLE_COLUMNS, image_flags, select_images, usage_text

COLUMNS = (
    ("", "mark"),
    ("F", "marker"),
    ("REPOSITORY:TAG", "name"),
    ("IMAGE ID", "id"),
    ("CREATED", "created"),
    ("SIZE", "size"),
    ("UNIQUE", "unique"),
    ("SHARED", "shared"),
    ("USED BY", "containers"),
    ("FLAGS", "flags"),
)


DEFAULT_COLUMNS = TABLE_COLUMNS
FLAG_STYLES = {"dangling": "yellow", "intermediate": "dim", "local-only": "magenta", "protected": "bold cyan"}
FLAG_LETTERS = {"local-only": "L", "dangling": "D", "intermediate": "I", "protected": "P"}
NARROW_DROPS = ("flags", "shared")


class ImageTable(DataTable[Text]):
    """Images of the current snapshot. Row keys are image ids; marking is by image."""

    @dataclass
    class MarkClicked(Message):
        """The mark cell of a row was clicked."""

        image_id: str

    def __init__(
        self,
        *,
        now: Callable[[], float] = time.time,
        id: str | None = None,
        columns: tuple[str, ...] = DEFAULT_COLUMNS,
        protection: Protection | None = None,
    ) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.now = now
        self.configured = ("mark", "marker", *(c for c in columns if c != "marker"))
        self.columns_shown = self.configured
        self.shown: list[Image] = []
        self.protection = protection
        self.flags_shown: set[str] = set()
        self._rows_drawn: dict[str, tuple[Text, ...]] = {}  # image id -> its cells on screen
        self._widths: dict[str, tuple[int, ...]] = {}  # image id -> its cells' widths, as added
        self._cells_made: dict[tuple[object, ...], list[Text]] = {}  # what a row shows -> its cells

    def on_mount(self) -> None:
        self._add_columns()

    def _add_columns(self) -> None:
        labels = {key: label for label, key in COLUMNS}
        for key in self.columns_shown:
            self.add_column(labels[key], key=key)

    def set_narrow(self, narrow: bool) -> None:
        """Drop FLAGS and SHARED in narrow terminals (the marker column keeps the flags)."""
        columns = tuple(c for c in self.configured if not (narrow and c in NARROW_DROPS))
        if columns != self.columns_shown:
            self.columns_shown = columns
            self.clear(columns=True)
            self._rows_drawn = {}
            self._widths = {}
            self._add_columns()

    def flag_legend(self) -> str:
        """``F: L local-only, D dangling`` for the flags the table shows now."""
        shown = [f"{FLAG_LETTERS[f]} {f}" for f in FLAG_LETTERS if f in self.flags_shown]
        return ("F: " + ", ".join(shown)) if shown else ""

    def on_click(self, event: events.Click) -> None:
        meta = event.style.meta
        row, column = meta.get("row"), meta.get("column")
        if column == 0 and isinstance(row, int) and 0 <= row < len(self.shown):
            self.post_message(self.MarkClicked(self.shown[row].id))

    def show(
        self,
        snapshot: Snapshot,
        marked: set[str],
        *,
        filter_text: str,
        dangling_only: bool,
        show_all: bool,
        sort_key: str,
        reverse: bool,
        repository: str | None = None,
    ) -> None:
        """Rebuild the rows, keeping the cursor on the same image when it is still shown;
        ``repository`` keeps only the images the space chart counts under it."""
        current = self.current_image_id
        self.shown = select_images(
            snapshot,
            filter_text=filter_text,
            dangling_only=dangling_only,
            show_all=show_all,
            sort_key=sort_key,
            reverse=reverse,
        )
        if repository is not None:
            self.shown = [i for i in self.shown if repository_of(i) == repository]
        self.flags_shown = set()
        at = {key: index for index, (_, key) in enumerate(COLUMNS)}
        picks = [at[k] for k in self.columns_shown]
        rows: dict[str, tuple[Text, ...]] = {}
        made: dict[tuple[object, ...], list[Text]] = {}
        for image in self.shown:
            cells = self._cells(snapshot, image, image.id in marked, made)
            rows[image.id] = tuple(cells[i] for i in picks)
        self._cells_made = made  # only what is shown now: it never grows past one table
        updated = self._update_rows(rows)
        same_rows = updated or self._same_rows(rows)  # what the user sees stays where it was
        scroll_y = self.scroll_y
        if not updated:
            self.clear()
            self._widths = {}
            for image_id, row in rows.items():
                self._widths[image_id] = tuple(_width(cell) for cell in row)
                self.add_row(*row, key=image_id)
        self._rows_drawn = rows
        if current is not None:
            for index, image in enumerate(self.shown):
                if image.id == current:
                    if index != self.cursor_row:  # moving it scrolls it into view: only if it moved
                        self.move_cursor(row=index, scroll=not same_rows)
                    break
        if same_rows and not updated and scroll_y:
            # drawn again only because that is cheaper: keep the scroll (the new rows' height
            # is known after the next refresh)
            self.call_after_refresh(self.scroll_to, y=scroll_y, animate=False)

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        """DataTable measures every cell of the rows added since the last idle through Rich (a
        console options copy and a Measurement each: 0.7 s for 1,000 rows of 10 columns, on the
        UI thread, after every redraw of the table). A row :meth:`show` added has one-line Text
        cells whose width, what that measure gives, was taken as it was made: those rows only
        widen their columns here; any other row is measured the usual way."""
        columns = self.ordered_columns
        other: list[RowKey] = []
        for row_key in new_rows:
            widths = self._widths.get(row_key.value) if row_key.value is not None else None
            if widths is None or len(widths) != len(columns) or row_key not in self.rows:
                other.append(row_key)
                continue
            for column, width in zip(columns, widths, strict=True):
                if width > column.content_width:
                    column.content_width = width
        super()._update_dimensions(other)

    def _same_rows(self, rows: dict[str, tuple[Text, ...]]) -> bool:
        """True when ``rows`` are the rows on screen in the same order, minus some."""
        drawn = self._rows_drawn
        if not drawn or len(self.rows) != len(drawn) or not rows.keys() <= drawn.keys():
            return False
        return [i for i in drawn if i in rows] == list(rows)

    def _update_rows(self, rows: dict[str, tuple[Text, ...]]) -> bool:
        """Change only what differs from the rows on screen, when the new rows are the old ones in
        the same order minus some (a new load stage, a finished removal, a narrower filter) and
        that costs less than drawing them again. Returns False when the table must be rebuilt."""
        drawn = self._rows_drawn
        if not self._same_rows(rows):
            return False
        if len(drawn) - len(rows) > _MAX_ROWS_REMOVED_IN_PLACE:
            # DataTable.remove_row re-indexes every row and moves the cursor (a highlight event
            # each): removing hundreds one by one costs more than drawing the table again
            return False
        # DataTable measures every cell of a column again for each cell of it that got narrower:
        # N changed cells cost N x rows measurements (a layer stage of 300 images froze the app
        # for 7 s), drawing the table again costs rows x columns. So past one change per column
        # the table is drawn again (and the rest is not compared: a cell reused from the last
        # redraw is the same object).
        changes: list[tuple[str, str, Text]] = []
        for image_id, row in rows.items():
            for column, old, new in zip(self.columns_shown, drawn[image_id], row, strict=True):
                if old is not new and _look(old) != _look(new):
                    changes.append((image_id, column, new))
                    if len(changes) > len(self.columns_shown):
                        return False
        for image_id in drawn:
            if image_id not in rows:
                self.remove_row(image_id)
        for image_id, column, new in changes:
            self.update_cell(image_id, column, new, update_width=True)
        return True

    @property
    def current_image_id(self) -> str | None:
        if not self.shown or self.cursor_row < 0 or self.cursor_row >= len(self.shown):
            return None
        return self.shown[self.cursor_row].id

    def set_mark(self, image_id: str, marked: bool) -> None:
        cell = Text("✔" if marked else " ", style="bold green")
        self.update_cell(image_id, "mark", cell)
        row = self._rows_drawn.get(image_id)
        if row is not None and "mark" in self.columns_shown:
            at = self.columns_shown.index("mark")
            self._rows_drawn[image_id] = (*row[:at], cell, *row[at + 1 :])

    def _cells(
        self,
        snapshot: Snapshot,
        image: Image,
        marked: bool,
        made: dict[tuple[object, ...], list[Text]] | None = None,
    ) -> list[Text]:
        """The row's cells in :data:`COLUMNS` order. ``made`` collects them by what they show, so
        a row that looks as it did in the last :meth:`show` reuses its cells (making the Text
        objects is most of the cost of a redraw)."""
        users = snapshot.containers_of(image.id)
        flags = image_flags(snapshot, image, self.protection)
        self.flags_shown.update(flags)
        intermediate = not image.tags and snapshot.is_intermediate(image.id)
        age = humanize.naturaltime(self.now() - image.created) if image.created > 0 else "N/A"
        unique, shared = snapshot.unique_size(image.id), snapshot.shared_size(image.id)
        key = (
            image.id,
            image.tags,
            intermediate,
            tuple(c.running for c in users),
            tuple(flags),
            age,
            image.size,
            unique,
            shared,
            marked,
        )
        cells = self._cells_made.get(key)
        if cells is None:
            cells = self._make_cells(image, users, flags, intermediate, age, unique, shared, marked)
        if made is not None:
            made[key] = cells
        return cells

    def _make_cells(
        self,
        image: Image,
        users: tuple[Container, ...],
        flags: list[str],
        intermediate: bool,
        age: str,
        unique: int,
        shared: int,
        marked: bool,
    ) -> list[Text]:
        if image.tags:
            name = Text(image.tags[0])
            for tag in image.tags[1:]:  # every tag, the first one plain
                name.append(", ", style="dim")
                name.append(tag, style="dim")
        elif intermediate:
            name = Text("<none>:<none>", style="dim")
        else:
            name = Text("<none>:<none>", style="bold yellow")
        used_style = "dim" if not users else "bold red" if any(c.running for c in users) else "yellow"
        used = Text(usage_text(users), style=used_style)
        flag_text = Text()
        marker = Text()
        for i, flag in enumerate(flags):
            if i:
                flag_text.append(" ")
            flag_text.append(flag, style=FLAG_STYLES.get(flag, ""))
            marker.append(FLAG_LETTERS.get(flag, "?"), style=FLAG_STYLES.get(flag, ""))
        return [
            Text("✔" if marked else " ", style="bold green"),
            marker,
            name,
            Text(image.short_id),
            Text(age),
            Text(human_size(image.size), justify="right"),
            Text(human_size(unique) if unique >= 0 else "…", justify="right"),
            Text(human_size(shared) if shared >= 0 else "…", justify="right"),
            used,
            flag_text,
        ]


_MAX_ROWS_REMOVED_IN_PLACE = 20


def _width(cell: Text) -> int:
    """What Rich measures for a one-line Text (its widest line), as DataTable asks it."""
    plain = cell.plain
    if "\n" in plain or "\r" in plain or "\t" in plain:
        return max((cell_len(line) for line in plain.splitlines()), default=0)
    return cell_len(plain)


def _look(cell: Text) -> tuple[object, ...]:
    """What decides how a cell looks (``Text.__eq__`` ignores the base style and justify)."""
    return (cell.plain, str(cell.style), tuple(cell.spans), cell.justify)
