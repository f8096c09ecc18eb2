"""Small removal plans run on a per-snapshot working copy of the classic store and undo their
writes (tui/core/classic_scratch.py, issue 10): each plan equals the plan made on a store of its
own, the copy is as the snapshot shows it after every plan (also after an error), a busy copy is
not shared, and nothing kept per snapshot keeps the snapshot alive (not even in a cycle).
"""

from __future__ import annotations

import contextlib
import gc
import random
import weakref
from dataclasses import replace

import pytest

from tests.test_plan_fast_paths import _fresh, _store
from tui.core import plan as plan_module
from tui.core.classic import ClassicStore, PredictedRefusal, _base_store, per_snapshot
from tui.core.classic_scratch import borrowed_store
from tui.core.filters import PruneFilters
from tui.core.marking import plan_images
from tui.core.model import Snapshot
from tui.core.plan import Plan, plan_prune, plan_remove
from tui.core.protect import Protection


def _state(store: ClassicStore) -> tuple[object, ...]:
    return (
        dict(store.images),
        dict(store.kids),
        dict(store.refs),
        dict(store.refs.by_image),
        dict(store.containers),
        dict(store.users),
        dict(store.layer_refs),
        list(store.calls),
        dict(store.protected),
    )


def _requests(snap: Snapshot, rnd: random.Random, n: int) -> list[tuple[str, list[str], dict[str, object]]]:
    ids = sorted(snap.images)
    out: list[tuple[str, list[str], dict[str, object]]] = []
    for _ in range(n):
        picked = rnd.sample(ids, min(rnd.randint(1, 3), len(ids)))
        refs = [rnd.choice([i[7:19], i[7:9], i, *snap.images[i].refs]) for i in picked]
        if rnd.random() < 0.2:
            refs.append(rnd.choice(["nosuch", "Bad:Ref", "a"]))
        options: dict[str, object] = {
            "force": rnd.random() < 0.3,
            "with_stopped_containers": rnd.random() < 0.4,
        }
        if rnd.random() < 0.3:
            options["protection"] = Protection.build(images=[rnd.choice(["a*", "b:*", "e*"])])
        out.append(
            ("images" if rnd.random() < 0.3 else "rm", picked if rnd.random() < 0.3 else refs, options)
        )
    return out


def _make(snap: Snapshot, kind: str, refs: list[str], options: dict[str, object]) -> Plan:
    if kind == "images":
        return plan_images(snap, [r for r in refs if r in snap.images])
    return plan_remove(snap, refs, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", range(80))
def test_borrowed_plans_equal_plans_on_their_own_store(seed, monkeypatch):
    snap = _store(seed)
    requests = _requests(snap, random.Random(seed), 12)
    borrowed = [_make(snap, *r) for r in requests]
    scratch = per_snapshot(snap, "_classic_scratch")
    assert scratch is not None  # the small plans did run on the working copy
    assert _state(scratch.store) == _state(_base_store(snap))
    monkeypatch.setattr(plan_module, "_BORROW_UP_TO", -1)
    own = [_make(_fresh(snap), *r) for r in requests]
    assert per_snapshot(_fresh(snap), "_classic_scratch") is None
    assert borrowed == own


@pytest.mark.parametrize("seed", range(20))
def test_the_working_copy_is_as_the_snapshot_shows_it_after_every_plan(seed):
    snap = _store(seed)
    for request in _requests(snap, random.Random(seed), 8):
        _make(snap, *request)
        scratch = per_snapshot(snap, "_classic_scratch")
        if scratch is not None:
            assert _state(scratch.store) == _state(_base_store(snap))
            assert not scratch.journal and not scratch.lock.locked()


def test_an_error_inside_a_borrowed_plan_undoes_its_writes():
    snap = _store(3)
    deleted: set[str] = set()
    with pytest.raises(RuntimeError), borrowed_store(snap, None) as store:
        assert store is not None
        for image_id in sorted(snap.images):
            with contextlib.suppress(PredictedRefusal):
                store.delete(image_id, force=True)
        deleted = set(snap.images) - set(store.images)
        assert deleted and store.calls
        raise RuntimeError("mid-plan")
    scratch = per_snapshot(snap, "_classic_scratch")
    assert _state(scratch.store) == _state(_base_store(snap))
    assert deleted <= set(scratch.store.images)


def test_a_busy_working_copy_is_not_shared():
    snap = _store(5)
    ids = sorted(snap.images)
    expected = plan_remove(_fresh(snap), ids[:2], force=True)
    with borrowed_store(snap, None) as store:
        assert store is not None
        with borrowed_store(snap, None) as second:
            assert second is None  # in use: the caller makes its own store
        made = plan_remove(snap, ids[:2], force=True)  # same thread, copy busy: its own store
    assert made == expected


def test_a_snapshot_is_freed_after_its_plans():
    snap = _store(7)
    plan_remove(snap, sorted(snap.images)[:2])
    plan_prune(snap, PruneFilters(dangling=False))
    assert per_snapshot(snap, "_classic_base") is not None
    assert per_snapshot(snap, "_classic_scratch") is not None
    gone = weakref.ref(snap)
    # freed by its reference count alone: the stores kept on it do not refer back to it (the
    # app's collector runs full collections rarely, and a cycle would wait for one)
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        del snap
        assert gone() is None
    finally:
        if was_enabled:
            gc.enable()


@pytest.mark.parametrize("store", ["classic", "podman"])
def test_a_plan_that_meets_refusals_keeps_no_frames_alive(store):
    """A plan whose store raises refusals (unknown references, images in use, conflicts) leaves no
    exception in a cycle with its frames: those frames hold the snapshot, and the app's collector
    frees such cycles only in its rare full collections."""
    snap = _store(11)
    if store == "podman":
        # (Podman never lists the classic fixture's malformed "Bad:Ref")
        images = [replace(i, tags=tuple(t for t in i.tags if t.islower())) for i in snap.images.values()]
        snap = Snapshot(images, snap.containers, replace(snap.facts, image_store="podman"))
    refs = [*sorted(snap.images)[:4], "no-such-image:1", "abc123", "sha256:" + "f" * 64]
    plan = plan_remove(snap, refs)
    assert plan.blocked  # the unknown references at least
    if store == "classic":  # (the fixture's short names are not the full names Podman lists)
        assert plan_prune(snap, PruneFilters(dangling=False)).blocked  # images in use
    gone = weakref.ref(snap)
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        del snap, plan
        assert gone() is None
    finally:
        if was_enabled:
            gc.enable()
