"""The confirm screen: the exact plan, a separate explicit force choice, then confirm or cancel.

Keyboard first: every control has its own key, shown on the control and in the key line at the
bottom; focus starts where the user must act (the local-only acknowledgement when the plan needs
it, else the Delete button). Force is never in the Tab order: only its key ``f`` (or a click)
toggles it, so tabbing towards the acknowledgement or the buttons cannot switch it on.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Label, Static

from tui.app.widgets.key_line import KeyLine
from tui.app.widgets.plan_view import FORCE_HELP, plan_text
from tui.core.model import Snapshot
from tui.core.plan import Plan

ACK_KEY = "l"
FORCE_HINT = "Force is off (f turns it on and explains what it does)."


class ConfirmScreen(ModalScreen[Plan | None]):
    """Shows the plan ``build(force)`` makes; dismisses with the plan to run, or ``None``."""

    BINDINGS = [
        Binding("escape,n", "cancel", "Cancel", id="confirm.cancel", tooltip="Close; delete nothing"),
        Binding("y", "confirm", "Delete", id="confirm.ok", tooltip="Run exactly this plan"),
        Binding(
            ACK_KEY,
            "toggle_ack",
            "I understand",
            id="confirm.ack",
            tooltip="Tick or untick the local-only acknowledgement",
        ),
        Binding(
            "f",
            "toggle_force",
            "Force",
            id="confirm.force",
            tooltip="Toggle force (see the explanation on screen)",
        ),
    ]

    def __init__(
        self,
        build: Callable[[bool], Plan],
        snapshot: Snapshot,
        *,
        allow_force: bool = True,
        local_only_confirm: bool = True,
        plan: Plan | None = None,
    ) -> None:
        """``plan``: ``build(False)`` made already (by a worker), else made here."""
        super().__init__()
        self.local_only_confirm = local_only_confirm
        self.build = build
        self.snapshot = snapshot
        self.allow_force = allow_force
        self.force = False
        self.plan = build(False) if plan is None else plan

    def on_unmount(self) -> None:
        # Textual's nodes are in reference cycles: a dismissed screen waits for a full collection,
        # rare in the app (COLLECTOR_THRESHOLDS), and must not keep a snapshot and a plan till then
        for name in ("build", "snapshot", "plan"):
            self.__dict__.pop(name, None)

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box"):
            yield Label("Confirm: exactly this will happen", id="confirm-title")
            yield Static(id="confirm-bar")
            with VerticalScroll(id="confirm-scroll"):
                yield Static(id="confirm-plan")
            yield Checkbox(
                f"I understand ({ACK_KEY}): local-only images cannot be pulled back",
                id="confirm-local",
                compact=True,
            )
            with Horizontal(id="confirm-buttons"):
                yield Button("Delete (y)", variant="error", id="confirm-ok", compact=True)
                yield Button("Cancel (n/esc)", variant="primary", id="confirm-cancel", compact=True)
            if self.allow_force:
                force = Checkbox("Force (f)", id="confirm-force", compact=True)
                force.can_focus = False  # never reached by Tab: only its key or a click
                yield force
                yield Static(id="confirm-force-help")
            yield KeyLine(self._keys(), id="confirm-keys")

    def _keys(self) -> list[tuple[str, str]]:
        keys = [("y", "delete"), ("n/esc", "cancel")]
        if self.needs_local_ack:
            keys.insert(0, (ACK_KEY, "I understand (local-only)"))
        if self.allow_force:
            keys.append(("f", "force " + ("off" if self.force else "on")))
        keys.append(("tab", "next control"))
        return keys

    def on_mount(self) -> None:
        self._show_plan()
        self._focus_where_needed()

    def _focus_where_needed(self) -> None:
        local = self.query_one("#confirm-local", Checkbox)
        ok = self.query_one("#confirm-ok", Button)
        if self.needs_local_ack and not local.value:
            local.focus()
        elif not ok.disabled:
            ok.focus()
        else:
            self.query_one("#confirm-cancel", Button).focus()

    @property
    def needs_local_ack(self) -> bool:
        return self.local_only_confirm and bool(self.plan.local_only_deletes(self.snapshot))

    def _show_plan(self) -> None:
        from tui.app.widgets.charts import before_after_bar

        self.query_one("#confirm-plan", Static).update(plan_text(self.plan, self.snapshot))
        bar_width = max(10, min(50, self.app.size.width - 64))
        self.query_one("#confirm-bar", Static).update(before_after_bar(self.snapshot, self.plan, bar_width))
        if self.allow_force:  # the explanation when force is on; a one-line hint otherwise
            self.query_one("#confirm-force-help", Static).update(
                Text(FORCE_HELP if self.force else FORCE_HINT, style="dim")
            )
        local = self.query_one("#confirm-local", Checkbox)
        count = len(self.plan.local_only_deletes(self.snapshot))
        local.display = self.needs_local_ack
        local.label = (
            f"I understand ({ACK_KEY}): {count} local-only image(s) (no registry digest) "
            "cannot be pulled back"
        )
        self.query_one("#confirm-ok", Button).disabled = self.plan.empty or (
            self.needs_local_ack and not local.value
        )
        self.query_one("#confirm-keys", KeyLine).show_keys(self._keys())

    def _set_force(self, force: bool) -> None:
        if force != self.force:
            self.force = force
            self.plan = self.build(force)

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        if event.checkbox.id == "confirm-force":
            self._set_force(event.value)
        self._show_plan()
        if event.checkbox.id == "confirm-local" and event.value:
            self.query_one("#confirm-ok", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "confirm-ok":
            self.action_confirm()
        else:
            self.action_cancel()

    def action_toggle_ack(self) -> None:
        local = self.query_one("#confirm-local", Checkbox)
        if local.display:
            local.value = not local.value

    def action_toggle_force(self) -> None:
        if self.allow_force:
            box = self.query_one("#confirm-force", Checkbox)
            box.value = not box.value
            self._set_force(box.value)  # now: a y typed right after f confirms the forced plan

    def action_confirm(self) -> None:
        # decided from the values, not from the button: y typed right after l must work before
        # the checkbox's change message has enabled the button
        if self.plan.empty:
            return
        if self.needs_local_ack and not self.query_one("#confirm-local", Checkbox).value:
            self.notify(
                f"Press {ACK_KEY} first: the local-only images cannot be pulled back.", severity="warning"
            )
            self.query_one("#confirm-local", Checkbox).focus()
            return
        self.dismiss(self.plan)

    def action_cancel(self) -> None:
        self.dismiss(None)
