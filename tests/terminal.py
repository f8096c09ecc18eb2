"""A terminal for the headless commands' `Proceed?` question, answered by a test."""

from __future__ import annotations

import io
from collections.abc import Callable


class AnswerAfter(io.StringIO):
    """A terminal whose user (in another shell) changes the store while `Proceed?` waits, then
    answers yes to every question."""

    def __init__(self, change: Callable[[], None]) -> None:
        super().__init__()
        self.change = change
        self.questions = 0

    def isatty(self) -> bool:
        return True

    def readline(self, size: int | None = -1) -> str:
        if self.questions == 0:
            self.change()
        self.questions += 1
        return "y\n"
