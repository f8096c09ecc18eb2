"""Seeding a real engine with a known store, and comparing predictions with what the engine does."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import docker.errors

from tests.conftest import session_store
from tests.wipe import wipe
from tui.core.classic import ClassicStore, PredictedRefusal
from tui.core.containerd import ContainerdStore
from tui.core.model import Snapshot
from tui.core.plan import Plan
from tui.engine.client import Engine
from tui.engine.snapshot import read_snapshot, system_df
from tui.sandbox import fixtures
from tui.sandbox import imagegen as gen

NOW = datetime.now(UTC).replace(microsecond=0)
SLEEP = ("/bin/busybox", "sleep", "600")
BUSYBOX = gen.LayerSpec(gen.busybox_files(), "ADD busybox /bin/")


def data_layer(name: str, size: int, comment: str = "") -> gen.LayerSpec:
    return gen.LayerSpec((gen.FileSpec(f"data/{name}.bin", size, seed=name),), comment or f"COPY {name}")


BASE = data_layer("base", 3_000_000, "ADD base")


def eid(image: gen.ImageSpec) -> str:
    """The id the session engine gives ``image`` loaded by :func:`seed`: its config digest on the
    classic store, the digest of the manifest the importer writes on the containerd store."""
    return gen.loaded_image_id(image, session_store())


def spec(
    tags: tuple[str, ...],
    layers: tuple[gen.LayerSpec, ...],
    *,
    age_days: float = 1,
    labels: dict[str, str] | None = None,
    empty_history: tuple[tuple[int, str], ...] = (),
) -> gen.ImageSpec:
    return gen.ImageSpec(
        tags,
        (BUSYBOX, *layers),
        NOW - timedelta(days=age_days),
        labels=labels or {},
        cmd=SLEEP,
        empty_history=empty_history,
    )


# The standard store: two app versions sharing a base, a web server, a database, a dangling image.
APP_V1 = spec(
    ("myapp:1.5.0",),
    (BASE, data_layer("v1", 1_000_000)),
    age_days=40,
    labels={"app": "myapp", "env": "prod"},
    empty_history=((1, "ENV A=1"),),
)
APP_V2 = spec(
    ("myapp:2.0.0", "myapp:latest"),
    (BASE, data_layer("v2", 1_500_000)),
    age_days=2,
    labels={"app": "myapp", "env": "prod"},
    empty_history=((3, 'CMD ["run"]'),),
)
WEB = spec(
    ("web:1.25", "web:stable", "proxy:1"),
    (data_layer("web", 700_000),),
    age_days=20,
    labels={"role": "web", "keep": "true"},
)
DB = spec(("db:16",), (data_layer("db", 900_000),), age_days=10, labels={"role": "db"})
DANGLING = spec((), (data_layer("old", 400_000),), age_days=30, labels={"env": "dev"})
STANDARD = (APP_V1, APP_V2, WEB, DB, DANGLING)


@dataclass
class Store:
    """A seeded engine and ids of what was seeded."""

    engine: Engine
    api: Any
    containers: dict[str, str] = field(default_factory=dict)

    def snapshot(self) -> Snapshot:
        return read_snapshot(self.engine)


def seed(
    api: Any,
    url: str,
    images: tuple[gen.ImageSpec, ...] = STANDARD,
    containers: tuple[tuple[str, str, bool], ...] = (),
) -> Store:
    """Wipe the engine, load ``images``, create ``(name, image, running)`` containers."""
    wipe(api)
    fixtures.load_tarball(api, gen.build_tarball(images))
    store = Store(Engine(url), api)
    for name, image, running in containers:
        store.containers[name] = fixtures.create_container(api, image, name, start=running, cmd=SLEEP)
    return store


def seed_in_two_loads(
    api: Any, url: str, first: tuple[gen.ImageSpec, ...], then: tuple[gen.ImageSpec, ...]
) -> tuple[Store, int]:
    """Seed ``first``, then load ``then`` a little later; returns the store and a Unix second
    between the two loads. The containerd store's prune ``until`` compares the time each image
    entered the store (not the config's ``Created``): ``until=<that second>`` selects ``first``."""
    store = seed(api, url, first)
    cut = int(time.time()) + 1
    while time.time() < cut + 1:
        time.sleep(0.1)
    fixtures.load_tarball(api, gen.build_tarball(then))
    return store, cut


def seed_for_until(api: Any, url: str) -> str:
    """The standard store and a prune ``until`` value that selects v1 and the dangling image:
    ``25d`` on the classic store (it compares the config's Created: they are 40 and 30 days old);
    on the containerd store, which compares the time each image entered the store, they are
    loaded first and the value is a Unix second between the two loads."""
    if session_store() != "containerd":
        seed(api, url, STANDARD)
        return "25d"
    rest = tuple(s for s in STANDARD if s not in (APP_V1, DANGLING))
    _, cut = seed_in_two_loads(api, url, (APP_V1, DANGLING), rest)
    return str(cut)


def native_rm(api: Any, refs: list[str], *, force: bool = False) -> tuple[list[str], dict[str, str]]:
    """What ``docker rmi [-f] REF...`` gets from the engine: response lines, and errors by ref."""
    lines: list[str] = []
    errors: dict[str, str] = {}
    for ref in refs:
        try:
            for item in api.remove_image(ref, force=force, noprune=False) or []:
                for kind, value in item.items():
                    lines.append(f"{kind}: {value}")
        except docker.errors.APIError as exc:
            errors[ref] = f"{exc.status_code} {exc.explanation}"
    return lines, errors


def predicted_rm(
    snapshot: Snapshot, refs: list[str], *, force: bool = False
) -> tuple[list[str], dict[str, str]]:
    """The store's model's prediction of :func:`native_rm` (classic or containerd)."""
    store: ClassicStore | ContainerdStore = (
        ContainerdStore(snapshot) if snapshot.containerd else ClassicStore(snapshot)
    )
    lines: list[str] = []
    errors: dict[str, str] = {}
    for ref in refs:
        try:
            lines.extend(str(r) for r in store.delete(ref, force=force, prune=True, explicit_parents=False))
        except PredictedRefusal as exc:
            errors[ref] = f"{exc.status} {exc.message}"
    return lines, errors


def layers_size(api: Any, *, settle: float = 0.3, limit: float = 15.0) -> int:
    """/system/df LayersSize once it stops changing (the containerd store removes snapshots
    asynchronously; on the classic store the first two reads agree). ``system_df`` asks again
    when df meets a snapshot being removed (404)."""
    deadline = time.monotonic() + limit
    last = int(system_df(api)["LayersSize"])
    while time.monotonic() < deadline:
        time.sleep(settle)
        now = int(system_df(api)["LayersSize"])
        if now == last:
            return now
        last = now
    return last


def engine_major(api: Any) -> int:
    """The engine's major version (28 for 28.5.2)."""
    return int(str(api.version()["Version"]).split(".")[0])


def disk_drop(plan: Plan, api: Any) -> int:
    """What /system/df LayersSize drops by when ``plan`` runs: the plan's bytes on the classic
    store; on the containerd store content + snapshots on Docker 28 (content of BuildKit-built
    images included: LayersSize counts the content images reach, not what the build cache
    keeps), snapshots only on 26 (its LayersSize counts no content)."""
    if plan.snapshot_bytes is None:
        return plan.reclaim_bytes
    if engine_major(api) >= 28:
        return plan.reclaim_bytes + plan.buildkit_bytes
    return int(plan.snapshot_bytes or 0)


def state(api: Any) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """The store's images: id -> (sorted tags, sorted digests)."""
    out = {}
    for row in api.images(all=True):
        tags = tuple(sorted(t for t in row.get("RepoTags") or [] if t != "<none>:<none>"))
        digests = tuple(sorted(d for d in row.get("RepoDigests") or [] if d != "<none>@<none>"))
        out[row["Id"]] = (tags, digests)
    return out
