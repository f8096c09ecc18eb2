"""Pick a named policy from the config; the main screen marks what it selects."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from tui.config import Config
from tui.core.policy import describe


class PolicyPicker(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="policy.cancel", tooltip="Close; mark nothing")]

    def __init__(self, config: Config) -> None:
        super().__init__()
        self.config = config

    def compose(self) -> ComposeResult:
        options = []
        for name in sorted(self.config.policies):
            policy = self.config.policy(name)
            options.append(Option(f"{name} — {policy.description or describe(policy)}", id=name))
        with Vertical(id="policy-box"):
            yield Label("Mark what a policy selects (then d shows the exact plan)", id="policy-title")
            yield OptionList(*options, id="policy-list")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
