"""The headless commands on a real engine: output, JSON fields, confirmation, exit codes."""

from __future__ import annotations

import io
import json
import subprocess
import sys

from tests.conftest import session_store
from tests.enginecase import APP_V1, DB, STANDARD, eid, engine_major, layers_size, seed, state
from tui import exit_codes
from tui.cli import main
from tui.core.usage import human_size

V1_ID, DB_ID = eid(APP_V1), eid(DB)
DANGLING_ID = eid(STANDARD[-1])
CONTAINERD = session_store() == "containerd"


def run(capsys, *args):
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_images_json(engine, capsys):
    seed(engine.api, engine.url, STANDARD, (("old-app", "myapp:1.5.0", False),))
    code, out, _ = run(capsys, "--host", engine.url, "images", "--json")
    assert code == 0
    rows = {r["id"]: r for r in json.loads(out)}
    assert set(rows) == {eid(s) for s in STANDARD}
    v1 = rows[V1_ID]
    assert v1["tags"] == ["myapp:1.5.0"] and v1["local_only"] and not v1["dangling"]
    assert [c["name"] for c in v1["containers"]] == ["old-app"]
    if not CONTAINERD:  # classic layer sizes; containerd's are content + snapshots
        assert v1["unique_size"] == 1_000_000 and v1["shared_size"] + v1["unique_size"] == v1["size"]
    assert rows[DANGLING_ID]["dangling"] and rows[DANGLING_ID]["tags"] == []
    code, out, _ = run(capsys, "--host", engine.url, "images")
    assert "<none>" in out and "myapp" in out and "dangling" in out and "1 stopped" in out


def test_plan_rm_json_and_exit_code(engine, capsys):
    seed(engine.api, engine.url, STANDARD, (("old-app", "myapp:1.5.0", False),))
    code, out, _ = run(capsys, "--host", engine.url, "plan", "rm", "myapp:1.5.0", "db:16", "--json")
    plan = json.loads(out)
    assert code == 1  # one blocked
    assert plan["delete"] == [DB_ID] and plan["untag"] == ["db:16"]
    assert plan["blocked"][0]["reason"] == "stopped container"
    assert plan["blocked"][0]["containers"][0]["name"] == "old-app"
    assert CONTAINERD or plan["reclaim_bytes"] == 900_000
    code, out, _ = run(capsys, "--host", engine.url, "plan", "rm", "myapp:1.5.0", "--with-containers")
    assert code == 0 and "remove container  old-app" in out
    assert CONTAINERD or "Will free: 1MB" in out


def test_rm_refuses_without_terminal_then_runs_with_yes(engine, capsys, monkeypatch):
    seed(engine.api, engine.url, STANDARD)
    before = state(engine.api)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    code, out, err = run(capsys, "--host", engine.url, "rm", "db:16")
    assert code == exit_codes.EXIT_REFUSED and "--yes" in err
    assert state(engine.api) == before
    code, out, _ = run(capsys, "--host", engine.url, "plan", "rm", "db:16", "--json")
    planned = json.loads(out)["reclaim_bytes"]
    size_before = layers_size(engine.api)
    code, out, _ = run(capsys, "--host", engine.url, "rm", "db:16", "--yes")
    assert code == 0
    assert "Untagged: db:16" in out and f"Deleted: {DB_ID}" in out
    assert f"Total reclaimed space: {human_size(planned)}" in out
    assert CONTAINERD or planned == 900_000
    if engine_major(engine.api) >= 28:  # 26's LayersSize counts snapshots only
        assert size_before - layers_size(engine.api) == planned
    assert DB_ID not in state(engine.api)


def test_prune_yes_json_matches_plan(engine, capsys):
    seed(engine.api, engine.url, STANDARD)
    code, out, _ = run(capsys, "--host", engine.url, "plan", "prune", "--json")
    plan = json.loads(out)
    code, out, _ = run(capsys, "--host", engine.url, "prune", "--yes", "--json")
    result = json.loads(out)
    assert code == 0 and result["executed"]
    assert result["deleted"] == plan["delete"] == [DANGLING_ID]
    assert result["reclaimed_bytes"] == plan["reclaim_bytes"]
    assert CONTAINERD or plan["reclaim_bytes"] == 400_000
    assert result["errors"] == []


def test_bad_filters_and_unreachable_engine(engine, capsys):
    code, _, err = run(capsys, "--host", engine.url, "plan", "prune", "--filter", "until=yesterday")
    assert code == 2 and "until" in err and "RFC 3339" in err
    code, _, err = run(capsys, "--host", engine.url, "prune", "--filter", "reference=x", "--yes")
    assert code == 2 and "invalid filter 'reference'" in err
    code, out, _ = run(capsys, "--host", engine.url, "plan", "prune", "--all", "--filter", "until=7d")
    assert code == 0 and "converted to 168h" in out
    code, _, err = run(capsys, "--host", "unix:///nonexistent/docker.sock", "images")
    assert code == 3 and "unix:///nonexistent/docker.sock" in err and "Traceback" not in err


def test_df_json(engine, capsys):
    seed(engine.api, engine.url, STANDARD, (("db-1", "db:16", True),))
    code, out, _ = run(capsys, "--host", engine.url, "df", "--json")
    data = json.loads(out)
    images = next(r for r in data["rows"] if r["type"] == "Images")
    assert data["prune_all_bytes"] == images["reclaimable"]
    if not CONTAINERD:
        assert images["size"] == engine.api.df()["LayersSize"]
        assert data["engine_unattributed_bytes"] is None  # classic: LayersSize counts image layers only
        assert data["prune_dangling_bytes"] == 400_000
        assert data["storage_driver"] == "overlay2"
        return
    # containerd: content + snapshots, the running container's own snapshots (init + RW) too,
    # which LayersSize counts on Docker 28 (26 counts no content: test_layer_sizes_match_...)
    assert data["storage_driver"] == "overlayfs"
    # LayersSize = the model + what it counts beyond images and containers (the build cache's
    # snapshots: none here, tests/wipe.py empties the build cache)
    assert data["engine_unattributed_bytes"] == 0
    if engine_major(engine.api) >= 28:
        assert images["size"] + data["engine_unattributed_bytes"] == layers_size(engine.api)
        before = layers_size(engine.api)
        engine.api.prune_images(filters={"dangling": True})
        assert before - layers_size(engine.api) == data["prune_dangling_bytes"]


def test_python_m_tui_help():
    out = subprocess.run(
        [sys.executable, "-m", "tui", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "exit codes" in out and "plan" in out


def test_permission_denied_message_says_how_to_fix():
    from tui.engine.client import Engine, EnginePermissionDenied

    error = Engine("unix:///var/run/docker.sock")._connection_error(PermissionError(13, "Permission denied"))
    assert isinstance(error, EnginePermissionDenied)
    assert "unix:///var/run/docker.sock" in str(error) and "usermod -aG docker" in str(error)


def test_bad_references_and_addresses_are_usage_errors(engine, capsys):
    seed(engine.api, engine.url, STANDARD)
    before = state(engine.api)
    code, _, err = run(capsys, "--host", engine.url, "rm", "UPPER", "--yes")
    assert code == 2 and "invalid reference 'UPPER'" in err and "lowercase" in err
    assert state(engine.api) == before  # nothing valid: nothing ran
    # with a valid one too, like docker rmi the invalid one is reported and the other goes ahead
    # (tests/test_corners.py::test_invalid_reference_is_reported_and_the_others_go_ahead)
    code, _, err = run(capsys, "--host", "garbage", "images")
    assert code == 2 and "'garbage' is not an engine address" in err and "unix:///" in err


def test_bad_input_exits_with_the_documented_code_not_70(tmp_path):
    """The console script itself (``python -m tui``): one clear line on stderr, no internal error."""
    import os

    bad_utf8 = tmp_path / "latin1.toml"
    bad_utf8.write_bytes(b'[protect]\nimages = ["caf\xe9"]\n')
    huge = tmp_path / "huge.toml"
    huge.write_text('[backup]\nmax_size = "1e999GB"\n')
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_SWEEP_DEBUG")
    }
    cases = [
        (["--host", "tcp://127.0.0.1:99999", "images"], {}, 2, "not a port number"),
        (["--host", "tcp://[::1", "images"], {}, 2, "IPv6"),
        (["--host", "tcp://127.0.0.1:-1", "images"], {}, 2, "not a port number"),
        (
            ["images"],
            {
                "DOCKER_HOST": "tcp://127.0.0.1:2376",
                "DOCKER_TLS_VERIFY": "1",
                "DOCKER_CERT_PATH": str(tmp_path / "missing"),
            },
            2,
            "does not exist",
        ),
        (["--config", str(bad_utf8), "images"], {}, 5, "not UTF-8"),
        (["--config", str(huge), "images"], {}, 5, "is not a size"),
        (["--config", "/dev/zero", "images"], {}, 5, "not a regular file"),
    ]
    for args, extra, code, fragment in cases:
        done = subprocess.run(
            [sys.executable, "-m", "tui", *args],
            capture_output=True,
            text=True,
            env={**env, **extra},
            timeout=120,
            check=False,
        )
        assert done.returncode == code, (args, done.stderr)
        assert fragment in done.stderr and "unexpected error" not in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
