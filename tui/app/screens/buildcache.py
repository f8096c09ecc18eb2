"""The build cache screens, the same flow as an image prune: the dialog (``docker builder prune``
with a live exact preview of records and bytes; keys ``d`` unused not shared, ``a`` all unused,
``u`` until, ``k`` keep-storage, ``y`` continue, ``n``/``esc`` cancel, ``esc`` in a field leaves
it), then the confirm screen (the plan once more; ``y`` prune, ``n``/``esc`` cancel). The flow
(:mod:`tui.app.screens.buildcache_flow`) re-reads the cache before pruning and refuses if it
changed since the preview."""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, RadioButton, RadioSet, Static

from tui.app.screens.filter_dialog import FilterDialog, text_field
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


class BuildCacheDialog(FilterDialog[BuildCachePlan | None]):
    """Builds a build cache prune; dismisses with the plan previewed (or ``None``)."""

    PREFIX, MODE_SET = "bc", "bc-mode"
    TITLE = "Prune the build cache: the preview is exactly what the engine deletes"
    KEYS = [
        ("d/a", "unused / all"),
        ("u k", "until, keep-storage"),
        ("y", "continue"),
        ("n/esc", "cancel (esc in a field: leave it)"),
    ]
    BINDINGS = [
        Binding("escape,n", "cancel", "Cancel", id="buildcache.cancel", tooltip="Close; prune nothing"),
        Binding(
            "y",
            "submit",
            "Continue",
            id="buildcache.submit",
            tooltip="Go to the confirm screen with this plan",
        ),
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
        self.plan: BuildCachePlan | None = None

    def compose_controls(self) -> ComposeResult:
        with RadioSet(id="bc-mode", compact=True):
            yield RadioButton("Unused, not shared with images (d)", value=True, id="bc-unused", compact=True)
            yield RadioButton("All unused records (a)", id="bc-all", compact=True)
        yield Label("until (u): last used before 72h, 7d, a date …")
        yield text_field("empty = any age", "bc-until")
        yield Label("keep-storage (k): e.g. 512MB")
        yield text_field("empty = keep nothing", "bc-keep")
        yield Static(id="bc-error")

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
        prune, error = self.build()
        self.query_one("#bc-error", Static).update(Text(error, style="bold red"))
        if prune is None:
            self.plan = None
            self.query_one("#bc-preview", Static).update(
                Text("Fix the field to see the preview.", style="dim")
            )
            self.query_one("#bc-ok", Button).disabled = True
            return
        self.plan = plan_build_cache_prune(self.records, prune)
        self.query_one("#bc-bar", Static).update(cache_bar(self.plan))
        self.query_one("#bc-preview", Static).update(plan_text(self.plan))
        self.query_one("#bc-ok", Button).disabled = not self.plan.delete

    def on_radio_set_changed(self) -> None:
        self.refresh_preview()

    def action_submit(self) -> None:
        self.refresh_preview()
        if self.plan is not None and not self.query_one("#bc-ok", Button).disabled:
            self.dismiss(self.plan)


class BuildCacheConfirm(ModalScreen[BuildCachePlan | None]):
    """The plan once more, then ``y`` prunes it (after a re-check) and ``n``/``esc`` cancels."""

    BINDINGS = [
        Binding(
            "escape,n", "cancel", "Cancel", id="buildcache_confirm.cancel", tooltip="Close; prune nothing"
        ),
        Binding(
            "y",
            "confirm",
            "Prune",
            id="buildcache_confirm.ok",
            tooltip="Prune exactly these records (refused if the cache changed since the preview)",
        ),
    ]

    def __init__(self, plan: BuildCachePlan) -> None:
        super().__init__()
        self.plan = plan

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box"):
            yield Label("Confirm: exactly these build cache records will be deleted", id="confirm-title")
            yield Static(cache_bar(self.plan), id="confirm-bar")
            with VerticalScroll(id="confirm-scroll"):
                yield Static(plan_text(self.plan), id="confirm-plan")
            with Horizontal(id="confirm-buttons"):
                yield Button("Prune (y)", variant="error", id="bcc-ok", compact=True)
                yield Button("Cancel (n/esc)", variant="primary", id="bcc-cancel", compact=True)
            yield KeyLine([("y", "prune"), ("n/esc", "cancel"), ("tab", "next control")], id="bcc-keys")

    def on_mount(self) -> None:
        self.query_one("#bcc-ok", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "bcc-ok":
            self.action_confirm()
        else:
            self.action_cancel()

    def action_confirm(self) -> None:
        self.dismiss(self.plan)

    def action_cancel(self) -> None:
        self.dismiss(None)
