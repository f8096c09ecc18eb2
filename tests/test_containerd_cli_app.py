"""The containerd store in the headless commands and the app: both byte figures in the plan
text and JSON, the local-only reason and platforms, execution's reclaimed bytes, and no
"plans may differ" warning in the app (issue 7)."""

from __future__ import annotations

import json
import time

import pytest
from textual.widgets import Static

from tests.ctrdcase import ctrd_fixture, disk_drop, layers_size  # noqa: F401 (fixture ctrd)
from tests.enginecase import STANDARD, seed
from tests.pilot import highlight, loaded, log_text, make_app, wait_for
from tui.cli import main
from tui.core.filters import parse_filters
from tui.core.plan import plan_prune
from tui.engine.client import Engine as SweepEngine
from tui.engine.snapshot import read_snapshot

pytestmark = pytest.mark.engine


def run(capsys, *args):
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_plan_text_json_and_execution(ctrd, capsys):
    seed(ctrd.api, ctrd.url, STANDARD, (("web", "web:1.25", True),))
    code, out, _ = run(capsys, "--host", ctrd.url, "plan", "prune", "--all")
    assert code in (0, 1)
    snap = read_snapshot(SweepEngine(ctrd.url))
    plan = plan_prune(snap, parse_filters([], all_images=True, now=time.time()))
    assert plan.content_bytes and plan.snapshot_bytes
    assert "unpacked snapshots; the engine will report" in out
    code, out, _ = run(capsys, "--host", ctrd.url, "plan", "prune", "--all", "--json")
    data = json.loads(out)
    assert data["reclaim_bytes"] == plan.reclaim_bytes == data["content_bytes"] + data["snapshot_bytes"]
    assert data["engine_reported_bytes"] == plan.content_bytes
    code, out, _ = run(capsys, "--host", ctrd.url, "images", "--json")
    rows = json.loads(out)
    assert all(r["local_only"] and "loaded from an archive" in r["local_only_reason"] for r in rows)
    assert all(r["platforms"] for r in rows)
    before = layers_size(ctrd.api)
    code, out, _ = run(capsys, "--host", ctrd.url, "prune", "--all", "--yes", "--json")
    result = json.loads(out)
    assert result["errors"] == [] and result["unexpected"] == []
    assert result["reclaimed_bytes"] == plan.reclaim_bytes
    assert before - layers_size(ctrd.api) == disk_drop(plan, ctrd.api)


async def test_app_models_the_store_without_a_warning(ctrd):
    seed(ctrd.api, ctrd.url, STANDARD)
    app = make_app(ctrd.url)
    async with app.run_test(size=(150, 45)) as pilot:
        screen = await loaded(pilot)
        assert screen.snapshot.containerd
        assert "may differ" not in log_text(screen)
        db = next(i for i in screen.snapshot.images.values() if "db:16" in i.tags)
        await highlight(pilot, screen, db.id)
        pane = screen.query_one("#details-side", Static)  # 150 columns: beside the tabs

        def detail_text() -> str:
            return str(pane.render())

        await wait_for(pilot, lambda: "Platforms: linux/" in detail_text())
        detail = detail_text()
        assert "loaded from an archive" in detail and "Platforms: linux/" in detail
