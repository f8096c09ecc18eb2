"""Classic-store corners, each against a real engine (issue 9): images without full history, config-less
images under label filters, ``name:tag@digest``, nanosecond ``until``, intermediates in shared sizes,
invalid references among valid ones, and usable references for blocked digest-only images."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import docker.errors
import pytest

from tests.conftest import session_store
from tests.enginecase import (
    BASE,
    BUSYBOX,
    NOW,
    SLEEP,
    STANDARD,
    data_layer,
    disk_drop,
    eid,
    engine_major,
    layers_size,
    native_rm,
    seed,
)
from tests.test_engine_plan import check_prune, check_rm, classic_bytes
from tui.cli import main
from tui.core.containerd_bytes import freed_snapshots, held_bytes
from tui.core.plan import plan_remove
from tui.engine.client import Engine
from tui.engine.snapshot import read_snapshot
from tui.sandbox import imagegen as gen


def odd(tags, layers, *, history=None, bare=False, labels=None, age_days=3):
    """An image as ko, Bazel, Nix or crane may write it: ``history`` as (created_by, empty_layer)."""
    return gen.ImageSpec(
        tuple(tags),
        (BUSYBOX, *layers),
        NOW - timedelta(days=age_days),
        labels=labels or {},
        cmd=SLEEP,
        history=history,
        bare_config=bare,
    )


NOHIST = odd(("nohist:1",), (BASE, data_layer("nh", 333_000)), history=())
SHORTHIST = odd(("shorthist:1",), (BASE, data_layer("sh1", 265_000)), history=(("ADD busybox", False),))
EMPTYFLAG = odd(
    ("emptyflag:1",),
    (BASE, data_layer("ef", 144_000)),
    history=(("ADD busybox", False), ("ADD base", False), ("COPY ef", True)),
)
# Only history-less images share this base: the engine's totals alone must place its bytes.
NOHIST_A = odd(("nohista:1",), (data_layer("nb", 50_000), data_layer("na", 70_000)), history=())
NOHIST_B = odd(("nohistb:1",), (data_layer("nb", 50_000), data_layer("nbb", 90_000)), history=())
ODD = (NOHIST, SHORTHIST, EMPTYFLAG, NOHIST_A, NOHIST_B)


def check_sizes_like_df(engine, snap):
    """Shared/unique sizes and the store's total as the engine's /system/df gives them. On the
    containerd store SharedSize counts snapshots only, and LayersSize is content + snapshots on
    Docker 28, snapshots only on 26."""
    df = engine.api.df()
    for row in df["Images"]:
        assert snap.shared_size(row["Id"]) == row["SharedSize"], row["RepoTags"]
        assert snap.unique_size(row["Id"]) == row["Size"] - row["SharedSize"]
    if not snap.containerd:
        assert df["LayersSize"] == snap.bytes_of(snap.live_chains())
    elif engine_major(engine.api) >= 28:
        assert df["LayersSize"] == held_bytes(snap)
    else:
        assert df["LayersSize"] == snap.bytes_of(freed_snapshots(snap, (), ()))
    assert snap.measure(snap.live_chains())[1] == 0


def test_rm_images_without_full_history_frees_what_the_engine_frees(engine):
    images = STANDARD + ODD
    for ref, freed in (
        ("nohist:1", 333_000),
        ("shorthist:1", 265_000),
        ("emptyflag:1", 144_000),
        ("nohista:1", 70_000),
        ("nohistb:1", 90_000),
    ):
        plan = check_rm(engine, [ref], images=images)  # containerd: the drop of df LayersSize
        assert classic_bytes(plan, freed) and plan.exact, ref
    plan = check_rm(engine, ["nohista:1", "nohistb:1"], images=images)
    assert classic_bytes(plan, 50_000 + 70_000 + 90_000) and plan.exact


def test_prune_all_and_sizes_without_full_history(engine, capsys):
    images = STANDARD + ODD
    predicted, plan = check_prune(engine, [], all_images=True, images=images)
    assert predicted.exact and plan.exact
    store = seed(engine.api, engine.url, images)
    snap = store.snapshot()
    check_sizes_like_df(engine, snap)
    main(["--host", engine.url, "df", "--json"])
    summary = json.loads(capsys.readouterr().out)
    gap = summary["engine_unattributed_bytes"]  # containerd: LayersSize beyond images/containers
    assert gap == (0 if snap.containerd else None)  # tests/wipe.py empties the build cache
    if not snap.containerd or engine_major(engine.api) >= 28:  # 26: LayersSize is snapshots only
        assert summary["rows"][0]["size"] + (gap or 0) == engine.api.df()["LayersSize"]
    assert summary["prune_all_bytes"] == predicted.reclaim_bytes
    assert summary["rows"][0]["note"].startswith("exact")
    for image in snap.images.values():
        sizes = [snap.layer_size(c) for c in image.chain_ids]
        # containerd: the layers are the unpacked snapshots, the image's Size adds its content
        total = image.unpacked_size if snap.containerd else image.size
        assert None not in sizes and sum(sizes) == total  # type: ignore[arg-type]


def test_layer_size_no_engine_number_determines_is_said_not_guessed(engine):
    """nohista's record is force-removed while a container keeps its layers; the shared base of the
    two history-less images is then a layer nobody's total bounds: removing nohistb frees its top
    layer, whose single size no engine number gives. The plan must say so, not invent a number."""
    seed(engine.api, engine.url, STANDARD + (NOHIST_A, NOHIST_B), (("keeper", "nohista:1", False),))
    if session_store() == "containerd":
        return _containerd_orphan_keeps_snapshots(engine)
    lines, errors = native_rm(engine.api, ["nohista:1"], force=True)
    assert not errors
    snap = read_snapshot(Engine(engine.url))
    (keeper,) = [c for c in snap.containers if c.name == "keeper"]
    assert keeper.held_chains and snap.disk is not None  # df was read to try to settle it
    plan = plan_remove(snap, ["nohistb:1"])
    assert plan.unknown_layers == 1 and not plan.exact and plan.reclaim_bytes == 0
    assert plan.to_json()["reclaim_exact"] is False
    assert plan.to_json()["reclaim_unknown_layers"] == 1
    assert "at least" in plan.freed_text(str)
    lines, errors = native_rm(engine.api, ["nohistb:1"])
    assert not errors
    freed = [
        x.split(": ", 1)[1]
        for x in lines
        if x.startswith("Deleted") and x.split(": ", 1)[1] not in snap.images
    ]
    assert freed == list(plan.freed_layers)  # the right layer; its bytes honestly unknown


def _containerd_orphan_keeps_snapshots(engine):
    """The containerd store: ``rmi -f TAG`` only untags, ``rmi -f ID`` removes the record, and
    the container keeps the image's snapshots (its own snapshot's parents), which no API names.
    Without docker-sweep's layer cache every snapshot the plan frees may be one the container
    keeps; with it (the image was read before) only nohistb's top layer goes, of unknown size.
    Either way the plan counts the content only and says "at least"; the engine frees more."""
    from tui.engine.snapshot import LayerCache

    cache = LayerCache(None)
    read_snapshot(Engine(engine.url), cache=cache)  # docker-sweep saw nohista before it went
    lines, errors = native_rm(engine.api, [eid(NOHIST_A)], force=True)
    assert not errors and f"Deleted: {eid(NOHIST_A)}" in lines
    for cached in (None, cache):
        snap = read_snapshot(Engine(engine.url), cache=cached)
        (keeper,) = [c for c in snap.containers if c.name == "keeper"]
        b = snap.images[eid(NOHIST_B)]
        plan = plan_remove(snap, ["nohistb:1"])
        if cached is None:
            assert snap.orphan_containers == (keeper,)
            assert plan.unknown_layers == len(plan.freed_layers) == 2  # nb and nbb
        else:
            assert keeper.held_chains == b.chain_ids[:2] + (keeper.held_chains[-1],)
            assert not snap.orphan_containers and plan.freed_layers == (b.chain_ids[-1],)
            assert plan.unknown_layers == 1  # nbb: no engine number bounds it
        assert not plan.exact and plan.snapshot_bytes == 0 and plan.reclaim_bytes == plan.content_bytes
        assert plan.to_json()["reclaim_exact"] is False and "at least" in plan.freed_text(str)
    before = layers_size(engine.api)
    lines, errors = native_rm(engine.api, ["nohistb:1"])
    assert not errors and f"Deleted: {eid(NOHIST_B)}" in lines
    drop = before - layers_size(engine.api)
    # at least: the top layer's snapshot went too (26: LayersSize counts snapshots only)
    assert drop > disk_drop(plan, engine.api) and plan.reclaim_bytes > 0


BARE = odd(("bare:1",), (data_layer("bare", 200_000),), bare=True)  # .Config is null
EMPTYCFG = gen.ImageSpec(  # "config": {}: an object with nothing in it; label filters apply
    ("emptycfg:1",), (BUSYBOX, data_layer("emptycfg", 30_000)), NOW - timedelta(days=3), empty_config=True
)


def test_label_filters_prune_images_without_a_config_object(engine):
    """The classic store checks labels only when the config has a ``config`` object. Docker 28
    shows an empty Config on inspect both for a missing object and for ``{}``: the reader must tell
    them apart. The containerd store reads a missing object as no labels (like ``{}``)."""
    images = STANDARD + (BARE, EMPTYCFG)
    bare_id, empty_id = eid(BARE), eid(EMPTYCFG)
    for items in (["label=app=myapp"], ["label!=keep"], ["label=nosuch", "label!=nosuch"]):
        predicted, plan = check_prune(engine, items, all_images=True, images=images)
        # "{}" has no labels: label= keeps it, label!= lets it go
        empty_goes = not any(x.startswith("label=") for x in items)
        bare_goes = empty_goes if session_store() == "containerd" else True
        assert (bare_id in predicted.delete) is bare_goes and (bare_id in plan.delete) is bare_goes
        assert (empty_id in predicted.delete) is empty_goes and (empty_id in plan.delete) is empty_goes
    snap = seed(engine.api, engine.url, images).snapshot()
    assert not snap.images[bare_id].has_config and snap.images[empty_id].has_config
    from tui.engine.image_config import read_image_config  # the SDK path (TCP, TLS, ssh hosts)

    bare_doc, empty_doc = (read_image_config(engine.api, i) for i in (bare_id, empty_id))
    assert bare_doc is not None and "config" not in bare_doc
    assert empty_doc is not None and empty_doc["config"] == {}


NANO = NANO = "2024-05-01T10:00:00.123456789Z"


def test_until_with_nanoseconds_compares_integer_nanoseconds(engine):
    if session_store() == "containerd":  # it compares when the image entered the store
        return _containerd_until_to_the_nanosecond(engine)
    at = odd(("at:1",), (data_layer("at", 1_000),))
    at = gen.ImageSpec(at.tags, at.layers, at.created, cmd=SLEEP, created_text=NANO)
    after = gen.ImageSpec(
        ("after:1",),
        (BUSYBOX, data_layer("after", 2_000)),
        at.created,
        cmd=SLEEP,
        created_text="2024-05-01T10:00:00.12345679Z",
    )  # 1 ns later
    predicted, plan = check_prune(engine, [f"until={NANO}"], all_images=True, images=(at, after))
    assert gen.image_id(at) in plan.delete and gen.image_id(after) not in plan.delete
    assert plan.exact and plan.reclaim_bytes == predicted.reclaim_bytes


def _containerd_until_to_the_nanosecond(engine):
    """The containerd store prunes an image whose name entered the store strictly before
    ``until`` (inspect ``LastTagTime``, nanoseconds): at that very instant it stays, 1 ns later
    it goes (seen on 28.5). A float of unix seconds cannot tell those apart."""
    from tests.native import engine_prune
    from tui.core.filters import parse_filters
    from tui.core.plan import plan_prune
    from tui.engine.actions import PlanExecutor
    from tui.engine.snapshot import parse_created_ns
    from tui.sandbox import fixtures

    at = odd(("at:1",), (data_layer("at", 1_000),))
    after = odd(("after:1",), (data_layer("after", 2_000),))

    def prepare(shift):
        store = seed(engine.api, engine.url, (at,))
        fixtures.load_tarball(engine.api, gen.build_tarball((after,)))  # a later load
        snap = store.snapshot()
        ns = snap.images[eid(at)].stored_at_ns
        assert ns == parse_created_ns(engine.api.inspect_image("at:1")["Metadata"]["LastTagTime"])
        assert ns < snap.images[eid(after)].stored_at_ns
        until = ns + shift
        items = [f"until={until // 10**9}.{until % 10**9:09d}"]
        return store, snap, parse_filters(items, all_images=True, now=time.time())

    for shift, goes in ((0, False), (1, True)):
        store, snap, filters = prepare(shift)
        predicted = plan_prune(snap, filters, engine_semantics=True)
        assert predicted.delete == ((eid(at),) if goes else ())
        assert plan_prune(snap, filters).delete == predicted.delete
        response = engine_prune(store.engine, filters.engine_filters())
        gone = [d["Deleted"] for d in response.get("ImagesDeleted") or [] if d.get("Deleted")]
        assert sorted(i for i in gone if i in snap.images) == list(predicted.delete)
        assert response["SpaceReclaimed"] == predicted.engine_reported_bytes
    store, snap, filters = prepare(1)
    plan = plan_prune(snap, filters)
    result = PlanExecutor(store.engine, plan, snap).run_all()
    assert not result.errors and not result.unexpected and result.deleted == [eid(at)]
    assert result.reclaimed_bytes == plan.reclaim_bytes and plan.exact


@pytest.mark.docker_only(
    reason="Podman's compat prune refuses dangling=false (a 500), the engine half of this test"
)
def test_until_out_of_range_is_a_usage_error_like_the_engine_says(engine, capsys):
    seed(engine.api, engine.url, STANDARD)
    for value in ("99999999999999999999", "10000000000000000h"):
        with pytest.raises(docker.errors.APIError) as refused:  # the engine refuses it too
            engine.api.prune_images(filters={"until": [value]})
        assert refused.value.status_code in (400, 500), refused.value
        code = main(["--host", engine.url, "plan", "prune", "--all", "--filter", f"until={value}"])
        err = capsys.readouterr().err
        assert code == 2, err
        assert "until" in err and "out of range" in err and "Traceback" not in err
    assert len(engine.api.images()) == len(STANDARD)
    # the longest duration is fine; its instant (before 1970) goes to the engine as RFC 3339,
    # since the engine reads "-<seconds>" as a broken date (seen: 500 "parsing time ...")
    from tui.core.filters import parse_filters

    longest = parse_filters(["until=2562047h"], all_images=True, now=time.time())
    assert longest.until is not None and longest.until.engine_value.startswith("17")
    assert engine.api.prune_images(filters=longest.engine_filters())["SpaceReclaimed"] == 0
    assert len(engine.api.images()) == len(STANDARD)


def test_name_tag_at_digest_acts_on_the_digest_reference(engine, registry):
    """``docker rmi repo:tag@digest``: the engine drops the tag and removes the digest reference."""
    from tests.enginecase import APP_V1, DB, predicted_rm, state
    from tui.engine.actions import PlanExecutor
    from tui.sandbox import fixtures

    def prepare():
        store = seed(engine.api, engine.url, (APP_V1, DB))
        remote = f"{registry.host}/team/app"
        fixtures.tag(engine.api, "myapp:1.5.0", remote, "1")
        fixtures.push(engine.api, f"{remote}:1")
        snap = store.snapshot()
        (digest_ref,) = snap.images[eid(APP_V1)].digests
        return store, snap, f"{remote}:1@{digest_ref.split('@')[1]}"

    store, snap, ref = prepare()
    predicted = predicted_rm(snap, [ref])
    native = native_rm(engine.api, [ref])
    assert predicted == native and not native[1], (predicted, native)
    after = state(engine.api)
    store, snap, ref = prepare()
    plan = plan_remove(snap, [ref])
    assert not plan.blocked and plan.untag
    result = PlanExecutor(store.engine, plan, snap).run_all()
    assert not result.errors and not result.unexpected, (result.errors, result.unexpected)
    assert state(engine.api) == after


def test_blocked_digest_only_image_gets_a_reference_the_user_can_paste(engine, registry):
    from tests.enginecase import APP_V1, DB, predicted_rm
    from tui.core.filters import parse_filters
    from tui.core.plan import plan_prune
    from tui.sandbox import fixtures

    v1 = eid(APP_V1)
    store = seed(engine.api, engine.url, (APP_V1, DB))
    remote = f"{registry.host}/team/app"
    fixtures.tag(engine.api, "myapp:1.5.0", remote, "1")
    fixtures.push(engine.api, f"{remote}:1")
    fixtures.tag(engine.api, "db:16", remote, "1")  # the tag moves on: v1 keeps only its digest
    fixtures.create_container(engine.api, v1, "holder", start=False, cmd=SLEEP)
    containerd = session_store() == "containerd"
    # containerd: a push leaves no digest-only name, and untagging the last name of an image a
    # container uses needs force (it then only untags): the image is left with no name at all
    engine.api.remove_image("myapp:1.5.0", force=containerd)
    snap = store.snapshot()
    plan = plan_prune(snap, parse_filters([], now=0))
    (blocked,) = [b for b in plan.blocked if b.image_id == v1]
    assert blocked.ref == (v1 if containerd else snap.images[v1].digests[0]) and "<" not in blocked.ref
    assert plan.to_json()["blocked"][0]["ref"] == blocked.ref
    again = plan_remove(snap, [blocked.ref])  # pasted back: names the image, blocked by its user
    assert again.blocked[0].image_id == v1 and again.blocked[0].reason == "stopped container"
    refs = [blocked.ref] + ([f"{remote}@{v1}"] if containerd else [])  # the pushed manifest
    lines, errors = native_rm(engine.api, refs)
    assert errors[blocked.ref].startswith("409")  # the engine knows the reference too
    assert predicted_rm(snap, refs) == (lines, errors)


def test_invalid_reference_is_reported_and_the_others_go_ahead(engine, capsys):
    from tests.enginecase import DB, predicted_rm, state

    refs = ["Bad:Ref", "db:16", "no:such:tag"]
    store = seed(engine.api, engine.url, STANDARD)
    snap = store.snapshot()
    native = native_rm(engine.api, refs)  # docker rmi: 400 for each invalid one, db:16 removed
    predicted = predicted_rm(snap, refs)
    assert predicted[0] == native[0]
    # the wording of "must be lowercase" differs between engine versions; the status does not
    assert {k: v[:4] for k, v in predicted[1].items()} == {k: v[:4] for k, v in native[1].items()}
    assert set(native[1]) == {"Bad:Ref", "no:such:tag"} and eid(DB) not in state(engine.api)
    seed(engine.api, engine.url, STANDARD)
    code = main(["--host", engine.url, "rm", *refs, "--yes", "--json"])
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert code == 1  # partial failure
    assert result["deleted"] == [eid(DB)]
    assert {b["ref"]: b["reason"] for b in result["plan"]["blocked"]} == {
        "Bad:Ref": "invalid reference",
        "no:such:tag": "invalid reference",
    }
    assert "Bad:Ref" in captured.err and eid(DB) not in state(engine.api)
    code = main(["--host", engine.url, "plan", "rm", "Bad:Ref"])
    assert code == 2 and "invalid reference" in capsys.readouterr().err  # nothing valid at all


def test_shared_and_unique_sizes_follow_the_engines_df_with_intermediates(engine, capsys):
    """A legacy-builder image whose last step adds no layer: the intermediate image of the step
    before holds the same top layer. Docker 20.10's ``/system/df`` counts that layer as unique
    (intermediates are no sharers); from API 1.42 (seen on 28.5) every image in the store is a
    sharer, intermediates too, so the layer counts as shared. Shared/unique follow the engine's df."""
    from tests.enginecase import APP_V2
    from tui.sandbox import fixtures

    seed(engine.api, engine.url, (APP_V2,))
    child = fixtures.build_child(
        engine.api,
        "myapp:2.0.0",
        "child:1",
        [
            "RUN /bin/busybox dd if=/dev/zero of=/x bs=1000 count=300",
            "RUN /bin/busybox dd if=/dev/zero of=/y bs=1000 count=200",
            'CMD ["/bin/busybox", "sleep", "600"]',
        ],
    )
    snap = read_snapshot(Engine(engine.url))
    assert any(snap.is_intermediate(i) for i in snap.images)
    check_sizes_like_df(engine, snap)
    api = tuple(int(x) for x in engine.api.version()["ApiVersion"].split("."))
    unique = 500_000 if api < (1, 42) else 0  # 28.5: the 200,000-byte top layer is shared too
    if snap.containerd:  # content + the snapshots of both steps (step images are no sharers)
        (row,) = [r for r in engine.api.df()["Images"] if r["Id"] == child]
        unique = row["Size"] - row["SharedSize"]
        assert row["SharedSize"] == snap.images[eid(APP_V2)].unpacked_size
    assert snap.unique_size(child) == unique
    main(["--host", engine.url, "images", "--json"])
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows[child]["unique_size"] == unique
    assert rows[child]["shared_size"] == rows[child]["size"] - unique
    if snap.containerd:  # each RUN step's layer sits on its build container's "-init" snapshot
        from tui.engine.actions import PlanExecutor

        plan = plan_remove(snap, ["child:1"])
        assert len(plan.delete) == 3 and plan.exact  # the child and both step images
        before = layers_size(engine.api)
        result = PlanExecutor(Engine(engine.url), plan, snap).run_all()
        assert not result.errors and sorted(result.deleted) == sorted(plan.delete)
        assert before - layers_size(engine.api) == disk_drop(plan, engine.api)
