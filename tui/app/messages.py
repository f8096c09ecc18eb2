"""Messages that workers post back to the UI (thread-safe ``post_message``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from textual.message import Message

from tui.app.source import ExecutionResultLike, ResultEventLike
from tui.core.model import Snapshot


@dataclass
class SnapshotLoaded(Message):
    """A new snapshot: ``stage`` is "listed" (no layers yet), "layers" or "complete" (with df).

    ``load`` names the read it comes from: a later stage of the same read replaces a queued
    earlier one (each stage redraws the table and the panes; one that is already out of date
    when the UI gets to it would only delay the newer one)."""

    snapshot: Snapshot
    stage: str
    load: object = None

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SnapshotLoaded) and self.load is not None and message.load is self.load


@dataclass
class LoadProgress(Message):
    """Layer data read for ``done`` of ``total`` images. Newer ones replace queued older ones."""

    done: int
    total: int

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, LoadProgress)


@dataclass
class LoadFailed(Message):
    """Loading failed; ``error`` is a message for the user."""

    error: str


@dataclass
class JobEvent(Message):
    """One engine result line of the running job."""

    event: ResultEventLike
    step: int
    total: int


@dataclass
class JobFinished(Message):
    """The job ended (completed, failed part-way, or was cancelled)."""

    result: ExecutionResultLike | None
    error: str = ""


@dataclass
class StoreChanged(Message):
    """The engine reported an image or container event (someone else changed the store)."""

    what: str

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, StoreChanged)


@dataclass
class PlanReady(Message):
    """A plan worker finished: ``apply`` shows its result (on the UI thread) if ``token`` is
    still the newest request of its ``group``."""

    group: str
    token: int
    apply: Callable[[], None]


@dataclass
class JobEventBatch(Message):
    """Job events collected over a short interval, shown with one layout pass."""

    events: list[JobEvent]
