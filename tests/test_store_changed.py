"""A store change between the plan and its execution skips the step instead of deleting more.

Each case changes the real engine's store while the ``Proceed?`` question is open (the answer comes
through a terminal-like stdin that first makes the change, like another shell would), then answers
yes. The planned image must survive, the step must be reported as "store changed" and the exit code
must be 1. The app's removal path gets the same check through the confirm screen.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import pytest

from tests.enginecase import APP_V1, APP_V2, DANGLING, DB, STANDARD, WEB, data_layer, eid, seed, spec, state
from tests.pilot import highlight, loaded, log_text, press_confirm, wait_for
from tests.terminal import AnswerAfter
from tui.app.main import SweepApp
from tui.app.screens.confirm import ConfirmScreen
from tui.cli import main
from tui.core.filters import PruneFilters
from tui.core.plan import Step, plan_prune
from tui.engine.actions import PlanExecutor
from tui.engine.client import Engine
from tui.engine.snapshot import read_snapshot
from tui.engine.source import EngineSource
from tui.exit_codes import EXIT_PARTIAL
from tui.sandbox import fixtures
from tui.sandbox import imagegen as gen

V1_ID, V2_ID, DB_ID, WEB_ID, DANGLING_ID = (eid(s) for s in (APP_V1, APP_V2, DB, WEB, DANGLING))
SLEEP = ("/bin/busybox", "sleep", "600")


def _replacement(tag: str) -> gen.ImageSpec:
    return spec((tag,), (data_layer("replacement-" + tag, 20_000),), age_days=0)


def make_change(
    api: Any, kind: str, image_id: str, tag: str
) -> tuple[Callable[[], None], Callable[[], None]]:
    """(change the store, check after the run) for one kind of change to the planned image."""

    def tag_added() -> None:
        api.tag(image_id, "keep", "me")

    def tag_moved() -> None:  # db:16 moves from the db image onto the planned image
        api.tag(image_id, "db", "16")

    def tag_moved_away() -> None:  # one of the planned image's tags moves onto the db image
        repo, _, name = tag.rpartition(":")
        api.tag(DB_ID, repo, name)

    def container_created() -> None:
        fixtures.create_container(api, image_id, "late-comer", start=False, cmd=SLEEP)

    kept_by_engine = [True]

    def replaced() -> None:  # a new image is loaded under the same tag (as a pull or build does)
        fixtures.load_tarball(api, gen.build_tarball([_replacement(tag)]))
        # 26.1's containerd store drops an image whose last name a load moved (no dangling record,
        # as 28.5 keeps): then the engine itself removed it before the run could
        kept_by_engine[0] = image_id in state(api)

    def check() -> None:
        after = state(api)
        if kind == "replaced":
            assert after[eid(_replacement(tag))][0] == (tag,)
        if not kept_by_engine[0]:
            return  # the callers check that the run did not report deleting it
        assert image_id in after, f"the planned image was deleted after a store change ({kind})"
        tags = after[image_id][0]
        if kind == "tag_added":
            assert "keep:me" in tags
        elif kind == "tag_moved":
            assert "db:16" in tags

    changes = {
        "tag_added": tag_added,
        "tag_moved": tag_moved,
        "tag_moved_away": tag_moved_away,
        "container_created": container_created,
        "replaced": replaced,
    }
    return changes[kind], check


# (command after --host, the planned image the change touches, a tag of it, changes)
COMMANDS = {
    "rm": (
        ["rm", "myapp:1.5.0"],
        V1_ID,
        "myapp:1.5.0",
        ("tag_added", "tag_moved", "container_created", "replaced"),
    ),
    "rm-untag-only": (["rm", "myapp:2.0.0"], V2_ID, "myapp:latest", ("tag_moved_away",)),
    "rm-force-id": (
        ["rm", "--force", V2_ID],
        V2_ID,
        "myapp:2.0.0",
        ("tag_added", "tag_moved", "tag_moved_away", "container_created", "replaced"),
    ),
    "prune": (["prune"], DANGLING_ID, "", ("tag_added", "tag_moved", "container_created")),
    "prune-all": (
        ["prune", "--all"],
        V1_ID,
        "myapp:1.5.0",
        ("tag_added", "tag_moved", "container_created", "replaced"),
    ),
}
CASES = [(name, kind) for name, (_, _, _, kinds) in COMMANDS.items() for kind in kinds]


@pytest.mark.parametrize(("command", "kind"), CASES, ids=[f"{c}-{k}" for c, k in CASES])
def test_headless_skips_a_step_whose_image_changed(engine, capsys, monkeypatch, command, kind):
    argv, image_id, tag, _ = COMMANDS[command]
    seed(engine.api, engine.url, STANDARD)
    change, check = make_change(engine.api, kind, image_id, tag)
    monkeypatch.setattr(sys, "stdin", AnswerAfter(change))
    code = main(["--host", engine.url, *argv, "--json"])
    result = json.loads(capsys.readouterr().out)
    assert result["executed"] is True
    check()
    assert code == EXIT_PARTIAL
    assert image_id not in result["deleted"]
    changed = [s for s in result["store_changed"] if s["image_id"] == image_id]
    assert changed and all(s["changes"] for s in changed)
    assert any("store changed" in e["message"] for e in result["errors"])
    if kind == "container_created":  # named, also where the engine's refusal found it (no force)
        assert any("late-comer" in c for s in changed for c in s["changes"]), changed
    if command == "prune-all":
        assert WEB_ID in result["deleted"] and WEB_ID not in state(engine.api)  # the rest went on


def test_reference_pulled_by_digest_while_confirming_is_a_change(engine, registry, capsys, monkeypatch):
    """A name pulled by digest (``repo@sha256:...``, no tag) is a reference of its own: with it the
    engine only untags the planned tag. On the containerd store RepoDigests also lists
    ``repo@<id>`` under every tagged repository; the re-check must tell the two apart."""
    seed(engine.api, engine.url, STANDARD)
    remote = f"{registry.host}/team/pinned"
    fixtures.tag(engine.api, "myapp:1.5.0", remote, "1")
    digest = fixtures.push(engine.api, f"{remote}:1")
    engine.api.remove_image(f"{remote}:1")
    if f"{remote}@{digest}" in engine.api.inspect_image(V1_ID)["RepoDigests"]:
        engine.api.remove_image(f"{remote}@{digest}")  # if the engine kept it (20.10 did not)

    def pull_by_digest() -> None:
        list(engine.api.pull(remote, tag=digest, stream=True, decode=True))

    monkeypatch.setattr(sys, "stdin", AnswerAfter(pull_by_digest))
    code = main(["--host", engine.url, "rm", "myapp:1.5.0", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == EXIT_PARTIAL and V1_ID not in result["deleted"]
    (changed,) = result["store_changed"]
    assert changed["image_id"] == V1_ID and f"{remote}@{digest}" in " ".join(changed["changes"])
    assert V1_ID in state(engine.api)
    # (28.5 containerd: inspect lists the name in RepoDigests, GET /images/json does not)
    assert f"{remote}@{digest}" in engine.api.inspect_image(V1_ID)["RepoDigests"]


def test_text_output_says_store_changed(engine, capsys, monkeypatch):
    seed(engine.api, engine.url, STANDARD)
    monkeypatch.setattr(sys, "stdin", AnswerAfter(lambda: engine.api.tag(V2_ID, "myapp", "keep")))
    code = main(["--host", engine.url, "rm", "--force", V2_ID])
    out = capsys.readouterr().out
    assert code == EXIT_PARTIAL
    assert "store changed" in out and "myapp:keep" in out and f"Deleted: {V2_ID}" not in out
    assert state(engine.api)[V2_ID][0] == ("myapp:2.0.0", "myapp:keep", "myapp:latest")


def test_unchanged_store_runs_the_plan_with_exit_0(engine, capsys, monkeypatch):
    seed(engine.api, engine.url, STANDARD)
    monkeypatch.setattr(sys, "stdin", AnswerAfter(lambda: None))
    code = main(["--host", engine.url, "prune", "--all", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["store_changed"] == [] and result["unexpected"] == []
    assert set(result["deleted"]) == set(result["plan"]["delete"]) and state(engine.api) == {}


def test_change_inside_the_window_is_reported_as_unexpected(engine):
    """The one residual window (between the re-check and the DELETE): what the engine does there
    is reported line by line as not in the plan, and counts as a failure."""
    store = seed(engine.api, engine.url, STANDARD)
    snap = read_snapshot(store.engine)
    plan = plan_prune(snap, PruneFilters())

    def in_window(step: Step) -> None:
        engine.api.tag(step.image_id, "keep", "me")

    executor = PlanExecutor(store.engine, plan, snap, before_call=in_window)
    events = list(_events(executor))
    result = executor.result
    assert result.unexpected == ["Untagged: keep:me"]
    assert any(e.kind == "unexpected" and "keep:me" in e.text for e in events)
    assert DANGLING_ID not in state(engine.api)  # the engine did delete it: the window is real


def test_container_created_inside_the_window_is_refused_and_named(engine):
    """A delete without force does not re-read the containers before the call (the engine refuses
    it if one appeared): a container created in the residual window is a refusal (409) that the
    executor reports as a store change naming the container, and the image stays."""
    store = seed(engine.api, engine.url, STANDARD)
    snap = read_snapshot(store.engine)
    plan = plan_prune(snap, PruneFilters())
    assert [s.image_id for s in plan.steps] == [DANGLING_ID] and plan.steps[0].seen_containers == ()

    def in_window(step: Step) -> None:
        fixtures.create_container(engine.api, step.image_id, "window-user", start=False, cmd=SLEEP)

    executor = PlanExecutor(store.engine, plan, snap, before_call=in_window)
    events = list(_events(executor))
    result = executor.result
    assert [c.image_id for c in result.store_changed] == [DANGLING_ID], events
    assert "window-user" in result.store_changed[0].message
    assert result.deleted == [] and result.unexpected == []
    assert DANGLING_ID in state(engine.api)


def test_cli_exit_code_counts_unexpected_lines(engine, capsys, monkeypatch):
    from tui import headless

    store = seed(engine.api, engine.url, STANDARD)
    build = headless.prune_builder(PruneFilters())
    code = headless.cmd_execute(
        store.engine,
        build,
        yes=True,
        as_json=True,
        out=sys.stdout,
        before_call=lambda step: engine.api.tag(step.image_id, "keep", "me"),
    )
    result = json.loads(capsys.readouterr().out)
    assert code == EXIT_PARTIAL and result["unexpected"] == ["Untagged: keep:me"]


def _events(executor: PlanExecutor) -> list[Any]:
    events = []
    gen_ = executor.run()
    while True:
        try:
            events.append(next(gen_))
        except StopIteration:
            return events


# -- the app --------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["tag_added", "tag_moved", "container_created", "replaced"])
async def test_app_skips_an_image_that_changed_while_confirming(engine, kind):
    seed(engine.api, engine.url, STANDARD)
    change, check = make_change(engine.api, kind, V1_ID, "myapp:1.5.0")
    app = SweepApp(EngineSource(Engine(engine.url)))
    async with app.run_test(size=(150, 45)) as pilot:
        screen = await loaded(pilot)
        for image_id in (V1_ID, DANGLING_ID):
            await highlight(pilot, screen, image_id)
            await pilot.press("space")
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert set(app.screen.plan.delete) == {V1_ID, DANGLING_ID}
        change()  # another shell, while the confirm screen is open
        await press_confirm(pilot)
        await wait_for(pilot, lambda: "Total reclaimed space" in log_text(screen))
        text = log_text(screen)
        assert "store changed" in text
        # the log shortens ids like the docker CLI's table: sha256: and 12 hex digits
        assert f"Deleted: {V1_ID[:19]}" not in text and f"Deleted: {DANGLING_ID[:19]}" in text
    check()
    assert DANGLING_ID not in state(engine.api)


class _TagInWindow(EngineSource):
    """The real source, with another shell tagging the image inside the residual window."""

    def __init__(self, engine: Engine, api: Any) -> None:
        super().__init__(engine)
        self.api = api

    def execute(self, plan, snapshot, cancelled):
        executor = PlanExecutor(
            self.engine, plan, snapshot, before_call=lambda step: self.api.tag(step.image_id, "keep", "me")
        )
        return (yield from executor.run(cancelled))


async def test_app_log_shows_unexpected_lines(engine):
    seed(engine.api, engine.url, STANDARD)
    app = SweepApp(_TagInWindow(Engine(engine.url), engine.api))
    async with app.run_test(size=(150, 45)) as pilot:
        screen = await loaded(pilot)
        await highlight(pilot, screen, DANGLING_ID)
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await press_confirm(pilot)
        await wait_for(pilot, lambda: "Total reclaimed space" in log_text(screen))
        text = log_text(screen)
        assert "Untagged: keep:me" in text and "not in the plan" in text
