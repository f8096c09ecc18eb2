"""Removing one platform of a multi-platform image (containerd store; `rm --platform`, issue 7):
on Docker 28.5 the plan's response line equals the engine's and its bytes equal the drop of
/system/df LayersSize; the cases where the engine would delete more than one platform's own
content are blocked; Docker 26.1 (API 1.45, which ignores ``platforms``) is refused.

These start their own containerd-store daemons (the ``ctrd`` fixture): they run in the 20.10
session of scripts/test.sh, like test_containerd_multiplatform.py.
"""

from __future__ import annotations

import io
import json

import pytest
from textual.widgets import Static

from tests.ctrdcase import ENGINES, ctrd_fixture, disk_drop, layers_size  # noqa: F401 (fixture ctrd)
from tests.enginecase import BUSYBOX, NOW, SLEEP, data_layer
from tests.pilot import highlight, loaded, log_text, make_app, press_confirm, wait_for
from tests.terminal import AnswerAfter
from tests.wipe import wipe
from tui import headless
from tui.app.screens.confirm import ConfirmScreen
from tui.app.screens.platform_picker import PlatformPicker
from tui.cli import main
from tui.core.platform_removal import parse_platform, plan_remove_platform
from tui.engine.actions import PlanExecutor
from tui.engine.client import Engine as SweepEngine
from tui.engine.client import EngineAPIError
from tui.engine.snapshot import read_snapshot
from tui.sandbox import imagegen as gen

pytestmark = pytest.mark.engine

# amd64 runs (busybox) and shares the busybox layer with SINGLE; arm64 is its own content
AMD = gen.ImageSpec((), (BUSYBOX, data_layer("pr-amd", 200_000)), NOW, cmd=SLEEP)
ARM = gen.ImageSpec((), (data_layer("pr-arm", 150_000),), NOW, cmd=SLEEP)
MULTI = gen.IndexSpec(
    ("multi:1", "multi:latest"), (gen.PlatformSpec(AMD, "amd64"), gen.PlatformSpec(ARM, "arm64"))
)
# nothing shared: the unpacked (host) platform's snapshots go with it
OWN_AMD = gen.ImageSpec((), (data_layer("pr-own-amd", 180_000), data_layer("pr-own-amd2", 60_000)), NOW)
OWN_ARM = gen.ImageSpec((), (data_layer("pr-own-arm", 90_000),), NOW)
OWN = gen.IndexSpec(("own:1",), (gen.PlatformSpec(OWN_AMD, "amd64"), gen.PlatformSpec(OWN_ARM, "arm64")))
PARTIAL_ARM = gen.ImageSpec((), (data_layer("pr-part-arm", 70_000),), NOW)
PARTIAL = gen.IndexSpec(
    ("partial:1",),
    (gen.PlatformSpec(OWN_AMD, "amd64"), gen.PlatformSpec(PARTIAL_ARM, "arm64", present=False)),
)
SINGLE = gen.ImageSpec(("single:1",), (BUSYBOX, data_layer("pr-single", 100_000)), NOW, cmd=SLEEP)


def _load(ctrd, specs=(MULTI, OWN, SINGLE)):
    wipe(ctrd.api)
    list(ctrd.api.load_image(gen.build_oci_layout(list(specs))))
    return read_snapshot(SweepEngine(ctrd.url))


# Removing one platform needs API 1.50+ (Docker 28); Docker 26 (API 1.45) is refused. Each test
# runs on the engines it is about (no skips): the ``ctrd`` fixture, parametrized per test.
NEW_ENGINES = pytest.mark.parametrize("ctrd", [e for e in ENGINES if not e.startswith("26.")], indirect=True)
OLD_ENGINES = pytest.mark.parametrize("ctrd", [e for e in ENGINES if e.startswith("26.")], indirect=True)


def _manifests(api, image_id):
    rows = api._result(api._get(api._url("/images/json"), params={"manifests": 1}), True)
    row = next(r for r in rows if r["Id"] == image_id)
    return {m["Descriptor"]["platform"]["architecture"]: m["Available"] for m in row["Manifests"]}


def run(capsys, *args):
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@NEW_ENGINES
@pytest.mark.parametrize(
    ("ref", "platforms"),
    [
        ("multi:1", ["linux/arm64"]),  # not unpacked: its content only
        ("id", ["linux/arm64"]),  # by image id
        ("own:1", ["linux/amd64"]),  # the unpacked platform: content and its snapshots
        ("own:1", ["linux/arm64", "linux/amd64"]),  # then the last platform present
    ],
)
def test_removing_one_platform_matches_the_engine(ctrd, ref, platforms):
    snap = _load(ctrd)
    image_id = gen.oci_image_id(MULTI if ref in ("multi:1", "id") else OWN)
    ref = image_id if ref == "id" else ref
    for platform in platforms:
        plan = plan_remove_platform(snap, ref, parse_platform(platform))
        assert not plan.blocked, plan.blocked
        assert plan.content_bytes and plan.reclaim_bytes == plan.content_bytes + (plan.snapshot_bytes or 0)
        before = layers_size(ctrd.api)
        result = PlanExecutor(SweepEngine(ctrd.url), plan, snap).run_all()
        assert result.errors == [] and result.unexpected == []
        expected = [str(r) for step in plan.steps for r in step.expect]
        assert [f"Deleted: {m}" for _, m in result.removed_platforms] == expected
        assert before - layers_size(ctrd.api) == disk_drop(plan, ctrd.api) == result.reclaimed_bytes
        # the image keeps its id and tags; the platform is listed as not present
        assert ctrd.api.inspect_image(ref)["Id"] == image_id
        assert _manifests(ctrd.api, image_id)[platform.split("/")[1]] is False
        snap = read_snapshot(SweepEngine(ctrd.url))
    if ref == "own:1" and platforms[-1] == "linux/amd64" and len(platforms) == 2:
        assert any("last platform present" in w for w in plan.warnings)
    if ref == "own:1" and platforms == ["linux/amd64"]:
        assert plan.snapshot_bytes and plan.freed_layers  # its unpacked snapshots were counted


@NEW_ENGINES
def test_blocked_cases_delete_nothing(ctrd, capsys):
    snap = _load(ctrd, (MULTI, OWN, SINGLE, PARTIAL))
    ctrd.api.create_container("multi:1", name="multi-user")
    snap = read_snapshot(SweepEngine(ctrd.url))
    cases = {
        ("single:1", "linux/amd64"): "not multi-platform",
        ("own:1", "linux/s390x"): "platform not found",
        ("partial:1", "linux/arm64"): "platform not present",
        # the busybox layer is SINGLE's too; and a container uses the unpacked platform
        ("multi:1", "linux/amd64"): "in use",
        ("own:1", "linux/amd64"): "content shared",  # OWN_AMD's blobs are PARTIAL's amd64 too
        ("nosuch:1", "linux/amd64"): "unknown reference",
    }
    for (ref, platform), reason in cases.items():
        plan = plan_remove_platform(snap, ref, parse_platform(platform))
        assert [b.reason for b in plan.blocked] == [reason], (ref, platform, plan.blocked)
        assert plan.empty
    before = layers_size(ctrd.api)
    for ref, platform in cases:
        code, out, _ = run(capsys, "--host", ctrd.url, "rm", "--platform", platform, ref, "--yes")
        assert code == 1 and "Nothing to do." in out
    code, out, _ = run(
        capsys, "--host", ctrd.url, "plan", "rm", "--platform", "linux/amd64", "multi:1", "--json"
    )
    data = json.loads(out)
    assert code == 1 and data["blocked"][0]["reason"] == "in use"
    assert data["blocked"][0]["containers"][0]["name"] == "multi-user"
    # the engine itself would have gone ahead: the container's platform content goes under it
    assert layers_size(ctrd.api) == before
    # a platform no container can use (not unpacked) is not blocked by the container
    plan = plan_remove_platform(snap, "multi:1", parse_platform("linux/arm64"))
    assert not plan.blocked and plan.snapshot_bytes == 0


@NEW_ENGINES
def test_cli_plan_and_rm_text_and_json(ctrd, capsys):
    _load(ctrd)
    code, out, _ = run(capsys, "--host", ctrd.url, "plan", "rm", "--platform", "linux/arm64", "multi:1")
    assert code == 0
    assert "removes only platform linux/arm64 of multi:1" in out and "keeps its id and tags" in out
    code, out, _ = run(
        capsys, "--host", ctrd.url, "plan", "rm", "--platform", "linux/arm64", "multi:1", "--json"
    )
    plan = json.loads(out)
    assert plan["steps"][0]["platform"] == "linux/arm64" and plan["untag"] == plan["delete"] == []
    before = layers_size(ctrd.api)
    code, out, _ = run(
        capsys, "--host", ctrd.url, "rm", "--platform", "linux/arm64", "multi:1", "--yes", "--json"
    )
    result = json.loads(out)
    assert code == 0 and result["errors"] == [] and result["unexpected"] == []
    assert [f"Deleted: {p['manifest']}" for p in result["removed_platforms"]] == plan["steps"][0]["expect"]
    assert result["reclaimed_bytes"] == plan["reclaim_bytes"] == before - layers_size(ctrd.api)
    assert sorted(ctrd.api.inspect_image("multi:1")["RepoTags"]) == ["multi:1", "multi:latest"]
    # asked on a terminal: a local-only image's platform needs the second yes, as a delete does
    terminal, out = AnswerAfter(lambda: None), io.StringIO()
    build = headless.platform_builder(["own:1"], "linux/arm64", False, False)
    code = headless.cmd_execute(
        SweepEngine(ctrd.url), build, yes=False, as_json=False, out=out, stdin=terminal
    )
    assert code == 0 and terminal.questions == 2
    assert "1 of these are local-only" in out.getvalue() and "(platform linux/arm64)" in out.getvalue()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["linux-arm64", "multi:1"], "'linux-arm64' is not a platform: give OS/ARCH"),
        (["linux/arm64", "multi:1", "single:1"], "--platform removes a platform of one image; got 2"),
        (["linux/arm64", "multi:1", "--force"], "does not combine with --force"),
    ],
)
def test_cli_usage_errors(ctrd, capsys, args, message):
    code, out, err = run(capsys, "--host", ctrd.url, "rm", "--platform", *args, "--yes")
    assert code == 2 and message in err and out == ""


@OLD_ENGINES
def test_old_engine_is_refused(ctrd, capsys):
    snap = _load(ctrd)
    plan = plan_remove_platform(snap, "multi:1", parse_platform("linux/arm64"))
    assert [b.reason for b in plan.blocked] == ["engine too old"]
    assert (
        "this engine (API 1.45" in plan.blocked[0].message and "needs Docker 28+" in plan.blocked[0].message
    )
    code, out, _ = run(capsys, "--host", ctrd.url, "rm", "--platform", "linux/arm64", "multi:1", "--yes")
    assert code == 1 and "needs Docker 28+" in out
    # the call itself is refused too: on 1.45 the engine would ignore `platforms` and untag
    with pytest.raises(EngineAPIError, match="cannot remove one platform"):
        SweepEngine(ctrd.url).remove_image_platform("multi:1", {"os": "linux", "architecture": "arm64"})
    assert sorted(ctrd.api.inspect_image("multi:1")["RepoTags"]) == ["multi:1", "multi:latest"]


@NEW_ENGINES
async def test_app_removes_the_picked_platform_through_the_confirm_screen(ctrd):
    snap = _load(ctrd)
    image_id = gen.oci_image_id(MULTI)
    plan = plan_remove_platform(snap, "multi:1", parse_platform("linux/arm64"))
    before = layers_size(ctrd.api)
    app = make_app(ctrd.url)
    async with app.run_test(size=(150, 45)) as pilot:
        screen = await loaded(pilot)
        await highlight(pilot, screen, image_id)
        pane = screen.query_one("#details-side", Static)
        await wait_for(pilot, lambda: "Platforms: linux/amd64, linux/arm64" in str(pane.render()))
        detail = str(pane.render())
        arm = f"{'linux/arm64':<16} {plan.steps[0].expect[0].value[7:19]}  content 153kB · unpacked 0B"
        assert arm in detail and "shift+m removes one platform" in detail
        await pilot.press("M")
        await wait_for(pilot, lambda: isinstance(app.screen, PlatformPicker))
        await pilot.press("2")  # linux/arm64
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert app.screen.plan.to_json() == plan.to_json()
        await press_confirm(pilot)
        await wait_for(pilot, lambda: not screen.job_running and "(platform linux/arm64)" in log_text(screen))
        await wait_for(pilot, lambda: "linux/arm64 (not present)" in str(pane.render()))
        # a single-platform image: M says so, nothing opens
        await highlight(
            pilot,
            screen,
            next(
                i
                for i in screen.snapshot.images
                if i != image_id and "single:1" in screen.snapshot.images[i].tags
            ),
        )
        await pilot.press("M")
        await pilot.pause()
        assert app.screen is screen
    assert before - layers_size(ctrd.api) == plan.reclaim_bytes
    assert ctrd.api.inspect_image("multi:1")["Id"] == image_id
