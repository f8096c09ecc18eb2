"""Podman paths beyond loaded images, each against a real Podman 4.3 (issue 9): images with parents
built by ``podman build`` (through the compat ``/build``), removal by digest, a parent image a
container uses (with and without force), and Podman's own figure for ``prune -a``."""

from __future__ import annotations

import json

import pytest

from tests.enginecase import SLEEP, STANDARD, WEB, seed, state
from tests.test_podman_differential import native, predicted
from tui.cli import main
from tui.engine.client import Engine
from tui.engine.snapshot import read_snapshot
from tui.sandbox import fixtures
from tui.sandbox import imagegen as gen
from tui.sandbox.daemon import unix_get

STEPS = [
    "RUN /bin/busybox dd if=/dev/zero of=/x bs=1000 count=300",
    "RUN /bin/busybox dd if=/dev/zero of=/y bs=1000 count=200",
    'CMD ["/bin/busybox", "sleep", "600"]',
]


def run(capsys, url, *args):
    code = main(["--host", url, *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def built(podman, holder_on: int | None = None):
    """STANDARD + ``child:1`` built by Podman from ``myapp:2.0.0``; ``holder_on`` = which of the
    child's untagged parents (0 = nearest) a stopped container ``holder`` uses. Returns
    (snapshot, child id, its untagged parents nearest first)."""
    seed(podman.api, podman.url, STANDARD)
    child = fixtures.build_child(podman.api, "myapp:2.0.0", "child:1", STEPS)
    snap = read_snapshot(Engine(podman.url))
    parents, current = [], child
    while snap.images[current].parent_id and not snap.images[snap.images[current].parent_id].tags:
        current = snap.images[current].parent_id
        parents.append(current)
    if holder_on is not None:
        fixtures.create_container(podman.api, parents[holder_on], "holder", start=False, cmd=SLEEP)
        snap = read_snapshot(Engine(podman.url))
    return snap, child, parents


def test_images_built_by_podman_have_parents_and_go_with_their_child(clean_podman, capsys):
    snap, child, parents = built(clean_podman)
    assert len(parents) == 2 and all(snap.is_intermediate(p) for p in parents)
    assert snap.images[child].tags == ("docker.io/library/child:1",)  # the compat build's name
    lines, errors = native(clean_podman.api, ["child:1"], False)
    assert (sorted(lines), errors) == (sorted(predicted(snap, ["child:1"], False)[0]), {})
    assert {f"Deleted: {p}" for p in parents} <= set(lines)  # noprune or not: the parents go
    snap, child, parents = built(clean_podman)
    code, out, _ = run(capsys, clean_podman.url, "plan", "rm", "child:1", "--json")
    plan = json.loads(out)
    assert code == 0 and sorted(plan["delete"]) == sorted([child, *parents])
    assert plan["reclaim_bytes"] >= 500_000 and plan["reclaim_exact"]
    code, out, _ = run(capsys, clean_podman.url, "rm", "child:1", "--yes", "--json")
    result = json.loads(out)
    assert code == 0 and result["unexpected"] == [] and result["errors"] == []
    assert sorted(result["deleted"]) == sorted(plan["delete"])
    assert result["reclaimed_bytes"] == plan["reclaim_bytes"]
    assert not {child, *parents} & set(state(clean_podman.api))


def test_prune_all_estimate_is_what_podmans_own_prune_all_reports(clean_podman, capsys):
    """The compat prune refuses ``dangling=false``; ``podman image prune -a`` (libpod API) reports
    each removed image's whole size. docker-sweep's plan names that figure as Podman's estimate."""
    snap, child, parents = built(clean_podman)
    code, out, _ = run(capsys, clean_podman.url, "plan", "prune", "--all", "--json")
    plan = json.loads(out)
    assert code == 0 and {child, *parents} <= set(plan["delete"])
    (note,) = [w for w in plan["warnings"] if w.startswith("Podman's estimate")]
    socket_path = clean_podman.url.removeprefix("unix://")
    status, body = unix_get(socket_path, "/v4.0.0/libpod/images/prune?all=true", method="POST", timeout=120)
    assert status == 200, body
    reports = json.loads(body)
    assert not [r for r in reports if r.get("Err")]
    reported = sum(int(r["Size"]) for r in reports)
    assert f"Podman's estimate for this prune is {reported:,} bytes" in note
    assert f"{plan['reclaim_bytes']:,} bytes" in note and plan["reclaim_bytes"] < reported
    gone = {f"sha256:{r['Id']}" for r in reports}
    assert gone <= set(plan["delete"]) and state(clean_podman.api) == {}
    # the intermediates go with their child: Podman reports only the images it was asked for
    assert set(plan["delete"]) - gone <= set(parents)


def test_removal_by_digest_like_podman(clean_podman, capsys):
    store = seed(clean_podman.api, clean_podman.url, STANDARD)
    snap = store.snapshot()
    web = snap.images[gen.image_id(WEB)]
    db = [i for i in snap.images.values() if "localhost/db:16" in i.tags][0]
    for refs, force in (
        ([db.local_digests[0]], False),
        ([web.local_digests[0]], False),
        ([web.local_digests[0]], True),
    ):
        snap = seed(clean_podman.api, clean_podman.url, STANDARD).snapshot()
        lines, errors = native(clean_podman.api, refs, force)
        expected_lines, expected_errors, _ = predicted(snap, refs, force)
        assert (sorted(lines), errors) == (sorted(expected_lines), expected_errors), (refs, force)
    # by digest with several tags: a 500 even with force (Podman 4.3.1), as the model says
    assert set(errors) == {web.local_digests[0]} and errors[web.local_digests[0]] == 500
    seed(clean_podman.api, clean_podman.url, STANDARD)
    code, out, _ = run(capsys, clean_podman.url, "plan", "rm", web.local_digests[0], "--json")
    plan = json.loads(out)
    assert code == 1 and plan["blocked"][0]["reason"] == "referenced in multiple repositories"
    code, out, _ = run(
        capsys,
        clean_podman.url,
        "rm",
        web.local_digests[0],
        db.local_digests[0],
        "--force",
        "--yes",
        "--json",
    )
    result = json.loads(out)
    assert code == 0 and result["unexpected"] == [] and result["errors"] == []
    assert sorted(result["deleted"]) == sorted([web.id, db.id])
    assert not {web.id, db.id} & set(state(clean_podman.api))


@pytest.mark.parametrize("holder_on", [0, 1])
def test_parent_in_use_blocks_the_child_and_force_removes_its_container(clean_podman, capsys, holder_on):
    """Deleting ``child:1`` takes its untagged parents along; a container on one of them makes
    Podman answer 409 *after* deleting the child (and the parents below the used one)."""
    snap, child, parents = built(clean_podman, holder_on)
    lines, errors = native(clean_podman.api, ["child:1"], False)
    expected_lines, expected_errors, model = predicted(snap, ["child:1"], False)
    assert (lines, errors) == (expected_lines, expected_errors) == ([], {"child:1": 409})
    assert set(state(clean_podman.api)) == set(model.images) and child not in model.images
    # docker-sweep never sends that call: blocked by the parent's container
    snap, child, parents = built(clean_podman, holder_on)
    code, out, _ = run(capsys, clean_podman.url, "plan", "rm", "child:1", "--json")
    plan = json.loads(out)
    assert code == 1 and plan["delete"] == []
    assert plan["blocked"][0]["reason"] == "stopped container"
    assert plan["blocked"][0]["containers"][0]["name"] == "holder"
    # force: Podman removes the container; docker-sweep removes it first, then deletes unforced
    lines, errors = native(clean_podman.api, ["child:1"], True)
    assert (sorted(lines), errors) == (sorted(predicted(snap, ["child:1"], True)[0]), {})
    snap, child, parents = built(clean_podman, holder_on)
    code, out, _ = run(capsys, clean_podman.url, "rm", "child:1", "--force", "--yes", "--json")
    result = json.loads(out)
    assert code == 0 and result["unexpected"] == [] and result["errors"] == []
    assert [c["name"] for c in result["plan"]["remove_containers"]] == ["holder"]
    assert not any(s["force"] for s in result["plan"]["steps"])
    assert sorted(result["deleted"]) == sorted([child, *parents])
    assert clean_podman.api.containers(all=True) == []
