"""The prune dialog: dangling or all unused, until and label filters, a live exact preview.

Keyboard first: every control has a key shown on it and in the key line (they work while no
text field is being edited); Esc in a text field leaves the field, Esc elsewhere cancels.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Button, Checkbox, Input, Label, RadioButton, RadioSet, Static

from tui.app.screens.filter_dialog import FilterDialog, text_field
from tui.app.screens.planning import PlanWorkers
from tui.app.widgets.charts import before_after_bar
from tui.app.widgets.plan_view import plan_text
from tui.core.filters import FilterError, PruneFilters, parse_filters
from tui.core.model import Snapshot
from tui.core.plan import Plan, plan_prune
from tui.core.protect import Protection


@dataclass(frozen=True)
class PruneRequest:
    filters: PruneFilters
    with_containers: bool


class PruneDialog(PlanWorkers, FilterDialog[PruneRequest | None]):
    """Builds prune filters; invalid input is shown inline and never sent."""

    PREFIX, MODE_SET = "prune", "prune-mode"
    TITLE = "Prune images: the preview is exactly what will happen"

    BINDINGS = [
        Binding(
            "escape,n",
            "cancel",
            "Cancel",
            id="prune.cancel",
            tooltip="Close without pruning (in a text field: leave the field)",
        ),
        Binding(
            "ctrl+s,y",
            "submit",
            "Continue",
            id="prune.submit",
            tooltip="Go to the confirm screen with this plan",
        ),
        Binding(
            "d",
            "mode('prune-dangling')",
            "Dangling only",
            id="prune.dangling",
            tooltip="Prune dangling images only",
        ),
        Binding(
            "a",
            "mode('prune-all')",
            "All unused",
            id="prune.all",
            tooltip="Prune every image no container uses",
        ),
        # priority: focus moves as the key arrives, so keys typed right after it go into the field
        # (a field being edited gets the letter as text instead, see action_field)
        Binding(
            "u",
            "field('prune-until', 'u')",
            "until",
            id="prune.until",
            priority=True,
            tooltip="Edit the until filter",
        ),
        Binding(
            "l",
            "field('prune-label', 'l')",
            "label",
            id="prune.label",
            priority=True,
            tooltip="Edit the label filter",
        ),
        Binding(
            "e",
            "field('prune-not-label', 'e')",
            "label!",
            id="prune.not_label",
            priority=True,
            tooltip="Edit the label! (exclude) filter",
        ),
        Binding(
            "c",
            "toggle_containers",
            "Containers",
            id="prune.containers",
            tooltip="Also remove the stopped containers that keep images",
        ),
    ]
    KEYS = [
        ("d/a", "dangling / all unused"),
        ("u l e", "until, label, label!"),
        ("c", "containers"),
        ("y", "continue"),
        ("n/esc", "cancel (esc in a field: leave it)"),
    ]

    def __init__(
        self,
        snapshot: Snapshot,
        *,
        now: Callable[[], float] = time.time,
        everything: bool = False,
        protection: Protection | None = None,
    ) -> None:
        super().__init__()
        self.protection = protection
        self.snapshot = snapshot
        self.now = now
        self.everything = everything
        self.request: PruneRequest | None = None
        self.submit_when_ready = False

    def on_unmount(self) -> None:
        # as ConfirmScreen's: a dismissed screen must not keep the snapshot till a full collection
        self.__dict__.pop("snapshot", None)

    def compose_controls(self) -> ComposeResult:
        with RadioSet(id="prune-mode", compact=True):
            yield RadioButton(
                "Dangling images only (d)", value=not self.everything, id="prune-dangling", compact=True
            )
            yield RadioButton(
                "All images not used by any container (a)",
                value=self.everything,
                id="prune-all",
                compact=True,
            )
        yield Label("until (u): 72h, 7d, 2024-01-31 or unix seconds")
        yield text_field("empty = any age", "prune-until")
        yield Label("label (l), all must match: KEY or KEY=VALUE ...")
        yield text_field("e.g. env=dev", "prune-label")
        yield Label("label! (e): skip images matching all of these")
        yield text_field("e.g. keep=true", "prune-not-label")
        yield Checkbox(
            "Also remove stopped containers keeping them (c)",
            value=self.everything,
            id="prune-containers",
            compact=True,
        )
        yield Static(id="prune-error")

    def filter_items(self) -> list[str]:
        items: list[str] = []
        until = self.query_one("#prune-until", Input).value.strip()
        if until:
            items.append(f"until={until}")
        for key, widget in (("label", "#prune-label"), ("label!", "#prune-not-label")):
            for term in self.query_one(widget, Input).value.split():
                items.append(f"{key}={term}")
        return items

    def build(self) -> tuple[PruneRequest | None, str]:
        """The request the controls describe, or None and why not."""
        all_images = self.query_one("#prune-all", RadioButton).value
        try:
            filters = parse_filters(self.filter_items(), all_images=all_images, now=self.now())
        except FilterError as exc:
            return None, str(exc)
        with_containers = self.query_one("#prune-containers", Checkbox).value
        return PruneRequest(filters, with_containers), ""

    def refresh_preview(self) -> None:
        """Plan what the controls say and show it; on a big store the plan runs in a worker
        (a keystroke never waits for it) and ``request`` stays None until its preview is shown."""
        request, error = self.build()
        self.request = None
        self.query_one("#prune-error", Static).update(Text(error, style="bold red"))
        preview = self.query_one("#prune-preview", Static)
        bar = self.query_one("#prune-bar", Static)
        ok = self.query_one("#prune-ok", Button)
        ok.disabled = True  # until this request's plan is shown
        if request is None:
            self.plan_pending("preview")
            self.submit_when_ready = False
            preview.update(Text("Fix the filter above to see the preview.", style="dim"))
            bar.update("")
            return
        snapshot, protection = self.snapshot, self.protection

        def plan() -> Plan:
            return plan_prune(
                snapshot,
                request.filters,
                with_stopped_containers=request.with_containers,
                protection=protection,
            )

        def show(plan: Plan) -> None:
            self.request = request
            preview.update(plan_text(plan, snapshot, limit=50))
            bar.update(before_after_bar(snapshot, plan, width=30))
            ok.disabled = plan.empty
            if self.submit_when_ready:
                self.submit_when_ready = False
                if not plan.empty:
                    self.dismiss(request)

        if not self.plan_then("preview", plan, show):
            preview.update(Text(f"Planning ({len(snapshot.images)} images) …", style="dim"))

    def on_radio_set_changed(self, _: RadioSet.Changed) -> None:
        self.refresh_preview()

    def on_checkbox_changed(self, _: Checkbox.Changed) -> None:
        self.refresh_preview()

    def action_submit(self) -> None:
        """Continue with what the controls say now, once its preview is shown (at once on a
        small store; when its worker is done on a big one)."""
        self.submit_when_ready = True
        self.refresh_preview()

    def action_toggle_containers(self) -> None:
        box = self.query_one("#prune-containers", Checkbox)
        box.value = not box.value
