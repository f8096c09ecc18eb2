"""The confirm screen: the exact plan, a separate explicit force choice, then confirm or cancel."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Label, Static

from tui.app.widgets.plan_view import FORCE_HELP, plan_text
from tui.core.model import Snapshot
from tui.core.plan import Plan


class ConfirmScreen(ModalScreen[Plan | None]):
    """Shows the plan ``build(force)`` makes; dismisses with the plan to run, or ``None``."""

    BINDINGS = [
        Binding("escape,n", "cancel", "Cancel", id="confirm.cancel", tooltip="Close; delete nothing"),
        Binding("y", "confirm", "Confirm", id="confirm.ok", tooltip="Run exactly this plan"),
        Binding("f", "toggle_force", "Force", id="confirm.force",
                tooltip="Toggle force (see the explanation on screen)"),
    ]

    def __init__(self, build: Callable[[bool], Plan], snapshot: Snapshot, *, allow_force: bool = True,
                 local_only_confirm: bool = True) -> None:
        super().__init__()
        self.local_only_confirm = local_only_confirm
        self.build = build
        self.snapshot = snapshot
        self.allow_force = allow_force
        self.force = False
        self.plan = build(False)

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box"):
            yield Label("Confirm: exactly this will happen", id="confirm-title")
            with VerticalScroll(id="confirm-scroll"):
                yield Static(id="confirm-plan")
            yield Checkbox("I understand: local-only images cannot be pulled back", id="confirm-local")
            if self.allow_force:
                yield Checkbox("Force", id="confirm-force")
                yield Static(Text(FORCE_HELP, style="dim"), id="confirm-force-help")
            with Horizontal(id="confirm-buttons"):
                yield Button("Delete (y)", variant="error", id="confirm-ok")
                yield Button("Cancel (esc)", variant="primary", id="confirm-cancel")

    def on_mount(self) -> None:
        self._show_plan()
        self.query_one("#confirm-cancel", Button).focus()

    @property
    def needs_local_ack(self) -> bool:
        return self.local_only_confirm and bool(self.plan.local_only_deletes(self.snapshot))

    def _show_plan(self) -> None:
        self.query_one("#confirm-plan", Static).update(plan_text(self.plan, self.snapshot))
        local = self.query_one("#confirm-local", Checkbox)
        count = len(self.plan.local_only_deletes(self.snapshot))
        local.display = self.needs_local_ack
        local.label = (f"I understand: {count} local-only image(s) (no registry digest) cannot be "
                       "pulled back")
        self.query_one("#confirm-ok", Button).disabled = self.plan.empty or (
            self.needs_local_ack and not local.value)

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        if event.checkbox.id == "confirm-force":
            self.force = event.value
            self.plan = self.build(self.force)
        self._show_plan()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "confirm-ok":
            self.action_confirm()
        else:
            self.action_cancel()

    def action_toggle_force(self) -> None:
        if self.allow_force:
            box = self.query_one("#confirm-force", Checkbox)
            box.value = not box.value

    def action_confirm(self) -> None:
        if self.query_one("#confirm-ok", Button).disabled:
            if self.needs_local_ack and not self.plan.empty:
                self.notify("Tick the local-only box first: those images cannot be pulled back.",
                            severity="warning")
            return
        self.dismiss(self.plan)

    def action_cancel(self) -> None:
        self.dismiss(None)
