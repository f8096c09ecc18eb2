"""The whole flow with keys alone in a real terminal (a private tmux server), at 80x24 and 160x45:
find an image, mark it, remove it (a local-only image: the acknowledgement by its key), prune with
a preview, and see the space come back in the summary line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid

import pytest

from tests.enginecase import APP_V1, DANGLING, disk_drop, eid, layers_size, seed_for_until, state
from tui.core.filters import parse_filters
from tui.core.marking import plan_images
from tui.core.plan import plan_prune
from tui.core.usage import human_size
from tui.engine.client import Engine
from tui.engine.snapshot import read_snapshot


class Tmux:
    """One private tmux server (``tmux -L NAME``) with one session running ``command``."""

    def __init__(self, width: int, height: int, command: str) -> None:
        self.server = f"sweep-keys-{uuid.uuid4().hex[:8]}"
        self.run("new-session", "-d", "-s", "main", "-x", str(width), "-y", str(height), command)

    def run(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", self.server, *args], capture_output=True, text=True, check=True
        ).stdout

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "main")

    def keys(self, *keys: str) -> None:
        for key in keys:
            self.run("send-keys", "-t", "main", key)
            # a key right after Escape would arrive as alt+key (the terminal's escape prefix)
            time.sleep(0.8 if key == "Escape" else 0.15)

    def wait(self, needle: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if needle in screen:
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{needle!r} never appeared; screen was:\n{screen}")

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.server, "kill-server"], capture_output=True)


@pytest.fixture
def tmux_available() -> None:
    if shutil.which("tmux") is None:
        message = "tmux is not installed (apt-get install -y tmux)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


@pytest.mark.parametrize(
    ("width", "height"), [pytest.param(80, 24, id="80x24"), pytest.param(160, 45, id="160x45")]
)
def test_seed_flow_with_keys_alone(engine, tmux_available, width, height):
    """The byte figures the screen must show are the store's own plans (classic: layer sizes;
    containerd: content + snapshots), and each run frees what /system/df then counts as gone."""
    until = seed_for_until(engine.api, engine.url)  # selects the dangling image (and v1)
    v1, dangling = eid(APP_V1), eid(DANGLING)
    snap = read_snapshot(Engine(engine.url))
    rm_plan = plan_images(snap, [v1])
    assert rm_plan.delete == (v1,) and rm_plan.exact
    before = layers_size(engine.api)
    command = f"{sys.executable} -m tui --host {engine.url}; echo EXIT=$?; sleep 60"
    term = Tmux(width, height, command)
    try:
        term.wait("Images 5")  # the summary line, once layers are read
        term.wait("F: L local-only")  # the flag legend: local-only flags visible at any width
        # find and mark
        term.keys("/", *"myapp:1.5.0", "Enter")
        screen = term.wait("filter: myapp:1.5.0")
        assert "myapp:2.0.0" not in screen
        term.keys("Space", "d")
        term.wait("Delete (y)")
        screen = term.wait(f"frees {human_size(rm_plan.reclaim_bytes)} (exact)")
        for needle in ("(l)", "n/esc", "Images on disk"):
            assert needle in screen, screen
        term.keys("y")  # refused: the local-only acknowledgement comes first
        time.sleep(1)
        assert "Delete (y)" in term.screen()
        term.keys("l", "y")
        term.wait("Total reclaimed space")  # the log pane cuts the figure; df's drop checks it
        screen = term.wait("Images 4")  # the space came back: the summary was re-read
        after_rm = layers_size(engine.api)
        assert before - after_rm == disk_drop(rm_plan, engine.api)
        # prune with a preview: all unused, older than `until` (the dangling image is left)
        snap = read_snapshot(Engine(engine.url))
        filters = parse_filters([f"until={until}"], all_images=True, now=time.time())
        prune_plan = plan_prune(snap, filters)
        assert prune_plan.delete == (dangling,) and prune_plan.exact
        term.keys("Escape", "p")
        term.wait("Continue (y)")
        term.keys("a")
        term.wait("all images not")
        term.keys("u", *until, "Escape")
        # the preview's "frees X (exact)": in the dialog's narrow column the line can break after
        # "frees" (seen on 28.5-containerd, whose before/after figures are wider)
        screen = term.wait(f"{human_size(prune_plan.reclaim_bytes)} (exact)")
        assert "frees" in screen
        term.keys("y")
        term.wait("Delete (y)")
        term.keys("l", "y")
        screen = term.wait("Images 3")
        assert after_rm - layers_size(engine.api) == disk_drop(prune_plan, engine.api)
        term.keys("q")
        screen = term.wait("EXIT=")
        assert "EXIT=0" in screen and "Traceback" not in screen
    finally:
        term.kill()
    remaining = state(engine.api)
    assert v1 not in remaining and dangling not in remaining
    assert len(remaining) == 3
