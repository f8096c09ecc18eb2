"""Prune's fast path equals the reference replay.

``plan_prune`` removes plain images (no containers, children, protection) by a fast path and
leaves in-use multi-reference images out before the run instead of running the prune twice. Both
must give exactly the plan of the reference replay (each reference through ``ClassicStore.delete``,
then a second run excluding what only lost tags), which tests/test_differential.py checks against
the real engine. Random stores with shared repositories, digests, parent chains and containers.
"""

from __future__ import annotations

import random

import pytest

from tests.storegen import container, make_image, snapshot
from tui.core import classic
from tui.core import plan as plan_module
from tui.core.filters import PruneFilters
from tui.core.model import Image, Layer, Snapshot
from tui.core.plan import plan_prune
from tui.core.protect import Protection


def _random_store(seed: int) -> Snapshot:
    rnd = random.Random(seed)
    images = []
    parent = ""
    for n in range(rnd.randint(20, 60)):
        repo = f"r{rnd.randint(0, 4)}"
        tags = [f"{repo}:{n}"] if rnd.random() < 0.6 else []
        if tags and rnd.random() < 0.4:
            tags.append(f"{repo if rnd.random() < 0.5 else 'other'}:{n}b")
        digests = [f"{repo}@{'sha256:' + format(n, '064x')}"] if rnd.random() < 0.3 else []
        use_parent = parent if rnd.random() < 0.3 else ""
        image = make_image(
            f"s{seed}i{n}",
            [("base", 1000), (f"s{seed}i{n}", 10 + n)],
            tags=tags,
            digests=digests,
            parent=use_parent,
            labels={"keep": "1"} if rnd.random() < 0.2 else {},
        )
        images.append(image)
        if rnd.random() < 0.3:
            parent = image.id
    containers = [
        container(f"c{k}", img, "running" if rnd.random() < 0.4 else "exited")
        for k, img in enumerate(rnd.sample(images, k=min(len(images), rnd.randint(0, 8))))
    ]
    return snapshot(images, containers)


def _reference_plan(snap: Snapshot, monkeypatch: pytest.MonkeyPatch, **kwargs: object):
    # A new snapshot of the same store: nothing made for ``snap`` (its indexes, its base store,
    # the plans remembered for it) is reused.
    fresh = Snapshot(snap.images.values(), snap.containers, snap.facts, snap.disk, snap.taken_at)
    with monkeypatch.context() as m:
        m.setattr(classic, "_FAST_PRUNE", False)
        m.setattr(plan_module, "_in_use_untag_only", lambda *a: frozenset())
        return plan_prune(fresh, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", range(40))
def test_fast_prune_plan_equals_the_reference_replay(seed, monkeypatch):
    snap = _random_store(seed)
    for filters in (
        PruneFilters(dangling=False),
        PruneFilters(),
        PruneFilters(dangling=False, labels=("keep=1",)),
    ):
        for engine_semantics in (False, True):
            kwargs = {"filters": filters, "engine_semantics": engine_semantics}
            assert plan_prune(snap, **kwargs) == _reference_plan(snap, monkeypatch, **kwargs)
    protection = Protection(images=("r1:*",))
    kwargs = {"filters": PruneFilters(dangling=False), "protection": protection}
    assert plan_prune(snap, **kwargs) == _reference_plan(snap, monkeypatch, **kwargs)
    kwargs = {"filters": PruneFilters(dangling=False), "with_stopped_containers": True}
    assert plan_prune(snap, **kwargs) == _reference_plan(snap, monkeypatch, **kwargs)


def test_a_freed_layer_whose_id_is_an_image_id_is_a_deleted_image(monkeypatch):
    # The plan counts a ``Deleted`` id that names an image as that image's deletion, not a
    # layer's: a run of plain prunes whose freed layers include one (its totals' slow branch).
    a, b, c = ("sha256:" + x * 64 for x in "abc")
    images = [
        Image(a, tags=("x:1",), size=5, layers=(Layer(b, b, 5),)),
        Image(b, tags=("y:1", "y:2"), size=7, layers=(Layer(c, c, 7),)),
        Image(c, digests=("z@sha256:" + "d" * 64,), size=3, layers=(Layer("sha256:" + "e" * 64, "e", 3),)),
    ]
    snap = Snapshot(images)
    plan = plan_prune(snap, PruneFilters(dangling=False))
    assert plan == _reference_plan(snap, monkeypatch, filters=PruneFilters(dangling=False))
    assert plan.delete == (a, b, b, c, c)
    assert plan.freed_layers == ("sha256:" + "e" * 64,)


def test_a_copy_of_the_store_and_the_store_log_their_later_prunes_apart():
    # A trial copy made in the middle of a run of plain prunes shares the calls logged so far:
    # what either store prunes afterwards is logged by that store alone.
    a, b, c = (make_image(n, [(n, 10)], tags=[f"{n}:1"]) for n in "abc")
    store = classic.ClassicStore(snapshot([a, b, c]), {})
    store.prune_plain(a.id, False)
    trial = store.clone()
    store.prune_plain(b.id, False)
    trial.prune_plain(c.id, False)

    def pruned(calls: list[object]) -> list[str]:
        return [i for call in calls if isinstance(call, classic.PlainPrunes) for i in call.image_ids]

    assert pruned(store.calls) == [a.id, b.id]
    assert pruned(trial.calls) == [a.id, c.id]
