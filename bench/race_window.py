"""Measure the residual race window of plan execution on a real engine.

    .venv/bin/python bench/race_window.py [--images 300] [--containers 0]

Starts a private dockerd (needs root), loads N generated tagged images (plus M stopped containers
of another image), plans ``prune --all`` and runs it with docker-sweep's executor, timing every
HTTP request of the executor's connection. Per image delete it reports:

* gap: from the end of the last re-read (the image inspect, which reads the references) to the
  moment the DELETE request is handed to the connection;
* refs: from sending the image inspect to sending the DELETE: a reference added in this time is
  missed by the re-read (the engine then acts on it, and the response shows it as a line the plan
  did not predict);
* window: from sending the first re-read (the containers list) to sending the DELETE: the same for
  a new container (which matters for force steps only: without force the engine refuses);
* delete: the DELETE call itself (the engine works on it; a change made meanwhile races the engine).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tui.core.filters import PruneFilters  # noqa: E402
from tui.core.plan import plan_prune  # noqa: E402
from tui.engine.actions import PlanExecutor  # noqa: E402
from tui.engine.client import Engine  # noqa: E402
from tui.engine.snapshot import read_facts, read_snapshot  # noqa: E402
from tui.sandbox import imagegen as gen  # noqa: E402
from tui.sandbox.daemon import PrivateDaemon  # noqa: E402
from tui.sandbox.fixtures import create_container, load_tarball  # noqa: E402


def timed_client(engine: Engine) -> list[tuple[str, str, float, float]]:
    """Wrap this thread's API client and the executor's raw client (:meth:`Engine.new_step_client`):
    every request as (method, path, sent, answered)."""
    log: list[tuple[str, str, float, float]] = []
    client = engine.api()
    send = client.send

    def wrapped(request: Any, **kwargs: Any) -> Any:
        sent = time.perf_counter()
        try:
            return send(request, **kwargs)
        finally:
            log.append((request.method, request.path_url, sent, time.perf_counter()))

    client.send = wrapped
    new_step_client = engine.new_step_client

    def timed_step_client() -> Any:  # the executor's raw image calls on a unix socket
        step_client = new_step_client()
        if step_client is not None:
            request = step_client._request

            def timed_request(method: bytes, path: str, headers: bytes, **kwargs: Any) -> Any:
                sent = time.perf_counter()
                try:
                    return request(method, path, headers, **kwargs)
                finally:
                    log.append(
                        (
                            method.decode(),
                            f"/v{engine._negotiated_version()}{path}",
                            sent,
                            time.perf_counter(),
                        )
                    )

            step_client._request = timed_request  # type: ignore[method-assign]
        return step_client

    engine.new_step_client = timed_step_client  # type: ignore[method-assign]
    return log


def summary(name: str, values: list[float]) -> str:
    if not values:
        return f"{name:8} none"
    ms = [v * 1000 for v in values]
    return (
        f"{name:8} min {min(ms):7.3f} ms  median {statistics.median(ms):7.3f} ms  "
        f"max {max(ms):7.3f} ms  (n={len(ms)})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--containers", type=int, default=0)
    args = parser.parse_args()
    now = datetime.now(UTC)
    base = gen.LayerSpec((gen.FileSpec("base.bin", 100_000, seed="base"),), "ADD base")
    specs = [
        gen.ImageSpec(
            (f"race/app{i % 13}:{i}",),
            (base, gen.LayerSpec((gen.FileSpec("u.bin", 100 + i, seed=str(i)),), "COPY u")),
            now - timedelta(hours=i),
        )
        for i in range(args.images)
    ]
    keeper = gen.ImageSpec(
        ("race/keeper:1",),
        (gen.LayerSpec(gen.busybox_files(), "ADD busybox"),),
        now,
        cmd=("/bin/busybox", "true"),
    )
    with PrivateDaemon.start() as daemon:
        engine = Engine(daemon.url)
        api = engine.api(long=True)
        t_load = time.perf_counter()
        for start in range(0, len(specs), 250):
            load_tarball(api, gen.build_tarball(specs[start : start + 250]))
        if args.containers:
            load_tarball(api, gen.build_tarball([keeper]))
            for i in range(args.containers):
                create_container(api, "race/keeper:1", f"keeper-{i}", start=False)
        t_read = time.perf_counter()
        snapshot = read_snapshot(engine)
        print(f"loaded in {t_read - t_load:.1f} s, read in {time.perf_counter() - t_read:.1f} s")
        plan = plan_prune(snapshot, PruneFilters(dangling=False))
        log = timed_client(engine)
        t0 = time.perf_counter()
        result = PlanExecutor(engine, plan, snapshot).run_all()
        elapsed = time.perf_counter() - t0
        gaps: list[float] = []
        refs: list[float] = []
        windows: list[float] = []
        deletes: list[float] = []
        reads: list[tuple[str, str, float, float]] = []
        for method, path, sent, answered in log:
            if method == "DELETE" and "/images/" in path:
                first_read, last_read = reads[0], reads[-1]
                gaps.append(sent - last_read[3])
                refs.append(sent - last_read[2])
                windows.append(sent - first_read[2])
                deletes.append(answered - sent)
                reads = []
            elif method == "GET":
                reads.append((method, path, sent, answered))
        print(
            f"dockerd {read_facts(engine).version}: {args.images} images, {args.containers} "
            f"containers; {len(plan.steps)} steps in {elapsed:.2f} s "
            f"({elapsed / max(len(plan.steps), 1) * 1000:.2f} ms per step); "
            f"errors {len(result.errors)}, unexpected {len(result.unexpected)}"
        )
        print(summary("gap", gaps))
        print(summary("refs", refs))
        print(summary("window", windows))
        print(summary("delete", deletes))
        inspects = [a - s for m, p, s, a in log if m == "GET" and p.startswith("/v") and "/images/" in p]
        lists = [a - s for m, p, s, a in log if m == "GET" and "/containers/json" in p]
        print(summary("inspect", inspects))
        print(summary("ctr list", lists))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
