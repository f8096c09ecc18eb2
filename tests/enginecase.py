"""Seeding a real engine with a known store, and comparing predictions with what the engine does."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import docker.errors

from tests.wipe import wipe
from tui.core.classic import ClassicStore, PredictedRefusal
from tui.core.model import Snapshot
from tui.engine.client import Engine
from tui.engine.snapshot import read_snapshot
from tui.sandbox import fixtures
from tui.sandbox import imagegen as gen

NOW = datetime.now(UTC).replace(microsecond=0)
SLEEP = ("/bin/busybox", "sleep", "600")
BUSYBOX = gen.LayerSpec(gen.busybox_files(), "ADD busybox /bin/")


def data_layer(name: str, size: int, comment: str = "") -> gen.LayerSpec:
    return gen.LayerSpec((gen.FileSpec(f"data/{name}.bin", size, seed=name),), comment or f"COPY {name}")


BASE = data_layer("base", 3_000_000, "ADD base")


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
    """The classic-store model's prediction of :func:`native_rm`."""
    store = ClassicStore(snapshot)
    lines: list[str] = []
    errors: dict[str, str] = {}
    for ref in refs:
        try:
            lines.extend(str(r) for r in store.delete(ref, force=force, prune=True, explicit_parents=False))
        except PredictedRefusal as exc:
            errors[ref] = f"{exc.status} {exc.message}"
    return lines, errors


def state(api: Any) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """The store's images: id -> (sorted tags, sorted digests)."""
    out = {}
    for row in api.images(all=True):
        tags = tuple(sorted(t for t in row.get("RepoTags") or [] if t != "<none>:<none>"))
        digests = tuple(sorted(d for d in row.get("RepoDigests") or [] if d != "<none>@<none>"))
        out[row["Id"]] = (tags, digests)
    return out
