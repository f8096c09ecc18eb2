"""``docker-sweep demo``: the demo store as data, the seeded sandbox engine, and the sandbox's
cleanup whatever ends the app (quit, exception, Ctrl-C, SIGKILL)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import docker
import pytest

import tui.demo as demo
from tests.conftest import unavailable
from tests.test_sandbox import _wait_for
from tui import cli
from tui.sandbox import demo_store
from tui.sandbox import imagegen as gen
from tui.sandbox.daemon import PrivateDaemon, SandboxError, cleanup_root

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
TAGGED = {
    "myapp:1.5.0": ["myapp:1.5.0"],
    "myapp:2.0.0": ["myapp:2.0.0", "myapp:latest"],
    "myapp-dev:feature-login": ["myapp-dev:feature-login"],
    "web/nginx:1.25": ["web/nginx:1.25", "web/nginx:stable"],
    "postgres:16": ["postgres:16"],
}


def _pids_naming(root: Path) -> list[int]:
    """Processes (other than this one) whose command line names a path below ``root``."""
    pids = []
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) != os.getpid():
            try:
                cmdline = Path(f"/proc/{name}/cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if f"{root}/" in cmdline:
                pids.append(int(name))
    return pids


def _assert_gone(root: Path) -> None:
    assert not root.exists(), f"{root} is left behind"
    assert _pids_naming(root) == [], "processes of the sandbox are left behind"


# --- the data alone ------------------------------------------------------------------------


def test_demo_store_is_deterministic_small_and_dated_relative_to_now() -> None:
    images = demo_store.demo_images(NOW)
    assert [gen.image_id(s) for s in images] == [gen.image_id(s) for s in demo_store.demo_images(NOW)]
    assert {s.tags[0]: list(s.tags) for s in images if s.tags} == TAGGED
    assert [s for s in images if not s.tags] == [images[-1]]  # one dangling image, loaded last
    chains: dict[str, int] = {}
    for spec in images:
        diffs = [gen.layer_diff_id(layer) for layer in spec.layers]
        for chain, layer in zip(gen.chain_ids(diffs), spec.layers, strict=True):
            chains[chain] = gen.layer_content_size(layer)
        assert spec.layers[0].files[0].path == "bin/busybox"
        assert timedelta(hours=1) < NOW - spec.created < timedelta(days=70)
    assert 40_000_000 < sum(chains.values()) < 80_000_000
    v1, v2 = images[0], images[1]
    shared = sum(gen.layer_content_size(x) for x in v1.layers[:2])
    assert v1.layers[:2] == v2.layers[:2] and 25_000_000 < shared < 35_000_000
    assert (v2.created - v1.created).days >= 14
    assert images[2].labels["env"] == "dev"
    assert demo_store.demo_images(demo_store.REFERENCE_NOW) == demo_store.DEMO_IMAGES


def test_missing_dockerd_prints_the_install_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    assert demo.run_demo() == 3
    err = capsys.readouterr().err
    assert "sudo apt-get install -y docker.io busybox-static" in err
    assert "Traceback" not in err


def test_not_root_says_dockerd_needs_root(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(demo.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(demo.os, "geteuid", lambda: 1000)
    assert cli.main(["demo"]) == 3
    assert "dockerd needs root" in capsys.readouterr().err


# --- the seeded sandbox ----------------------------------------------------------------------


@pytest.fixture
def demo_daemon() -> Iterator[PrivateDaemon]:
    try:
        daemon = demo.start_demo_engine(now=NOW)
    except (SandboxError, OSError) as exc:
        unavailable("demo sandbox", exc)
    yield daemon
    daemon.stop()


@pytest.mark.engine
def test_demo_engine_lists_the_demo_store(
    demo_daemon: PrivateDaemon, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["--host", demo_daemon.url, "images", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    specs = demo_store.demo_images(NOW)
    assert sorted(r["id"] for r in rows) == sorted(gen.image_id(s) for s in specs)
    by_tag = {r["tags"][0] if r["tags"] else "<none>": r for r in rows}
    assert {k: v["tags"] for k, v in by_tag.items() if k != "<none>"} == TAGGED
    assert by_tag["<none>"]["dangling"] and by_tag["<none>"]["id"] == gen.image_id(specs[-1])
    assert [r for r in rows if r["dangling"]] == [by_tag["<none>"]]
    states = {k: [(c["name"], c["state"]) for c in v["containers"]] for k, v in by_tag.items()}
    assert states["myapp:1.5.0"] == [("myapp-v1-migrate", "exited")]
    assert states["postgres:16"] == [("postgres", "running")]
    assert sum(len(v) for v in states.values()) == 2
    assert by_tag["myapp:2.0.0"]["created"] == int(specs[1].created.timestamp())
    assert by_tag["myapp:1.5.0"]["shared_size"] > 25_000_000  # the base it shares with 2.0.0
    # both kinds, as on a real host: pushed through the demo's registry (a real digest) or local-only
    from_registry = {k for k, v in by_tag.items() if not v["local_only"]}
    assert from_registry == set(demo_store.DEMO_PULLED) == {"web/nginx:1.25", "postgres:16"}
    for ref in demo_store.DEMO_PULLED:
        repo = ref.rpartition(":")[0]
        (digest,) = by_tag[ref]["digests"]
        assert re.fullmatch(rf"127\.0\.0\.1:\d+/{re.escape(repo)}@sha256:[0-9a-f]{{64}}", digest), digest
    assert all(by_tag[k]["local_only"] and not by_tag[k]["digests"] for k in by_tag if k not in from_registry)
    root = demo_daemon.root
    assert _pids_naming(root)
    demo_daemon.stop()
    _assert_gone(root)


@pytest.mark.engine
async def test_demo_removes_a_registry_image_without_acknowledgement(demo_daemon: PrivateDaemon) -> None:
    """web/nginx came through the demo's registry: its removal needs no "I understand"; a myapp
    image (local-only) still does."""
    from tests.pilot import loaded, make_app, wait_for
    from tui.app.screens.confirm import ConfirmScreen

    api = docker.APIClient(base_url=demo_daemon.url, version="auto")
    nginx = api.inspect_image("web/nginx:1.25")["Id"]
    digest = api.inspect_image("web/nginx:1.25")["RepoDigests"][0]
    registry = digest.split("/", 1)[0]
    with urllib.request.urlopen(f"http://{registry}/v2/web/nginx/tags/list", timeout=10) as answer:
        assert json.load(answer)["tags"] == ["1.25"]  # the digest is really there: it can be pulled back
    app = make_app(demo_daemon.url)
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await loaded(pilot)
        local = next(i.id for i in screen.table.shown if "myapp-dev:feature-login" in i.tags)
        screen.table.move_cursor(row=[i.id for i in screen.table.shown].index(local))
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert app.screen.needs_local_ack
        await pilot.press("n")
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        screen.table.move_cursor(row=[i.id for i in screen.table.shown].index(nginx))
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        confirm = app.screen
        assert not confirm.needs_local_ack and confirm.focused is not None
        assert confirm.focused.id == "confirm-ok"
        await pilot.press("y")  # one key: no acknowledgement asked
        await wait_for(pilot, lambda: nginx not in screen.snapshot.images)
    assert nginx not in {i["Id"] for i in api.images()}
    assert local in {i["Id"] for i in api.images()}
    api.close()


class _Recorder:
    """Remembers the sandbox root of the source the stub app was given."""

    root: Path | None = None


def _stub_app(behaviour: Callable[[], Any]) -> type:
    class StubApp:
        return_code: int | None = 0

        def __init__(self, source: Any, config: Any = None) -> None:
            host = source.engine.host
            _Recorder.root = Path(host.removeprefix("unix://")).parent
            assert source.engine.call(lambda api: api.ping())

        def run(self) -> Any:
            return behaviour()

    return StubApp


def _boom() -> None:
    raise RuntimeError("boom from the app")


def _interrupt() -> None:
    raise KeyboardInterrupt


def _quit() -> None:
    return None


@pytest.mark.engine
@pytest.mark.parametrize(
    ("behaviour", "code", "said"),
    [
        (_boom, 1, "the app failed: RuntimeError: boom from the app"),
        (_interrupt, 130, "interrupted"),
        (_quit, 0, "sandbox stopped"),
    ],
)
def test_run_demo_always_stops_the_sandbox(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    behaviour: Callable[[], Any],
    code: int,
    said: str,
) -> None:
    if demo.missing_requirement():
        unavailable("demo sandbox", RuntimeError(str(demo.missing_requirement())))
    monkeypatch.setattr(demo, "SweepApp", _stub_app(behaviour))
    _Recorder.root = None
    assert demo.run_demo() == code
    err = capsys.readouterr().err
    assert _Recorder.root is not None, err
    _assert_gone(_Recorder.root)
    assert said in err and f"sandbox engine at unix://{_Recorder.root}/docker.sock" in err
    assert "sandbox stopped" in err


_KILLED_CHILD = """
import signal, sys, time
import tui.demo as demo

# Ctrl-C in a terminal: Python's own handler, whatever this test process was started with (a
# background job of a shell without job control starts with SIGINT ignored, and passes that on)
print("SIGINT disposition at start:", signal.getsignal(signal.SIGINT), file=sys.stderr, flush=True)
signal.signal(signal.SIGINT, signal.default_int_handler)

class App:
    return_code = 0
    def __init__(self, source, config=None):
        pass
    def run(self):
        print("APP RUNNING", flush=True)
        time.sleep(600)

demo.SweepApp = App
raise SystemExit(demo.run_demo())
"""


@pytest.mark.engine
@pytest.mark.parametrize(
    ("sig", "returncode"),
    [(signal.SIGKILL, -signal.SIGKILL), (signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)],
)
def test_killed_demo_leaves_nothing_behind(sig: int, returncode: int) -> None:
    """SIGKILL: the watchdog cleans up; SIGTERM, SIGHUP and SIGINT: run_demo's ``finally`` does."""
    if demo.missing_requirement():
        unavailable("demo sandbox", RuntimeError(str(demo.missing_requirement())))
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLED_CHILD], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert child.stdout is not None and child.stderr is not None
    root: Path | None = None
    try:
        assert child.stdout.readline().strip() == "APP RUNNING", child.stderr.read()
        for line in child.stderr:
            if "sandbox engine at unix://" in line:
                root = Path(line.split("unix://", 1)[1].split()[0]).parent
                break
        assert root is not None and root.exists()
        child.send_signal(sig)
        # Read the rest of stderr while waiting (a full pipe must not hold the teardown up); the
        # teardown stops dockerd and the registry, which took over 60 s once at load 11 in CI.
        _, rest = child.communicate(timeout=240)
        assert child.returncode == returncode, rest
        if sig != signal.SIGKILL:  # cleaned up before the process ended
            _assert_gone(root)
            assert "sandbox stopped" in rest, rest
        assert _wait_for(lambda: not root.exists(), 30), "the sandbox was not cleaned up"
        _assert_gone(root)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if root is not None and root.exists():
            cleanup_root(root)
