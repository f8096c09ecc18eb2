"""A plan's steps are made on the first read of ``Plan.steps`` (issue 10): the plan's totals come
first, the ~35,000 steps of a 20,000-image prune only when the confirm screen, the executor or
``--json`` asks. It must not show: the same steps as a plan built with them, one tuple for every
reader (also threads reading at once), an immutable plan, and no snapshot kept alive.
"""

from __future__ import annotations

import dataclasses
import gc
import random
import threading
import weakref

import pytest

from tests.test_plan_fast_paths import _fresh, _store
from tests.test_prune_fast_path import _random_store
from tui.core.classic import ClassicStore, prune
from tui.core.filters import PruneFilters
from tui.core.plan import plan_prune, plan_remove
from tui.core.plan_result import Plan, Step, with_seen_state


def _unread(plan: Plan) -> bool:
    return not isinstance(plan.__dict__["_steps"], tuple)


@pytest.mark.parametrize("seed", range(30))
def test_steps_made_on_first_read_equal_steps_made_from_the_replay(seed):
    snap = _random_store(seed)
    # the engine's own prune: its steps are the replay's calls as they are
    plan = plan_prune(_fresh(snap), PruneFilters(dangling=False), engine_semantics=True)
    assert _unread(plan)
    empty, count = plan.empty, plan.step_count  # known before the steps are made
    assert _unread(plan)
    store = ClassicStore(snap)
    prune(store, PruneFilters(dangling=False))
    expected = with_seen_state(snap, store.calls)
    assert plan.steps == expected
    assert empty == (not expected) and count == len(expected) == plan.step_count
    assert plan.steps is plan.steps  # made once
    built = dataclasses.replace(plan, steps=expected)
    assert built == plan and hash(built) == hash(plan) and repr(built) == repr(plan)


@pytest.mark.parametrize("seed", range(10))
def test_plans_with_unread_steps_equal_read_ones(seed):
    snap = _store(seed)
    ids = sorted(snap.images)
    refs = [i[7:19] for i in random.Random(seed).sample(ids, min(3, len(ids)))]
    read = plan_remove(_fresh(snap), refs, force=True)
    assert read.steps is read.steps
    unread = plan_remove(_fresh(snap), refs, force=True)
    assert _unread(unread)
    assert unread == read
    assert repr(unread) == repr(read)
    assert unread.to_json() == read.to_json()


def test_threads_reading_the_steps_at_once_get_one_tuple():
    snap = _random_store(3)
    for _ in range(20):
        plan = plan_prune(_fresh(snap), PruneFilters(dangling=False))
        seen: list[tuple[Step, ...]] = []
        start = threading.Barrier(8)

        def read(
            plan: Plan = plan, start: threading.Barrier = start, seen: list[tuple[Step, ...]] = seen
        ) -> None:
            start.wait()
            seen.append(plan.steps)

        threads = [threading.Thread(target=read) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(seen) == 8 and all(s is seen[0] for s in seen)


def test_the_plan_stays_immutable():
    plan = plan_prune(_random_store(1), PruneFilters(dangling=False))
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.steps = ()  # type: ignore[misc]
    assert _unread(plan)
    assert Plan("rm", "nothing").steps == () and Plan("rm", "nothing").empty


def test_unread_steps_keep_no_snapshot_alive():
    snap = _random_store(2)
    plan = plan_prune(snap, PruneFilters(dangling=False))
    assert _unread(plan)
    gone = weakref.ref(snap)
    del snap
    gc.collect()
    assert gone() is None
    assert plan.steps  # still made from what the plan kept
