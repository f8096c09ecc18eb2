"""Differential tests of the product's own path: plan, confirm (``--yes``), execute, on a real engine.

The other differential tests compare the model with the engine's native ``rmi`` and ``prune``.
These run what ``docker-sweep rm/prune --yes`` runs (:func:`tui.headless.cmd_execute`: a fresh
snapshot, the plan, :class:`tui.engine.actions.PlanExecutor`), with the selections the product
makes: references (``rm``, with ``--force`` and ``--with-containers``), whole marked images
(:func:`tui.core.marking.plan_images`, what marking does in the app) and docker-sweep's safe prune
(dangling or ``--all``, with filters, optionally removing the stopped containers that keep its
candidates). Hypothesis draws the store and the selection; the session's engine
(``DOCKER_SWEEP_TEST_ENGINE``) runs it. Then the engine itself must show exactly the plan:

* the images left, each with its tags, and the containers left;
* ``/system/df`` LayersSize before and after: it drops by the bytes the plan frees;
* the data root, measured on disk: the image layers' files (overlay2) or the content blobs and
  snapshots (containerd) drop by the plan's bytes;
* the run reports no error, no unexpected response line, no skipped step, and the exit code.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from tests.ctrdcase import disk_drop, layers_size
from tests.diffcase import diff_settings, draw_images, examples, filter_lists, load, pool
from tests.enginecase import BUSYBOX, NOW, SLEEP
from tui import headless
from tui.core.containerd import familiar_name
from tui.core.containerd_bytes import containers_own_bytes
from tui.core.marking import plan_images
from tui.core.model import Snapshot
from tui.core.plan import Plan, plan_prune
from tui.engine.client import Engine as SweepEngine
from tui.engine.snapshot import read_snapshot
from tui.sandbox import fixtures
from tui.sandbox import imagegen as gen

# Each kind of selection gets its share of the examples, so that every path runs on every engine.
# "with-containers": rm, mark or prune with --with-containers, aimed at an image a stopped container uses.
KINDS = ["rm", "mark", "prune", "with-containers"]
EXAMPLES = max(examples() // len(KINDS), 3)
POOL = pool("ppool")
FILTERS = ["until=480h", "until=1000h", "label=env=dev", "label=env", "label!=keep"]


class Store:
    """A drawn store: images, and ``(name, image index, running)`` containers (an index into the
    loaded images sorted by the engine's id: on the containerd store the id is not the config's)."""

    def __init__(self, images: list[gen.ImageSpec], containers: list[tuple[str, int, bool]]) -> None:
        self.images, self.containers = images, containers

    def __repr__(self) -> str:  # short: Hypothesis prints it when a case fails
        shown = [(s.tags, [layer.comment for layer in s.layers[1:]], dict(s.labels)) for s in self.images]
        return f"Store(images={shown}, containers={self.containers})"

    def load(self, api: Any, url: str) -> Snapshot:
        """Load the store; :attr:`container_snapshots` gets each container's own snapshots' disk
        blocks on the containerd store (measured as they appear in the data root)."""
        load(api, url, self.images, [])
        rows = sorted(api.images(all=True), key=lambda row: row["Id"])
        self.container_snapshots: dict[str, int] = {}
        for name, index, running in self.containers:
            present = snapshot_usage(api)
            cid = fixtures.create_container(
                api, rows[index % len(rows)]["Id"], name, start=running, cmd=SLEEP
            )
            if present is not None:
                self.container_snapshots[cid] = sum((snapshot_usage(api, skip=present) or {}).values())
        return read_snapshot(SweepEngine(url))


@st.composite
def stores(draw: Any, stopped: bool = False) -> Store:
    """A store; with ``stopped`` it has at least one stopped container."""
    images = draw_images(draw, POOL, "pown", own_optional=True)
    containers = [
        (f"c{j}", draw(st.integers(0, 5)), draw(st.booleans())) for j in range(draw(st.integers(0, 3)))
    ]
    if stopped:
        containers.append((f"c{len(containers)}", draw(st.integers(0, 5)), False))
    return Store(images, containers)


@st.composite
def selections(draw: Any, snap: Snapshot, kind: str) -> tuple[str, Callable[[Snapshot], Plan]]:
    """What the user asks for (one of :data:`KINDS`), as the product's plan builder, and a text."""
    ids = sorted(snap.images)
    force = draw(st.booleans())
    with_containers = draw(st.booleans())
    if kind == "with-containers":
        target = draw(st.sampled_from(sorted(c.image_id for c in snap.containers if not c.running)))
        kind, with_containers = draw(st.sampled_from(["rm", "mark", "prune"])), True
        ids = [target]
    if kind == "rm":
        candidates = (
            [t for i in ids for t in snap.images[i].tags] + [i[7:19] for i in ids] + ids + ["nosuch:1"]
        )
        refs = draw(st.lists(st.sampled_from(candidates), min_size=1, max_size=4))
        return f"rm {refs} force={force} with_containers={with_containers}", headless.remove_builder(
            refs, force, with_containers
        )
    if kind == "mark":
        marked = draw(st.lists(st.sampled_from(ids), min_size=1, max_size=len(ids), unique=True))
        if with_containers and len(ids) == 1:  # the target, and some others
            marked += [
                i for i in draw(st.lists(st.sampled_from(sorted(snap.images)), max_size=2)) if i not in marked
            ]
        return (
            f"mark {[i[7:19] for i in marked]} force={force} with_containers={with_containers}",
            lambda s: plan_images(s, marked, force=force, with_stopped_containers=with_containers),
        )
    terms = draw(filter_lists(FILTERS))
    filters = headless.make_prune_filters(terms, force)  # force stands for --all here
    if not with_containers:
        return f"prune all={force} {terms}", headless.prune_builder(filters)
    return (
        f"prune all={force} {terms} with stopped containers",
        lambda s: plan_prune(s, filters, with_stopped_containers=True),
    )


def engine_images(api: Any) -> dict[str, set[str]]:
    """The engine's images: id -> its tags (familiar form)."""
    return {
        row["Id"]: {familiar_name(t) for t in row.get("RepoTags") or [] if t != "<none>:<none>"}
        for row in api.images(all=True)
    }


def engine_containers(api: Any) -> set[str]:
    return {row["Id"] for row in api.containers(all=True)}


def _file_bytes(top: Path, *, blocks: bool) -> int:
    """What ``top`` holds: apparent bytes of its non-directory entries (each inode once, like the
    engine's layer sizes), or with ``blocks`` the disk blocks of every entry (like containerd's
    snapshot usage)."""
    seen: set[int] = set()
    total = 0
    for path in [top, *top.rglob("*")]:
        st_ = path.lstat()
        if st_.st_ino in seen:
            continue
        seen.add(st_.st_ino)
        if blocks:
            total += st_.st_blocks * 512
        elif not path.is_dir() or path.is_symlink():
            total += st_.st_size
    return total


def _snapshots_dir(api: Any) -> Path | None:
    info = api.info()
    path = Path(info["DockerRootDir"]) / "containerd/daemon/io.containerd.snapshotter.v1.overlayfs/snapshots"
    return path if info["Driver"] == "overlayfs" and path.exists() else None


def snapshot_usage(api: Any, skip: Collection[str] = ()) -> dict[str, int] | None:
    """containerd store: the disk blocks of each unpacked snapshot by its directory (as
    containerd's usage counts them), but those in ``skip``; ``None`` on another store."""
    top = _snapshots_dir(api)
    if top is None:
        return None
    return {d.name: _file_bytes(d / "fs", blocks=True) for d in top.iterdir() if d.name not in skip}


def data_root_bytes(api: Any) -> dict[str, int] | None:
    """The image data on disk, read from the data root itself (``None``: a storage driver this
    does not know). overlay2: the files of every image layer (container layers left out);
    containerd: content blobs (bytes) and unpacked snapshots (disk blocks)."""
    info = api.info()
    root = Path(info["DockerRootDir"])
    if info["Driver"] == "overlay2":
        mounts = root / "image" / "overlay2" / "layerdb" / "mounts"
        container_layers = {
            (m / name).read_text().strip()
            for m in (mounts.iterdir() if mounts.exists() else ())
            for name in ("mount-id", "init-id")
            if (m / name).exists()
        }
        layers = [
            d for d in (root / "overlay2").iterdir() if d.name != "l" and d.name not in container_layers
        ]
        return {"layers": sum(_file_bytes(d / "diff", blocks=False) for d in layers if (d / "diff").exists())}
    base = root / "containerd" / "daemon"
    snapshots = base / "io.containerd.snapshotter.v1.overlayfs" / "snapshots"
    if info["Driver"] != "overlayfs" or not snapshots.exists():
        return None
    blobs = base / "io.containerd.content.v1.content" / "blobs"
    return {
        "content": sum(p.stat().st_size for p in blobs.rglob("*") if p.is_file()),
        "snapshots": sum((snapshot_usage(api) or {}).values()),
    }


def df_layers_drop(plan: Plan, before: Snapshot, api: Any) -> int:
    """What ``/system/df`` LayersSize drops by when ``plan`` runs. The classic store counts only
    layers that images reference: the layers of a deleted image that containers still use
    (``plan.pinned``) leave LayersSize although they stay on disk (the plan frees no bytes for them).
    The containerd store also counts the removed containers' own snapshots, which the plan's
    snapshot bytes include (see test_removing_a_container_frees_what_the_plan_shows)."""
    if before.containerd:
        return disk_drop(plan, api)
    left = set(before.images) - set(plan.delete)
    referenced = {layer.chain_id for i in left for layer in before.images[i].layers or ()}
    pinned = {layer.chain_id: layer.size or 0 for i in plan.pinned for layer in before.images[i].layers or ()}
    unreferenced = sum(size for chain, size in pinned.items() if chain not in referenced)
    return plan.reclaim_bytes + unreferenced


def expected_disk_drop(plan: Plan, before: Snapshot) -> dict[str, int]:
    if before.containerd:
        return {
            "content": (plan.content_bytes or 0) + plan.buildkit_bytes,
            "snapshots": plan.snapshot_bytes or 0,
        }
    return {"layers": plan.reclaim_bytes}


@pytest.mark.parametrize("kind", KINDS)
@diff_settings(EXAMPLES)
@given(data=st.data())
def test_product_path_matches_the_engine(engine, kind, data):
    store = data.draw(stores(stopped=kind == "with-containers"), label="store")
    snap = store.load(engine.api, engine.url)
    what, builder = data.draw(selections(snap, kind), label="selection")
    seen: list[tuple[Snapshot, Plan]] = []

    def build(snapshot: Snapshot) -> Plan:
        plan = builder(snapshot)
        seen.append((snapshot, plan))
        return plan

    images_before = engine_images(engine.api)
    containers_before = engine_containers(engine.api)
    df_before = layers_size(engine.api)
    disk_before = data_root_bytes(engine.api)
    out = io.StringIO()
    code = headless.cmd_execute(SweepEngine(engine.url), build, yes=True, as_json=True, out=out)
    report = json.loads(out.getvalue())
    ((before, plan),) = seen
    assert plan.exact, what
    event("frees bytes" if plan.reclaim_bytes else "frees nothing")
    event("removes containers" if plan.remove_containers else "removes no container")
    event("deletes an image containers keep (pinned)" if plan.pinned else "pins nothing")

    # the run: everything planned was done, nothing else, no error
    if plan.empty:
        assert not report["executed"] and code == (
            headless.EXIT_PARTIAL if plan.blocked else headless.EXIT_OK
        )
    else:
        assert report["executed"], what
        assert (report["errors"], report["unexpected"], report["store_changed"]) == ([], [], []), what
        assert code == (headless.EXIT_PARTIAL if plan.blocked else headless.EXIT_OK), what
        assert sorted(report["deleted"]) == sorted(plan.delete), what
        assert sorted(report["untagged"]) == sorted(plan.untag), what
        assert sorted(report["removed_containers"]) == sorted(c.id for c in plan.remove_containers), what

    # the engine's state: images, tags, containers
    untagged = {familiar_name(u) for u in plan.untag}
    assert engine_images(engine.api) == {
        i: tags - untagged for i, tags in images_before.items() if i not in plan.delete
    }, what
    assert engine_containers(engine.api) == containers_before - {c.id for c in plan.remove_containers}, what

    if before.facts.image_store == "podman":
        # Podman 4.3's /system/df answers LayersSize 0 (seen), and its figures are Podman's own
        # estimate (tests/test_podman*.py check them against Podman's prune reports): no byte check
        return
    # the engine's own byte count, and the disk
    if before.containerd:  # the containers' own snapshots, as the data root shows them
        own = sum(store.container_snapshots[c.id] for c in plan.remove_containers)
        assert containers_own_bytes(before, plan.remove_containers) == (own, 0), what
    assert df_before - layers_size(engine.api) == df_layers_drop(plan, before, engine.api), what
    if disk_before is not None:
        disk_after = data_root_bytes(engine.api)
        assert disk_after is not None
        drop = {k: disk_before[k] - disk_after[k] for k in disk_before}
        assert drop == expected_disk_drop(plan, before), what


def test_pruning_a_dangling_image_reports_what_the_plan_shows(engine):
    """The minimal case the product-path test found on the containerd store: the plan of a
    dangling prune showed `Untagged: sha256:<id>` (what POST /images/prune answers), but the
    executor deletes by ID and DELETE /images/{id} answers only `Deleted:`."""
    store = Store([gen.ImageSpec((), (BUSYBOX,), NOW, cmd=SLEEP)], [])
    snap = store.load(engine.api, engine.url)
    (image_id,) = snap.images
    out = io.StringIO()
    filters = headless.make_prune_filters([], False)
    code = headless.cmd_execute(
        SweepEngine(engine.url), headless.prune_builder(filters), yes=True, as_json=True, out=out
    )
    report = json.loads(out.getvalue())
    assert code == headless.EXIT_OK
    assert (report["plan"]["untag"], report["plan"]["delete"]) == ([], [image_id])
    assert (report["untagged"], report["deleted"]) == ([], [image_id])
    assert engine_images(engine.api) == {}


@pytest.mark.docker_only(reason="Podman 4.3's /system/df answers LayersSize 0: no engine byte count")
def test_removing_a_container_frees_what_the_plan_shows(engine):
    """The minimal case: one untagged image, one created container; ``rm ID --with-containers``.
    On the containerd store the plan counts the container's own snapshots (init + RW: 32,768
    bytes for a created container on 28.5 and 26.1), which LayersSize counts too."""
    store = Store([gen.ImageSpec((), (BUSYBOX,), NOW, cmd=SLEEP)], [("c0", 0, False)])
    snap = store.load(engine.api, engine.url)
    (image_id,) = snap.images
    before = layers_size(engine.api)
    seen: list[Plan] = []

    def build(snapshot: Snapshot) -> Plan:
        seen.append(headless.remove_builder([image_id], False, True)(snapshot))
        return seen[-1]

    out = io.StringIO()
    code = headless.cmd_execute(SweepEngine(engine.url), build, yes=True, as_json=True, out=out)
    report = json.loads(out.getvalue())
    assert code == headless.EXIT_OK
    assert (len(report["removed_containers"]), report["deleted"]) == (1, [image_id])
    (plan,) = seen
    assert plan.exact
    if snap.containerd:
        (container,) = plan.remove_containers
        own = containers_own_bytes(snap, plan.remove_containers)
        assert own == (store.container_snapshots[container.id], 0) and own[0] > 0
        assert report["plan"]["snapshot_bytes"] == snap.bytes_of(plan.freed_layers) + own[0]
    assert before - layers_size(engine.api) == disk_drop(plan, engine.api)
