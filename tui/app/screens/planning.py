"""Plans off the UI thread: the detail pane's removal plan, the df summary's two prune plans, the
marks' plan and the confirm screen's first plan run in thread workers once the store is big.

A plan of a small store takes a few milliseconds and runs inline (the screen is drawn with it at
once, which keeps keys typed right after a key and the snapshot tests exact). From
:attr:`PlanWorkers.inline_limit` images on, each kind of plan runs in its own worker group, one
plan at a time: a thread cannot be stopped, so a request made while the group's plan runs waits
for it, and only the newest waiting request runs then (five keys typed into the prune dialog make
two plans, not five competing for the same cores). A result a newer request replaced is dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from tui.app.messages import PlanReady
from tui.core.model import Snapshot

T = TypeVar("T")

INLINE_LIMIT = 400
"""Stores with at most this many images plan on the UI thread (a plan then takes < 20 ms)."""


class PlanWorkers:
    """Mixed into a :class:`~textual.screen.Screen` that has a ``snapshot``."""

    snapshot: Snapshot
    inline_limit: int = INLINE_LIMIT
    _plan_tokens: dict[str, int]

    def plan_then(self, group: str, compute: Callable[[], T], apply: Callable[[T], None]) -> bool:
        """Run ``compute`` and call ``apply`` with its result on the UI thread. Returns True when
        it ran inline (``apply`` was called before returning)."""
        tokens = self.__dict__.setdefault("_plan_tokens", {})
        token = tokens[group] = tokens.get(group, 0) + 1
        if len(self.snapshot.images) <= self.inline_limit:
            apply(compute())
            return True
        running: set[str] = self.__dict__.setdefault("_plans_running", set())
        if group in running:  # started when the running one is done, unless replaced by then
            self.__dict__.setdefault("_plans_waiting", {})[group] = (token, compute, apply)
            return False
        self._start_plan(group, token, compute, apply)
        return False

    def _start_plan(
        self, group: str, token: int, compute: Callable[[], T], apply: Callable[[T], None]
    ) -> None:
        screen: Any = self
        self.__dict__.setdefault("_plans_running", set()).add(group)
        # Taken out of the closure when the plan starts: a finished thread worker stays in a
        # reference cycle (its task's context) until a full collection, rare in the app
        # (COLLECTOR_THRESHOLDS), and must not keep the snapshot its plan was made for.
        held: list[Any] = [compute, apply]

        def work() -> None:
            compute, apply = held
            held.clear()
            try:
                result = compute()
            except BaseException:
                screen.post_message(PlanReady(group, -1, lambda: None))  # frees the group
                raise
            screen.post_message(PlanReady(group, token, lambda: apply(result)))

        screen.run_worker(
            work,
            thread=True,
            group=f"plan-{group}",
            exit_on_error=False,
            description=f"plan ({group})",
        )

    def plan_pending(self, group: str) -> None:
        """Drop any result still on its way for ``group`` (what it answers is no longer shown)."""
        tokens = self.__dict__.setdefault("_plan_tokens", {})
        tokens[group] = tokens.get(group, 0) + 1

    def on_plan_ready(self, message: PlanReady) -> None:
        group = message.group
        self.__dict__.setdefault("_plans_running", set()).discard(group)
        newest = self.__dict__.get("_plan_tokens", {}).get(group)
        waiting = self.__dict__.setdefault("_plans_waiting", {}).pop(group, None)
        if waiting is not None and waiting[0] == newest:
            self._start_plan(group, *waiting)
        if newest == message.token:
            message.apply()
