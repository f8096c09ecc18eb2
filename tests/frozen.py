"""A fixed store for snapshot tests: deterministic ids, dates and containers, and a fixed clock.

Snapshot tests need byte-identical screens, which a real engine cannot give (container ids are
random), so this source serves a pure snapshot and refuses to execute anything. Behaviour is shown
on real engines by the other tests; these only pin the rendering.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from dataclasses import replace

from tests.storegen import container, make_image
from tui.core.model import DiskUsage, EngineFacts, Snapshot
from tui.core.plan import Plan

NOW = 1_790_000_000.0
DAY = 86_400.0
BASE = [("busybox", 1_982_263), ("base", 30_000_000)]


def frozen_snapshot() -> Snapshot:
    v1 = make_image(
        "v1",
        BASE + [("v1", 4_000_000)],
        tags=["myapp:1.5.0"],
        created=NOW - 60 * DAY,
        labels={"app": "myapp"},
    )
    v2 = make_image(
        "v2",
        BASE + [("v2", 5_500_000)],
        tags=["myapp:2.0.0", "myapp:latest"],
        created=NOW - 3 * DAY,
        labels={"app": "myapp"},
        digests=["registry.local/myapp@sha256:" + "c" * 64],
    )
    web = make_image(
        "web",
        [BASE[0], ("nginx", 12_000_000)],
        tags=["web/nginx:1.25", "web/nginx:stable"],
        created=NOW - 20 * DAY,
    )
    db = make_image("db", [BASE[0], ("pg", 25_000_000)], tags=["postgres:16"], created=NOW - 10 * DAY)
    old = make_image("old", [BASE[0], ("old", 7_000_000)], created=NOW - 90 * DAY)
    old = replace(old, tags=())
    stopped = container("myapp-old", v1, "exited")
    running = container("pg", db, "running")
    facts = EngineFacts(
        host="unix:///frozen/docker.sock",
        version="20.10.24",
        api_version="1.41",
        storage_driver="overlay2",
        root_dir="/var/lib/docker",
        engine_id="FROZEN",
    )
    return Snapshot(
        [v1, v2, web, db, old], [stopped, running], facts, DiskUsage(layers_size=-1), taken_at=NOW
    )


class FrozenSource:
    """Serves :func:`frozen_snapshot` (list first, then complete); executes nothing."""

    description = "unix:///frozen/docker.sock"

    def load(
        self, *, progress: Callable[[int, int], None], cancelled: Callable[[], bool]
    ) -> Iterator[Snapshot]:
        snap = frozen_snapshot()
        progress(len(snap.images), len(snap.images))
        yield snap

    def execute(
        self, plan: Plan, snapshot: Snapshot, cancelled: Callable[[], bool]
    ) -> Generator[object, None, object]:
        raise RuntimeError("the frozen store executes nothing")
        yield  # pragma: no cover
