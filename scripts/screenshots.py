"""Screenshots of the real app on the demo sandbox engine (needs root and dockerd, like the demo).

    .venv/bin/python scripts/screenshots.py [--out screenshots] [--no-png] [--real-time]

Starts the seeded demo engine (``tui.demo.start_demo_engine``), drives ``SweepApp`` with Textual's
Pilot at 160x45 and saves SVGs: ``main.svg`` (the store, fully read), ``layers.svg`` (the
whole-store layer tree, key ``t``), ``space.svg`` (space by repository, key ``g``), ``age.svg``
(images per age bucket, key ``o``), ``confirm.svg`` (``myapp:1.5.0``, blocked by its stopped
container, and the dangling image marked, key ``d``) and
``prune.svg`` (key ``p``, all unused, ``until`` 240h) and ``buildcache.svg`` (key ``b``, all
unused records, after one small BuildKit build on the demo engine). With ``rsvg-convert`` on PATH
(``apt-get install -y librsvg2-bin``) it writes a PNG next to each SVG. The clock is fixed to
``demo_store.REFERENCE_NOW`` so every run gives the same IDs and ages (``--real-time``: now).
The sandbox is stopped however the script ends.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Input, RadioButton

from tui.app.main import SweepApp
from tui.app.screens.buildcache import BuildCacheDialog
from tui.app.screens.confirm import ConfirmScreen
from tui.app.screens.main import MainScreen
from tui.app.screens.prune import PruneDialog
from tui.app.widgets.log_panel import LogPanel
from tui.config import Config
from tui.demo import missing_requirement, start_demo_engine
from tui.engine.client import Engine
from tui.engine.snapshot import LayerCache
from tui.engine.source import EngineSource
from tui.sandbox.demo_store import REFERENCE_NOW

SIZE = (160, 45)
ROOT = Path(__file__).resolve().parent.parent


async def _until(pilot: Pilot[int], check: Callable[[], bool], what: str, timeout: float = 60) -> None:
    """Let the app run until ``check()`` holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await pilot.pause(0.1)
    await pilot.pause(0.3)  # let the last refresh paint


def _errors_in_log(main: MainScreen) -> list[str]:
    """Lines of the app's log panel that report an error."""
    log = main.query_one("#log", LogPanel)
    return [line for line in log.lines_written if line.startswith("Error") or "error" in line.lower()]


async def _shoot(app: SweepApp, out: Path, build_cache: bool) -> list[Path]:
    """Drive the app and save the screenshots; returns their paths."""
    saved: list[Path] = []

    def save(name: str) -> None:
        saved.append(Path(app.save_screenshot(f"{name}.svg", str(out))))
        print(f"screenshots: wrote {saved[-1]}", file=sys.stderr)

    async with app.run_test(size=SIZE) as pilot:
        await _until(pilot, lambda: isinstance(app.screen, MainScreen), "the main screen")
        main = app.screen
        assert isinstance(main, MainScreen)
        await _until(
            pilot,
            lambda: main.snapshot.layers_complete and main.snapshot.disk is not None and not main.workers,
            "the store, its layers and disk usage",
        )
        errors = _errors_in_log(main)
        if errors:
            raise RuntimeError(f"the app logged errors: {errors}")
        save("main")

        await pilot.press("g")
        await pilot.pause(0.5)
        save("space")
        await pilot.press("o")
        await pilot.pause(0.5)
        save("age")
        main.table.focus()
        await pilot.press("t")
        await pilot.pause(0.3)
        save("layers")
        await pilot.press("t")  # back to the highlighted image's layers

        index = next(i for i, image in enumerate(main.table.shown) if "myapp:1.5.0" in image.tags)
        assert not main.table.shown[index + 1].tags, "sorted by size, the dangling image comes next"
        main.table.move_cursor(row=index)
        await pilot.pause(0.1)
        await pilot.press("space", "space", "d")  # myapp:1.5.0 and the next row, the dangling image
        await _until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirm screen", 10)
        await pilot.press("l")  # the local-only acknowledgement, by its key
        await pilot.pause(0.3)
        save("confirm")
        await pilot.press("escape")
        await _until(pilot, lambda: app.screen is main, "the main screen again", 10)
        await pilot.press("u")  # unmark

        await pilot.press("p")
        await _until(pilot, lambda: isinstance(app.screen, PruneDialog), "the prune dialog", 10)
        dialog = app.screen
        dialog.query_one("#prune-all", RadioButton).value = True
        dialog.query_one("#prune-until", Input).focus()
        await pilot.press(*"240h")
        await pilot.pause(0.3)
        save("prune")
        await pilot.press("escape")  # leaves the field
        await pilot.pause(0.9)
        await pilot.press("escape")  # closes the dialog
        await _until(pilot, lambda: app.screen is main, "the main screen again", 10)

        if build_cache:
            await pilot.press("b")
            await _until(
                pilot, lambda: isinstance(app.screen, BuildCacheDialog), "the build cache dialog", 30
            )
            await pilot.press("a")  # all unused records: the demo build's layers are shared with its image
            await pilot.pause(0.3)
            save("buildcache")
            await pilot.press("escape")
            await pilot.pause(0.1)
        errors = _errors_in_log(main)
        if errors:
            raise RuntimeError(f"the app logged errors: {errors}")
    return saved


def _build_cache(url: str) -> bool:
    """Give the demo engine some BuildKit build cache: one small build with Debian docker.io's CLI
    (BuildKit built in). False (and no build cache screenshot) without that CLI."""
    cli = "/usr/bin/docker"
    if not Path(cli).exists():
        print(
            f"screenshots: no {cli} (apt-get install -y docker.io): no build cache screenshot",
            file=sys.stderr,
        )
        return False
    with tempfile.TemporaryDirectory() as context:
        Path(context, "app.cfg").write_bytes(bytes(range(256)) * 2_000)
        Path(context, "notes.txt").write_text("build cache demo\n" * 5_000)
        Path(context, "Dockerfile").write_text(
            "FROM postgres:16\nCOPY app.cfg /etc/app.cfg\nCOPY notes.txt /notes\n"
        )
        env = {"DOCKER_BUILDKIT": "1", "PATH": "/usr/bin:/bin", "HOME": context}
        subprocess.run([cli, "-H", url, "build", "-q", "-t", "cache-demo:1", context], env=env, check=True,
                       capture_output=True, timeout=300)  # fmt: skip
        subprocess.run([cli, "-H", url, "rmi", "cache-demo:1"], env=env, check=True, capture_output=True)
    return True


def _to_png(svg: Path, converter: str) -> Path:
    """Convert with ``rsvg-convert``; it drops leading spaces of a text run unless told not to."""
    png = svg.with_suffix(".png")
    text = svg.read_text(encoding="utf-8").replace("<svg ", '<svg xml:space="preserve" ', 1)
    with tempfile.NamedTemporaryFile("w", suffix=".svg", encoding="utf-8") as tmp:
        tmp.write(text)
        tmp.flush()
        subprocess.run([converter, "--background-color", "#1e1e1e", "-o", str(png), tmp.name], check=True)
    print(f"screenshots: wrote {png}", file=sys.stderr)
    return png


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots", help="output directory")
    parser.add_argument("--no-png", action="store_true", help="write SVGs only")
    parser.add_argument("--real-time", action="store_true", help="date the store from the real clock")
    args = parser.parse_args(argv)
    problem = missing_requirement()
    if problem:
        print(f"screenshots: {problem}", file=sys.stderr)
        return 3
    args.out.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC) if args.real_time else REFERENCE_NOW
    daemon = start_demo_engine(now=now)
    try:
        print(f"screenshots: demo engine at {daemon.url}", file=sys.stderr)
        source = EngineSource(Engine(daemon.url), LayerCache())
        app = SweepApp(source, Config(), now=lambda: now.timestamp())
        build_cache = _build_cache(daemon.url)
        saved = asyncio.run(_shoot(app, args.out, build_cache))
    finally:
        daemon.stop()
    converter = shutil.which("rsvg-convert")
    if args.no_png:
        return 0
    if converter is None:
        print("screenshots: no rsvg-convert (apt-get install -y librsvg2-bin): SVGs only", file=sys.stderr)
        return 0
    for svg in saved:
        _to_png(svg, converter)
    return 0


if __name__ == "__main__":
    sys.exit(main())
