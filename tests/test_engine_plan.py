"""Every planner case against a real engine: the prediction equals what the engine then does.

Two comparisons per case:
* the classic-store model's prediction of the raw engine calls (``docker rmi``, ``POST /images/prune``)
  equals the engine's response lines, errors, ``SpaceReclaimed`` and resulting store;
* docker-sweep's plan, executed by the executor on a freshly seeded identical store, does exactly
  what the plan says (untagged, deleted, layers, bytes) and nothing else.
"""

from __future__ import annotations

import time

import pytest

from tests.conftest import session_store
from tests.enginecase import (
    APP_V1,
    APP_V2,
    BASE,
    DB,
    STANDARD,
    WEB,
    data_layer,
    disk_drop,
    eid,
    engine_major,
    layers_size,
    native_rm,
    predicted_rm,
    seed,
    spec,
    state,
)
from tests.native import engine_prune
from tui.core.containerd_bytes import containers_own_bytes, content_of, held_bytes
from tui.core.filters import parse_filters
from tui.core.plan import plan_prune, plan_remove
from tui.engine.actions import PlanExecutor
from tui.sandbox import fixtures

V1_ID, V2_ID, WEB_ID, DB_ID = (eid(s) for s in (APP_V1, APP_V2, WEB, DB))
DANGLING_ID = eid(STANDARD[-1])
CONTAINERD = session_store() == "containerd"


def classic_bytes(plan, expected: int) -> bool:
    """``plan.reclaim_bytes == expected`` on the classic store (layer DiffSize); on the containerd
    store the bytes are content + snapshots, and the drop of the engine's own LayersSize, checked
    in :func:`check_rm` and :func:`check_prune`, is the truth."""
    return plan.snapshot_bytes is not None or plan.reclaim_bytes == expected


def check_rm(engine, refs, *, force=False, with_containers=False, containers=(), images=STANDARD):
    """Seed, predict, run natively, compare; reseed, execute the plan, compare. Returns the plan."""
    store = seed(engine.api, engine.url, images, containers)
    snap = store.snapshot()
    predicted_lines, predicted_errors = predicted_rm(snap, list(refs), force=force)
    plan = plan_remove(snap, refs, force=force, with_stopped_containers=with_containers)
    if not with_containers:
        before = layers_size(engine.api)
        lines, errors = native_rm(engine.api, list(refs), force=force)
        assert sorted(lines) == sorted(predicted_lines)
        assert errors.keys() == predicted_errors.keys()
        for ref, message in errors.items():
            status, _, text = message.partition(" ")
            p_status, _, p_text = predicted_errors[ref].partition(" ")
            assert status == p_status
            if "container" in text:  # the engine names one of the containers (map order)
                assert text.split(" - ")[0] == p_text.split(" - ")[0]
            else:
                assert text == p_text
        native_state = state(engine.api)
        deleted_layers = [x.split(": ", 1)[1] for x in lines if x.startswith("Deleted")]
        if snap.containerd:  # classic LayersSize leaves out what only containers hold
            assert before - layers_size(engine.api) == disk_drop(plan, engine.api)
        else:
            assert snap.bytes_of(deleted_layers) == plan.reclaim_bytes
        store = seed(engine.api, engine.url, images, containers)
        snap = store.snapshot()
        plan = plan_remove(snap, refs, force=force, with_stopped_containers=with_containers)
    else:
        native_state = None
    executor = PlanExecutor(store.engine, plan, snap)
    events = list(executor.run())
    result = executor.result
    assert not result.errors, result.errors
    assert not result.unexpected
    assert sorted(result.untagged) == sorted(plan.untag)
    assert sorted(result.deleted) == sorted(plan.delete)
    if not snap.containerd:  # the containerd store names no freed layer in its response
        assert sorted(result.deleted_layers) == sorted(plan.freed_layers)
    assert result.reclaimed_bytes == plan.reclaim_bytes
    assert len(events) >= len(plan.untag) + len(plan.delete)
    if native_state is not None:
        assert state(engine.api) == native_state
    return plan


def test_remove_tag_sharing_base_keeps_shared_layer(engine):
    plan = check_rm(engine, ["myapp:1.5.0"])
    assert plan.delete == (V1_ID,)
    assert classic_bytes(plan, 1_000_000)  # only v1's own layer; base and busybox stay for v2
    assert not plan.blocked


def test_one_of_several_tags_vs_last_tag(engine):
    plan = check_rm(engine, ["web:stable"])
    assert plan.untag == ("web:stable",) and plan.delete == ()
    plan = check_rm(engine, ["web:stable", "proxy:1", "web:1.25"])
    assert plan.delete == (WEB_ID,) and classic_bytes(plan, 700_000)  # busybox stays


def test_by_id_unique_short_and_multiple_references(engine):
    plan = check_rm(engine, [DB_ID.split(":")[1][:12]])
    assert plan.untag == ("db:16",) and plan.delete == (DB_ID,)
    plan = check_rm(engine, [WEB_ID])
    assert plan.blocked[0].reason == "referenced in multiple repositories"
    plan = check_rm(engine, [WEB_ID], force=True)
    assert set(plan.untag) == {"web:1.25", "web:stable", "proxy:1"} and plan.delete == (WEB_ID,)


def test_ambiguous_and_unknown_short_ids_and_failure_in_the_middle(engine):
    # Add dangling images until two ids share a first hex digit (pigeonhole: at most 17 tries),
    # so that digit is an ambiguous prefix on every run.
    extra: list = []
    first_digits = {eid(s)[7] for s in STANDARD}
    i = 0
    while True:
        candidate = spec((), (data_layer(f"amb{i}", 10),), age_days=3)
        digit = eid(candidate)[7]
        extra.append(candidate)
        i += 1
        if digit in first_digits:
            ambiguous = digit
            break
        first_digits.add(digit)
    unknown = next((c for c in "0123456789abcdef" if c not in first_digits), None)
    # The ambiguous prefix goes first: removing an image can make a prefix unique (seen on the
    # engine: after myapp:1.5.0 went, its digit named the other image alone and deleted it).
    refs = [ambiguous, "myapp:1.5.0", "nosuch:tag", "db:16"]
    if unknown:
        refs.insert(3, unknown * 3)
    plan = check_rm(engine, refs, images=STANDARD + tuple(extra))
    assert plan.delete == (V1_ID, DB_ID)
    reasons = {b.ref: b.reason for b in plan.blocked}
    assert reasons["nosuch:tag"] == "unknown reference"
    # the containerd store treats a one-character id prefix as a name (DOMAIN.md)
    assert reasons[ambiguous] == ("unknown reference" if CONTAINERD else "ambiguous reference")
    if unknown:
        assert reasons[unknown * 3] == "unknown reference"


def test_stopped_container_conflict_force_and_with_containers(engine):
    containers = (("old-app", "myapp:1.5.0", False),)
    plan = check_rm(engine, ["myapp:1.5.0"], containers=containers)
    assert plan.blocked[0].reason == "stopped container"
    assert [c.name for c in plan.blocked[0].containers] == ["old-app"]
    plan = check_rm(engine, [V1_ID], containers=containers)
    assert "must be forced" in plan.blocked[0].message
    plan = check_rm(engine, ["myapp:1.5.0"], force=True, containers=containers)
    if CONTAINERD:  # rmi -f TAG of an image a stopped container uses only untags it
        assert plan.untag == ("myapp:1.5.0",) and plan.delete == ()
        plan = check_rm(engine, [V1_ID], force=True, containers=containers)
    assert plan.delete == (V1_ID,) and classic_bytes(plan, 0) and plan.pinned == (V1_ID,)
    plan = check_rm(engine, ["myapp:1.5.0"], with_containers=True, containers=containers)
    assert [c.name for c in plan.remove_containers] == ["old-app"]
    assert plan.delete == (V1_ID,) and classic_bytes(plan, 1_000_000)


def test_running_container_conflict_and_force(engine):
    containers = (("db-1", "db:16", True),)
    plan = check_rm(engine, ["db:16"], containers=containers)
    assert plan.blocked[0].reason == "running container"
    plan = check_rm(engine, ["db:16"], force=True, containers=containers)
    assert plan.untag == ("db:16",) and plan.delete == () and plan.reclaim_bytes == 0
    plan = check_rm(engine, [DB_ID], force=True, containers=containers)
    assert "cannot be forced" in plan.blocked[0].message
    plan = check_rm(engine, ["db:16"], with_containers=True, containers=containers)
    assert plan.remove_containers == () and plan.blocked


def test_child_images_parent_pruning_and_dependent_children(engine):
    """Legacy-builder children. Both stores: removing the child deletes its untagged step parents.
    Classic: the base is kept by its children (a hard conflict by ID). Containerd: by ID the
    base's two tags conflict first; with one left it is deleted, the child stays (no parent
    chain holds it; more in tests/test_containerd_legacy_builder.py)."""
    store = seed(engine.api, engine.url, (APP_V2,))
    child_id = fixtures.build_child(
        engine.api,
        "myapp:2.0.0",
        "child:1",
        [
            "RUN /bin/busybox dd if=/dev/zero of=/x bs=1000 count=300",
            "RUN /bin/busybox dd if=/dev/zero of=/y bs=1000 count=200",
        ],
    )
    snap = store.snapshot()
    child = snap.images[child_id]
    assert child.parent_id and snap.is_intermediate(child.parent_id)
    before = state(engine.api)
    # Removing the base's tags keeps it (children depend on it); by ID it is a hard conflict.
    lines, errors = native_rm(engine.api, [V2_ID])
    assert predicted_rm(snap, [V2_ID]) == (lines, errors)
    # classic checks the hard conflict (children) first; containerd the soft one (two tags) first
    assert ("multiple repositories" if CONTAINERD else "image has dependent child images") in errors[V2_ID]
    plan = plan_remove(snap, ["child:1"])
    assert len(plan.delete) == 2  # the child and its untagged intermediate parent (step 1)
    assert classic_bytes(plan, 500_000)
    disk_before = layers_size(engine.api)
    lines, errors = native_rm(engine.api, ["child:1"])
    assert sorted(lines) == sorted(str(r) for s in plan.steps for r in s.expect)
    if CONTAINERD:  # the steps' snapshots (on their build containers' init snapshots) and content
        assert disk_before - layers_size(engine.api) == disk_drop(plan, engine.api)
    after_native = state(engine.api)
    # Again through the executor (explicit parent steps, noprune).
    seed(engine.api, engine.url, (APP_V2,))
    fixtures.build_child(
        engine.api,
        "myapp:2.0.0",
        "child:1",
        [
            "RUN /bin/busybox dd if=/dev/zero of=/x bs=1000 count=300",
            "RUN /bin/busybox dd if=/dev/zero of=/y bs=1000 count=200",
        ],
    )
    snap2 = store.snapshot()
    plan2 = plan_remove(snap2, ["child:1"])
    result = PlanExecutor(store.engine, plan2, snap2).run_all()
    assert not result.errors and sorted(result.deleted) == sorted(plan2.delete)
    assert result.reclaimed_bytes == plan2.reclaim_bytes and classic_bytes(plan2, 500_000)
    assert state(engine.api) == after_native
    assert set(before) - set(after_native) == set(plan.delete)
    if CONTAINERD:  # no children conflict there: with one tag left, the base goes by its ID
        seed(engine.api, engine.url, (APP_V2,))
        child_id = fixtures.build_child(engine.api, "myapp:2.0.0", "child:1", ["RUN /bin/busybox true"])
        snap = store.snapshot()
        assert snap.images[child_id].parent_id == V2_ID
        lines, errors = native_rm(engine.api, ["myapp:latest", V2_ID])
        assert predicted_rm(snap, ["myapp:latest", V2_ID]) == (lines, errors)
        assert not errors and f"Deleted: {V2_ID}" in lines and child_id in state(engine.api)


# -- prune -----------------------------------------------------------------------------------
def check_prune(engine, items, *, all_images, containers=(), images=STANDARD):
    """The engine's own prune equals the engine-semantics plan; our plan executes exactly."""
    store = seed(engine.api, engine.url, images, containers)
    snap = store.snapshot()
    filters = parse_filters(items, all_images=all_images, now=time.time())
    predicted = plan_prune(snap, filters, engine_semantics=True)
    before = layers_size(engine.api)
    response = engine_prune(store.engine, filters.engine_filters())
    if snap.containerd:  # classic LayersSize leaves out what only containers hold
        assert before - layers_size(engine.api) == disk_drop(predicted, engine.api)
    deleted = response.get("ImagesDeleted") or []
    untagged = sorted(d["Untagged"] for d in deleted if d.get("Untagged"))
    gone = [d["Deleted"] for d in deleted if d.get("Deleted")]
    assert sorted(u.removeprefix("docker.io/library/") for u in untagged) == sorted(predicted.untag)
    assert sorted(i for i in gone if i in snap.images) == sorted(predicted.delete)
    if not snap.containerd:  # the containerd store names no freed layer in its response
        assert sorted(i for i in gone if i not in snap.images) == sorted(predicted.freed_layers)
    assert response["SpaceReclaimed"] == (
        predicted.reclaim_bytes
        if predicted.engine_reported_bytes is None
        else predicted.engine_reported_bytes
    )
    native_state = state(engine.api)
    store = seed(engine.api, engine.url, images, containers)
    snap = store.snapshot()
    plan = plan_prune(snap, filters)
    result = PlanExecutor(store.engine, plan, snap).run_all()
    assert not result.errors and not result.unexpected
    assert sorted(result.deleted) == sorted(plan.delete)
    assert result.reclaimed_bytes == plan.reclaim_bytes
    if predicted.untag == plan.untag:
        assert state(engine.api) == native_state
    return predicted, plan


def test_prune_dangling(engine):
    predicted, plan = check_prune(engine, [], all_images=False)
    assert len(plan.delete) == 1 and classic_bytes(plan, 400_000)
    assert predicted.delete == plan.delete


def test_prune_dangling_skips_image_of_stopped_container(engine):
    dangling_id = DANGLING_ID
    _, plan = check_prune(engine, [], all_images=False, containers=(("leftover", dangling_id, False),))
    assert plan.delete == ()
    assert plan.blocked[0].reason == "stopped container"


def test_prune_all_keeps_images_of_stopped_and_running_containers(engine):
    containers = (("old-app", "myapp:1.5.0", False), ("db-1", "db:16", True))
    predicted, plan = check_prune(engine, [], all_images=True, containers=containers)
    assert set(plan.delete) == {V2_ID, WEB_ID, DANGLING_ID}
    assert {b.image_id for b in plan.blocked} == {V1_ID, DB_ID}
    assert classic_bytes(plan, 1_500_000 + 700_000 + 400_000 + 0)  # base kept by v1's container


def test_prune_all_multi_tag_in_use_engine_bug(engine):
    containers = (("web-1", "web:1.25", True),)
    predicted, plan = check_prune(engine, [], all_images=True, containers=containers)
    assert len(predicted.untag) >= 2 and WEB_ID not in predicted.delete  # moby #36295, shown real
    assert not any(t.startswith(("web:", "proxy:")) for t in plan.untag)  # docker-sweep keeps them
    assert any(b.image_id == WEB_ID for b in plan.blocked)


def test_prune_until(engine):
    # the containerd store compares the time the image entered the store (just now): nothing
    _, plan = check_prune(engine, ["until=264h"], all_images=True)
    assert set(plan.delete) == (set() if CONTAINERD else {V1_ID, WEB_ID, DANGLING_ID})
    _, plan = check_prune(engine, ["until=25d"], all_images=True)  # converted to 600h
    assert set(plan.delete) == (set() if CONTAINERD else {V1_ID, DANGLING_ID})


def test_prune_labels_and_combinations(engine):
    _, plan = check_prune(engine, ["label=app=myapp"], all_images=True)
    assert set(plan.delete) == {V1_ID, V2_ID}
    _, plan = check_prune(engine, ["label!=keep"], all_images=True)
    assert WEB_ID not in plan.delete and DB_ID in plan.delete
    _, plan = check_prune(engine, ["label=env", "until=840h"], all_images=True)
    assert set(plan.delete) == (set() if CONTAINERD else {V1_ID})  # containerd: time of the load
    _, plan = check_prune(engine, ["label=env=dev"], all_images=False)
    assert plan.delete == (DANGLING_ID,)


def test_prune_digest_only_image_is_dangling(engine, registry):
    """An image left with only a digest name. Classic: a pushed image whose tags went (its
    RepoDigests stay) is dangling, and prune deletes it. Containerd: a push adds no digest-only
    name, so removing the last tag deletes the image; an image pulled by digest is named
    ``repo@sha256:…`` (a name, not ``moby-dangling@``): not dangling, prune keeps it, ``prune -a``
    deletes it."""
    store = seed(engine.api, engine.url, (APP_V1, DB))
    remote = f"{registry.host}/team/app"
    fixtures.tag(engine.api, "myapp:1.5.0", remote, "1")
    digest = fixtures.push(engine.api, f"{remote}:1")
    fixtures.tag(engine.api, "db:16", remote, "1")  # the tag moves; v1 keeps only its digest
    engine.api.remove_image("myapp:1.5.0")
    if CONTAINERD:
        assert V1_ID not in state(engine.api)  # untagging the last name deleted it
        fixtures.pull(engine.api, remote, digest)
    snap = store.snapshot()
    v1 = snap.images[V1_ID]
    assert v1.digests == (f"{remote}@{digest}",) and not v1.local_only  # it can be pulled back
    assert snap.is_dangling(V1_ID) is not CONTAINERD
    for all_images in (False, True) if CONTAINERD else (False,):
        filters = parse_filters([], all_images=all_images, now=time.time())
        predicted = plan_prune(snap, filters, engine_semantics=True)
        before = layers_size(engine.api)
        response = engine_prune(store.engine, filters.engine_filters())
        assert response["SpaceReclaimed"] == (predicted.engine_reported_bytes or predicted.reclaim_bytes)
        if CONTAINERD:  # content + snapshots (28), snapshots (26); SpaceReclaimed: content only
            assert before - layers_size(engine.api) == disk_drop(predicted, engine.api)
        assert classic_bytes(predicted, 1_000_000 + 3_000_000)
        deleted = response["ImagesDeleted"] or []
        gone = {d.get("Deleted") for d in deleted} & set(snap.images)
        expected = {V1_ID, DB_ID} if all_images else set() if CONTAINERD else {V1_ID}
        assert gone == set(predicted.delete) == expected
        untagged = sorted(d["Untagged"] for d in deleted if d.get("Untagged"))
        assert untagged == sorted(predicted.untag)
        snap = store.snapshot()


@pytest.mark.parametrize("force", [False, True])
def test_store_change_between_plan_and_execution_is_not_deleted(engine, force):
    store = seed(engine.api, engine.url, (APP_V1, APP_V2, DB))
    snap = store.snapshot()
    plan = plan_remove(snap, ["myapp:1.5.0"], force=force)
    fixtures.tag(engine.api, "db:16", "myapp", "1.5.0")  # the tag now names another image
    result = PlanExecutor(store.engine, plan, snap).run_all()
    assert result.deleted == [] and result.errors
    assert "store changed" in result.errors[0][1]
    assert DB_ID in state(engine.api) and V1_ID in state(engine.api)


def test_layer_sizes_match_engine_history_and_df(engine):
    # a created and a running container: the containerd store counts their own snapshots
    containers = (("c-created", "db:16", False), ("c-running", "web:1.25", True))
    store = seed(engine.api, engine.url, STANDARD + (spec(("odd:1",), (BASE,)),), containers)
    snap = store.snapshot()
    for image in snap.images.values():
        assert image.layers is not None
        # containerd: the image's size is its content + snapshots, its layers' the snapshots
        assert CONTAINERD or sum(layer.size for layer in image.layers) == image.size
    v1 = snap.images[V1_ID]
    sizes = [layer.size for layer in v1.layers][1:]
    if CONTAINERD:  # snapshot disk usage: the files plus their directories' blocks
        assert sizes[0] >= 3_000_000 and sizes[1] >= 1_000_000
    else:
        assert sizes == [3_000_000, 1_000_000]
    df = engine.api.df()
    if snap.containerd:  # content + snapshots on Docker 28; 26 counts snapshots only
        # (both count the containers' own snapshots, init + RW, too, and every other snapshot of
        # the snapshotter: BuildKit's build cache, which tests/wipe.py empties)
        own, unknown = containers_own_bytes(snap, snap.containers)
        assert unknown == 0 and own >= 2 * 32_768
        content = {d: n for i in snap.images for d, n in content_of(snap, i).items()}
        snapshots = held_bytes(snap) - sum(content.values())
        expected = held_bytes(snap) if engine_major(engine.api) >= 28 else snapshots
        assert layers_size(engine.api) == expected
        return
    assert df["LayersSize"] == snap.bytes_of(snap.live_chains())
    for row in df["Images"]:
        assert row["SharedSize"] == snap.shared_size(row["Id"])


def test_container_of_a_force_removed_image_keeps_shared_layers(engine):
    """A stopped container outlives its force-removed image and still holds the image's layers:
    removing another image that shares them must not count them as freed. The classic store
    deletes the image on ``rmi -f TAG``; the containerd store only untags then (the image stays,
    dangling), and ``rmi -f ID`` deletes it, freeing its content but not the container's
    snapshots."""
    from tui.engine.client import Engine
    from tui.engine.snapshot import LayerCache, read_snapshot

    seed(engine.api, engine.url, STANDARD, (("old-app", "myapp:1.5.0", False),))
    # containerd: no API names the snapshots a container keeps; docker-sweep's layer cache (it read
    # v1 before v1 went) does. Without it the plan says "at least" (test_corners.py). The classic
    # store names them: the container's overlay2 directories.
    cache = LayerCache(None) if CONTAINERD else None
    read_snapshot(Engine(engine.url), cache=cache)
    if CONTAINERD:
        lines, errors = native_rm(engine.api, ["myapp:1.5.0"], force=True)
        assert lines == ["Untagged: myapp:1.5.0"] and not errors and V1_ID in state(engine.api)
    ref = V1_ID if CONTAINERD else "myapp:1.5.0"
    lines, errors = native_rm(engine.api, [ref], force=True)
    assert not errors and f"Deleted: {V1_ID}" in lines
    assert not any(x.startswith("Deleted: sha256") and x != f"Deleted: {V1_ID}" for x in lines)
    assert V1_ID not in state(engine.api)
    snap = read_snapshot(Engine(engine.url), cache=cache)
    (orphan,) = [c for c in snap.containers if c.image_id == V1_ID]
    assert len(orphan.held_chains) >= 2 and not snap.orphan_containers  # busybox + base at least
    v2_chains = snap.images[V2_ID].chain_ids
    assert set(v2_chains[:2]) <= set(orphan.held_chains)  # busybox and the base
    refs = ["myapp:2.0.0", "myapp:latest"]
    plan = plan_remove(snap, refs)
    predicted_lines, predicted_errors = predicted_rm(snap, refs)
    before = layers_size(engine.api)
    lines, errors = native_rm(engine.api, refs)
    assert sorted(lines) == sorted(predicted_lines) and errors == predicted_errors == {}
    assert plan.delete == (V2_ID,) and set(plan.untag) == set(refs)
    assert set(state(engine.api)) == {WEB_ID, DB_ID, DANGLING_ID}
    if CONTAINERD:  # v2's content and its top snapshot; busybox's and the base's stay for old-app
        assert plan.exact, plan.freed_text(str)
        assert before - layers_size(engine.api) == disk_drop(plan, engine.api)
        assert plan.freed_layers == (v2_chains[-1],) and plan.snapshot_bytes
        return
    deleted_layers = [x.split(": ", 1)[1] for x in lines if x.startswith("Deleted") and V2_ID not in x]
    assert sorted(deleted_layers) == sorted(plan.freed_layers)
    assert classic_bytes(plan, 1_500_000)  # only v2's own layer: the base stays for old-app
