"""The planner's speed-ups (issue 10) change no plan: each is checked against a straightforward
reference on random stores with awkward references (the same reference listed twice, by two
images, in another spelling, ``name:tag@digest``, invalid ones), parent chains and containers.

tests/test_prune_fast_path.py checks the prune replay's fast path the same way; the real engine
checks the plans in tests/test_differential.py.
"""

from __future__ import annotations

import gc
import random
from collections.abc import Sequence

import pytest

from tests.storegen import container, make_image
from tui.core.classic import _base_store
from tui.core.filters import PruneFilters
from tui.core.marking import plan_images
from tui.core.model import Snapshot
from tui.core.plan import Plan, Step, plan_prune, plan_remove
from tui.core.reference import InvalidReference, parse_normalized_named, tag_name_only

DIGEST = "sha256:" + "ab" * 32
NAMES = [
    "a",
    "a:latest",
    "docker.io/library/a:latest",
    "b:1",
    "b:2",
    f"b@{DIGEST}",
    f"b:1@{DIGEST}",
    "Bad:Ref",
    "localhost:5000/c:x",
    f"localhost:5000/c@{DIGEST}",
    "index.docker.io/d:1",
    "d:1",
    "e",
    "e:2",
    f"e@{DIGEST}",
]


def _store(seed: int) -> Snapshot:
    rnd = random.Random(seed)
    images = []
    for n in range(rnd.randint(3, 12)):
        refs = rnd.sample(NAMES, rnd.randint(0, 4))
        parent = images[-1].id if images and rnd.random() < 0.3 else ""
        images.append(
            make_image(
                f"f{seed}i{n}",
                [("base", 50), (f"f{seed}i{n}", n + 1)],
                tags=[r for r in refs if "@" not in r],
                digests=[r for r in refs if "@" in r],
                parent=parent,
            )
        )
    users = rnd.sample(images, rnd.randint(0, 3))
    containers = [container(f"k{k}", i, rnd.choice(["running", "exited"])) for k, i in enumerate(users)]
    return Snapshot(images, containers)


def _fresh(snap: Snapshot) -> Snapshot:
    """The same store as a new snapshot: nothing made for ``snap`` is reused."""
    return Snapshot(snap.images.values(), snap.containers, snap.facts, snap.disk, snap.taken_at)


def _reference_seen(snap: Snapshot, steps: Sequence[Step]) -> list[tuple[object, object]]:
    """Each step's seen state, replayed the plain way: the image's references and containers
    minus what the earlier steps untag or remove."""
    refs_gone: set[str] = set()
    containers_gone: set[str] = set()
    out: list[tuple[object, object]] = []
    for step in steps:
        image = snap.images.get(step.image_id)
        if step.action == "delete_image" and image is not None:
            users = snap.containers_by_image.get(step.image_id, ())
            out.append(
                (
                    tuple(r for r in image.refs if r not in refs_gone),
                    tuple(c.id for c in users if c.id not in containers_gone),
                )
            )
        else:
            out.append((None, None))
        refs_gone.update(r.value for r in step.expect if r.kind == "Untagged")
        if step.container is not None:
            containers_gone.add(step.container.id)
    return out


def _plans(snap: Snapshot, rnd: random.Random) -> list[Plan]:
    ids = sorted(snap.images)
    refs = [rnd.choice([i[7:19], i[7:9], i, *snap.images[i].refs]) for i in rnd.sample(ids, min(5, len(ids)))]
    return [
        plan_prune(snap, PruneFilters(dangling=False)),
        plan_prune(snap, PruneFilters(), engine_semantics=True),
        plan_prune(snap, PruneFilters(dangling=False), with_stopped_containers=True),
        plan_remove(snap, [*refs, "nosuch", "Bad:Ref"]),
        plan_remove(snap, refs, force=True, with_stopped_containers=True),
        plan_images(snap, rnd.sample(ids, min(3, len(ids)))),
    ]


@pytest.mark.parametrize("seed", range(60))
def test_seen_state_and_effects_equal_a_plain_replay(seed):
    snap = _store(seed)
    for plan in _plans(snap, random.Random(seed)):
        assert [(s.seen_refs, s.seen_containers) for s in plan.steps] == _reference_seen(snap, plan.steps)
        records = [r for s in plan.steps for r in s.expect]
        assert list(plan.untag) == [r.value for r in records if r.kind == "Untagged"]
        assert list(plan.delete) == [
            r.value for r in records if r.kind == "Deleted" and r.value in snap.images
        ]


@pytest.mark.parametrize("seed", range(60))
def test_reference_index_equals_one_built_from_the_owners(seed):
    snap = _store(seed)
    owner: dict[str, str] = {}
    for image in snap.images.values():
        for text in image.refs:
            try:
                ref = parse_normalized_named(text)
            except InvalidReference:
                continue
            owner[tag_name_only(ref).string()] = image.id  # the last image listing it wins
    by_image: dict[str, list[str]] = {}
    for key, image_id in owner.items():
        by_image.setdefault(image_id, []).append(key)
    base = _base_store(snap)
    assert dict(base.refs) == owner
    assert base.refs.by_image == {k: tuple(sorted(v)) for k, v in by_image.items()}


@pytest.mark.parametrize("seed", range(30))
def test_plans_on_a_planned_snapshot_equal_plans_on_a_new_one(seed):
    snap = _store(seed)
    first = _plans(snap, random.Random(seed))
    again = _plans(snap, random.Random(seed))
    assert again == first
    assert again[0] is first[0]  # the prune plan is remembered per snapshot
    assert _plans(_fresh(snap), random.Random(seed)) == first


def test_a_plan_leaves_the_collector_as_it_found_it():
    snap = _store(1)
    was = gc.isenabled()
    try:
        gc.enable()
        plan_prune(_fresh(snap), PruneFilters(dangling=False))
        assert gc.isenabled()
        gc.disable()
        plan_prune(_fresh(snap), PruneFilters(dangling=False))
        assert not gc.isenabled()
        gc.enable()
        someone_elses = [object()]
        gc.freeze()  # someone else's frozen objects stay frozen (the count may go down: a plan
        # frees what earlier plans left, by reference counts)
        plan_prune(_fresh(snap), PruneFilters(dangling=False))
        assert gc.get_freeze_count() > 0
        assert not any(o is someone_elses for g in range(3) for o in gc.get_objects(generation=g))
    finally:
        gc.unfreeze()
        if not was:
            gc.disable()


def test_only_the_last_few_prune_plans_are_remembered():
    snap = _store(2)
    first = plan_prune(snap, PruneFilters(dangling=False))
    for n in range(6):  # other prunes (a chart's until filters) push it out
        plan_prune(snap, PruneFilters(dangling=False, labels=(f"x{n}",)))
    again = plan_prune(snap, PruneFilters(dangling=False))
    assert again == first and again is not first
