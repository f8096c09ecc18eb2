"""Pick a named policy from the config; the main screen marks what it selects.

Keyboard first: each policy has its number (1-9) shown on it; Enter picks the highlighted one,
n/Esc cancels; the keys are listed at the bottom.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from tui.app.widgets.key_line import KeyLine
from tui.config import Config
from tui.core.policy import describe


class PolicyPicker(ModalScreen[str | None]):
    BINDINGS = [
        Binding("escape,n", "cancel", "Cancel", id="policy.cancel", tooltip="Close; mark nothing"),
        *(
            Binding(
                str(n),
                f"pick({n})",
                f"Policy {n}",
                show=False,
                id=f"policy.pick{n}",
                tooltip=f"Mark what policy {n} selects",
            )
            for n in range(1, 10)
        ),
    ]

    def __init__(self, config: Config) -> None:
        super().__init__()
        self.config = config
        self.names = sorted(self.config.policies)

    def compose(self) -> ComposeResult:
        options = []
        for number, name in enumerate(self.names, 1):
            policy = self.config.policy(name)
            key = f"({number}) " if number < 10 else "    "
            options.append(Option(f"{key}{name} — {policy.description or describe(policy)}", id=name))
        with Vertical(id="policy-box"):
            yield Label("Mark what a policy selects (then d shows the exact plan)", id="policy-title")
            yield OptionList(*options, id="policy-list")
            last = min(len(self.names), 9)
            yield KeyLine(
                [
                    (f"1-{last}" if last > 1 else "1", "pick"),
                    ("↑↓ enter", "pick highlighted"),
                    ("n/esc", "cancel"),
                ],
                id="policy-keys",
            )

    def on_mount(self) -> None:
        self.query_one("#policy-list", OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_pick(self, number: int) -> None:
        if 1 <= number <= len(self.names):
            self.dismiss(self.names[number - 1])

    def action_cancel(self) -> None:
        self.dismiss(None)
