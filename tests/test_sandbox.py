"""Real-engine tests for tui.sandbox (private dockerd/registry, generated images) and the
engine fixtures in tui.sandbox.fixtures."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.conftest import SESSION_ENGINE, session_store
from tests.wipe import wipe
from tui.sandbox import daemon as daemon_module
from tui.sandbox import fixtures
from tui.sandbox import imagegen as gen
from tui.sandbox.daemon import PrivateDaemon, SandboxError, cleanup_root

WHEN = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
BASE = gen.LayerSpec(gen.busybox_files(), "ADD busybox /bin/")
DATA = gen.LayerSpec(
    (
        gen.FileSpec("data/a.bin", 100_000, seed="a"),
        gen.FileSpec("data/deep/dir/b.bin", 5_000, seed="a"),
        gen.FileSpec("data/empty"),
        gen.FileSpec("data/link", symlink="a.bin"),
    ),
    "ADD data /data",
)
EMPTY = gen.LayerSpec((), "RUN true")
APP = gen.ImageSpec(
    ("demo/app:1",),
    (BASE, DATA, EMPTY),
    WHEN,
    labels={"com.example.role": "app"},
    cmd=("/bin/busybox", "sleep", "600"),
    empty_history=((0, "ENV A=1"), (2, "LABEL com.example.role=app"), (3, 'CMD ["sleep"]')),
)
OTHER = gen.ImageSpec((), (BASE, gen.LayerSpec((gen.FileSpec("x", 3_000, seed="o"),))), WHEN)


def _pids_naming(root: Path) -> list[int]:
    pids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                cmdline = Path(f"/proc/{name}/cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if f"{root}/" in cmdline and int(name) != os.getpid():
                pids.append(int(name))
    return pids


def _mounts_under(root: Path) -> list[str]:
    text = Path("/proc/self/mountinfo").read_text()
    return [line.split()[4] for line in text.splitlines() if line.split()[4].startswith(str(root))]


def _wait_for(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


# --- generation alone ----------------------------------------------------------------------


def test_generation_is_deterministic_and_seeded() -> None:
    assert gen.build_tarball([APP, OTHER]) == gen.build_tarball([APP, OTHER])
    assert gen.layer_diff_id(EMPTY) == gen.EMPTY_LAYER_DIFF_ID
    reseeded = gen.LayerSpec((gen.FileSpec("data/a.bin", 100_000, seed="b"),))
    same = gen.LayerSpec((gen.FileSpec("/data/a.bin", 100_000, seed="b"),))
    assert gen.layer_diff_id(reseeded) == gen.layer_diff_id(same)
    assert gen.layer_diff_id(reseeded) != gen.layer_diff_id(gen.LayerSpec(DATA.files[:1]))
    diffs = [gen.layer_diff_id(x) for x in APP.layers]
    chains = gen.chain_ids(diffs)
    assert chains[0] == diffs[0] and len(set(chains)) == 3
    config = json.loads(gen.image_config(APP))
    assert config["rootfs"] == {"type": "layers", "diff_ids": diffs}
    assert [h.get("empty_layer", False) for h in config["history"]] == [
        True, False, False, True, False, True,
    ]  # fmt: skip
    assert config["created"] == "2024-05-06T07:08:09.123456Z"


def test_missing_dockerd_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(daemon_module, "SYSTEM_DOCKERD", "/nonexistent/dockerd")
    with pytest.raises(SandboxError, match=r"apt-get install -y docker\.io"):
        PrivateDaemon.start()


@pytest.mark.parametrize("name", ["28.5", "28.5-containerd", "26.1-containerd"])
def test_missing_engine_names_the_setup_command(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(daemon_module.ENGINES_ENV, str(tmp_path / "engines"))
    version = name.split("-")[0]
    with pytest.raises(SandboxError) as info:
        PrivateDaemon.start(engine=name)
    message = str(info.value)
    dockerd = tmp_path / "engines" / version / "usr/sbin/dockerd"
    assert f"engine {name} is not set up ({dockerd} is missing)" in message
    script = Path(daemon_module.__file__).resolve().parents[2] / "scripts" / "setup.sh"
    assert message.endswith(f"{daemon_module.ENGINES_ENV}={tmp_path}/engines bash {script}")
    assert list(tmp_path.iterdir()) == []  # nothing started, nothing created


def test_unknown_engine_lists_the_known_ones() -> None:
    with pytest.raises(SandboxError, match=r"unknown engine '27'; known engines: 20\.10, 28\.5, "):
        PrivateDaemon.start(engine="27")


# --- one engine ----------------------------------------------------------------------------


def test_daemon_answers_version(engine: Any) -> None:
    version = engine.daemon.get_json("/version")
    assert tuple(int(x) for x in version["ApiVersion"].split(".")) >= (1, 40)
    assert engine.api.version()["ApiVersion"] == version["ApiVersion"]
    assert engine.daemon.engine_name == SESSION_ENGINE and engine.daemon.store == session_store()
    assert version["Version"] == engine.daemon.version
    assert version["Version"].startswith(engine.daemon.engine.version + ".")
    info = engine.api.info()
    assert info["Driver"] == {"classic": "overlay2", "containerd": "overlayfs"}[session_store()]
    if session_store() == "containerd":
        assert info["DriverStatus"] == [["driver-type", "io.containerd.snapshotter.v1"]]
    assert engine.url == f"unix://{engine.daemon.root}/docker.sock"


@pytest.mark.classic_store
def test_loaded_image_has_predicted_ids_and_layers(clean_engine: Any) -> None:
    api = clean_engine.api
    loaded = fixtures.load_tarball(api, gen.build_tarball([APP, OTHER]))
    # dockerd 20.10 prints "Loaded image ID" for every image when the last one is untagged
    assert loaded == ["demo/app:1", gen.image_id(APP), gen.image_id(OTHER)]
    assert fixtures.load_tarball(api, gen.build_tarball([OTHER, APP])) == ["demo/app:1"]
    info = api.inspect_image("demo/app:1")
    assert info["Id"] == gen.image_id(APP)
    assert info["RootFS"]["Layers"] == [gen.layer_diff_id(x) for x in APP.layers]
    assert info["Config"]["Labels"] == {"com.example.role": "app"}
    assert info["Created"] == "2024-05-06T07:08:09.123456Z"
    assert api.inspect_image(gen.image_id(OTHER))["RepoTags"] == []


@pytest.mark.classic_store
def test_history_and_sizes_match_layer_content_size(clean_engine: Any) -> None:
    api = clean_engine.api
    fixtures.load_tarball(api, gen.build_tarball([APP, OTHER]))
    sizes = [gen.layer_content_size(x) for x in APP.layers]
    # regular files + symlink target lengths ("busybox" = 7, "a.bin" = 5); dirs and the empty tar 0
    assert sizes == [os.path.getsize("/bin/busybox") + 7, 105_005, 0]
    history = api.history(gen.image_id(APP))  # newest first
    assert [h["CreatedBy"] for h in history] == [
        'CMD ["sleep"]', "RUN true", "LABEL com.example.role=app", "ADD data /data",
        "ADD busybox /bin/", "ENV A=1",
    ]  # fmt: skip
    assert [h["Size"] for h in history] == [0, 0, 0, sizes[1], sizes[0], 0]
    assert history[0]["Id"] == gen.image_id(APP)
    assert all(h["Id"] == "<missing>" for h in history[1:])
    assert api.inspect_image(gen.image_id(APP))["Size"] == sum(sizes)
    other_sizes = [gen.layer_content_size(x) for x in OTHER.layers]
    df = api.df()
    assert df["LayersSize"] == sum(sizes) + other_sizes[1]  # the shared base counted once
    by_id = {image["Id"]: image for image in df["Images"]}
    assert by_id[gen.image_id(APP)]["SharedSize"] == sizes[0]
    assert by_id[gen.image_id(OTHER)]["Size"] == sum(other_sizes)


def test_container_runs_without_network(clean_engine: Any) -> None:
    api = clean_engine.api
    fixtures.load_tarball(api, gen.build_tarball([APP]))
    running = fixtures.create_container(api, "demo/app:1", "runner", start=True)
    state = api.inspect_container(running)
    assert state["State"]["Running"] is True
    assert state["HostConfig"]["NetworkMode"] == "none"
    assert list(state["NetworkSettings"]["Networks"]) == ["none"]
    cmd = ["/bin/sh", "-c", "echo hi; ls /sys/class/net"]
    once = fixtures.create_container(api, "demo/app:1", "once", start=True, cmd=cmd)
    assert api.wait(once, timeout=60)["StatusCode"] == 0
    assert api.logs(once).split() == [b"hi", b"lo"]
    stopped = fixtures.create_container(api, api.inspect_image("demo/app:1")["Id"], "idle", start=False)
    assert api.inspect_container(stopped)["State"]["Status"] == "created"


def test_push_to_private_registry_gives_repo_digest(clean_engine: Any, registry: Any) -> None:
    api = clean_engine.api
    fixtures.load_tarball(api, gen.build_tarball([APP]))
    ref = f"{registry.host}/demo/pushed:1"
    fixtures.tag(api, "demo/app:1", f"{registry.host}/demo/pushed", "1")
    digest = fixtures.push(api, ref)
    assert digest.startswith("sha256:") and len(digest) == 71
    pushed = f"{registry.host}/demo/pushed@{digest}"
    if session_store() == "classic":
        assert api.inspect_image(ref)["RepoDigests"] == [pushed]
    else:  # the containerd store lists the manifest digest under every repository of the image
        assert sorted(api.inspect_image(ref)["RepoDigests"]) == sorted([pushed, f"demo/app@{digest}"])
    with urllib.request.urlopen(f"{registry.url}/v2/demo/pushed/tags/list", timeout=10) as resp:
        assert json.load(resp) == {"name": "demo/pushed", "tags": ["1"]}
    with pytest.raises(fixtures.FixtureError):
        fixtures.push(api, f"{registry.host}/demo/never-tagged:1")


@pytest.mark.classic_store
def test_build_child_has_parent_and_intermediates(clean_engine: Any) -> None:
    api = clean_engine.api
    fixtures.load_tarball(api, gen.build_tarball([APP]))
    steps = ["RUN /bin/busybox dd if=/dev/zero of=/blob bs=1000 count=10", "COPY n.txt /n.txt"]
    child = fixtures.build_child(api, "demo/app:1", "demo/kid:1", steps, files={"n.txt": b"x" * 10})
    info = api.inspect_image(child)
    assert info["Parent"] and info["Parent"] != gen.image_id(APP)
    assert info["RootFS"]["Layers"][:3] == [gen.layer_diff_id(x) for x in APP.layers]
    listed = {image["Id"]: image for image in api.images(all=True)}
    assert listed[child]["ParentId"] == info["Parent"]
    assert listed[info["Parent"]]["ParentId"] == gen.image_id(APP)
    api_version = tuple(int(x) for x in api.version()["ApiVersion"].split("."))
    # untagged: "<none>:<none>" up to API 1.43, nothing from 1.44 (Docker 25) on
    assert listed[info["Parent"]]["RepoTags"] == ([] if api_version >= (1, 44) else ["<none>:<none>"])
    history = api.history(child)
    assert [h["Size"] for h in history[:2]] == [10, 10_000]  # COPY, RUN: just the new files
    assert info["Size"] == api.inspect_image(gen.image_id(APP))["Size"] + 10_010


# --- several daemons, lifetime -------------------------------------------------------------


def test_two_daemons_at_once(engine: Any, engine2: Any) -> None:
    assert engine.daemon.socket_path != engine2.daemon.socket_path
    wipe(engine.api)
    wipe(engine2.api)
    fixtures.load_tarball(engine2.api, gen.build_tarball([APP]))
    assert [i["RepoTags"] for i in engine2.api.images()] == [["demo/app:1"]]
    assert engine.api.images() == []
    assert engine.daemon.ping() and engine2.daemon.ping()


def test_stop_leaves_no_process_mount_or_directory(start_daemon: Any) -> None:
    started = time.monotonic()
    daemon = start_daemon()
    start_seconds = time.monotonic() - started
    api = docker.APIClient(base_url=daemon.url, version="auto", timeout=60)
    fixtures.load_tarball(api, gen.build_tarball([APP]))
    fixtures.create_container(api, "demo/app:1", "busy", start=True)
    api.close()
    assert _pids_naming(daemon.root) and _mounts_under(daemon.root)
    started = time.monotonic()
    daemon.stop()
    stop_seconds = time.monotonic() - started
    daemon.stop()  # idempotent
    assert not daemon.root.exists()
    assert _pids_naming(daemon.root) == []
    assert _mounts_under(daemon.root) == []
    assert not daemon.running
    print(f"dockerd start {start_seconds:.2f}s, stop with a running container {stop_seconds:.2f}s")


def test_failed_start_reports_log_tail_and_cleans_up(engine: Any) -> None:
    expected = r"(?s)exited with status 1;.*unknown flag: --no-such-flag"
    with pytest.raises(SandboxError, match=expected) as info:
        PrivateDaemon.start(extra_args=["--no-such-flag"])
    root = Path(str(info.value).split()[2])
    assert root.name.startswith("dsb-") and not root.exists()


def test_registry_and_context_manager_cleanup(start_registry: Any) -> None:
    with start_registry() as reg:
        assert reg.ping()
        root, port = reg.root, reg.port
    assert not root.exists() and _pids_naming(root) == []
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=2)


_CHILD = """
import sys, time
from tui.sandbox.daemon import PrivateDaemon
d = PrivateDaemon.start(survive_crash={survive})
print(d.root, d.pid, flush=True)
if {exit_normally}:
    sys.exit(0)  # no stop(): the atexit hook must do it
time.sleep(600)
"""


@pytest.mark.parametrize(
    ("survive", "sig"),
    [(False, signal.SIGKILL), (False, signal.SIGTERM), (True, signal.SIGKILL), (False, 0)],
)
def test_crash_of_the_starting_process(engine: Any, survive: bool, sig: int) -> None:
    # (``engine``: skip/fail like the other engine tests when dockerd cannot run)
    script = _CHILD.format(survive=survive, exit_normally=not sig)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    root_text, pid_text = child.stdout.readline().split()
    root, pid = Path(root_text), int(pid_text)
    if sig:
        child.send_signal(sig)
    assert child.wait(timeout=60) == (-sig if sig else 0)
    try:
        if not sig:  # atexit stopped it before the process ended
            assert not root.exists() and _pids_naming(root) == []
        elif survive:
            time.sleep(1)
            assert os.path.exists(f"/proc/{pid}") and root.exists()
        else:
            assert _wait_for(lambda: not root.exists(), 30), "watchdog did not clean up"
            assert _pids_naming(root) == [] and _mounts_under(root) == []
    finally:
        cleanup_root(root)
    assert not root.exists() and _pids_naming(root) == []
