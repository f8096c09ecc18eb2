"""Benchmark: docker-sweep's headless commands against the docker CLI, in the same run.

    python bench/cli_bench.py [--images 1000] [--rounds 3] [--rm 500] [--no-destructive]

Starts a private dockerd (needs root; the docker CLI and dockerd on PATH; ``--daemon
28.5-containerd`` runs that engine of the test matrix instead of 20.10, e.g. the containerd image
store), loads N generated images (a shared base layer, one small unique layer each, a tag on 4 of
5), then, each round, runs every pair below one after the other (docker-sweep, then its docker CLI
anchor) as whole processes and takes the ratio of the two wall times. Each row prints the median of
the per-round ratios and the median seconds of both sides, so a machine whose speed drifts (shared,
noisy) still gives a fair comparison. Each side's CPU seconds are printed too (medians): its own
process(es), and the engine's meanwhile (every thread of dockerd and the containerd it started,
read from ``/proc``; with ``--url`` only when ``--engine-pid`` names its dockerd, else 0). On a
machine with few cores a command whose own and engine CPU together exceed its wall time per core
is CPU-bound: shorter waits cannot make it faster, only less work on either side.

| docker-sweep | anchor |
|---|---|
| `images --json`, cold (empty layer cache) | `docker image inspect` of every image id |
| `images --json`, warm (layer cache filled) | `docker system df -v`, and `docker images -a` |
| `df --json`, warm | `docker system df -v` |
| `plan prune --all --json`, warm | `docker system df -v` |
| `docker-cli-plugin-metadata` | `docker --help` (which itself runs every plugin's metadata) |
| `rm --yes` of --rm images (by tag) | `docker rmi` of the same images (reloaded in between) |
| `prune --all --yes` | `docker image prune -a -f` (each side on a store loaded just before it) |

The last two delete images, so each side gets a freshly loaded store, written out (``os.sync``)
before the timed run; the prune row alternates which side goes first by round (``--no-destructive``
skips them; they dominate the run time, loading images is slow). Nothing here is a pass/fail test.

Before the rounds the checkout's ``tui`` package is byte-compiled (``compileall``, what ``pip
install`` does for an installed package): with ``PYTHONDONTWRITEBYTECODE=1`` in the environment a
checkout would otherwise compile every module it imports on every run (~0.2 s here), which no
installed docker-sweep does. ``--no-compile`` measures without that. The header gives the load
average at the start and the end: on a shared machine compare rows measured in the same window.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tui.engine.client import Engine  # noqa: E402
from tui.engine.snapshot import read_facts  # noqa: E402
from tui.sandbox import imagegen as gen  # noqa: E402
from tui.sandbox.daemon import PrivateDaemon  # noqa: E402
from tui.sandbox.fixtures import load_tarball  # noqa: E402

Runner = Callable[[], None]


def specs(n: int, prefix: str, seed: str) -> list[gen.ImageSpec]:
    now = datetime.now(UTC)
    base = gen.LayerSpec((gen.FileSpec("base.bin", 200_000, seed="base"),), "ADD base")
    return [
        gen.ImageSpec(
            (f"{prefix}{i % 97}:{i}",) if i % 5 else (),
            (base, gen.LayerSpec((gen.FileSpec("u.bin", 100 + i, seed=f"{seed}{i}"),), "COPY u")),
            now - timedelta(hours=i),
        )
        for i in range(n)
    ]


class Bench:
    def __init__(self, url: str, work: Path, engine_pid: int | None = None) -> None:
        self.url = url
        self.engine_pid = engine_pid  # its CPU time is read when known (a private daemon)
        self.engine = Engine(url)
        self.work = work
        self.tarballs: dict[str, list[bytes]] = {}
        self.env = {
            **os.environ,
            "XDG_CACHE_HOME": str(work / "cache"),
            "XDG_CONFIG_HOME": str(work / "config"),
            "XDG_DATA_HOME": str(work / "data"),
            "DOCKER_CONFIG": str(work / "docker"),
        }
        self.sweep = [sys.executable, "-m", "tui", "--host", self.url]

    def load(self, name: str, image_specs: list[gen.ImageSpec]) -> None:
        if name not in self.tarballs:
            self.tarballs[name] = [
                gen.build_tarball(image_specs[i : i + 250]) for i in range(0, len(image_specs), 250)
            ]
        for data in self.tarballs[name]:
            load_tarball(self.engine.api(long=True), data)

    def ids(self) -> list[str]:
        return [row["Id"] for row in self.engine.api().images(all=True)]

    def run(self, argv: Sequence[str], env: dict[str, str] | None = None) -> None:
        # cwd: `python -m tui` looks in the current directory first, so run from this checkout
        done = subprocess.run(list(argv), capture_output=True, env=env or self.env, check=False, cwd=REPO)
        if done.returncode not in (0, 1):
            raise SystemExit(
                f"{' '.join(argv[:8])} ... failed ({done.returncode}): {done.stderr.decode()[-500:]}"
            )

    def docker(self, *args: str) -> list[str]:
        return ["docker", "-H", self.url, *args]

    def clear_cache(self) -> None:
        shutil.rmtree(self.work / "cache", ignore_errors=True)


def timed(fn: Runner) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (dockerd starts its own containerd)."""
    out, todo = [], [pid]
    while todo:
        here = todo.pop()
        out.append(here)
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{here}/task"):
                with open(f"/proc/{here}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
    return out


def cpu_seconds(pid: int | None) -> float:
    """CPU time so far of ``pid``'s process tree, every thread (``schedstat``: nanoseconds); 0
    when not known."""
    if pid is None:
        return 0.0
    total = 0
    for proc in _process_tree(pid):
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{proc}/task"):
                with open(f"/proc/{proc}/task/{task}/schedstat") as f:
                    total += int(f.read().split()[0])
    return total / 1e9


@dataclass
class Cost:
    """One timed run: wall seconds, the CPU seconds of the command's own process(es), and of
    the engine (dockerd and its containerd) meanwhile."""

    wall: float
    own: float
    engine: float


def costed(b: Bench, fn: Runner) -> Cost:
    own0, engine0 = _children_cpu(), cpu_seconds(b.engine_pid)
    wall = timed(fn)
    return Cost(wall, _children_cpu() - own0, cpu_seconds(b.engine_pid) - engine0)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Table:
    def __init__(self) -> None:
        self.rows: dict[str, tuple[str, list[Cost], list[Cost]]] = {}

    def add(self, name: str, anchor: str, ours: Cost, theirs: Cost) -> None:
        self.rows.setdefault(name, (anchor, [], []))
        self.rows[name][1].append(ours)
        self.rows[name][2].append(theirs)

    def summary(self) -> list[dict[str, Any]]:
        """Per row: medians of the wall and CPU seconds of both sides, and of the per-round ratio."""
        out = []
        med = statistics.median
        for name, (anchor, ours, theirs) in self.rows.items():
            if len(ours) != len(theirs):
                continue
            ratios = [o.wall / t.wall for o, t in zip(ours, theirs, strict=True)]
            out.append(
                {
                    "what": name,
                    "seconds": med(o.wall for o in ours),
                    "anchor": anchor,
                    "anchor_seconds": med(t.wall for t in theirs),
                    "ratio": med(ratios),
                    "ratio_min": min(ratios),
                    "ratio_max": max(ratios),
                    "rounds": len(ours),
                    "cpu_own": med(o.own for o in ours),
                    "cpu_engine": med(o.engine for o in ours),
                    "anchor_cpu_own": med(t.own for t in theirs),
                    "anchor_cpu_engine": med(t.engine for t in theirs),
                }
            )
        return out

    def print(self, header: str, as_json: bool) -> None:
        out = self.summary()
        if as_json:
            print(json.dumps({"header": header, "rows": out}, indent=2))
            return
        print(f"\n{header}\n", flush=True)
        print(
            "| docker-sweep | s | CPU s: own + engine | docker CLI anchor | s | CPU s: own + engine "
            "| ratio (median; min–max) |"
        )
        print("|---|---|---|---|---|---|---|")
        for r in out:
            print(
                f"| {r['what']} | {r['seconds']:.2f} | {r['cpu_own']:.2f} + {r['cpu_engine']:.2f} "
                f"| {r['anchor']} | {r['anchor_seconds']:.2f} "
                f"| {r['anchor_cpu_own']:.2f} + {r['anchor_cpu_engine']:.2f} "
                f"| {r['ratio']:.2f}× ({r['ratio_min']:.2f}–{r['ratio_max']:.2f}) |"
            )


def read_only_rounds(b: Bench, table: Table, rounds: int) -> None:
    ids = b.ids()
    images_json = [*b.sweep, "images", "--json"]
    plugin_dir = b.work / "docker" / "cli-plugins"
    plugin_dir.mkdir(parents=True, exist_ok=True)
    b.run([sys.executable, "-m", "tui", "install-plugin", "--dir", str(plugin_dir)])
    for _ in range(rounds):
        b.clear_cache()
        ours = costed(b, lambda: b.run(images_json))
        theirs = costed(b, lambda: b.run(b.docker("image", "inspect", *ids)))
        table.add(
            "`images --json`, cold (empty layer cache)", "`docker image inspect` of every id", ours, theirs
        )
        ours = costed(b, lambda: b.run(images_json))
        theirs = costed(b, lambda: b.run(b.docker("system", "df", "-v")))
        table.add("`images --json`, warm", "`docker system df -v`", ours, theirs)
        ours = costed(b, lambda: b.run(images_json))
        theirs = costed(b, lambda: b.run(b.docker("images", "-a")))
        table.add("`images --json`, warm ", "`docker images -a`", ours, theirs)
        ours = costed(b, lambda: b.run([*b.sweep, "df", "--json"]))
        theirs = costed(b, lambda: b.run(b.docker("system", "df", "-v")))
        table.add("`df --json`, warm", "`docker system df -v`", ours, theirs)
        ours = costed(b, lambda: b.run([*b.sweep, "plan", "prune", "--all", "--json"]))
        theirs = costed(b, lambda: b.run(b.docker("system", "df", "-v")))
        table.add("`plan prune --all --json`, warm", "`docker system df -v`", ours, theirs)
        ours = costed(b, lambda: b.run([sys.executable, "-m", "tui", "docker-cli-plugin-metadata"]))
        theirs = costed(b, lambda: b.run(["docker", "--help"]))
        table.add("`docker-cli-plugin-metadata`", "`docker --help` (runs it)", ours, theirs)


def destructive_rounds(
    b: Bench, table: Table, rounds: int, prune_rounds: int, n_images: int, n_rm: int
) -> None:
    rm_specs = [s for s in specs(n_rm * 5 // 4 + 1, "rmbench/app", "rm") if s.tags][:n_rm]
    refs = [s.tags[0] for s in rm_specs]
    store_specs = specs(n_images, "bench/app", "")
    for _ in range(rounds):
        b.load("rm", rm_specs)
        os.sync()
        b.run([*b.sweep, "images", "--json"])  # warm the layer cache, as a user's second run
        ours = costed(b, lambda: b.run([*b.sweep, "rm", "--yes", "--json", *refs]))
        b.load("rm", rm_specs)
        os.sync()
        theirs = costed(b, lambda: b.run(b.docker("rmi", *refs)))
        table.add(
            f"`rm --yes` of {len(refs)} images (warm cache)",
            f"`docker rmi` of the same {len(refs)}",
            ours,
            theirs,
        )

    def prune_ours() -> None:
        b.run([*b.sweep, "prune", "--all", "--yes", "--json"])

    def prune_theirs() -> None:
        b.run(b.docker("image", "prune", "-a", "-f"))

    for n in range(prune_rounds):
        # Each side deletes a store loaded just before it and written out (os.sync), in an order
        # that alternates by round: a store loaded minutes before (and an earlier side's deletes
        # still being written) changes how long the engine takes to delete it.
        times: dict[str, Cost] = {}
        for side in ("ours", "theirs") if n % 2 == 0 else ("theirs", "ours"):
            if b.ids():
                prune_theirs()  # not timed: the store is loaded anew below
            if b.ids():
                raise SystemExit("the store is not empty after docker image prune -a")
            b.load("store", store_specs)
            if side == "ours":
                b.run([*b.sweep, "images", "--json"])  # warm the layer cache
            os.sync()
            times[side] = costed(b, prune_ours if side == "ours" else prune_theirs)
        table.add(
            f"`prune --all --yes` ({n_images} images, warm cache)",
            "`docker image prune -a -f`",
            times["ours"],
            times["theirs"],
        )
    b.load("store", store_specs)  # as the read-only rows found it


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rm", type=int, default=500, help="images removed by the rm rows")
    parser.add_argument(
        "--destructive-rounds",
        type=int,
        default=1,
        help="rounds of the rm and prune rows (each reloads images: slow)",
    )
    parser.add_argument("--no-destructive", action="store_true", help="skip the rm and prune rows")
    parser.add_argument(
        "--prune-rounds",
        type=int,
        default=1,
        help="rounds of the prune row (each reloads the whole store: slowest)",
    )
    parser.add_argument(
        "--url",
        help="use this engine, already loaded with --images images by this "
        "script's generator (e.g. a previous run's), instead of a new private one; "
        "the destructive rows delete them",
    )
    parser.add_argument(
        "--engine-pid",
        type=int,
        help="with --url: that engine's dockerd, whose CPU time the rows then give",
    )
    parser.add_argument(
        "--daemon",
        default="20.10",
        help="the matrix engine a new private daemon runs: 20.10 (default), 28.5, "
        "28.5-containerd (the containerd image store), 26.1-containerd",
    )
    parser.add_argument("--json", action="store_true", help="print the table as JSON")
    parser.add_argument(
        "--no-compile",
        action="store_true",
        help="do not byte-compile the checkout first (then PYTHONDONTWRITEBYTECODE=1 compiles every run)",
    )
    args = parser.parse_args()
    if shutil.which("docker") is None:
        raise SystemExit("the docker CLI is not on PATH")
    work = Path(tempfile.mkdtemp(prefix="sweep-bench-"))
    table = Table()
    try:
        with contextlib.ExitStack() as stack:
            daemon = None if args.url else stack.enter_context(PrivateDaemon.start(engine=args.daemon))
            url = args.url if daemon is None else daemon.url
            b = Bench(url, work, daemon.pid if daemon is not None else args.engine_pid)
            t0 = time.perf_counter()
            if not args.url:
                b.load("store", specs(args.images, "bench/app", ""))
            facts = read_facts(b.engine)
            client = subprocess.run(
                ["docker", "version", "--format", "{{.Client.Version}}"],
                capture_output=True,
                text=True,
                check=False,
            ).stdout.strip()
            print(f"loaded {args.images} images in {time.perf_counter() - t0:.0f}s", file=sys.stderr)
            if not args.no_compile:
                compile_tui = [sys.executable, "-m", "compileall", "-q", str(REPO / "tui")]
                subprocess.run(compile_tui, capture_output=True, check=True)
            bytecode = "byte-compiled" if not args.no_compile else "not byte-compiled"
            if os.environ.get("PYTHONDONTWRITEBYTECODE"):
                bytecode += ", PYTHONDONTWRITEBYTECODE set"
            load_start = os.getloadavg()[0]
            header = (
                f"{args.images} images, dockerd {facts.version} ({facts.image_store} store, "
                f"{facts.storage_driver}), docker CLI {client}, {os.cpu_count()} CPUs, "
                f"{args.rounds} rounds, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, checkout {bytecode}"
            )
            read_only_rounds(b, table, args.rounds)
            header += f", load average {load_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
            table.print(header, args.json)  # printed as soon as known: the rest takes long
            if not args.no_destructive:
                destructive_rounds(b, table, args.destructive_rounds, args.prune_rounds, args.images, args.rm)
                table.print(header, args.json)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
