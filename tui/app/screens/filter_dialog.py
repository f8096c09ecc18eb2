"""What the prune dialog and the build cache dialog share: the frame (controls on the left, the
bar and the scrolling preview on the right, the buttons and the key line below) and the keys that
pick a mode, jump into a field, and leave a field before cancelling.

A subclass sets :attr:`PREFIX` (widget ids ``PREFIX-bar``, ``-preview``, ``-ok``, ``-cancel``),
:attr:`MODE_SET` (the id of its radio set), :attr:`TITLE`, :attr:`OK_LABEL` and :attr:`KEYS`,
composes its controls in :meth:`compose_controls`, and implements :meth:`refresh_preview` and
:meth:`action_submit`.
"""

from __future__ import annotations

from typing import TypeVar

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, RadioButton, Static

from tui.app.widgets.key_line import KeyLine

ResultT = TypeVar("ResultT")


def text_field(placeholder: str, field_id: str) -> Input:
    """A compact one-line field. select_on_focus is off: a key typed right after the field's key
    must not replace its text."""
    return Input(placeholder=placeholder, id=field_id, compact=True, select_on_focus=False)


class FilterDialog(ModalScreen[ResultT]):
    PREFIX = ""
    MODE_SET = ""
    TITLE = ""
    OK_LABEL = "Continue (y)"
    KEYS: list[tuple[str, str]] = []

    def compose_controls(self) -> ComposeResult:
        raise NotImplementedError

    def refresh_preview(self) -> None:
        raise NotImplementedError

    def action_submit(self) -> None:
        raise NotImplementedError

    def compose(self) -> ComposeResult:
        prefix = self.PREFIX
        with Vertical(id="prune-box"):
            yield Label(self.TITLE, id="prune-title")
            with Horizontal(id="prune-body"):
                with VerticalScroll(id="prune-controls"):
                    yield from self.compose_controls()
                with Vertical(id="prune-right"):
                    yield Static(id=f"{prefix}-bar")
                    with VerticalScroll(id="prune-preview-scroll"):
                        yield Static(id=f"{prefix}-preview")
            with Horizontal(id="prune-buttons"):
                yield Button(self.OK_LABEL, variant="warning", id=f"{prefix}-ok", compact=True)
                yield Button("Cancel (n/esc)", variant="primary", id=f"{prefix}-cancel", compact=True)
            yield KeyLine(self.KEYS, id=f"{prefix}-keys")

    def on_mount(self) -> None:
        self.refresh_preview()
        self.query_one(f"#{self.MODE_SET}").focus()

    def on_input_changed(self, _: Input.Changed) -> None:
        self.refresh_preview()

    def on_input_submitted(self, _: Input.Submitted) -> None:
        self.action_submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == f"{self.PREFIX}-ok":
            self.action_submit()
        else:
            self.action_cancel()

    def action_cancel(self) -> None:
        if isinstance(self.focused, Input):
            self.set_focus(self.query_one(f"#{self.MODE_SET}"))  # leave the field, keep its text
            return
        self.dismiss(None)

    def action_mode(self, button_id: str) -> None:
        button = self.query_one(f"#{button_id}", RadioButton)
        if not button.value:
            button.toggle()  # as a press on it: the radio set releases the other one
        self.call_after_refresh(self.refresh_preview)

    def action_field(self, input_id: str, key: str = "") -> None:
        if isinstance(self.focused, Input):
            self.focused.insert_text_at_cursor(key)
            return
        self.set_focus(self.query_one(f"#{input_id}", Input))  # now: the next key goes into it
