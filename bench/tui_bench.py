"""Benchmark: the TUI on a real engine, against the headless commands, in the same run.

    python bench/tui_bench.py [--images 1000] [--rm 500] [--rounds 2]

Starts a private dockerd, loads N generated images (cli_bench's generator) and, each round:

* launch to first table row and launch to layer data complete, cold (empty layer cache) and warm,
  each in a fresh process (interpreter start and imports included), driven headless by Textual's
  ``run_test``; the cold launch is compared with a cold ``images --json`` run just before it.
  The app is started as ``docker-sweep`` starts it (:mod:`tui.cli` imported, the store's first
  read started before Textual is imported, then the app given that read). "First row" is the
  first frame that draws a table row (the table's ``render_line`` below its header, with rows);
  sessions before 10 took the first poll that found rows in the table, which ``run_test`` makes
  only once the screen is idle, after every load stage already queued (later, in a warm launch);
* a removal of --rm images inside the app (marks set, d, l, y; from y to the reloaded table)
  while a key (down/up) is sent every 100 ms: how long each key takes to move the cursor, during
  the job and for 3 s after it; then the same images removed by ``rm --yes`` (headless, the store
  reloaded and written out before each side, which goes first alternating by round): the
  in-app ÷ headless ratio;
* the app process's peak RSS (``ru_maxrss``) at the end of the cold launch and of the removal;
* the app's own start, on a second private engine (same kind) with no image: launch to the first
  frame that draws the table, and to its last load stage handled (``_launch`` with ``empty``). No
  launch on a store takes less; it is why "cold layers complete" cannot reach 1.5x of a fast cold
  ``images --json``.

Wall-clock seconds; the machine's load average is printed with the results (other work on the
machine inflates both sides of a ratio). The checkout's ``tui`` package is byte-compiled first, as
an install is. ``--engine URL`` uses an engine already loaded by cli_bench's generator. Nothing here
is a pass/fail test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))


def _child_env(work: Path) -> dict[str, str]:
    return {
        **os.environ,
        "XDG_CACHE_HOME": str(work / "cache"),
        "XDG_CONFIG_HOME": str(work / "config"),
        "XDG_DATA_HOME": str(work / "data"),
        "DOCKER_CONFIG": str(work / "docker"),
        "PYTHONPATH": str(REPO),
    }


def _app(url: str) -> object:
    from tui.app.main import SweepApp
    from tui.engine.client import Engine
    from tui.engine.snapshot import LayerCache
    from tui.engine.source import EngineSource, default_cache_path

    return SweepApp(EngineSource(Engine(url), LayerCache(default_cache_path())))


def _cli_app(url: str) -> object:
    """The app as ``docker-sweep`` (:func:`tui.cli.main`) builds it: the store's first read is
    started before Textual is imported, and handed to the app."""
    import tui.cli  # noqa: F401  (what the entry point imports before anything else)
    from tui.app.first_read import FirstRead  # imports no Textual
    from tui.config import load_config
    from tui.engine.client import Engine
    from tui.engine.snapshot import LayerCache
    from tui.engine.source import EngineSource, default_cache_path

    config = load_config(None)
    source = EngineSource(Engine(url), LayerCache(default_cache_path()))
    first_read = FirstRead(source)
    from tui.app.main import SweepApp

    return SweepApp(source, config, first_read=first_read)


async def _launch(url: str, started: float, *, empty: bool = False) -> dict[str, float]:
    """In a child process: seconds from process start to the first frame that draws a table row,
    and to complete layers. ``empty`` (an engine with no image): to the first frame that draws the
    table (its header), and to the screen's last load stage handled: the app's own start
    (interpreter, imports, Textual's start-up and first frame, the engine's empty answers), what
    no store's launch can take less than."""
    app = _cli_app(url)
    from tui.app.widgets.image_table import ImageTable

    out: dict[str, float] = {}
    render_line = ImageTable.render_line

    def drawn(table: ImageTable, y: int) -> object:
        header = table.header_height if table.show_header else 0
        if empty:
            out.setdefault("first_frame", time.time() - started)
        elif "first_row" not in out and table.row_count and y >= header:
            out["first_row"] = time.time() - started
        return render_line(table, y)

    ImageTable.render_line = drawn  # type: ignore[method-assign]
    # "layers complete": when the screen has taken a snapshot with every image's layers. Seen from
    # its handler, not polled: a pilot.pause() waits until every widget has answered a callback,
    # and polling so every 10 ms kept the UI thread busy (~1 s of its CPU in a cold launch at
    # 1,000 images), which the layer read's thread then waited for at each file it read.
    from tui.app.screens.store import StoreScreen

    complete = asyncio.Event()
    loaded = StoreScreen.on_snapshot_loaded
    done = "complete" if empty else "layers_complete"

    def watched(screen: StoreScreen, message: object) -> None:
        loaded(screen, message)  # type: ignore[arg-type]
        if empty:
            finished = getattr(message, "stage", "") == "complete"
        else:
            finished = bool(screen.snapshot.layers_complete and screen.snapshot.images)
        if finished and done not in out:
            out[done] = time.time() - started
            complete.set()

    StoreScreen.on_snapshot_loaded = watched  # type: ignore[method-assign,assignment]
    async with app.run_test(size=(150, 45)) as pilot:  # type: ignore[attr-defined]
        await asyncio.wait_for(complete.wait(), 600)
        while empty and "first_frame" not in out:
            await pilot.pause(0.01)
    if not empty:
        out["peak_rss_mib"] = _peak_rss_mib()
    return out


async def _removal(url: str, prefix: str) -> dict[str, object]:
    """In a child process: remove the images tagged ``prefix*`` in the app, sending keys."""
    from tui.app.screens.confirm import ConfirmScreen

    app = _app(url)
    latencies_during: list[float] = []
    latencies_after: list[float] = []
    async with app.run_test(size=(150, 45)) as pilot:  # type: ignore[attr-defined]
        while not (getattr(app.screen, "snapshot", None) and app.screen.snapshot.disk is not None):  # type: ignore[attr-defined]
            await pilot.pause(0.05)
        screen = app.screen  # type: ignore[attr-defined]
        targets = {i.id for i in screen.snapshot.images.values() if any(t.startswith(prefix) for t in i.tags)}
        screen.marked = set(targets)
        screen.refresh_table()
        await pilot.press("d")
        while not isinstance(app.screen, ConfirmScreen):  # type: ignore[attr-defined]
            await pilot.pause(0.02)
        if app.screen.needs_local_ack:  # type: ignore[attr-defined]
            await pilot.press("l")
        start = time.perf_counter()
        await pilot.press("y")
        direction = "down"
        job_end: float | None = None
        while True:
            now = time.perf_counter()
            if job_end is None and not screen.job_running and not (targets & set(screen.snapshot.images)):
                job_end = now
            if job_end is not None and now - job_end > 3.0:
                break
            if now - start > 600:
                raise SystemExit("the removal took over 10 minutes")
            row = screen.table.cursor_row
            if row <= 0:  # a key that cannot move the cursor would be timed until something else does
                direction = "down"
            elif row >= screen.table.row_count - 1:
                direction = "up"
            sent = time.perf_counter()
            app.simulate_key(direction)  # type: ignore[attr-defined]
            while screen.table.cursor_row == row and time.perf_counter() - sent < 30:
                await asyncio.sleep(0.002)
            (latencies_after if job_end is not None else latencies_during).append(time.perf_counter() - sent)
            direction = "up" if direction == "down" else "down"
            await asyncio.sleep(0.1)
        removal = (job_end or time.perf_counter()) - start
    return {
        "removal": removal,
        "during": latencies_during,
        "after": latencies_after,
        "removed": len(targets),
        "peak_rss_mib": _peak_rss_mib(),
    }


def _peak_rss_mib() -> float:
    """This process's peak resident set size so far (Linux reports ``ru_maxrss`` in KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(args: argparse.Namespace) -> int:
    started = float(os.environ.get("SWEEP_BENCH_STARTED", time.time()))
    if args.child == "launch":
        print(json.dumps(asyncio.run(_launch(args.url, started))))
    elif args.child == "frame":
        print(json.dumps(asyncio.run(_launch(args.url, started, empty=True))))
    else:
        print(json.dumps(asyncio.run(_removal(args.url, args.prefix))))
    return 0


def _run_child(work: Path, *argv: str) -> dict[str, object]:
    env = {**_child_env(work), "SWEEP_BENCH_STARTED": repr(time.time())}
    done = subprocess.run(
        [sys.executable, __file__, *argv], capture_output=True, text=True, env=env, cwd=REPO, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"child {argv[:2]} failed: {done.stderr[-2000:]}")
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, env=env, cwd=REPO, check=False)
    if done.returncode not in (0, 1):
        raise SystemExit(f"{argv[:6]} failed: {done.stderr.decode()[-800:]}")
    return time.perf_counter() - start


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--rm", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--child", choices=("launch", "frame", "removal"))
    parser.add_argument("--url")
    parser.add_argument(
        "--engine",
        help="use this engine, already loaded with --images images by cli_bench's generator "
        "(e.g. kept from an earlier run), instead of a new private one",
    )
    parser.add_argument(
        "--daemon",
        default="20.10",
        help="the matrix engine a new private daemon runs (20.10, 28.5, 28.5-containerd, 26.1-containerd)",
    )
    parser.add_argument("--prefix", default="rmbench/")
    args = parser.parse_args()
    if args.child:
        return _child(args)

    from cli_bench import Bench, specs

    from tui.sandbox.daemon import PrivateDaemon

    # as cli_bench: an installed package is byte-compiled; a checkout under
    # PYTHONDONTWRITEBYTECODE=1 would compile every module it imports on every launch
    compile_tui = [sys.executable, "-m", "compileall", "-q", str(REPO / "tui")]
    subprocess.run(compile_tui, capture_output=True, check=True)
    work = Path(tempfile.mkdtemp(prefix="sweep-tui-bench-"))
    rows: dict[str, list[float]] = {}

    def add(name: str, value: float) -> None:
        rows.setdefault(name, []).append(value)

    latencies: dict[str, list[float]] = {"during": [], "after": []}
    try:
        with contextlib.ExitStack() as stack:
            daemon_url = args.engine or stack.enter_context(PrivateDaemon.start(engine=args.daemon)).url
            # an engine with no image, of the same kind: the app's own start (see _launch)
            empty_url = stack.enter_context(PrivateDaemon.start(engine=args.daemon)).url
            b = Bench(daemon_url, work)
            if not args.engine:
                b.load("store", specs(args.images, "bench/app", ""))
            rm_specs = [s for s in specs(args.rm * 5 // 4 + 1, "rmbench/app", "rm") if s.tags][: args.rm]
            refs = [s.tags[0] for s in rm_specs]
            env = _child_env(work)
            images_json = [sys.executable, "-m", "tui", "--host", daemon_url, "images", "--json"]
            load_before = os.getloadavg()
            for n in range(args.rounds):
                b.clear_cache()
                cold_cli = _timed(images_json, env)
                b.clear_cache()
                cold = _run_child(work, "--child", "launch", "--url", daemon_url)
                warm = _run_child(work, "--child", "launch", "--url", daemon_url)
                add("cold images --json (s)", cold_cli)
                add("cold launch to first row (s)", float(cold["first_row"]))  # type: ignore[arg-type]
                add("cold launch to layers complete (s)", float(cold["layers_complete"]))  # type: ignore[arg-type]
                add("cold layers complete ÷ cold images --json", float(cold["layers_complete"]) / cold_cli)  # type: ignore[arg-type]
                add("warm launch to first row (s)", float(warm["first_row"]))  # type: ignore[arg-type]
                add("warm launch to layers complete (s)", float(warm["layers_complete"]))  # type: ignore[arg-type]
                add("peak RSS, cold launch to layers complete (MiB)", float(cold["peak_rss_mib"]))  # type: ignore[arg-type]
                frame = _run_child(work, "--child", "frame", "--url", empty_url)
                add("no image: launch to first frame (s)", float(frame["first_frame"]))  # type: ignore[arg-type]
                add("no image: launch to its last load stage (s)", float(frame["complete"]))  # type: ignore[arg-type]

                def fresh_rm_images() -> None:
                    # loaded just before each side and written out: deletes right after a load
                    # (its writes still going to disk) take the engine measurably longer
                    b.load("rm", rm_specs)
                    os.sync()
                    _timed(images_json, env)  # the layer cache knows them, for both sides

                # the order alternates by round, so neither side always comes first
                if n % 2 == 0:
                    fresh_rm_images()
                    removal = _run_child(work, "--child", "removal", "--url", daemon_url)
                fresh_rm_images()
                headless = _timed([*b.sweep, "rm", "--yes", "--json", *refs], env)
                if n % 2 == 1:
                    fresh_rm_images()
                    removal = _run_child(work, "--child", "removal", "--url", daemon_url)
                add(f"in-app removal of {args.rm} (s)", float(removal["removal"]))  # type: ignore[arg-type]
                add(f"headless rm --yes of {args.rm} (s)", headless)
                add("in-app removal ÷ headless", float(removal["removal"]) / headless)  # type: ignore[arg-type]
                add("peak RSS, launch + removal + 3 s (MiB)", float(removal["peak_rss_mib"]))  # type: ignore[arg-type]
                latencies["during"] += removal["during"]  # type: ignore[arg-type]
                latencies["after"] += removal["after"]  # type: ignore[arg-type]
            load_after = os.getloadavg()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"\nTUI bench: {args.images} images, {args.rm} removed, {args.rounds} rounds, {os.cpu_count()} CPUs"
    )
    print(f"load average before {load_before[0]:.1f}, after {load_after[0]:.1f} (1 min)\n")
    print("| what | median | min–max |")
    print("|---|---|---|")
    for name, values in rows.items():
        print(f"| {name} | {statistics.median(values):.2f} | {min(values):.2f}–{max(values):.2f} |")
    for phase in ("during", "after"):
        v = latencies[phase]
        print(
            f"| key latency {phase} the removal (ms; {len(v)} keys) | p50 {_pct(v, 0.5) * 1000:.0f} | "
            f"p90 {_pct(v, 0.9) * 1000:.0f}, p99 {_pct(v, 0.99) * 1000:.0f}, "
            f"max {max(v, default=0) * 1000:.0f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
