"""The planner's per-snapshot indexes: plans on one snapshot do not leak into each other."""

from __future__ import annotations

from tests.storegen import container, make_image, snapshot
from tui.core.classic import ClassicStore, PredictedRefusal
from tui.core.filters import PruneFilters
from tui.core.marking import plan_images
from tui.core.plan import plan_prune, plan_remove
from tui.core.protect import Protection

BASE = [("base", 5_000)]


def _store():
    images = [
        make_image(f"i{n}", BASE + [(f"i{n}", 100 + n)], tags=[f"app:{n}"] if n % 2 else [])
        for n in range(40)
    ]
    child = make_image("child", BASE + [("i1", 101), ("child", 7)], tags=["child:1"], parent=images[1].id)
    return images + [child]


def test_plans_on_one_snapshot_match_plans_on_a_fresh_one():
    images = _store()
    users = [container("c", images[3]), container("r", images[5], "running")]
    shared = snapshot(images, users)
    first = [
        plan_prune(shared, PruneFilters(dangling=False)),
        plan_remove(shared, ["app:3", "app:7", images[2].id[7:19]], with_stopped_containers=True),
        plan_images(shared, [images[1].id, images[4].id]),
        plan_prune(shared, PruneFilters(), protection=Protection.build(["app:9"])),
    ]
    again = [
        plan_prune(shared, PruneFilters(dangling=False)),
        plan_remove(shared, ["app:3", "app:7", images[2].id[7:19]], with_stopped_containers=True),
        plan_images(shared, [images[1].id, images[4].id]),
        plan_prune(shared, PruneFilters(), protection=Protection.build(["app:9"])),
    ]
    fresh = [
        plan_prune(snapshot(images, users), PruneFilters(dangling=False)),
        plan_remove(
            snapshot(images, users), ["app:3", "app:7", images[2].id[7:19]], with_stopped_containers=True
        ),
        plan_images(snapshot(images, users), [images[1].id, images[4].id]),
        plan_prune(snapshot(images, users), PruneFilters(), protection=Protection.build(["app:9"])),
    ]
    assert first == again == fresh
    assert first[0].delete and first[1].remove_containers


def test_short_id_prefixes_resolve_against_the_images_still_there():
    images = _store()
    store = ClassicStore(snapshot(images))
    for image in images:
        assert store.resolve(image.id[7:19]) == image.id
        assert store.resolve(image.id) == image.id
    by_first = {}
    for image in images:
        by_first.setdefault(image.id[7], []).append(image)
    letter, twins = next((k, v) for k, v in by_first.items() if len(v) == 2)
    try:
        store.resolve(letter)
        raise AssertionError("an ambiguous prefix resolved")
    except PredictedRefusal as exc:
        assert exc.reason == "ambiguous reference"
    store.delete(twins[0].id, force=True)
    assert store.resolve(letter) == twins[1].id  # the other one is gone: the prefix is unique now
    assert ClassicStore(snapshot(images)).images.keys() == {i.id for i in images}
