"""Carrying out a confirmed plan, one engine call per step, one event per response line.

Safety rules, in order of importance:

* Only the plan's steps run. Every image delete is sent with ``noprune=1`` (parents the engine would
  prune are explicit steps of the plan), so the engine cannot delete an image the plan did not list.
* Before each step the target is checked against the plan: a reference must still name the image
  the plan saw, a container must still use the planned image and must not be running. If the store
  changed, that step is skipped with an error event and the rest goes on.
* A failure of one step does not stop the others (like ``docker rmi a b c``); cancellation is checked
  between steps and the result says what was and was not done.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from tui.core.classic import Record
from tui.core.containerd import ContainerdStore
from tui.core.model import Image, Snapshot, short_id
from tui.core.plan import Plan, Step
from tui.engine import podman
from tui.engine.client import Engine, EngineAPIError, EngineError


@dataclass(frozen=True)
class ResultEvent:
    """One line for the log: an engine response line, a container removal, or an error."""

    kind: str  # "untagged" | "deleted" | "deleted_layer" | "container_removed" | "error" | "skipped"
    text: str
    step: int = -1
    target: str = ""


@dataclass
class ExecutionResult:
    """What actually happened."""

    untagged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)  # image ids
    deleted_layers: list[str] = field(default_factory=list)  # chain ids
    removed_containers: list[str] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (target, message)
    reclaimed_bytes: int = 0
    cancelled: bool = False
    not_run: list[str] = field(default_factory=list)  # targets of steps never attempted
    unexpected: list[str] = field(default_factory=list)  # response lines the plan did not predict

    def to_json(self) -> dict[str, Any]:
        return {
            "untagged": self.untagged,
            "deleted": self.deleted,
            "deleted_layers": self.deleted_layers,
            "removed_containers": self.removed_containers,
            "errors": [{"target": t, "message": m} for t, m in self.errors],
            "reclaimed_bytes": self.reclaimed_bytes,
            "cancelled": self.cancelled,
            "not_run": self.not_run,
            "unexpected": self.unexpected,
        }


class PlanExecutor:
    """Runs a plan against an engine. Iterate :meth:`run` for events; ``result`` holds the totals."""

    def __init__(
        self,
        engine: Engine,
        plan: Plan,
        snapshot: Snapshot,
        *,
        backup: Callable[[Image], list[str]] | None = None,
    ) -> None:
        """``backup(image)`` runs before a step deletes a local-only image and returns log lines;
        if it raises, that step is skipped (an image is never deleted without its backup)."""
        self.engine = engine
        self.plan = plan
        self.snapshot = snapshot
        self.backup = backup
        self.result = ExecutionResult()

    def run(
        self, cancelled: Callable[[], bool] | None = None
    ) -> Generator[ResultEvent, None, ExecutionResult]:
        """Execute the steps in order, yielding events; returns the :class:`ExecutionResult`."""
        for index, step in enumerate(self.plan.steps):
            if cancelled is not None and cancelled():
                self.result.cancelled = True
                self.result.not_run.extend(s.target for s in self.plan.steps[index:])
                yield ResultEvent("skipped", f"Cancelled: {len(self.plan.steps) - index} step(s) not run",
                                  index)
                break
            if step.action == "remove_container":
                yield from self._remove_container(index, step)
            else:
                yield from self._delete_image(index, step)
        if self.snapshot.containerd:
            self.result.reclaimed_bytes = _containerd_freed(self.snapshot, self.result)
        return self.result

    def run_all(self) -> ExecutionResult:
        """Run to completion, discarding events."""
        gen = self.run()
        while True:
            try:
                next(gen)
            except StopIteration as stop:
                result: ExecutionResult = stop.value
                return result

    # -- steps ---------------------------------------------------------------------------------
    def _error(self, index: int, target: str, message: str) -> ResultEvent:
        self.result.errors.append((target, message))
        return ResultEvent("error", f"Error: {target}: {message}", index, target)

    def _remove_container(self, index: int, step: Step) -> Generator[ResultEvent, None, None]:
        container = step.container
        assert container is not None
        try:
            info = self.engine.call(lambda api: api.inspect_container(container.id))
        except EngineError as exc:
            yield self._error(index, container.name, f"container is gone or unreadable: {exc}")
            return
        state = info.get("State") or {}
        if state.get("Running") or state.get("Paused") or state.get("Restarting"):
            yield self._error(index, container.name, "container is running now; not removed "
                              "(docker-sweep never removes running containers)")
            return
        if info.get("Image") != step.image_id:
            yield self._error(index, container.name, "container now uses another image; not removed")
            return
        try:
            self.engine.call(lambda api: api.remove_container(container.id, v=False, force=False))
        except EngineError as exc:
            yield self._error(index, container.name, str(exc))
            return
        self.result.removed_containers.append(container.id)
        yield ResultEvent("container_removed",
                          f"Removed container: {container.name} ({container.short_id})", index,
                          container.id)

    def _delete_image(self, index: int, step: Step) -> Generator[ResultEvent, None, None]:
        target = step.target
        try:
            current = self.engine.call(lambda api: api.inspect_image(target))
        except EngineAPIError as exc:
            yield self._error(index, target, f"not found any more, skipped ({exc.message})")
            return
        except EngineError as exc:
            yield self._error(index, target, str(exc))
            return
        if current.get("Id") != step.image_id:
            yield self._error(
                index, target,
                f"now names image {short_id(str(current.get('Id')))}, not the planned "
                f"{short_id(step.image_id)}; skipped because the store changed",
            )
            return
        if self.backup is not None:
            for record in step.expect:
                image = self.snapshot.images.get(record.value) if record.kind == "Deleted" else None
                if image is None or not image.local_only:
                    continue
                try:
                    lines = self.backup(image)
                except EngineError as exc:
                    yield self._error(index, target, f"backup failed, image not removed: {exc}")
                    return
                for line in lines:
                    yield ResultEvent("info", line, index, target)
        try:
            response = self.engine.call(
                lambda api: api.remove_image(target, force=step.force, noprune=True)
            )
        except EngineError as exc:
            yield self._error(index, target, str(exc))
            return
        expected = {str(r) for r in step.expect}
        is_podman = self.snapshot.facts.image_store == "podman"
        reported: list[Record] = []
        for line in response or []:
            for kind, value in line.items():
                record = Record(kind, str(value))
                record = podman.normalise_record(record) if is_podman else record
                reported.append(record)
                yield self._record(index, target, record)
                if str(record) not in expected:
                    self.result.unexpected.append(str(record))
        for record in podman.implied_layers(step.expect, reported, self.snapshot) if is_podman else ():
            yield self._record(index, target, record)

    def _record(self, index: int, target: str, record: Record) -> ResultEvent:
        if record.kind == "Untagged":
            self.result.untagged.append(record.value)
            return ResultEvent("untagged", str(record), index, target)
        if record.value in self.snapshot.images:
            self.result.deleted.append(record.value)
            return ResultEvent("deleted", str(record), index, target)
        self.result.deleted_layers.append(record.value)
        size = self.snapshot.layer_size(record.value)
        if size is not None:
            self.result.reclaimed_bytes += size
        else:  # a group of layers may be known only as a whole: count what is proven so far
            self.result.reclaimed_bytes = self.snapshot.bytes_of(self.result.deleted_layers)
        return ResultEvent("deleted_layer", str(record), index, target)


def _containerd_freed(snapshot: Snapshot, result: ExecutionResult) -> int:
    """Disk freed on the containerd store: content and snapshots the deleted images alone held
    (the engine's responses name no layers there)."""
    store = ContainerdStore(snapshot)
    gone = set(result.deleted)
    store.names = {n: t for n, t in store.names.items() if t not in gone}
    for container_id in result.removed_containers:
        store.containers.pop(container_id, None)
    content = sum(store.freed_content().values()) - sum(store.buildkit_content().values())
    return content + snapshot.bytes_of(store.freed_snapshots())


def execute_plan(engine: Engine, plan: Plan, snapshot: Snapshot) -> ExecutionResult:
    """Run ``plan`` to completion and return what happened."""
    return PlanExecutor(engine, plan, snapshot).run_all()


def engine_prune(engine: Engine, filters: dict[str, list[str]]) -> dict[str, Any]:
    """``POST /images/prune`` itself (what ``docker image prune`` does), for comparison and tests.

    docker-sweep's own prune runs the plan's explicit steps instead, so that it deletes exactly the
    confirmed images even if the store changes in between.
    """
    result: dict[str, Any] = engine.call(lambda api: api.prune_images(filters=filters), long=True)
    return result
