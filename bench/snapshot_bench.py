"""Benchmark: reading and planning a store of N images, against the docker CLI in the same run.

    .venv/bin/python bench/snapshot_bench.py [--images 1000] [--repeat 3]

Starts a private dockerd (needs root), loads N generated images (a shared base, one small unique
layer each, a tag on 4 of 5), then times, best of --repeat runs:

* docker CLI: `docker image ls -a`, `docker system df -v`, `docker image inspect` of every image,
  `docker image history` of every image (what layer sizes need);
* docker-sweep: the image list, layer data for every image (cold, then from the cache), the
  `prune --all` plan, and `docker-sweep images --json` end to end.

Prints seconds and ratios (docker-sweep / docker CLI). Nothing here is a pass/fail test.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tui.core.filters import PruneFilters  # noqa: E402
from tui.core.model import Snapshot  # noqa: E402
from tui.core.plan import plan_prune  # noqa: E402
from tui.engine.client import Engine  # noqa: E402
from tui.engine.fixtures import load_tarball  # noqa: E402
from tui.engine.snapshot import LayerCache, list_containers, list_images, read_facts, read_layers  # noqa: E402
from tui.sandbox import imagegen as gen  # noqa: E402
from tui.sandbox.daemon import PrivateDaemon  # noqa: E402


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def cli(url: str, *args: str, stdin: str | None = None) -> None:
    subprocess.run(["docker", "-H", url, *args], check=True, capture_output=True, input=stdin, text=True)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    now = datetime.now(UTC)
    base = gen.LayerSpec((gen.FileSpec("base.bin", 200_000, seed="base"),), "ADD base")
    specs = [
        gen.ImageSpec(
            (f"bench/app{i % 97}:{i}",) if i % 5 else (),
            (base, gen.LayerSpec((gen.FileSpec("u.bin", 100 + i, seed=str(i)),), "COPY u")),
            now - timedelta(hours=i),
        )
        for i in range(args.images)
    ]
    with PrivateDaemon.start() as daemon:
        engine = Engine(daemon.url)
        t0 = time.perf_counter()
        for chunk in range(0, len(specs), 250):
            load_tarball(engine.api(long=True), gen.build_tarball(specs[chunk : chunk + 250]))
        print(
            f"loaded {args.images} images in {time.perf_counter() - t0:.1f}s "
            f"(dockerd {read_facts(engine).version})"
        )
        ids = [row["Id"] for row in engine.api().images(all=True)]
        url = daemon.url

        rows: list[tuple[str, float, str, float]] = []
        d_ls = best(lambda: cli(url, "image", "ls", "-a"), args.repeat)
        d_df = best(lambda: cli(url, "system", "df", "-v"), args.repeat)
        d_inspect = best(lambda: cli(url, "image", "inspect", *ids), args.repeat)
        d_history = (
            best(lambda: [cli(url, "image", "history", "-q", i) for i in ids[:100]], 1) * len(ids) / 100
        )

        s_list = best(lambda: (list_images(engine), list_containers(engine)), args.repeat)
        images = list_images(engine)
        s_cold = best(lambda: read_layers(engine, images), 1)
        cache = LayerCache()
        read_layers(engine, images, cache=cache, engine_id="bench")
        s_warm = best(lambda: read_layers(engine, images, cache=cache, engine_id="bench"), args.repeat)
        snapshot = Snapshot(
            read_layers(engine, images, cache=cache, engine_id="bench"), list_containers(engine)
        )
        s_plan = best(lambda: plan_prune(snapshot, PruneFilters(dangling=False)), args.repeat)
        env = {**os.environ, "XDG_CACHE_HOME": "/tmp/bench-cache"}
        exe = [sys.executable, "-m", "tui", "--host", url, "images", "--json"]
        s_cli = best(lambda: subprocess.run(exe, check=True, capture_output=True, env=env), args.repeat)

        rows.append(("image list", s_list, "docker image ls -a", d_ls))
        rows.append(
            (
                "layers, cold (inspect+history each)",
                s_cold,
                "docker image inspect all + history each (est.)",
                d_inspect + d_history,
            )
        )
        rows.append(("layers, cached", s_warm, "docker image inspect all", d_inspect))
        rows.append(("exact prune --all plan (pure)", s_plan, "docker system df -v", d_df))
        rows.append(("docker-sweep images --json (end to end)", s_cli, "docker system df -v", d_df))
        width = max(len(r[0]) for r in rows)
        print(f"\n{'docker-sweep':<{width}}  seconds   {'docker CLI':<46}  seconds   ratio")
        for ours, ours_s, theirs, theirs_s in rows:
            print(
                f"{ours:<{width}}  {ours_s:7.3f}   {theirs:<46}  {theirs_s:7.3f}   {ours_s / theirs_s:5.2f}x"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
