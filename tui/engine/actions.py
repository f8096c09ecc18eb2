"""Carrying out a confirmed plan, one engine call per step, one event per response line.

Safety rules, in order of importance:

* Only the plan's steps run. Every image delete is sent with ``noprune=1`` (parents the engine would
  prune are explicit steps of the plan), so the engine cannot delete an image the plan did not list.
* Just before each image delete the executor re-reads what the plan saw (:attr:`Step.seen_refs` and
  :attr:`Step.seen_containers`): the target must still name the planned image, the image must have
  exactly the planned references, and exactly the planned containers must use it. A container to
  remove must still use the planned image and must not be running. If anything differs, the step
  is skipped as "store changed" (an error: exit code 1) and the rest goes on. On Docker, a delete
  without force of an image no container used leaves the containers' re-read to the engine, which
  refuses such a delete if one appeared (409); that refusal is reported as the same store change.
* The one window left is between that re-read and the engine's handling of the call (measured in
  the README). What the engine does there shows up as response lines the plan did not predict:
  each is reported as unexpected, and counts as an error.
* A failure of one step does not stop the others (like ``docker rmi a b c``); cancellation is checked
  between steps and the result says what was and was not done.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tui.core.classic import Record
from tui.core.containerd import ContainerdStore
from tui.core.containerd_bytes import containers_own_bytes
from tui.core.model import Image, Snapshot, short_id
from tui.core.plan import Plan, Step
from tui.core.platform_removal import parse_platform, platform_freed
from tui.engine import podman
from tui.engine.client import Engine, EngineAPIError, EngineError, UnixStepClient
from tui.engine.containerd_store import current_names

T = TypeVar("T")


@dataclass(frozen=True)
class ResultEvent:
    """One line for the log: an engine response line, a container removal, or an error."""

    # "untagged" | "deleted" | "deleted_layer" | "container_removed" | "error" | "skipped" |
    # "unexpected" (a response line the plan did not predict) | "info"
    kind: str
    text: str
    step: int = -1
    target: str = ""


@dataclass(frozen=True)
class StoreChange:
    """A step skipped because the store no longer matched what the plan saw."""

    target: str
    image_id: str
    changes: tuple[str, ...]

    @property
    def message(self) -> str:
        return "store changed since the plan: " + "; ".join(self.changes) + "; skipped"


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
    store_changed: list[StoreChange] = field(default_factory=list)  # steps skipped (also in errors)
    # Steps interrupted while their engine call was in flight: the engine may or may not have done them.
    in_doubt: list[str] = field(default_factory=list)
    # (image id, manifest digest) of each platform removed on its own (``rm --platform``)
    removed_platforms: list[tuple[str, str]] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        """Something did not go exactly as planned (exit code 1)."""
        return bool(self.errors or self.unexpected or self.store_changed or self.in_doubt)

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
            "store_changed": [
                {"target": c.target, "image_id": c.image_id, "changes": list(c.changes)}
                for c in self.store_changed
            ],
            "in_doubt": self.in_doubt,
            "removed_platforms": [{"image_id": i, "manifest": m} for i, m in self.removed_platforms],
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
        before_call: Callable[[Step], None] | None = None,
    ) -> None:
        """``backup(image)`` runs before a step deletes a local-only image and returns log lines;
        if it raises, that step is skipped (an image is never deleted without its backup).
        ``before_call(step)`` runs after the re-check, right before the delete call (a test seam
        into the residual window)."""
        self.engine = engine
        self.plan = plan
        self.snapshot = snapshot
        self.backup = backup
        self.before_call = before_call
        self.result = ExecutionResult()
        self.current: int | None = None  # the step being run, while it runs
        # run()'s raw client for the per-step image calls (unix socket), made on first use
        self._step_client: UnixStepClient | None = None
        self._step_client_made = False

    def interrupted(self) -> ExecutionResult:
        """Record that the run was stopped abruptly (e.g. a second Ctrl-C) and return the result:
        the step in flight is in doubt, the ones after it were not run."""
        if not self.result.cancelled:
            self.result.cancelled = True
            start = 0 if self.current is None else self.current + 1
            if self.current is not None:
                self.result.in_doubt.append(self.plan.steps[self.current].target)
            self.result.not_run.extend(s.target for s in self.plan.steps[start:])
        # Counted at run()'s end, which the interruption may have cut short (a second Ctrl-C right
        # after the first one stopped the loop lands in that count): count again, whatever the state.
        if self.snapshot.containerd:
            self.result.reclaimed_bytes = _containerd_freed(self.snapshot, self.result)
        return self.result

    def run(
        self, cancelled: Callable[[], bool] | None = None
    ) -> Generator[ResultEvent, None, ExecutionResult]:
        """Execute the steps in order, yielding events; returns the :class:`ExecutionResult`."""
        try:
            for index, step in enumerate(self.plan.steps):
                if cancelled is not None and cancelled():
                    self.result.cancelled = True
                    self.result.not_run.extend(s.target for s in self.plan.steps[index:])
                    yield ResultEvent(
                        "skipped", f"Cancelled: {len(self.plan.steps) - index} step(s) not run", index
                    )
                    break
                self.current = index
                if step.action == "remove_container":
                    yield from self._remove_container(index, step)
                else:
                    yield from self._delete_image(index, step)
                self.current = None
        finally:
            if self._step_client is not None:
                self._step_client.close()
            self._step_client, self._step_client_made = None, False
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
    def _image_call(self, fn: Callable[[Any], T]) -> T:
        """``fn(client)`` for a step's ``inspect_image`` or ``remove_image``: on a unix socket through
        one kept-alive raw connection for the whole run (:class:`UnixStepClient`: the same
        requests, answers and errors, without the SDK's per-call cost), else the SDK's client."""
        if not self._step_client_made:
            self._step_client = self.engine.new_step_client()
            self._step_client_made = True
        if self._step_client is None:
            return self.engine.call(fn)
        return self.engine.call_on(self._step_client, fn)

    def _error(self, index: int, target: str, message: str) -> ResultEvent:
        self.result.errors.append((target, message))
        self.current = None  # the step is settled (it failed)
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
            yield self._store_changed(
                index,
                step,
                container.name,
                [
                    f"container {container.name} is running now (docker-sweep never removes running "
                    "containers)"
                ],
            )
            return
        if info.get("Image") != step.image_id:
            yield self._store_changed(
                index,
                step,
                container.name,
                [f"container {container.name} now uses image {short_id(str(info.get('Image')))}"],
            )
            return
        try:
            self.engine.call(lambda api: api.remove_container(container.id, v=False, force=False))
        except EngineError as exc:
            yield self._error(index, container.name, str(exc))
            return
        self.result.removed_containers.append(container.id)
        self.current = None
        yield ResultEvent(
            "container_removed",
            f"Removed container: {container.name} ({container.short_id})",
            index,
            container.id,
        )

    def _store_changed(self, index: int, step: Step, target: str, changes: list[str]) -> ResultEvent:
        change = StoreChange(target, step.image_id, tuple(changes))
        self.result.store_changed.append(change)
        self.result.errors.append((target, change.message))
        self.current = None  # the step is settled (skipped)
        return ResultEvent("skipped", f"Skipped {target}: {change.message}", index, target)

    def store_changes(self, step: Step, *, containers: bool = True) -> list[str]:
        """What differs now from what the plan saw for ``step`` (empty: nothing). Raises
        :class:`EngineError` when the engine cannot answer. ``containers=False`` leaves out the
        containers (see :meth:`_engine_refuses_new_users`).

        The containers are read first and the image last, so the references (what a delete
        without force can lose to a race; the engine itself refuses it when a container appeared)
        are the freshest fact when the call goes out."""
        target = step.target
        changes: list[str] = []
        if containers and step.seen_containers is not None:
            # The bare hex: dockerd takes it as an id, and Podman matches only that form.
            hex_id = step.image_id.split(":", 1)[-1]
            rows = self.engine.call(lambda api: api.containers(all=True, filters={"ancestor": hex_id}))
            now_users = {str(r.get("Id")): r for r in rows or [] if r.get("ImageID") == step.image_id}
            seen_users = set(step.seen_containers)
            added_users = [r for cid, r in now_users.items() if cid not in seen_users]
            if added_users:
                changes.append(
                    "new container(s) using it: "
                    + ", ".join(
                        f"{_container_name(r)} ({short_id(str(r.get('Id')))}, {r.get('State', '?')})"
                        for r in added_users
                    )
                )
            if gone_users := [cid for cid in step.seen_containers if cid not in now_users]:
                changes.append("container(s) " + ", ".join(short_id(c) for c in gone_users) + " gone")
        try:
            info = self._image_call(lambda api: api.inspect_image(target))
        except EngineAPIError as exc:
            if exc.status == 404:
                return [f"{target} is gone ({exc.message})"]
            raise
        current = str(info.get("Id"))
        if current != step.image_id:
            return [
                f"{target} now names image {short_id(current)}, not the planned {short_id(step.image_id)}"
            ]
        if step.seen_refs is not None:
            now = {
                r
                for r in (info.get("RepoTags") or []) + (info.get("RepoDigests") or [])
                if r and not r.startswith("<none>")
            }
            seen = set(step.seen_refs)
            if self.snapshot.containerd:
                planned = self.snapshot.images.get(step.image_id)
                if planned is not None:  # the list's RepoTags: every name, digest names too
                    now = current_names(self.engine, self.snapshot.facts, info, planned)
                    seen &= set(planned.tags)
                else:
                    now = _containerd_names(now)
                    seen = _containerd_names(seen)
            if self.snapshot.facts.image_store == "podman":  # as the snapshot reader does: Podman's
                now = {r for r in now if not (r.startswith("localhost/") and "@" in r)}  # own digests
            if added := sorted(now - seen):
                changes.insert(0, "new reference(s) " + ", ".join(added))
            if gone := sorted(seen - now):
                changes.insert(1 if added else 0, "reference(s) " + ", ".join(gone) + " gone or moved")
        return changes

    def _recheck(self, index: int, step: Step, *, containers: bool = True) -> ResultEvent | None:
        """The re-read before a call: an event if the step must be skipped, else ``None``."""
        try:
            changes = self.store_changes(step, containers=containers)
        except EngineError as exc:
            return self._error(index, step.target, f"could not re-check the store, skipped: {exc}")
        return self._store_changed(index, step, step.target, changes) if changes else None

    def _engine_refuses_new_users(self, step: Step) -> bool:
        """True when the engine itself refuses ``step`` if any container uses its image, so the
        re-read of the containers can wait for that refusal (one engine call fewer per step: a
        third of a prune's calls). That holds for Docker (both stores) for a delete without force
        that deletes the image: by ID it is the engine's conflict with a stopped or running
        container, by its last reference "unable to remove repository reference (must force)".
        Not for a force delete, an untag-only step (the engine untags whatever uses the image),
        a step that expects containers, a platform removal, or Podman."""
        return (
            not step.force
            and not step.platform
            and step.seen_containers == ()
            and self.snapshot.facts.image_store in ("classic", "containerd")
            and Record("Deleted", step.image_id) in step.expect
        )

    def _delete_image(self, index: int, step: Step) -> Generator[ResultEvent, None, None]:
        target = step.target
        engine_checks_users = self._engine_refuses_new_users(step)
        if (skip := self._recheck(index, step, containers=not engine_checks_users)) is not None:
            yield skip
            return
        if self.backup is not None:
            backed_up = False
            for record in step.expect:
                image = self.snapshot.images.get(record.value) if record.kind == "Deleted" else None
                if image is None or not image.local_only:
                    continue
                try:
                    lines = self.backup(image)
                except EngineError as exc:
                    yield self._error(index, target, f"backup failed, image not removed: {exc}")
                    return
                backed_up = True
                for line in lines:
                    yield ResultEvent("info", line, index, target)
            # A backup can take long: check again, so the window stays the short one.
            if backed_up and (skip := self._recheck(index, step)) is not None:
                yield skip
                return
        if self.before_call is not None:
            self.before_call(step)
        try:
            if step.platform:
                platform = parse_platform(step.platform).to_json()
                response: Any = self.engine.remove_image_platform(target, platform)
            else:
                response = self._image_call(
                    lambda api: api.remove_image(target, force=step.force, noprune=True)
                )
        except EngineAPIError as exc:
            # Refused: say which container appeared since the plan, as the full re-read would
            # have (a refusal for another reason stays an error)
            if engine_checks_users and exc.status == 409 and (skip := self._recheck(index, step)):
                yield skip
                return
            yield self._error(index, target, str(exc))
            return
        except EngineError as exc:
            yield self._error(index, target, str(exc))
            return
        # Record every line before yielding any, so an interrupted consumer still has the whole answer.
        expected = {str(r) for r in step.expect}
        is_podman = self.snapshot.facts.image_store == "podman"
        reported: list[Record] = []
        events: list[ResultEvent] = []
        for line in response or []:
            for kind, value in line.items():
                record = Record(kind, str(value))
                record = podman.normalise_record(record) if is_podman else record
                reported.append(record)
                if step.platform and record.kind == "Deleted":
                    self.result.removed_platforms.append((step.image_id, record.value))
                    events.append(
                        ResultEvent("deleted", f"{record} (platform {step.platform})", index, target)
                    )
                else:
                    events.append(self._record(index, target, record))
                if str(record) not in expected:
                    self.result.unexpected.append(str(record))
                    events.append(
                        ResultEvent("unexpected", f"Unexpected: {record} was not in the plan", index, target)
                    )
        for record in podman.implied_layers(step.expect, reported, self.snapshot) if is_podman else ():
            events.append(self._record(index, target, record))
        self.current = None  # done: an interruption from here on leaves nothing in doubt
        yield from events

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


def _container_name(row: dict[str, Any]) -> str:
    names = row.get("Names") or []
    return str(names[0]).lstrip("/") if names else short_id(str(row.get("Id")))


def _tags(refs: set[str]) -> set[str]:
    return {r for r in refs if "@" not in r}


def _containerd_names(refs: set[str], tagged_repos: set[str] | None = None) -> set[str]:
    """The image's names on the containerd store, guessed from its RepoTags + RepoDigests alone
    (for an image the snapshot does not hold; else :func:`current_names`): its tags and the
    digest entries of repositories without a tag (a name pulled by digest there). The engine
    lists ``repo@<id>`` under every repository of a tag too, so a name pulled by digest in a
    tagged repository is not told apart here. ``tagged_repos``: default the tags' in ``refs``."""
    if tagged_repos is None:
        tagged_repos = {t.rpartition(":")[0] for t in _tags(refs)}
    return _tags(refs) | {r for r in refs if "@" in r and r.split("@", 1)[0] not in tagged_repos}


def _containerd_freed(snapshot: Snapshot, result: ExecutionResult) -> int:
    """Disk freed on the containerd store: content and snapshots the deleted images alone held
    (the engine's responses name no layers there), and the removed containers' own snapshots."""
    store = ContainerdStore(snapshot)
    for target in set(result.deleted):
        for name in store.names_for(target):
            store.drop_name(name)
    removed = [store.containers[c] for c in result.removed_containers if c in store.containers]
    for container in removed:
        store.remove_container(container.id)
    content = sum(store.freed_content().values()) - sum(store.buildkit_content().values())
    own, _ = containers_own_bytes(snapshot, removed)
    platforms = 0
    for image_id, manifest in result.removed_platforms:
        blobs, chains = platform_freed(snapshot, image_id, manifest)
        platforms += sum(blobs.values()) + snapshot.bytes_of(chains)
    return content + snapshot.bytes_of(store.freed_snapshots()) + own + platforms
