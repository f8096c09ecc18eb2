"""What the app needs from an engine, as a protocol (the app never imports ``docker``).

``tui.engine.source.EngineSource`` implements it over a real engine. Workers call these blocking
methods from threads and post the results back as messages.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator, Sequence
from typing import Protocol

from tui.core.model import Snapshot
from tui.core.plan import Plan


class ResultEventLike(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def step(self) -> int: ...


class StoreChangeLike(Protocol):
    @property
    def target(self) -> str: ...
    @property
    def message(self) -> str: ...


class ExecutionResultLike(Protocol):
    @property
    def deleted(self) -> list[str]: ...
    @property
    def errors(self) -> list[tuple[str, str]]: ...
    @property
    def reclaimed_bytes(self) -> int: ...
    @property
    def cancelled(self) -> bool: ...
    @property
    def not_run(self) -> list[str]: ...
    @property
    def unexpected(self) -> list[str]: ...
    @property
    def store_changed(self) -> Sequence[StoreChangeLike]: ...


class StoreSource(Protocol):
    """A place images live: loads snapshots and carries out plans.

    Optional: ``layers_cached(listed: Snapshot) -> bool``, True when the stage after ``listed``
    (the first stage of :meth:`load`) reads nothing but cached data (the app's first read then
    goes on with it while Textual starts; see :mod:`tui.app.first_read`)."""

    @property
    def description(self) -> str: ...

    def load(
        self,
        *,
        progress: Callable[[int, int], None],
        cancelled: Callable[[], bool],
    ) -> Iterator[Snapshot]:
        """Yield a snapshot without layers first, then the complete one (with df data)."""
        ...

    def execute(
        self, plan: Plan, snapshot: Snapshot, cancelled: Callable[[], bool]
    ) -> Generator[ResultEventLike, None, ExecutionResultLike]:
        """Run the plan's steps, yielding one event per engine response line."""
        ...
