"""The image table: one row per image, all its tags in one cell, markers and sizes.

A one-character-per-flag column (``L`` local-only, ``D`` dangling, ``I`` intermediate, ``P``
protected) sits next to the mark, so flags stay visible in narrow terminals, where the long FLAGS
and SHARED columns are dropped. A click on the mark column marks the row.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from operator import itemgetter

import humanize
from rich.cells import cell_len
from rich.console import JustifyMethod
from rich.text import Text
from textual import events
from textual._two_way_dict import TwoWayDict
from textual.message import Message
from textual.widgets import DataTable
from textual.widgets.data_table import CellKey, Row, RowKey

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
        # what a row shows -> its cells and their widths
        self._cells_made: dict[tuple[object, ...], tuple[list[Text], list[int]]] = {}
        self._texts: dict[tuple[str, str, JustifyMethod | None], tuple[Text, int]] = {}  # see _shared
        # (image id, tags, intermediate) -> its name and id cells: those shown, those made now
        self._names: dict[tuple[object, ...], tuple[tuple[Text, int], tuple[Text, int]]] = {}
        self._names_made: dict[tuple[object, ...], tuple[tuple[Text, int], tuple[Text, int]]] = {}
        self._flag_cells: dict[tuple[str, ...], tuple[tuple[Text, int], tuple[Text, int]]] = {}
        self._was_redrawn = False  # the last in-place update is one that drew the table again before

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
        widths: dict[str, tuple[int, ...]] = {}
        made: dict[tuple[object, ...], tuple[list[Text], list[int]]] = {}
        pick = itemgetter(*picks) if len(picks) > 1 else lambda cells: tuple(cells[i] for i in picks)
        for image in self.shown:
            cells, cell_widths = self._cells(snapshot, image, image.id in marked, made)
            rows[image.id] = pick(cells)
            widths[image.id] = pick(cell_widths)
        self._cells_made = made  # only what is shown now: it never grows past one table
        self._names, self._names_made = self._names_made, {}
        same_rows = self._same_rows(rows)  # what the user sees stays where it was
        scroll_y = self.scroll_y
        in_place = same_rows and self._bulk_ready()
        if in_place:
            self._update_rows(rows, widths)
        else:
            self._fill(rows, widths)
        self._rows_drawn = rows
        found = False
        if current is not None:
            for index, image in enumerate(self.shown):
                if image.id == current:
                    found = True
                    if index != self.cursor_row:  # moving it scrolls it into view: only if it moved
                        self.move_cursor(row=index, scroll=not same_rows)
                    break
        if in_place and not found and self.shown and self._was_redrawn:
            # as when such a change drew the table again: the cursor's image is gone, the cursor
            # goes to the first row (and the scroll stays)
            self.move_cursor(row=0, scroll=False)
        if same_rows and not in_place and scroll_y:
            # drawn again: keep the scroll (the new rows' height is known after the next refresh)
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

    def _bulk_ready(self) -> bool:
        """Whether this DataTable keeps its rows where :meth:`_fill` and :meth:`_update_rows` put
        them (Textual's private row store; any other version draws through the public API)."""
        return (
            isinstance(getattr(self, "_row_locations", None), TwoWayDict)
            and isinstance(getattr(self, "_data", None), dict)
            and isinstance(getattr(self, "_new_rows", None), set)
            and isinstance(getattr(self, "_updated_cells", None), set)
            and isinstance(getattr(self, "_update_count", None), int)
        )

    def _fill(self, rows: dict[str, tuple[Text, ...]], widths: dict[str, tuple[int, ...]]) -> None:
        """``clear()`` then ``add_row`` for each row, in one pass: ``add_row`` costs 0.2-0.5 ms a
        row (a cursor validation, an idle check, ...), 2 s for 5,000 images on a loaded machine.
        What it leaves is what the ``add_row`` calls leave (rows, keys, the cursor on row 0 and its
        highlight event, the new rows measured at the next idle)."""
        self.clear()
        self._widths = {}
        if not self._bulk_ready():
            for image_id, row in rows.items():
                self._widths[image_id] = widths[image_id]
                self.add_row(*row, key=image_id)
            return
        column_keys = [column.key for column in self.ordered_columns]
        locations: dict[RowKey, int] = {}
        data, table_rows = self._data, self.rows
        for index, (image_id, row) in enumerate(rows.items()):
            key = RowKey(image_id)
            locations[key] = index
            data[key] = dict(zip(column_keys, row, strict=True))
            table_rows[key] = Row(key, 1)
        self._row_locations = TwoWayDict(locations)
        self._new_rows.update(locations)
        self._widths.update(widths)
        self._require_update_dimensions = True
        self.cursor_coordinate = self.cursor_coordinate
        if rows and self.columns and self.show_cursor and self.cursor_type != "none":
            self._highlight_cursor()  # as add_row does for the first row
        self._update_count += 1
        self.check_idle()

    def _update_rows(self, rows: dict[str, tuple[Text, ...]], widths: dict[str, tuple[int, ...]]) -> None:
        """The new rows are the rows on screen in the same order, minus some (a new load stage, a
        finished removal, a narrower filter): remove the others and put the new cells of the rows
        that changed in place, in one pass. What ``remove_row`` and a redraw leave: the rows, the
        cursor on its row index (clamped), the scroll, the columns as wide as their widest cell
        since the last clear (a column never narrows without a clear, as when drawn again).

        ``remove_row`` re-indexes every row (removing hundreds costs seconds) and ``update_cell``
        measures its whole column again for each cell that got narrower (a layer stage of 300
        images froze the app for 7 s), so neither is used."""
        drawn = self._rows_drawn
        keys = {key.value: key for key in self.rows}
        column_keys = [column.key for column in self.ordered_columns]
        removed = [image_id for image_id in drawn if image_id not in rows]
        for image_id in removed:
            key = keys[image_id]
            if self._updated_cells:
                for column_key in column_keys:
                    self._updated_cells.discard(CellKey(key, column_key))
            del self.rows[key]
            del self._data[key]
            self._widths.pop(image_id, None)
        if removed:
            self._row_locations = TwoWayDict({keys[image_id]: index for index, image_id in enumerate(rows)})
        changed = False
        looks_changed = 0  # cells that look different, counted up to one more than the columns
        for image_id, row in rows.items():
            old = drawn[image_id]
            if any(a is not b for a, b in zip(old, row, strict=True)):
                if looks_changed <= len(column_keys):
                    looks_changed += sum(
                        1 for a, b in zip(old, row, strict=True) if a is not b and _look(a) != _look(b)
                    )
                key = keys[image_id]
                self._data[key] = dict(zip(column_keys, row, strict=True))
                self._widths[image_id] = widths[image_id]
                self._new_rows.add(key)  # widens its columns at the next idle
                changed = True
        # the table was drawn again for this before (one cell per row removed or changed was too
        # slow): it then put the cursor on the first row when its image was gone, as this does
        self._was_redrawn = len(removed) > _MAX_ROWS_REMOVED_IN_PLACE or looks_changed > len(column_keys)
        if not removed and not changed:
            return
        self._require_update_dimensions = True
        self.check_idle()
        self.cursor_coordinate = self.cursor_coordinate
        self.hover_coordinate = self.hover_coordinate
        self._update_count += 1
        self.refresh(layout=True)

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
        made: dict[tuple[object, ...], tuple[list[Text], list[int]]] | None = None,
    ) -> tuple[list[Text], list[int]]:
        """The row's cells in :data:`COLUMNS` order, and their widths. ``made`` collects them by
        what they show, so a row that looks as it did in the last :meth:`show` reuses its cells
        (making the Text objects is most of the cost of a redraw)."""
        users = snapshot.containers_of(image.id)
        flags = image_flags(snapshot, image, self.protection)
        self.flags_shown.update(flags)
        intermediate = not image.tags and snapshot.is_intermediate(image.id)
        age = age_text(self.now() - image.created) if image.created > 0 else "N/A"
        shared = snapshot.shared_size(image.id)  # what unique_size asks it too: asked once
        unique = -1 if shared < 0 else image.size - shared
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
            texts, widths = cells
            self._names_made[image.id, image.tags, intermediate] = (
                (texts[2], widths[2]),
                (texts[3], widths[3]),
            )
        return cells

    def _shared(self, plain: str, style: str = "", justify: JustifyMethod | None = None) -> tuple[Text, int]:
        """One Text (and its width) for every cell that shows ``plain`` so: most cells of a
        column repeat a few values (ages, sizes, "-", flags), and making a Text is most of the
        cost of a row. Cells are never changed once made (a new mark is a new Text)."""
        key = (plain, style, justify)
        cell = self._texts.get(key)
        if cell is None:
            if len(self._texts) >= _MAX_SHARED_TEXTS:
                self._texts.clear()
            text = Text(plain, style=style, justify=justify)
            cell = self._texts[key] = (text, _width(text))
        return cell

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
    ) -> tuple[list[Text], list[int]]:
        # an image's name and id cells stay while its other cells change (a load stage's sizes)
        names_key = (image.id, image.tags, intermediate)
        names = self._names.get(names_key)
        if names is None:
            if image.tags:
                name = Text(image.tags[0])
                for tag in image.tags[1:]:  # every tag, the first one plain
                    name.append(", ", style="dim")
                    name.append(tag, style="dim")
                named = (name, _width(name))
            elif intermediate:
                named = self._shared("<none>:<none>", "dim")
            else:
                named = self._shared("<none>:<none>", "bold yellow")
            short_id = Text(image.short_id)
            names = (named, (short_id, _width(short_id)))
        used_style = "dim" if not users else "bold red" if any(c.running for c in users) else "yellow"
        flag_key = tuple(flags)
        flagged = self._flag_cells.get(flag_key)
        if flagged is None:
            flag_text = Text()
            marker = Text()
            for i, flag in enumerate(flags):
                if i:
                    flag_text.append(" ")
                flag_text.append(flag, style=FLAG_STYLES.get(flag, ""))
                marker.append(FLAG_LETTERS.get(flag, "?"), style=FLAG_STYLES.get(flag, ""))
            flagged = self._flag_cells[flag_key] = ((marker, _width(marker)), (flag_text, _width(flag_text)))
        row = [
            self._shared("✔" if marked else " ", "bold green"),
            flagged[0],
            *names,
            self._shared(age),
            self._shared(human_size(image.size), justify="right"),
            self._shared(human_size(unique) if unique >= 0 else "…", justify="right"),
            self._shared(human_size(shared) if shared >= 0 else "…", justify="right"),
            self._shared(usage_text(users), used_style),
            flagged[1],
        ]
        return [cell for cell, _ in row], [width for _, width in row]


_MAX_ROWS_REMOVED_IN_PLACE = 20
_AGES: dict[tuple[str, int], str] = {}


def age_text(seconds: float) -> str:
    """``humanize.naturaltime(seconds)``, remembered by what decides it: for a number it reads
    only the whole seconds, ``abs(round(seconds))``, and from one day on only the whole days (its
    ``naturaldelta`` looks at ``timedelta.days`` then, at ``.seconds`` below). A table of
    thousands of rows asked it once a row (a quarter of the first fill's time)."""
    whole = abs(round(seconds))
    key = ("d", whole // 86400) if whole >= 86400 else ("s", whole)
    text = _AGES.get(key)
    if text is None:
        if len(_AGES) >= 10_000:
            _AGES.clear()
        text = _AGES[key] = humanize.naturaltime(seconds)
    return text


_MAX_SHARED_TEXTS = 50_000


def _width(cell: Text) -> int:
    """What Rich measures for a one-line Text (its widest line), as DataTable asks it."""
    plain = cell.plain
    if "\n" in plain or "\r" in plain or "\t" in plain:
        return max((cell_len(line) for line in plain.splitlines()), default=0)
    return cell_len(plain)


def _look(cell: Text) -> tuple[object, ...]:
    """What decides how a cell looks (``Text.__eq__`` ignores the base style and justify)."""
    return (cell.plain, str(cell.style), tuple(cell.spans), cell.justify)
