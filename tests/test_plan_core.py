"""Pure planner tests on hand-built snapshots (the engine tests show the same rules on a real engine)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.storegen import container, make_image, snapshot
from tui.core.filters import FilterError, PruneFilters, parse_filters
from tui.core.layers import HistoryStep, chain_ids, layer_sizes
from tui.core.model import EMPTY_LAYER_DIFF_ID
from tui.core.plan import plan_prune, plan_remove

NOW = 1_800_000_000.0


def chains_freed(snap, removed_images):
    """Chains released if ``removed_images`` went: those no remaining image or container holds."""
    removed = [i for i in removed_images if i in snap.images]
    live = snap.live_chains(removed)
    return {c for i in removed for c in snap.images[i].chain_ids if c not in live}


BASE = [("base", 5_000_000)]


def _app_store():
    v1 = make_image("v1", BASE + [("v1", 1_000)], tags=["myapp:1.5.0"])
    v2 = make_image("v2", BASE + [("v2", 2_000)], tags=["myapp:2.0.0", "myapp:latest"])
    web = make_image("web", [("web", 300)], tags=["web:1"], digests=["web@sha256:" + "a" * 64])
    return v1, v2, web


def test_remove_tag_sharing_base_frees_only_unique_layer():
    v1, v2, web = _app_store()
    plan = plan_remove(snapshot([v1, v2, web]), ["myapp:1.5.0"])
    assert plan.untag == ("myapp:1.5.0",)
    assert plan.delete == (v1.id,)
    assert plan.freed_layers == (v1.chain_ids[1],)
    assert plan.reclaim_bytes == 1_000
    assert not plan.blocked


def test_one_of_several_tags_only_untags_even_with_a_running_container():
    v1, v2, web = _app_store()
    c = container("run", v2, "running")
    plan = plan_remove(snapshot([v1, v2, web], [c]), ["myapp:latest"])
    assert plan.untag == ("myapp:latest",)
    assert plan.delete == ()
    assert plan.reclaim_bytes == 0


def test_last_tag_with_stopped_container_is_blocked_and_fixable():
    v1, v2, web = _app_store()
    c = container("old", v1)
    snap = snapshot([v1, v2, web], [c])
    plan = plan_remove(snap, ["myapp:1.5.0"])
    assert plan.delete == () and plan.untag == ()
    (blocked,) = plan.blocked
    assert blocked.reason == "stopped container" and blocked.containers == (c,)
    assert "must force" in blocked.message
    forced = plan_remove(snap, ["myapp:1.5.0"], force=True)
    assert forced.delete == (v1.id,) and forced.reclaim_bytes == 0 and forced.pinned == (v1.id,)
    fixed = plan_remove(snap, ["myapp:1.5.0"], with_stopped_containers=True)
    assert fixed.remove_containers == (c,)
    assert fixed.delete == (v1.id,) and fixed.reclaim_bytes == 1_000
    assert [s.action for s in fixed.steps] == ["remove_container", "delete_image"]


def test_running_container_blocks_and_force_only_untags():
    v1, v2, web = _app_store()
    c = container("run", v1, "running")
    snap = snapshot([v1, v2, web], [c])
    assert plan_remove(snap, ["myapp:1.5.0"]).blocked[0].reason == "running container"
    forced = plan_remove(snap, ["myapp:1.5.0"], force=True)
    assert forced.untag == ("myapp:1.5.0",) and forced.delete == ()
    by_id = plan_remove(snap, [v1.id], force=True)
    assert by_id.blocked[0].reason == "running container"
    assert "cannot be forced" in by_id.blocked[0].message
    never = plan_remove(snap, ["myapp:1.5.0"], with_stopped_containers=True)
    assert never.remove_containers == ()


def test_by_id_with_two_tags_needs_force():
    v1, v2, web = _app_store()
    snap = snapshot([v1, v2, web])
    plan = plan_remove(snap, [v2.short_id])
    assert plan.blocked[0].reason == "referenced in multiple repositories"
    forced = plan_remove(snap, [v2.short_id], force=True)
    assert set(forced.untag) == {"myapp:2.0.0", "myapp:latest"}
    assert forced.delete == (v2.id,) and forced.reclaim_bytes == 2_000


def test_unknown_and_invalid_references_are_blocked_and_others_go_on():
    v1, v2, web = _app_store()
    plan = plan_remove(snapshot([v1, v2, web]), ["nope:1", "Bad", "myapp:1.5.0"])
    reasons = [b.reason for b in plan.blocked]
    assert reasons == ["unknown reference", "invalid reference"]
    assert plan.blocked[0].message == "No such image: nope:1"
    assert plan.delete == (v1.id,)


def test_removing_last_tag_also_drops_same_repo_digests():
    v1, v2, web = _app_store()
    plan = plan_remove(snapshot([v1, v2, web]), ["web:1"])
    assert plan.untag == ("web:1", "web@sha256:" + "a" * 64)
    assert plan.delete == (web.id,)


def test_parent_is_pruned_as_explicit_step_and_blocked_by_id():
    parent = make_image("p", BASE + [("p", 10)])
    child = make_image("c", BASE + [("p", 10), ("c", 20)], tags=["child:1"], parent=parent.id)
    snap = snapshot([parent, child])
    assert snap.is_intermediate(parent.id) and not snap.is_dangling(parent.id)
    plan = plan_remove(snap, ["child:1"])
    assert plan.delete == (child.id, parent.id)
    assert plan.reclaim_bytes == 5_000_030
    assert [s.target for s in plan.steps] == ["child:1", parent.id]
    blocked = plan_remove(snap, [parent.id])
    assert blocked.blocked[0].reason == "dependent child images"


def test_prune_dangling_and_all():
    v1, v2, web = _app_store()
    dangling = make_image("d", [("d", 7)])
    digest_only = make_image("do", [("do", 9)], digests=["x@sha256:" + "b" * 64])
    c = container("run", v2, "running")
    snap = snapshot([v1, v2, web, dangling, digest_only], [c])
    plan = plan_prune(snap, PruneFilters(dangling=True))
    assert set(plan.delete) == {dangling.id, digest_only.id}
    assert plan.reclaim_bytes == 16
    everything = plan_prune(snap, PruneFilters(dangling=False))
    assert set(everything.delete) == {dangling.id, digest_only.id, v1.id, web.id}
    assert everything.reclaim_bytes == 16 + 1_000 + 300
    (blocked,) = everything.blocked
    assert blocked.image_id == v2.id and blocked.containers == (c,)
    assert everything.untag.count("myapp:latest") == 0
    engine = plan_prune(snap, PruneFilters(dangling=False), engine_semantics=True)
    assert "myapp:2.0.0" in engine.untag and "myapp:latest" not in engine.untag  # moby #36295


def test_prune_filters_until_and_labels():
    old = make_image("old", [("o", 1)], tags=["a:old"], created=NOW - 10 * 86400, labels={"env": "dev"})
    new = make_image("new", [("n", 2)], tags=["a:new"], created=NOW - 3600, labels={"env": "dev"})
    keep = make_image(
        "keep", [("k", 4)], tags=["a:keep"], created=NOW - 20 * 86400, labels={"env": "dev", "keep": "1"}
    )
    snap = snapshot([old, new, keep])
    f = parse_filters(["until=7d"], all_images=True, now=NOW)
    assert f.until is not None and f.until.timestamp == NOW - 7 * 86400 and "168h" in f.notes[0]
    assert set(plan_prune(snap, f).delete) == {old.id, keep.id}
    f = parse_filters(["label=env=dev", "label!=keep"], all_images=True, now=NOW)
    assert set(plan_prune(snap, f).delete) == {old.id, new.id}
    f = parse_filters(["label=env=prod"], all_images=True, now=NOW)
    assert plan_prune(snap, f).empty


@pytest.mark.parametrize(
    ("items", "fragment"),
    [
        (["foo=bar"], "invalid filter 'foo'"),
        (["until=yesterday"], "expected a duration"),
        (["until=1h", "until=2h"], "more than one until"),
        (["dangling=maybe"], "expected true or false"),
        (["label="], "label=KEY"),
        (["nokey"], "expected KEY=VALUE"),
    ],
)
def test_invalid_filters_name_the_problem(items, fragment):
    with pytest.raises(FilterError, match=fragment):
        parse_filters(items, now=NOW)


def test_until_forms():
    assert parse_filters(["until=1700000000"], now=NOW).until.timestamp == 1_700_000_000
    assert parse_filters(["until=2024-01-31T00:00:00Z"], now=NOW).until.timestamp == 1_706_659_200
    assert parse_filters(["until=90m"], now=NOW).until.timestamp == NOW - 5400
    assert parse_filters(["until=2w"], now=NOW).until.timestamp == NOW - 14 * 86400
    assert parse_filters(["until=1h30m"], now=NOW).until.engine_value == f"{int(NOW) - 5400}.000000000"


def test_layer_sizes_alignment():
    diffs = ["sha256:" + "1" * 64, EMPTY_LAYER_DIFF_ID, "sha256:" + "2" * 64]
    hist = [
        HistoryStep("ADD file", 100),
        HistoryStep("/bin/sh -c #(nop)  ENV A=1", 0),
        HistoryStep("RUN mkdir /x", 0),
        HistoryStep("COPY y", 50),
        HistoryStep('CMD ["sh"]', 0),
    ]
    assert layer_sizes(diffs, hist) == [100, 0, 50]
    assert layer_sizes(diffs[:1], [HistoryStep("ENV A=1", 0), HistoryStep("ADD x", 7)]) == [7]
    assert chain_ids(["sha256:a"])[0] == "sha256:a"


# -- properties on generated stores ------------------------------------------------------------
@st.composite
def stores(draw):
    n = draw(st.integers(1, 7))
    images = []
    for i in range(n):
        base = draw(st.sampled_from(["b1", "b2", f"own{i}"]))
        depth = draw(st.integers(0, 2))
        diffs = [(base, draw(st.integers(0, 1000)))] + [
            (f"l{i}_{k}", draw(st.integers(0, 1000))) for k in range(depth)
        ]
        tags = draw(
            st.lists(st.sampled_from([f"r{i}:a", f"r{i}:b", f"s:{i}", "t:x"]), max_size=3, unique=True)
        )
        images.append((f"img{i}", diffs, tags))
    seen_tags: set[str] = set()
    built = []
    for name, diffs, tags in images:
        own = [t for t in tags if t not in seen_tags]
        seen_tags.update(own)
        built.append(make_image(name, diffs, tags=own))
    containers = []
    for j, image in enumerate(built):
        if draw(st.booleans()) and draw(st.booleans()):
            containers.append(container(f"c{j}", image, draw(st.sampled_from(["running", "exited"]))))
    return snapshot(built, containers)


@settings(max_examples=150, deadline=None)
@given(stores(), st.booleans(), st.booleans())
def test_plan_invariants(snap, force, with_containers):
    refs = [t for i in snap.images.values() for t in i.tags][:4] + [next(iter(snap.images))]
    plan = plan_remove(snap, refs, force=force, with_stopped_containers=with_containers)
    running_images = {c.image_id for c in snap.containers if c.running}
    assert not running_images & set(plan.delete)
    assert all(c.state != "running" for c in plan.remove_containers)
    deleted_chains = {ch for i in plan.delete for ch in snap.images[i].chain_ids}
    assert set(plan.freed_layers) <= deleted_chains | {
        ch for c in plan.remove_containers for ch in snap.images[c.image_id].chain_ids
    }
    assert plan.reclaim_bytes == snap.bytes_of(plan.freed_layers)
    if not plan.remove_containers:
        assert set(plan.freed_layers) == chains_freed(snap, plan.delete)


@settings(max_examples=150, deadline=None)
@given(stores(), st.booleans())
def test_prune_invariants(snap, dangling):
    plan = plan_prune(snap, PruneFilters(dangling=dangling))
    used = {c.image_id for c in snap.containers}
    assert not used & set(plan.delete)
    deleted_refs = {r for i in plan.delete for r in snap.images[i].refs}
    assert set(plan.untag) <= deleted_refs  # safe mode never strips tags off a kept image
    if dangling:
        assert all(not snap.images[i].tags for i in plan.delete)
    assert set(plan.freed_layers) == chains_freed(snap, plan.delete)


def test_sharing_tree():
    from tui.core.layers import sharing_tree

    v1, v2, web = _app_store()
    roots = sharing_tree([(i.id, i.layers) for i in (v1, v2, web)])
    assert [r.size for r in roots] == [5_000_000, 300]  # the shared base first
    base = roots[0]
    assert set(base.image_ids) == {v1.id, v2.id} and base.ends_here == ()
    assert sorted(c.size for c in base.children) == [1_000, 2_000]
    assert {c.ends_here for c in base.children} == {(v1.id,), (v2.id,)}
    assert roots[1].ends_here == (web.id,) and roots[1].children == ()
