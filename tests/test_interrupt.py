"""Ctrl-C while `rm`/`prune` runs: the record of what was already done is still printed.

The command runs as a real subprocess against a real engine holding many images; the test sends
SIGINT once some images are gone, then checks stdout against what the engine really holds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.wipe import wipe
from tui.exit_codes import EXIT_INTERRUPTED
from tui.sandbox import fixtures
from tui.sandbox import imagegen as gen

# On the containerd store (28.5) the test's own image list failed during the deletes ("failed to
# read config content"), and plans model the classic store only.
pytestmark = pytest.mark.classic_store

ROOT = Path(__file__).resolve().parent.parent
COUNT = 150


def _seed_many(api: Any) -> set[str]:
    """Wipe the engine and load ``COUNT`` tagged images: one shared layer (quick to load), each its
    own config (its own image id); each has one unique small layer every 10th image."""
    wipe(api)
    now = datetime.now(UTC)
    base = gen.LayerSpec((gen.FileSpec("base.bin", 50_000, seed="base"),), "ADD base")
    specs = [
        gen.ImageSpec(
            (f"many/app{i % 7}:{i}",),
            (base, gen.LayerSpec((gen.FileSpec("u.bin", 100 + i, seed=str(i)),), "COPY u"))
            if i % 10 == 0
            else (base,),
            now - timedelta(hours=i),
        )
        for i in range(COUNT)
    ]
    fixtures.load_tarball(api, gen.build_tarball(specs))
    return {row["Id"] for row in api.images(all=True)}


def _start(url: str, *args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [sys.executable, "-m", "tui", "--host", url, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _interrupt_after_some_deletes(
    api: Any, proc: subprocess.Popen[str], before: set[str], *, times: int = 1
) -> tuple[str, str]:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if len(before) - len(api.images(all=True)) >= 10:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the command ended before it could be interrupted"
    for _ in range(times):
        proc.send_signal(signal.SIGINT)
        time.sleep(0.01)
    out, err = proc.communicate(timeout=300)
    return out, err


def test_ctrl_c_during_prune_json_prints_what_was_done(engine):
    before = _seed_many(engine.api)
    proc = _start(engine.url, "prune", "--all", "--yes", "--json")
    out, err = _interrupt_after_some_deletes(engine.api, proc, before)
    assert proc.returncode == EXIT_INTERRUPTED, err
    result = json.loads(out)
    after = {row["Id"] for row in engine.api.images(all=True)}
    assert result["executed"] is True and result["cancelled"] is True
    assert result["in_doubt"] == []  # the first Ctrl-C lets the step in flight finish
    assert set(result["deleted"]) == before - after  # exactly what the engine no longer has
    assert 10 <= len(result["deleted"]) < COUNT and after
    planned = {s["target"]: s["image_id"] for s in result["plan"]["steps"]}
    assert {planned[t] for t in result["not_run"]} == after  # what was not run is what is left
    assert "stopping after the current step" in err


def test_ctrl_c_during_rm_text_prints_what_was_done_and_cancelled(engine):
    before = _seed_many(engine.api)
    rows = engine.api.images()
    refs = sorted(t for row in rows for t in row["RepoTags"])
    proc = _start(engine.url, "rm", "--yes", *refs)
    out, err = _interrupt_after_some_deletes(engine.api, proc, before)
    assert proc.returncode == EXIT_INTERRUPTED, err
    after = {row["Id"] for row in engine.api.images(all=True)}
    deleted_lines = {line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("Deleted: ")}
    assert deleted_lines & before == before - after  # image ids printed = images gone
    assert "Cancelled (interrupted)" in out and "not run:" in out
    assert "Total reclaimed space" in out


def test_second_ctrl_c_stops_at_once_and_still_prints_json(engine):
    before = _seed_many(engine.api)
    proc = _start(engine.url, "prune", "--all", "--yes", "--json")
    out, err = _interrupt_after_some_deletes(engine.api, proc, before, times=2)
    assert proc.returncode == EXIT_INTERRUPTED, err
    result = json.loads(out)
    after = {row["Id"] for row in engine.api.images(all=True)}
    assert result["cancelled"] is True
    planned = {s["target"]: s["image_id"] for s in result["plan"]["steps"]}
    in_doubt = {planned[t] for t in result["in_doubt"]}
    gone = before - after
    # Everything the engine no longer has is either reported deleted or is the step in doubt.
    assert set(result["deleted"]) <= gone and gone - set(result["deleted"]) <= in_doubt
    assert {planned[t] for t in result["not_run"]} <= after
