"""Protection, policies and the local-only guard: pure rules, then on a real engine via the CLI."""

from __future__ import annotations

import io
import json
import sys

import pytest

from tests.enginecase import APP_V1, APP_V2, DB, STANDARD, WEB, eid, seed, state
from tests.storegen import container, make_image, snapshot
from tui.cli import main
from tui.core.filters import PruneFilters
from tui.core.marking import plan_images
from tui.core.plan import plan_prune, plan_remove
from tui.core.policy import Policy, select
from tui.core.protect import PatternError, Protection

NOW = 1_800_000_000.0
DAY = 86_400.0
V1_ID, V2_ID, WEB_ID, DB_ID = (eid(s) for s in (APP_V1, APP_V2, WEB, DB))


def test_protection_patterns():
    pg = make_image("pg", [("pg", 1)], tags=["postgres:16"], labels={"keep": "true"})
    app = make_image("app", [("a", 1)], tags=["registry.local:5000/team/app:1.0"])
    p = Protection.build(["postgres:*"])
    assert p.reason(pg) == "protected by config (pattern postgres:*)" and p.reason(app) is None
    assert Protection.build(["postgres"]).reason(pg) is not None  # a repository pattern
    assert Protection.build(["registry.local:5000/team/*"]).reason(app) is not None
    assert Protection.build([pg.id.split(":")[1][:6] + "*"]).reason(pg) is not None
    assert Protection.build([pg.id[:13] + "*"]).reason(pg) is not None
    assert Protection.build(labels=["keep=true"]).reason(pg) == "protected by config (label keep=true)"
    assert Protection.build(labels=["keep=false"]).reason(pg) is None
    with pytest.raises(PatternError):
        Protection.build(["a b"])


def test_protected_images_are_never_removed_even_with_force():
    base = [("base", 100)]
    pg = make_image("pg", base + [("pg", 10)], tags=["postgres:16"])
    parent = make_image("p", base + [("p", 5)])
    child = make_image("c", base + [("p", 5), ("c", 7)], tags=["child:1"], parent=parent.id)
    snap = snapshot([pg, parent, child])
    protection = Protection.build(["postgres:*", parent.id[:20] + "*"])
    for force in (False, True):
        plan = plan_remove(snap, ["postgres:16", pg.id], force=force, protection=protection)
        assert plan.delete == () and plan.untag == ()
        assert [b.reason for b in plan.blocked] == ["protected", "protected"]
        assert "pattern postgres:*" in plan.blocked[0].message
    plan = plan_remove(snap, ["child:1"], protection=protection)
    assert plan.delete == (child.id,)  # the protected parent is not pruned along
    plan = plan_prune(snap, PruneFilters(dangling=False), protection=protection)
    assert pg.id not in plan.delete and any(b.reason == "protected" for b in plan.blocked)


def test_policy_selection():
    imgs = [
        make_image(
            f"a{i}",
            [(f"a{i}", 1)],
            tags=[f"app:{i}"],
            created=NOW - i * DAY,
            labels={"env": "dev" if i % 2 else "prod"},
        )
        for i in range(5)
    ]
    shared = make_image("s", [("s", 1)], tags=["app:old", "keep:1"], created=NOW - 50 * DAY)
    dangling = make_image("d", [("d", 1)], created=NOW - 40 * DAY)
    snap = snapshot([*imgs, shared, dangling])
    ids = {i.id: i for i in snap.images.values()}

    def names(selected):
        return sorted(ids[i].tags[0] if ids[i].tags else "<none>" for i in selected)

    assert names(select(snap, Policy("k", keep_last=2), NOW)) == ["app:2", "app:3", "app:4"]
    assert names(select(snap, Policy("o", older_than="3d"), NOW)) == ["<none>", "app:4", "app:old"]
    assert names(select(snap, Policy("d", dangling_only=True), NOW)) == ["<none>"]
    assert names(select(snap, Policy("l", labels=("env=dev",)), NOW)) == ["app:1", "app:3"]
    assert names(select(snap, Policy("r", repositories=("ke*",)), NOW)) == ["app:old"]
    assert names(select(snap, Policy("k0", keep_last=0, repositories=("app",)), NOW))[-1] == "app:old"


def test_whole_image_removal_is_all_or_nothing():
    web = make_image("web", [("w", 5)], tags=["web:1", "web:stable", "proxy:1"])
    snap = snapshot([web], [container("c", web)])
    plan = plan_images(snap, [web.id])
    assert plan.untag == () and plan.delete == () and plan.blocked[0].reason == "stopped container"
    fixed = plan_images(snap, [web.id], with_stopped_containers=True)
    assert fixed.delete == (web.id,) and set(fixed.untag) == {"web:1", "web:stable", "proxy:1"}


# -- real engine through the CLI --------------------------------------------------------------------
def _config(tmp_path, text: str) -> str:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return str(path)


def test_prune_all_with_protection_on_engine(engine, tmp_path, capsys):
    seed(engine.api, engine.url, STANDARD)
    config = _config(tmp_path, '[protect]\nimages = ["web:*"]\nlabels = ["role=db"]\n')
    code = main(["--host", engine.url, "--config", config, "prune", "--all", "--yes", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 1  # something was blocked
    blocked = {b["image_id"]: b for b in result["plan"]["blocked"]}
    assert blocked[WEB_ID]["reason"] == "protected" and blocked[DB_ID]["reason"] == "protected"
    after = state(engine.api)
    assert WEB_ID in after and DB_ID in after
    assert V1_ID not in after and V2_ID not in after
    assert set(result["deleted"]) == set(result["plan"]["delete"])


def test_policy_keep_last_on_engine(engine, tmp_path, capsys):
    seed(engine.api, engine.url, STANDARD, (("db-1", "db:16", True),))
    config = _config(
        tmp_path,
        '[policies.keep1]\nkeep_last = 1\nrepositories = ["myapp", "db"]\n'
        '[policies.none]\nrepositories = ["db"]\n',
    )
    code = main(["--host", engine.url, "--config", config, "plan", "prune", "--policy", "keep1", "--json"])
    plan = json.loads(capsys.readouterr().out)
    assert code == 0 and plan["delete"] == [V1_ID] and "policy keep1" in plan["description"]
    code = main(["--host", engine.url, "--config", config, "prune", "--policy", "none", "--yes", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert (
        code == 1
        and result["deleted"] == []
        and result["plan"]["blocked"][0]["reason"] == "running container"
    )
    assert main(["--host", engine.url, "--config", config, "prune", "--policy", "nope"]) == 5
    assert "known policies: keep1, none" in capsys.readouterr().err
    assert main(["--host", engine.url, "--config", config, "prune", "--policy", "keep1", "--all"]) == 2


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_local_only_needs_a_second_yes(engine, capsys, monkeypatch):
    seed(engine.api, engine.url, STANDARD)
    before = state(engine.api)
    monkeypatch.setattr(sys, "stdin", _Terminal("y\nn\n"))
    code = main(["--host", engine.url, "rm", "db:16"])
    out = capsys.readouterr().out
    assert code == 4 and "local-only" in out and "cannot be pulled back" in out
    assert state(engine.api) == before
    monkeypatch.setattr(sys, "stdin", _Terminal("y\ny\n"))
    assert main(["--host", engine.url, "rm", "db:16"]) == 0
    assert DB_ID not in state(engine.api)


def test_backup_before_removal_then_restore_via_cli(engine, tmp_path, capsys):
    seed(engine.api, engine.url, STANDARD)
    config = _config(
        tmp_path, f'[local_only]\nbackup = true\n[backup]\ndir = "{tmp_path}/bk"\nmax_size = "1GB"\n'
    )
    code = main(["--host", engine.url, "--config", config, "rm", "db:16", "--yes"])
    out = capsys.readouterr().out
    assert code == 0 and "Backed up" in out and f"Deleted: {DB_ID}" in out
    assert DB_ID not in state(engine.api)
    assert main(["--host", engine.url, "--config", config, "backups", "--json"]) == 0
    (backup,) = json.loads(capsys.readouterr().out)
    assert backup["image_id"] == DB_ID and backup["tags"] == ["db:16"]
    assert main(["--host", engine.url, "--config", config, "restore", backup["name"]]) == 0
    assert "Loaded: db:16" in capsys.readouterr().out
    assert state(engine.api)[DB_ID][0] == ("db:16",)  # the same image id, its tag back
    assert main(["--host", engine.url, "--config", config, "restore", "nope"]) == 3
    assert "Available backups" in capsys.readouterr().err


def test_failed_backup_means_no_removal(engine, tmp_path, capsys):
    seed(engine.api, engine.url, STANDARD)
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    config = _config(tmp_path, f'[local_only]\nbackup = true\n[backup]\ndir = "{blocker}/sub"\n')
    code = main(["--host", engine.url, "--config", config, "rm", "db:16", "--yes", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 1 and result["deleted"] == [] and "backup failed" in result["errors"][0]["message"]
    assert DB_ID in state(engine.api)
