"""The build cache dialog: ``docker builder prune`` with a live exact preview (records and bytes),
then the same confirm-by-key as images. Keys: ``d`` unused not shared, ``a`` all unused, ``u``
until, ``k`` keep-storage, ``y`` prune, ``n``/``esc`` cancel (``esc`` in a field leaves it)."""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, RadioButton, RadioSet, Static

from tui.app.widgets.charts import FULL, STYLE_FREED, STYLE_KEPT, stacked_bar
from tui.app.widgets.key_line import KeyLine
from tui.core.buildcache import (
    BuildCachePlan,
    BuildCachePrune,
    CacheRecord,
    parse_size,
    plan_build_cache_prune,
)
from tui.core.filters import FilterError, parse_until
from tui.core.usage import human_size


def plan_text(plan: BuildCachePlan, limit: int = 100) -> Text:
    t = Text(plan.prune.describe() + "\n", style="bold")
    t.append("Will free: " if plan.exact else "Will free at most: ", style="bold")
    t.append(human_size(plan.reclaim_bytes), style="bold green")
    t.append(
        f"  ({plan.reclaim_bytes:,} bytes as the engine counts them; {len(plan.delete)} of "
        f"{plan.total_records} record(s))\n"
    )
    if plan.shared_bytes:
        t.append(
            f"{human_size(plan.shared_bytes)} of it are layers images still hold (shared): "
            "they stay on disk while those images exist\n",
            style="magenta",
        )
    if not plan.delete:
        t.append("Nothing to do.\n", style="dim")
    for record in plan.delete[:limit]:
        t.append(f"  {record.short_id}  {record.type:<14} {human_size(record.size):>8}")
        if record.shared:
            t.append("  shared", style="magenta")
        if record.description:
            t.append(f"  {record.description[:60]}", style="dim")
        t.append("\n")
    if len(plan.delete) > limit:
        t.append(f"  … {len(plan.delete) - limit} more\n", style="dim")
    return t


def cache_bar(plan: BuildCachePlan, width: int = 30) -> Text:
    kept = plan.total_bytes - plan.reclaim_bytes
    t = Text("Build cache ", style="bold")
    t.append("▕")
    t.append(
        stacked_bar(
            [(kept, FULL, STYLE_KEPT), (plan.reclaim_bytes, FULL, STYLE_FREED)], plan.total_bytes, width
        )
    )
    t.append(f"▏ {human_size(plan.total_bytes)} → {human_size(kept)}", style="bold")
    return t


class BuildCacheDialog(ModalScreen[BuildCachePrune | None]):
    BINDINGS = [
        Binding("escape,n", "cancel", "Cancel", id="buildcache.cancel", tooltip="Close; prune nothing"),
        Binding("y", "submit", "Prune", id="buildcache.submit", tooltip="Prune exactly these records"),
        Binding(
            "d",
            "mode('bc-unused')",
            "Unused",
            id="buildcache.unused",
            tooltip="Unused records no image shares (docker builder prune)",
        ),
        Binding("a", "mode('bc-all')", "All", id="buildcache.all", tooltip="Every unused record"),
        Binding(
            "u",
            "field('bc-until', 'u')",
            "until",
            id="buildcache.until",
            priority=True,
            tooltip="Only records last used before this",
        ),
        Binding(
            "k",
            "field('bc-keep', 'k')",
            "keep-storage",
            id="buildcache.keep",
            priority=True,
            tooltip="Keep this much cache, least recently used goes first",
        ),
    ]

    def __init__(self, records: list[CacheRecord], *, now: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.records = records
        self.now = now
        self.prune: BuildCachePrune | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="prune-box"):
            yield Label(
                "Prune the build cache: the preview is exactly what the engine deletes", id="prune-title"
            )
            with Horizontal(id="prune-body"):
                with VerticalScroll(id="prune-controls"):
                    with RadioSet(id="bc-mode", compact=True):
                        yield RadioButton(
                            "Unused, not shared with images (d)", value=True, id="bc-unused", compact=True
                        )
                        yield RadioButton("All unused records (a)", id="bc-all", compact=True)
                    yield Label("until (u): last used before 72h, 7d, a date …")
                    yield Input(
                        placeholder="empty = any age", id="bc-until", compact=True, select_on_focus=False
                    )
                    yield Label("keep-storage (k): e.g. 512MB")
                    yield Input(
                        placeholder="empty = keep nothing", id="bc-keep", compact=True, select_on_focus=False
                    )
                    yield Static(id="bc-error")
                with Vertical(id="prune-right"):
                    yield Static(id="bc-bar")
                    with VerticalScroll(id="prune-preview-scroll"):
                        yield Static(id="bc-preview")
            with Horizontal(id="prune-buttons"):
                yield Button("Prune (y)", variant="error", id="bc-ok", compact=True)
                yield Button("Cancel (n/esc)", variant="primary", id="bc-cancel", compact=True)
            yield KeyLine(
                [
                    ("d/a", "unused / all"),
                    ("u k", "until, keep-storage"),
                    ("y", "prune"),
                    ("n/esc", "cancel (esc in a field: leave it)"),
                ],
                id="bc-keys",
            )

    def on_mount(self) -> None:
        self.refresh_preview()
        self.query_one("#bc-mode", RadioSet).focus()

    def build(self) -> tuple[BuildCachePrune | None, str]:
        try:
            until_text = self.query_one("#bc-until", Input).value.strip()
            keep_text = self.query_one("#bc-keep", Input).value.strip()
            return BuildCachePrune(
                all=self.query_one("#bc-all", RadioButton).value,
                until=parse_until(until_text, self.now()) if until_text else None,
                keep_storage=parse_size(keep_text) if keep_text else 0,
            ), ""
        except FilterError as exc:
            return None, str(exc)

    def refresh_preview(self) -> None:
        self.prune, error = self.build()
        self.query_one("#bc-error", Static).update(Text(error, style="bold red"))
        if self.prune is None:
            self.query_one("#bc-preview", Static).update(
                Text("Fix the field to see the preview.", style="dim")
            )
            self.query_one("#bc-ok", Button).disabled = True
            return
        plan = plan_build_cache_prune(self.records, self.prune)
        self.query_one("#bc-bar", Static).update(cache_bar(plan))
        self.query_one("#bc-preview", Static).update(plan_text(plan))
        self.query_one("#bc-ok", Button).disabled = not plan.delete

    def on_input_changed(self) -> None:
        self.refresh_preview()

    def on_radio_set_changed(self) -> None:
        self.refresh_preview()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "bc-ok":
            self.action_submit()
        else:
            self.dismiss(None)

    def on_input_submitted(self) -> None:
        self.action_submit()

    def action_mode(self, button_id: str) -> None:
        button = self.query_one(f"#{button_id}", RadioButton)
        if not button.value:
            button.toggle()
        self.call_after_refresh(self.refresh_preview)

    def action_field(self, input_id: str, key: str = "") -> None:
        if isinstance(self.focused, Input):
            self.focused.insert_text_at_cursor(key)
            return
        self.set_focus(self.query_one(f"#{input_id}", Input))

    def action_submit(self) -> None:
        self.refresh_preview()
        if self.prune is not None and not self.query_one("#bc-ok", Button).disabled:
            self.dismiss(self.prune)

    def action_cancel(self) -> None:
        if isinstance(self.focused, Input):
            self.set_focus(self.query_one("#bc-mode", RadioSet))
            return
        self.dismiss(None)
