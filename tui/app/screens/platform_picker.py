"""Pick one platform of the highlighted multi-platform image to remove (containerd image store):
the main screen then plans `rm --platform` and confirms it like any removal.

Keyboard first: each platform has its number (1-9); Enter picks the highlighted one, n/Esc
cancels; the keys are listed at the bottom.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from tui.app.widgets.key_line import KeyLine


class PlatformPicker(ModalScreen[str | None]):
    BINDINGS = [
        Binding("escape,n", "cancel", "Cancel", id="platform.cancel", tooltip="Close; remove nothing"),
        *(
            Binding(
                str(n),
                f"pick({n})",
                f"Platform {n}",
                show=False,
                id=f"platform.pick{n}",
                tooltip=f"Plan removing platform {n}",
            )
            for n in range(1, 10)
        ),
    ]

    def __init__(self, name: str, platforms: list[str]) -> None:
        super().__init__()
        self.image_name = name
        self.platforms = platforms

    def compose(self) -> ComposeResult:
        options = [
            Option(f"({n}) {p}" if n < 10 else f"    {p}", id=p) for n, p in enumerate(self.platforms, 1)
        ]
        with Vertical(id="platform-box"):
            yield Label(
                f"Remove one platform of {self.image_name} (the image and its tags stay; "
                "the next screen shows the exact plan)",
                id="platform-title",
            )
            yield OptionList(*options, id="platform-list")
            last = min(len(self.platforms), 9)
            yield KeyLine(
                [
                    (f"1-{last}" if last > 1 else "1", "pick"),
                    ("↑↓ enter", "pick highlighted"),
                    ("n/esc", "cancel"),
                ],
                id="platform-keys",
            )

    def on_mount(self) -> None:
        self.query_one("#platform-list", OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_pick(self, number: int) -> None:
        if 1 <= number <= len(self.platforms):
            self.dismiss(self.platforms[number - 1])

    def action_cancel(self) -> None:
        self.dismiss(None)
