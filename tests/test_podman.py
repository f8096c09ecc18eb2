"""docker-sweep on Podman's Docker-compatible API (a private ``podman system service``).

Each test here failed before Podman support: names stored as ``localhost/NAME:TAG``, bare-hex
``Deleted:`` lines, ``localhost/…@sha256`` digests that no registry holds, and removal rules of
Podman's own (force removes the containers; by ID with several tags is a 500).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.enginecase import APP_V1, APP_V2, DANGLING, DB, STANDARD, WEB, seed, state
from tui.cli import main
from tui.core.plan import plan_remove
from tui.engine.client import Engine
from tui.engine.snapshot import read_snapshot
from tui.sandbox import imagegen as gen

V1_ID, V2_ID, WEB_ID, DB_ID, OLD_ID = (gen.image_id(s) for s in (APP_V1, APP_V2, WEB, DB, DANGLING))


def run(capsys, url, *args):
    code = main(["--host", url, *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_engine_is_detected_as_podman(clean_podman):
    seed(clean_podman.api, clean_podman.url, STANDARD)
    snap = read_snapshot(Engine(clean_podman.url))
    assert snap.facts.image_store == "podman"
    assert set(snap.images[V2_ID].tags) == {"localhost/myapp:2.0.0", "localhost/myapp:latest"}


def test_prune_all_reports_what_podman_deleted(clean_podman, capsys):
    seed(clean_podman.api, clean_podman.url, STANDARD, (("old-app", "myapp:1.5.0", False),))
    code, out, _ = run(capsys, clean_podman.url, "plan", "prune", "--all", "--json")
    plan = json.loads(out)
    assert code == 1 and set(plan["delete"]) == {V2_ID, WEB_ID, DB_ID, OLD_ID}
    assert [b["image_id"] for b in plan["blocked"]] == [V1_ID]  # kept for old-app
    code, out, _ = run(capsys, clean_podman.url, "prune", "--all", "--yes", "--json")
    result = json.loads(out)
    assert code == 1, out
    assert set(result["deleted"]) == {V2_ID, WEB_ID, DB_ID, OLD_ID}
    assert result["unexpected"] == [] and result["errors"] == []
    # the layers only those four held: v2, web, db, old (base and busybox stay for myapp:1.5.0)
    assert result["reclaimed_bytes"] == plan["reclaim_bytes"] > 3_500_000
    assert set(state(clean_podman.api)) == {V1_ID}


def test_short_names_resolve_like_podman(clean_podman, capsys):
    seed(clean_podman.api, clean_podman.url, STANDARD)
    code, out, _ = run(capsys, clean_podman.url, "plan", "rm", "myapp:2.0.0", "--json")
    plan = json.loads(out)
    assert code == 0 and plan["blocked"] == []
    assert plan["untag"] == ["localhost/myapp:2.0.0"] and plan["delete"] == []
    code, out, _ = run(capsys, clean_podman.url, "rm", "myapp:2.0.0", "myapp:latest", "--yes", "--json")
    result = json.loads(out)
    assert code == 0 and result["deleted"] == [V2_ID] and result["unexpected"] == []
    assert sorted(result["untagged"]) == ["localhost/myapp:2.0.0", "localhost/myapp:latest"]
    assert V2_ID not in state(clean_podman.api)


def test_loaded_images_are_local_only(clean_podman, capsys, tmp_path: Path):
    seed(clean_podman.api, clean_podman.url, STANDARD)
    code, out, _ = run(capsys, clean_podman.url, "images", "--json")
    rows = {r["id"]: r for r in json.loads(out)}
    assert code == 0 and all(r["local_only"] for r in rows.values())
    snap = read_snapshot(Engine(clean_podman.url))
    assert snap.images[DB_ID].local_digests[0].startswith("localhost/db@sha256:")
    plan = plan_remove(snap, ["db:16"])
    assert plan.local_only_deletes(snap) == [DB_ID]
    config = tmp_path / "config.toml"
    config.write_text(f'[local_only]\nbackup = true\n[backup]\ndir = "{tmp_path / "bk"}"\n')
    code, out, err = run(capsys, clean_podman.url, "--config", str(config), "rm", "db:16", "--yes", "--json")
    assert code == 0, err
    assert json.loads(out)["deleted"] == [DB_ID]
    assert any((tmp_path / "bk").iterdir())  # saved before it was removed


def test_by_id_with_several_tags_needs_force_and_is_done_tag_by_tag(clean_podman, capsys):
    seed(clean_podman.api, clean_podman.url, STANDARD)
    code, out, _ = run(capsys, clean_podman.url, "plan", "rm", WEB_ID[7:19], "--json")
    plan = json.loads(out)
    assert code == 1 and plan["blocked"][0]["reason"] == "referenced in multiple repositories"
    code, out, _ = run(capsys, clean_podman.url, "rm", WEB_ID[7:19], "--force", "--yes", "--json")
    result = json.loads(out)
    assert code == 0 and result["deleted"] == [WEB_ID] and result["unexpected"] == []
    assert not any(s["force"] for s in result["plan"]["steps"])
    assert len(result["untagged"]) == 3


def test_force_shows_and_removes_stopped_containers_never_running_ones(clean_podman, capsys):
    seed(
        clean_podman.api,
        clean_podman.url,
        STANDARD,
        (("old-db", "db:16", False), ("app", "myapp:1.5.0", True)),
    )
    code, out, _ = run(capsys, clean_podman.url, "plan", "rm", "db:16", "myapp:1.5.0", "--force", "--json")
    plan = json.loads(out)
    assert code == 1
    assert [c["name"] for c in plan["remove_containers"]] == ["old-db"]
    assert plan["delete"] == [DB_ID]
    assert [(b["ref"], b["reason"]) for b in plan["blocked"]] == [("myapp:1.5.0", "running container")]
    code, out, _ = run(capsys, clean_podman.url, "rm", "db:16", "myapp:1.5.0", "--force", "--yes", "--json")
    result = json.loads(out)
    assert code == 1 and result["deleted"] == [DB_ID] and result["unexpected"] == []
    names = {c["Names"][0].lstrip("/") for c in clean_podman.api.containers(all=True)}
    assert names == {"app"}  # the running container is still there
    assert V1_ID in state(clean_podman.api)


@pytest.mark.parametrize("ref", ["myapp:1.5.0", "localhost/myapp:1.5.0", V1_ID[7:9], V1_ID])
def test_in_use_is_blocked_with_podmans_conflict(clean_podman, capsys, ref):
    seed(clean_podman.api, clean_podman.url, (APP_V1,), (("old-app", "myapp:1.5.0", False),))
    code, out, _ = run(capsys, clean_podman.url, "plan", "rm", ref, "--json")
    blocked = json.loads(out)["blocked"]
    assert code == 1 and blocked[0]["reason"] == "stopped container"
    assert blocked[0]["containers"][0]["name"] == "old-app"


def test_podmans_estimate_is_labelled_next_to_the_disk_bytes(clean_podman, capsys):
    seed(clean_podman.api, clean_podman.url, STANDARD)
    sizes = {r["Id"]: r["Size"] for r in clean_podman.api.images(all=True)}
    code, out, _ = run(capsys, clean_podman.url, "plan", "prune", "--all", "--json")
    plan = json.loads(out)
    assert code == 0 and len(plan["delete"]) == 5
    estimate = sum(sizes.values())  # what Podman's prune reports: whole image sizes
    note = [w for w in plan["warnings"] if w.startswith("Podman's estimate")]
    assert note and f"{estimate:,} bytes" in note[0]
    assert f"{plan['reclaim_bytes']:,} bytes" in note[0]
    assert plan["reclaim_bytes"] < estimate  # base and busybox layers are shared
    code, out, _ = run(capsys, clean_podman.url, "df", "--json")
    assert code == 0 and json.loads(out)["engine_estimate"].startswith("Podman's estimate")


def test_layer_cache_is_used_again_on_podman(clean_podman, tmp_path: Path):
    """Podman's compat ``/info`` makes up a new ID on every call: the layer cache is keyed by what
    stays (host name and graph root), so the next run finds every image's layers there."""
    from tui.engine.snapshot import LayerCache, read_facts

    seed(clean_podman.api, clean_podman.url, STANDARD)
    ids = {str(clean_podman.api.info()["ID"]) for _ in range(3)}
    assert len(ids) == 3  # what made the cache miss: the engine's own ID changes per call
    path = tmp_path / "layers.jsonl"
    first = read_snapshot(Engine(clean_podman.url), cache=LayerCache(path))
    assert first.images and all(i.layers for i in first.images.values())
    facts = read_facts(Engine(clean_podman.url))
    assert facts.engine_id == first.facts.engine_id and facts.engine_id.startswith("podman:")
    again = LayerCache(path)
    for image in first.images.values():
        entry = again.get(facts.engine_id, image.id, created=image.created)
        assert entry is not None, image.id
        assert entry["diff_ids"] == [layer.diff_id for layer in image.layers or ()], image.id
