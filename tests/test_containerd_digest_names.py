"""Names pulled by digest (``host/repo@sha256:…``, no tag) on the containerd image store: each is
a name of its own that keeps the image, and the plan must say what the engine then does (issue 7).

Seen on Docker 28.5 and 26.1 (containerd store): ``GET /images/json`` lists such a name in the
image's ``RepoTags`` (its ``RepoDigests`` hold only ``repo@<id>`` of one name); image inspect
lists it in ``RepoDigests`` (28.5 also in ``RepoTags``). Every test compares the plan with the
engine's own response on a real engine, executed by docker-sweep (the CLI) or the engine itself.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import pytest

from tests.ctrdcase import ctrd_fixture  # noqa: F401 (fixture ctrd)
from tests.enginecase import SLEEP, STANDARD, native_rm, predicted_rm, seed
from tests.native import engine_prune
from tests.terminal import AnswerAfter
from tui.cli import main
from tui.core.containerd import ContainerdStore
from tui.core.filters import parse_filters
from tui.core.marking import plan_images
from tui.core.model import Snapshot
from tui.core.plan import plan_prune
from tui.engine.actions import PlanExecutor
from tui.engine.client import Engine as SweepEngine
from tui.engine.snapshot import LayerCache, read_snapshot
from tui.exit_codes import EXIT_PARTIAL
from tui.sandbox import fixtures

pytestmark = pytest.mark.engine


def pin(api: Any, registry_host: str, ref: str, repo: str, *, keep_tag: bool = False) -> str:
    """Push ``ref`` as ``HOST/repo:1`` and pull it back by digest: the image gains the name
    ``HOST/repo@sha256:…`` (returned); without ``keep_tag`` the pushed tag is removed first."""
    remote = f"{registry_host}/{repo}"
    fixtures.tag(api, ref, remote, "1")
    digest = fixtures.push(api, f"{remote}:1")
    if not keep_tag:
        api.remove_image(f"{remote}:1")
    fixtures.pull(api, remote, digest)
    return f"{remote}@{digest}"


def setup(ctrd: Any, registry_host: str, *, keep_tag: bool = False) -> tuple[str, str]:
    """The standard store with ``myapp:1.5.0``'s image also named by digest: (name, image id)."""
    seed(ctrd.api, ctrd.url, STANDARD)
    name = pin(ctrd.api, registry_host, "myapp:1.5.0", "team/pinned", keep_tag=keep_tag)
    return name, str(ctrd.api.inspect_image("myapp:1.5.0")["Id"])


def names(snap: Snapshot, image_id: str) -> list[str]:
    return ContainerdStore(snap).names_for(image_id)


def run_cli(capsys: Any, *args: str) -> tuple[int, dict[str, Any]]:
    code = main(list(args))
    return code, json.loads(capsys.readouterr().out)


def plan_lines(data: dict[str, Any]) -> list[str]:
    return [line for step in data["plan"]["steps"] for line in step["expect"]]


def assert_ran_as_planned(data: dict[str, Any]) -> None:
    """The engine's response lines were the plan's, no step was skipped or refused."""
    lines = plan_lines(data)
    assert data["untagged"] == [x.removeprefix("Untagged: ") for x in lines if x.startswith("Untagged: ")]
    # (a prune plan's other Deleted: lines on 26 are content blobs, which DELETE does not list)
    assert sorted(data["deleted"]) == sorted(data["plan"]["delete"])
    assert data["errors"] == [] and data.get("unexpected", []) == []
    assert data.get("store_changed", []) == []


def test_the_engine_lists_the_name_and_the_snapshot_keeps_it_on_a_warm_read(ctrd, registry, tmp_path):
    seed(ctrd.api, ctrd.url, STANDARD)
    cache = LayerCache(tmp_path / "layers.jsonl")
    engine = SweepEngine(ctrd.url)
    image_id = str(ctrd.api.inspect_image("myapp:1.5.0")["Id"])
    cold = read_snapshot(engine, cache=cache)
    assert names(cold, image_id) == ["docker.io/library/myapp:1.5.0"]
    name = pin(ctrd.api, registry.host, "myapp:1.5.0", "team/pinned")
    (row,) = [r for r in ctrd.api.images(all=True) if r["Id"] == image_id]
    assert sorted(row["RepoTags"]) == sorted([name, "myapp:1.5.0"])  # the list: in RepoTags
    assert name not in row["RepoDigests"]
    assert name in ctrd.api.inspect_image(image_id)["RepoDigests"]  # inspect: in RepoDigests
    warm = read_snapshot(engine, cache=cache)  # the layer cache knows the id: no re-read of it
    assert names(warm, image_id) == [name, "docker.io/library/myapp:1.5.0"]
    assert warm.images[image_id].provenance == f"pulled from {name}"


RM_CASES = {
    "tag": (["myapp:1.5.0"], False),
    "digest-name": (["{name}"], False),
    "both": (["myapp:1.5.0", "{name}"], False),
    "id": (["{id}"], False),
    "listed-digest-ref": (["myapp@{id}"], False),
    "digest-name-then-tag": (["{name}", "myapp:1.5.0"], False),
    "id-force": (["{id}"], True),
    "short-id-force": (["{short}"], True),
}


@pytest.mark.parametrize("case", list(RM_CASES))
def test_rm_plan_is_what_the_engine_does(ctrd, registry, capsys, case):
    refs, force = RM_CASES[case]
    name, image_id = setup(ctrd, registry.host)
    targets = [r.format(name=name, id=image_id, short=image_id[7:19]) for r in refs]
    flags = ["--force"] if force else []
    code, data = run_cli(capsys, "--host", ctrd.url, "rm", *flags, *targets, "--yes", "--json")
    assert_ran_as_planned(data)
    if force or case == "digest-name-then-tag":  # every name goes, the digest name too
        assert f"Untagged: {name}" in plan_lines(data) and data["deleted"] == [image_id]
    # and the same removal by the engine alone (docker rmi) on the same store
    name, image_id = setup(ctrd, registry.host)
    snap = read_snapshot(SweepEngine(ctrd.url))
    assert predicted_rm(snap, targets, force=force) == native_rm(ctrd.api, targets, force=force)


def test_rm_tag_only_untags_and_the_digest_name_keeps_the_image(ctrd, registry, capsys):
    name, image_id = setup(ctrd, registry.host)
    code, data = run_cli(capsys, "--host", ctrd.url, "rm", "myapp:1.5.0", "--yes", "--json")
    assert code == 0 and plan_lines(data) == ["Untagged: myapp:1.5.0"] and data["deleted"] == []
    assert ctrd.api.inspect_image(image_id)["RepoDigests"] == [name]


def test_tag_of_the_same_repository_takes_the_digest_name_with_it(ctrd, registry, capsys):
    name, image_id = setup(ctrd, registry.host, keep_tag=True)
    tag = name.split("@")[0] + ":1"
    code, data = run_cli(capsys, "--host", ctrd.url, "rm", tag, "--yes", "--json")
    assert_ran_as_planned(data)
    assert plan_lines(data) == [f"Untagged: {tag}", f"Untagged: {name}"]
    assert sorted(ctrd.api.inspect_image(image_id)["RepoTags"]) in (["myapp:1.5.0"], [])


@pytest.mark.parametrize("all_images", [False, True], ids=["dangling", "all"])
def test_prune_plan_is_what_the_engine_does(ctrd, registry, capsys, all_images):
    flags = ["--all"] if all_images else []
    setup(ctrd, registry.host)
    code, data = run_cli(capsys, "--host", ctrd.url, "prune", *flags, "--yes", "--json")
    assert code == 0
    assert_ran_as_planned(data)
    assert ctrd.api.images(all=True) == [] if all_images else len(ctrd.api.images(all=True)) == 4
    # the engine's own prune against the plan with its semantics
    name, image_id = setup(ctrd, registry.host)
    snap = read_snapshot(SweepEngine(ctrd.url))
    filters = parse_filters([], all_images=all_images, now=time.time())
    plan = plan_prune(snap, filters, engine_semantics=True)
    response = engine_prune(SweepEngine(ctrd.url), filters.engine_filters())
    got = [f"{k}: {v}" for item in response["ImagesDeleted"] or [] for k, v in item.items()]
    assert sorted(got) == sorted(str(r) for s in plan.steps for r in s.expect)
    assert (image_id in plan.delete) == all_images and (f"Untagged: {name}" in got) == all_images


CONTAINER_CASES = {
    "rm-tag": (["rm", "myapp:1.5.0"], False),
    "rm-digest-name": (["rm", "{name}"], False),
    "rm-digest-name-force": (["rm", "--force", "{name}"], False),
    "rm-tag-force": (["rm", "--force", "myapp:1.5.0"], False),
    "prune-all": (["prune", "--all"], False),
    "prune-all-running": (["prune", "--all"], True),
    "rm-id-force-stopped": (["rm", "--force", "{id}"], False),
}


@pytest.mark.parametrize("case", list(CONTAINER_CASES))
def test_container_created_from_the_digest_name(ctrd, registry, capsys, case):
    """A container created from ``HOST/repo@sha256:…`` keeps that name from prune; removing the
    name or the tag is planned as the engine answers it (refusal, untag, or delete)."""
    argv, running = CONTAINER_CASES[case]
    name, image_id = setup(ctrd, registry.host)
    fixtures.create_container(ctrd.api, name, "pinned", start=running, cmd=SLEEP)
    args = [a.format(name=name, id=image_id) for a in argv]
    code, data = run_cli(capsys, "--host", ctrd.url, *args, "--yes", "--json")
    if data.get("executed", True):
        assert_ran_as_planned(data)
    after = {r["Id"]: sorted(r["RepoTags"]) for r in ctrd.api.images(all=True)}
    planned = [x.removeprefix("Untagged: ") for x in plan_lines(data) if x.startswith("Untagged: ")]
    if image_id in after:
        assert not set(planned) & set(after[image_id])
    else:
        assert image_id in data["plan"]["delete"]
    # the engine alone (docker rmi / docker image prune) against the model, on the same store
    name, image_id = setup(ctrd, registry.host)
    fixtures.create_container(ctrd.api, name, "pinned", start=running, cmd=SLEEP)
    snap = read_snapshot(SweepEngine(ctrd.url))
    if args[0] == "prune":
        filters = parse_filters([], all_images=True, now=time.time())
        plan = plan_prune(snap, filters, engine_semantics=True)
        response = engine_prune(SweepEngine(ctrd.url), filters.engine_filters())
        got = [f"{k}: {v}" for item in response["ImagesDeleted"] or [] for k, v in item.items()]
        assert sorted(got) == sorted(str(r) for s in plan.steps for r in s.expect)
        assert f"Untagged: {name}" not in got and image_id not in plan.delete
    else:
        force = "--force" in args
        refs = [a for a in args[1:] if a != "--force"]
        assert predicted_rm(snap, refs, force=force) == native_rm(ctrd.api, refs, force=force)


def test_another_image_tagged_in_the_digest_names_repository(ctrd, registry, capsys):
    """``HOST/repo:2`` on another image: removing it leaves ``HOST/repo@<id>`` of this one."""
    name, image_id = setup(ctrd, registry.host)
    repo = name.split("@")[0]
    ctrd.api.tag("myapp:2.0.0", repo, "2")
    code, data = run_cli(capsys, "--host", ctrd.url, "rm", f"{repo}:2", "--yes", "--json")
    assert_ran_as_planned(data)
    assert plan_lines(data) == [f"Untagged: {repo}:2"]
    assert name in ctrd.api.inspect_image(image_id)["RepoDigests"]
    snap = read_snapshot(SweepEngine(ctrd.url))
    for refs in ([repo], [f"{repo}:2"], ["myapp:1.5.0", name]):
        assert predicted_rm(snap, refs) == native_rm(ctrd.api, refs)


def test_marking_the_image_removes_every_name_as_planned(ctrd, registry):
    """Marking (whole images) takes the tag and the digest name, then the image goes."""
    name, image_id = setup(ctrd, registry.host)
    snap = read_snapshot(SweepEngine(ctrd.url))
    plan = plan_images(snap, [image_id])
    assert plan.delete == (image_id,)
    executor = PlanExecutor(SweepEngine(ctrd.url), plan, snap)
    result = executor.run_all()
    assert result.errors == [] and result.unexpected == [] and result.store_changed == []
    assert result.deleted == [image_id] and sorted(result.untagged) == sorted([name, "myapp:1.5.0"])


@pytest.mark.parametrize("other_tag", [False, True], ids=["last-tag", "other-tag"])
def test_digest_name_of_a_tagged_repository_pulled_while_confirming_is_a_change(
    ctrd, registry, capsys, monkeypatch, other_tag
):
    """``HOST/repo@<id>`` pulled while the plan waits, ``HOST/repo:1`` being planned: the engine
    would take the new name along (and, for the last tag, delete the image). Inspect's
    ``RepoDigests`` lists ``HOST/repo@<id>`` for the tag anyway, so only the engine's list of
    names (inspect ``RepoTags`` from 28, ``GET /images/json`` before) shows the new name."""
    seed(ctrd.api, ctrd.url, STANDARD)
    remote = f"{registry.host}/team/pinned"
    fixtures.tag(ctrd.api, "myapp:1.5.0", remote, "1")
    digest = fixtures.push(ctrd.api, f"{remote}:1")
    if not other_tag:
        ctrd.api.remove_image("myapp:1.5.0")
    image_id = str(ctrd.api.inspect_image(f"{remote}:1")["Id"])
    monkeypatch.setattr(sys, "stdin", AnswerAfter(lambda: fixtures.pull(ctrd.api, remote, digest)))
    code = main(["--host", ctrd.url, "rm", f"{remote}:1", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == EXIT_PARTIAL and data["unexpected"] == [] and data["untagged"] == []
    (changed,) = data["store_changed"]
    assert changed["image_id"] == image_id and f"{remote}@{digest}" in " ".join(changed["changes"])
    assert f"{remote}@{digest}" in ctrd.api.inspect_image(image_id)["RepoDigests"]
    assert f"{remote}:1" in ctrd.api.inspect_image(image_id)["RepoTags"]
