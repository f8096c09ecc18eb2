"""What a removal or prune will do: the exact plan shown before anything is deleted.

``plan_remove`` and ``plan_prune`` replay the engine's rules (:mod:`tui.core.classic`) on a copy of
the snapshot and return a :class:`Plan` (made in :mod:`tui.core.plan_result`): the references
untagged, the image ids deleted, the layers released and their exact bytes, what is blocked and by
which containers, and the ordered engine calls (:class:`Step`) the executor makes. The TUI and the
headless commands use these same plans.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from functools import wraps
from types import MappingProxyType
from typing import ParamSpec
from weakref import WeakKeyDictionary

from tui.core import containerd, containerd_prune, podman
from tui.core.classic import (
    ClassicStore,
    DeleteCall,
    PredictedRefusal,
    PruneOutcome,
    Record,
    loses_some_references,
    prune,
)
from tui.core.classic_scratch import borrowed_store
from tui.core.filters import PruneFilters
from tui.core.model import Container, Snapshot, short_id
from tui.core.plan_result import REASON_FIX as REASON_FIX
from tui.core.plan_result import Blocked as Blocked
from tui.core.plan_result import Plan as Plan
from tui.core.plan_result import Planned, Store, collector_paused, finish_plan
from tui.core.plan_result import Step as Step
from tui.core.plan_result import with_seen_state as with_seen_state
from tui.core.protect import Protection
from tui.core.views import display_name

_P = ParamSpec("_P")


def _gc_paused(fn: Callable[_P, Plan]) -> Callable[_P, Plan]:
    """``fn`` run under :func:`collector_paused`."""

    @wraps(fn)
    def run(*args: _P.args, **kwargs: _P.kwargs) -> Plan:
        with collector_paused():
            return fn(*args, **kwargs)

    return run


PruneFn = Callable[..., PruneOutcome]


def _store_model(
    snapshot: Snapshot, protected: Mapping[str, str] | None = None, *, engine_semantics: bool = False
) -> tuple[Store, PruneFn]:
    """The model of the snapshot's engine and store, and its prune replay."""
    if snapshot.facts.image_store == "podman":
        return podman.PodmanStore(snapshot, protected, safe=not engine_semantics), podman.prune
    if snapshot.containerd:
        return containerd.ContainerdStore(snapshot, protected), containerd_prune.prune
    return ClassicStore(snapshot, protected), prune


_PROTECTED: WeakKeyDictionary[Snapshot, dict[Protection, Mapping[str, str]]] = WeakKeyDictionary()


def _protected(snapshot: Snapshot, protection: Protection) -> Mapping[str, str]:
    """``protection.protected(snapshot)``, matched once per snapshot (not per plan or cursor move)."""
    per_snapshot = _PROTECTED.setdefault(snapshot, {})
    found = per_snapshot.get(protection)
    if found is None:
        found = per_snapshot[protection] = MappingProxyType(dict(protection.protected(snapshot)))
    return found


def _blocked(ref: str, exc: PredictedRefusal) -> Blocked:
    return Blocked(ref, exc.image_id, exc.reason, exc.message, exc.containers)


@_gc_paused
def plan_remove(
    snapshot: Snapshot,
    refs: Iterable[str],
    *,
    force: bool = False,
    with_stopped_containers: bool = False,
    protection: Protection | None = None,
) -> Plan:
    """Plan ``docker rmi [-f] REF...`` (each in turn, continuing past failures like the CLI).

    ``with_stopped_containers`` first removes the stopped containers that keep an image from being
    deleted (never running ones), so the removal frees its bytes.
    """
    ref_list = list(refs)
    protected = _protected(snapshot, protection) if protection else None
    if len(ref_list) <= _BORROW_UP_TO and not snapshot.containerd and snapshot.facts.image_store != "podman":
        with borrowed_store(snapshot, protected) as borrowed:  # no copy of the whole store
            if borrowed is not None:
                return _plan_remove(snapshot, borrowed, ref_list, force, with_stopped_containers)
    store, _ = _store_model(snapshot, protected)
    return _plan_remove(snapshot, store, ref_list, force, with_stopped_containers)


_BORROW_UP_TO = 64  # references; a larger removal writes enough for its own copy to pay


def _plan_remove(
    snapshot: Snapshot, store: Store, ref_list: list[str], force: bool, with_stopped_containers: bool
) -> Plan:
    steps: list[Planned] = []
    blocked: list[Blocked] = []
    warnings: list[str] = []
    container_chains: list[str] = []
    for ref in ref_list:
        if with_stopped_containers:
            for container in _containers_to_remove(store, ref, force):
                container_chains.extend(store.remove_container(container.id))
                steps.append(Step("remove_container", container.id, container.image_id, container=container))
        start = len(store.calls)
        try:
            image_id = store.resolve(ref)
            if type(store) is ClassicStore:  # the same lookup again, skipped
                records = store.delete_resolved(ref, image_id, force=force, explicit_parents=True)
            else:
                records = store.delete(ref, force=force, prune=True, explicit_parents=True)
        except PredictedRefusal as exc:
            blocked.append(_blocked(ref, exc))
            continue
        steps.extend(store.calls[start:])
        if image_id in store.images and not store.references(image_id):
            users = store.containers_using(image_id)
            if users and not any(r.kind == "Deleted" for r in records):
                names = ", ".join(c.name or c.short_id for c in users)
                warnings.append(
                    f"{ref}: only untagged; the image stays as <none> because container(s) {names} use it"
                )
    what = "force-remove" if force else "remove"
    extra = " with their stopped containers" if with_stopped_containers else ""
    description = f"{what} {', '.join(ref_list)}{extra}"
    return finish_plan(
        "rm", description, snapshot, store, steps, blocked, warnings, force, container_chains=container_chains
    )


def _containers_to_remove(store: Store, ref: str, force: bool) -> list[Container]:
    """Stopped containers whose removal lets ``ref``'s removal delete the image and free bytes."""
    try:
        image_id = store.resolve(ref)
    except PredictedRefusal:
        return []
    if image_id in store.protected:
        return []
    users = store.containers_using(image_id)
    if not users or any(c.running for c in users):
        return []
    # With users present the delete either fails or (forced) frees nothing: try it without them.
    trial = store.clone()
    for container in users:
        trial.remove_container(container.id)
    try:
        trial.delete(ref, force=force)
    except PredictedRefusal:
        return []
    return users if image_id not in trial.images else []


def _blocking_stopped_containers(
    snapshot: Snapshot, filters: PruneFilters, protected: Mapping[str, str]
) -> list[Container]:
    """Stopped containers that alone keep a prune candidate (matching ``filters``) alive."""
    trial, prune_model = _store_model(snapshot, protected)
    for container in list(trial.containers.values()):
        trial.remove_container(container.id)
    prune_model(trial, filters)
    would_go = set(snapshot.images) - set(trial.images)
    running_images = {c.image_id for c in snapshot.containers if c.running}
    return [
        c
        for c in sorted(snapshot.containers, key=lambda c: c.name)
        if not c.running and c.image_id in would_go and c.image_id not in running_images
    ]


@_gc_paused
def plan_prune(
    snapshot: Snapshot,
    filters: PruneFilters,
    *,
    engine_semantics: bool = False,
    with_stopped_containers: bool = False,
    protection: Protection | None = None,
) -> Plan:
    """Plan an image prune with ``filters``.

    By default this is docker-sweep's prune: the engine's candidate rules, but an image the engine
    would only strip of some tags (in use, or a parent kept by its children, moby #36295) is left
    whole and shown as blocked. ``engine_semantics=True`` predicts the engine's own
    ``POST /images/prune`` exactly, partial untags included.

    A plan is remembered per snapshot: the same prune asked again on the same snapshot (the df
    summary, the prune dialog's preview, the confirm screen) returns the plan already made (plans
    and snapshots are immutable). The last few per snapshot only (a chart asks for ``until``
    filters relative to the time of drawing; a 20,000-image plan holds some 100,000 objects).
    """
    key = (filters, engine_semantics, with_stopped_containers, protection)
    with _PLANS_LOCK:
        made = _PLANS.get(snapshot, {}).get(key)
    if made is None:
        made = _plan_prune(snapshot, filters, engine_semantics, with_stopped_containers, protection)
        with _PLANS_LOCK:
            kept = _PLANS.setdefault(snapshot, {})
            kept[key] = made
            while len(kept) > _PLANS_PER_SNAPSHOT:
                del kept[next(iter(kept))]  # the oldest
    return made


_PruneKey = tuple[PruneFilters, bool, bool, Protection | None]
_PLANS: WeakKeyDictionary[Snapshot, dict[_PruneKey, Plan]] = WeakKeyDictionary()
_PLANS_LOCK = threading.Lock()
_PLANS_PER_SNAPSHOT = 4


def _plan_prune(
    snapshot: Snapshot,
    filters: PruneFilters,
    engine_semantics: bool,
    with_stopped_containers: bool,
    protection: Protection | None,
) -> Plan:
    warnings = list(filters.notes)
    protected = _protected(snapshot, protection) if protection and not engine_semantics else {}
    removals = _blocking_stopped_containers(snapshot, filters, protected) if with_stopped_containers else []
    exclude = (
        frozenset()
        if engine_semantics
        else _in_use_untag_only(snapshot, filters, protected, frozenset(c.id for c in removals))
    )
    container_steps: list[Planned] = [
        Step("remove_container", c.id, c.image_id, container=c) for c in removals
    ]
    while True:
        store, prune_model = _store_model(snapshot, protected, engine_semantics=engine_semantics)
        container_chains = [ch for c in removals for ch in store.remove_container(c.id)]
        outcome = prune_model(store, filters, exclude=exclude)
        if engine_semantics or not outcome.untagged_only:
            break
        exclude = exclude | frozenset(outcome.untagged_only)
    blocked: dict[str, Blocked] = {}
    for exc in outcome.skipped:
        if exc.image_id in store.images and exc.image_id not in blocked:
            name = _usable_ref(snapshot, exc.image_id)
            blocked[exc.image_id] = Blocked(
                name, exc.image_id, exc.reason, _prune_skip_message(exc), exc.containers
            )
    for image_id in sorted(exclude):
        users = tuple(store.containers_using(image_id))
        name = _usable_ref(snapshot, image_id)
        reason = "untag only"
        message = "the engine's prune would remove some of its tags but keep the image"
        if users:
            message += " (used by " + ", ".join(c.name or c.short_id for c in users) + ")"
        blocked.setdefault(image_id, Blocked(name, image_id, reason, message, users))
        warnings.append(f"docker image prune would untag {name} but keep it; docker-sweep leaves it")
    if engine_semantics:
        for image_id in outcome.untagged_only:
            warnings.append(f"{_display_name(snapshot, image_id)} loses tags but stays (moby #36295)")
    steps = container_steps + store.calls
    if snapshot.containerd and not engine_semantics:
        # The executor deletes a dangling image by its ID: DELETE /images/{id} answers no
        # `Untagged: sha256:<id>` line (POST /images/prune does), so the plan must not show one.
        steps = [
            replace(s, records=tuple(r for r in s.records if r != Record("Untagged", s.image_id)))
            if isinstance(s, DeleteCall)
            else s
            for s in steps
        ]
    description = filters.describe()
    if with_stopped_containers:
        description = f"{description}, first removing the stopped containers that keep them"
    plan = finish_plan(
        "prune",
        description,
        snapshot,
        store,
        steps,
        list(blocked.values()),
        warnings,
        filters=filters,
        container_chains=container_chains,
    )
    if snapshot.facts.image_store == "podman" and plan.delete:
        note = podman.estimate_note(snapshot, list(plan.delete), plan.reclaim_bytes)
        plan = replace(plan, warnings=(*plan.warnings, note))
    return plan


def _in_use_untag_only(
    snapshot: Snapshot, filters: PruneFilters, protected: Mapping[str, str], removed: frozenset[str]
) -> frozenset[str]:
    """Prune candidates the engine would only strip of some references (moby #36295): images in
    use by a container whose references are not a single reference. docker-sweep leaves them
    whole; knowing them before the run saves a second run of the whole prune. Leaving them out
    changes nothing else (a used image is never pruned as a parent), so the plan is the same as
    excluding them after a first run. Parents kept by their children are still found by the run.
    ``removed``: containers the plan removes first (they no longer keep an image in use)."""
    if snapshot.containerd or snapshot.facts.image_store == "podman":
        return frozenset()
    users = snapshot.containers_by_image
    found: set[str] = set()
    for image_id, using in users.items():
        if all(c.id in removed for c in using):
            continue
        image = snapshot.images.get(image_id)
        if image is None or image_id in protected or len(image.refs) < 2:
            continue
        if filters.dangling and (image.tags or snapshot.children.get(image_id)):
            continue
        if filters.until is not None and image.created_at_ns > filters.until.ns:
            continue
        if image.has_config and not filters.matches_labels(image.labels):
            continue
        if loses_some_references(snapshot, image_id):
            found.add(image_id)
    return frozenset(found)


def _prune_skip_message(exc: PredictedRefusal) -> str:
    """Why a prune leaves a candidate alone (the engine skips these silently)."""
    if exc.containers:
        users = ", ".join(
            f"{c.name or c.short_id} ({'running' if c.running else c.state})" for c in exc.containers
        )
        return f"kept: used by container {users}; prune never removes images containers use"
    if exc.reason == "dependent child images":
        return "kept: other images are built on it"
    return exc.message


def _usable_ref(snapshot: Snapshot, image_id: str) -> str:
    """A reference the user can paste into ``rm``: the first tag, else the first digest reference
    (``repo@sha256:...``), else the image id."""
    image = snapshot.images.get(image_id)
    if image is None:
        return image_id
    return (image.tags or image.digests or (image_id,))[0]


def _display_name(snapshot: Snapshot, image_id: str) -> str:
    image = snapshot.images.get(image_id)
    return display_name(image, with_id=True) if image is not None else short_id(image_id)
