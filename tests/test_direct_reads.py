"""Reads without the SDK (a unix socket's version, facts, lists and df: Engine.start_gets) give
what the SDK gives, on a real engine; errors keep the SDK path's messages; other endpoints, and a
docker config with HttpHeaders, stay on the SDK."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest

from tests.conftest import session_store
from tests.enginecase import STANDARD, seed
from tests.fakeengine import API, EMPTY_STORE, fake_engine
from tests.wipe import wipe
from tui.core.model import EngineFacts
from tui.engine.client import Engine, EngineAPIError, EngineError, EngineUnavailable
from tui.engine.snapshot import (
    _read_lists,
    list_containers,
    list_images,
    read_disk_usage,
    read_facts,
    read_snapshot,
    with_container_sizes,
)

SDK_AGENT = "docker-sdk-python"


def _facts(facts: EngineFacts) -> EngineFacts:
    # Podman 4.3 answers every /info with a new random ID
    return replace(facts, engine_id="") if session_store() == "podman" else facts


def test_direct_reads_give_the_sdks_facts_lists_and_df(engine):
    seed(engine.api, engine.url, STANDARD, (("old-app", "myapp:1.5.0", False), ("db-1", "db:16", True)))
    try:
        _compare_direct_and_sdk_reads(engine)
    finally:
        wipe(engine.api)  # the running container would block the next test's prune plans


def _compare_direct_and_sdk_reads(engine) -> None:
    direct, sdk = Engine(engine.url), Engine(engine.url, direct_reads=False)
    assert direct.reads_directly() and not sdk.reads_directly()
    assert _facts(read_facts(direct)) == _facts(read_facts(sdk))
    assert direct.server_version() == sdk.server_version()
    images, containers = list_images(direct), list_containers(direct)
    assert len(images) == len(STANDARD) and len(containers) == 2
    assert images == list_images(sdk) and containers == list_containers(sdk)
    assert with_container_sizes(direct, containers) == with_container_sizes(sdk, containers)
    assert read_disk_usage(direct) == read_disk_usage(sdk)
    with ThreadPoolExecutor(max_workers=3) as pool:
        facts, *lists, df, rows, _ = _read_lists(Engine(engine.url), pool, None, True)
        sdk_facts, *sdk_lists, sdk_df, sdk_rows, _ = _read_lists(sdk, pool, None, True)
        assert _facts(facts) == _facts(sdk_facts) and lists == sdk_lists and rows == sdk_rows
        assert df is not None and sdk_df is not None
        assert df.result() == sdk_df.result()
    full, sdk_full = read_snapshot(direct, disk_usage=True), read_snapshot(sdk, disk_usage=True)
    assert (_facts(full.facts), full.images, full.containers, full.disk) == (
        _facts(sdk_full.facts),
        sdk_full.images,
        sdk_full.containers,
        sdk_full.disk,
    )
    if session_store() == "containerd":
        return  # its per-image details are read through the SDK (tui/engine/containerd_store.py)
    # this thread made no SDK client for the direct engine (the layer reads use UnixReader)
    assert (
        getattr(direct._local, "client", None) is None and getattr(direct._local, "long_client", None) is None
    )


def _error(engine: Engine) -> EngineError:
    with pytest.raises(EngineError) as caught:
        read_snapshot(engine, disk_usage=True)
    return caught.value


BROKEN = {
    "info 500 with a message": {f"/v{API}/info": (500, {"message": "the daemon broke"})},
    "images 404 not JSON": {f"/v{API}/images/json": (404, b"not found here")},
    "containers answer not JSON": {f"/v{API}/containers/json": (200, b"{not json")},
    "df 500 empty body": {f"/v{API}/system/df": (500, b"")},
    "version without ApiVersion": {"/version": (200, {"Version": "x"})},
    "API version the SDK refuses": {"/version": (200, {"Version": "1.11", "ApiVersion": "1.23"})},
    "version refused": {"/version": (403, {"message": "authorization denied by plugin"})},
    "hangs up on /info": {f"/v{API}/info": (0, b"")},
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_engine_errors_keep_the_sdk_paths_messages(tmp_path, case):
    with fake_engine({**EMPTY_STORE, **BROKEN[case]}, socket_path=tmp_path / "fake.sock") as fake:
        direct, sdk = _error(Engine(fake.url)), _error(Engine(fake.url, direct_reads=False))
    assert type(direct) is type(sdk) and str(direct) == str(sdk)
    assert getattr(direct, "status", None) == getattr(sdk, "status", None)
    if isinstance(direct, EngineAPIError) and "message" in case:
        assert str(direct) == "the daemon broke" and direct.status == 500


def test_unreachable_sockets_keep_the_sdk_paths_messages(tmp_path):
    not_a_socket = tmp_path / "file.sock"
    not_a_socket.write_text("")
    for url in (f"unix://{tmp_path}/missing.sock", f"unix://{not_a_socket}"):
        direct, sdk = _error(Engine(url)), _error(Engine(url, direct_reads=False))
        assert isinstance(direct, EngineUnavailable) and str(direct) == str(sdk)
        assert url in str(direct) and "Is dockerd running?" in str(direct)


def test_an_engine_that_never_answers_times_out_once(tmp_path):
    """A timeout is not asked again through the SDK (that would wait as long a second time)."""
    hang = {f"/v{API}/images/json": (-10, b"")}
    with fake_engine({**EMPTY_STORE, **hang}, socket_path=tmp_path / "fake.sock") as fake:
        start = time.monotonic()
        error = _error(Engine(fake.url, timeout=1))
        took = time.monotonic() - start
    assert isinstance(error, EngineUnavailable) and "did not answer in time" in str(error)
    assert took < 5
    assert not any(SDK_AGENT in s.headers.get("user-agent", "") for s in fake.seen)


def test_direct_reads_send_no_sdk_requests_and_tcp_uses_the_sdk(tmp_path):
    with fake_engine(EMPTY_STORE, socket_path=tmp_path / "fake.sock") as fake:
        snapshot = read_snapshot(Engine(fake.url), disk_usage=True)
    assert snapshot.facts.engine_id == "fake-engine" and snapshot.disk is not None
    targets = sorted(s.target.split("?")[0] for s in fake.seen)
    assert targets == sorted(["/version", *(p for p in EMPTY_STORE if p != "/version")])
    assert not any(SDK_AGENT in s.headers.get("user-agent", "") for s in fake.seen)
    with fake_engine(EMPTY_STORE) as tcp:  # tcp://127.0.0.1: every request through the SDK
        eng = Engine(tcp.url)
        assert not eng.reads_directly() and eng.start_gets(["/info"]) is None
        assert read_snapshot(eng, disk_usage=True).facts == replace(snapshot.facts, host=tcp.url)
    assert tcp.seen and all(s.headers.get("user-agent", "").startswith(SDK_AGENT) for s in tcp.seen)
    assert not Engine("ssh://user@example.invalid").reads_directly()


def test_docker_config_http_headers_keep_the_sdk(tmp_path, monkeypatch):
    """The SDK adds the docker config's HttpHeaders to every request: then it makes them all."""
    config = tmp_path / "docker"
    config.mkdir()
    (config / "config.json").write_text(json.dumps({"HttpHeaders": {"X-Sweep-Test": "yes"}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    with fake_engine(EMPTY_STORE, socket_path=tmp_path / "fake.sock") as fake:
        eng = Engine(fake.url)
        assert not eng.reads_directly()
        read_snapshot(eng, disk_usage=True)
    assert fake.seen and all(s.headers.get("x-sweep-test") == "yes" for s in fake.seen)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "none"))  # no such file: ~/.docker next
    home = tmp_path / "home"
    (home / ".docker").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    assert Engine(f"unix://{tmp_path}/x.sock").reads_directly()
    (home / ".docker" / "config.json").write_text(json.dumps({"HttpHeaders": {"A": "b"}}))
    assert not Engine(f"unix://{tmp_path}/x.sock").reads_directly()


def test_fake_engine_paths_are_what_the_sdk_asks(tmp_path: Path):
    """The fake's store answers the SDK's own requests (else the comparisons above prove little)."""
    with fake_engine(EMPTY_STORE, socket_path=tmp_path / "fake.sock") as fake:
        read_snapshot(Engine(fake.url, direct_reads=False), disk_usage=True)
    assert {s.target.split("?")[0] for s in fake.seen} == set(EMPTY_STORE)


def test_headless_commands_send_their_reads_once_early_and_keep_usage_errors_first(tmp_path, capsys):
    """``images``/``df``/``plan`` send the store's reads as soon as the engine is known
    (Engine.prefetch): each request goes out once and its answer is the one read."""
    from tui.cli import main

    with fake_engine(EMPTY_STORE, socket_path=tmp_path / "fake.sock") as fake:
        assert main(["--host", fake.url, "df", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["engine"]
        sent = sorted(s.target.split("?")[0] for s in fake.seen)
        # /_ping (its API-Version: the lists go out without waiting for /version), /version,
        # /info, the two lists and /system/df, once
        assert sent == sorted([*EMPTY_STORE, "/_ping"])
        fake.seen.clear()
        assert main(["--host", fake.url, "plan", "prune", "--all", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["delete"] == []
        assert sorted(s.target.split("?")[0] for s in fake.seen) == sorted(
            [*(p for p in EMPTY_STORE if not p.endswith("/system/df")), "/_ping"]
        )
    # an unreachable engine: a usage error is still reported as one (exit 2), before the engine's
    missing = f"unix://{tmp_path}/missing.sock"
    assert main(["--host", missing, "plan", "prune", "--filter", "until=yesterday"]) == 2
    assert "until" in capsys.readouterr().err
    assert main(["--host", missing, "images", "--json"]) == 3
    assert "Is dockerd running?" in capsys.readouterr().err


def test_a_version_request_that_times_out_early_is_waited_for_once(tmp_path, capsys):
    from tui.cli import main

    config = tmp_path / "config.toml"
    config.write_text("[engine]\ntimeout = 1\n")
    with fake_engine({**EMPTY_STORE, "/version": (-10, b"")}, socket_path=tmp_path / "fake.sock") as fake:
        start = time.monotonic()
        code = main(["--config", str(config), "--host", fake.url, "plan", "prune", "--json"])
        took = time.monotonic() - start
    assert code == 3 and "did not answer in time" in capsys.readouterr().err
    assert took < 2.5 and [s.target for s in fake.seen].count("/version") == 1


def test_reads_sent_with_the_pings_api_version_are_asked_again_if_version_disagrees(tmp_path, capsys):
    """The lists go out with ``/_ping``'s API-Version before ``/version`` answers; an engine
    whose ``/version`` negotiates another version gets them asked again, with that one."""
    from tui.cli import main

    with fake_engine(EMPTY_STORE, socket_path=tmp_path / "fake.sock") as fake:
        fake.ping_version = "1.40"
        assert main(["--host", fake.url, "plan", "prune", "--all", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["delete"] == []
    sent = [s.target.split("?")[0] for s in fake.seen]
    assert {"/v1.40/info", "/v1.40/images/json", "/v1.40/containers/json"} <= set(sent)
    for path in ("/version", f"/v{API}/info", f"/v{API}/images/json", f"/v{API}/containers/json"):
        assert sent.count(path) == 1, sent


def test_a_host_named_on_the_command_line_is_read_before_the_config(tmp_path, capsys, monkeypatch):
    """``--host unix://…``: the store's reads go out before the config is imported and read (it
    cannot name another engine then), once each, and are read with the config's timeouts.
    Without ``--host`` the config is read first: it may name the engine."""
    import tui.config
    from tui import headless
    from tui.cli import main

    order: list[str] = []
    timeouts: list[tuple[float, float]] = []
    load, prefetch, cmd_df = tui.config.load_config, Engine.prefetch_store, headless.cmd_df

    def loading(path):
        order.append("config")
        return load(path)

    def prefetching(self, **kwargs):
        order.append("reads")
        prefetch(self, **kwargs)

    def df(engine, *args):
        timeouts.append((engine.timeout, engine.long_timeout))
        return cmd_df(engine, *args)

    monkeypatch.setattr(tui.config, "load_config", loading)
    monkeypatch.setattr(Engine, "prefetch_store", prefetching)
    monkeypatch.setattr(headless, "cmd_df", df)
    config = tmp_path / "config.toml"
    config.write_text("[engine]\ntimeout = 7\nlong_timeout = 9\n")
    with fake_engine(EMPTY_STORE, socket_path=tmp_path / "fake.sock") as fake:
        assert main(["--config", str(config), "--host", fake.url, "df", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["engine"]
        assert order == ["reads", "config"] and timeouts == [(7, 9)]
        assert sorted(s.target.split("?")[0] for s in fake.seen) == sorted([*EMPTY_STORE, "/_ping"])
        order.clear()
        monkeypatch.setenv("DOCKER_HOST", fake.url)
        assert main(["--config", str(config), "df", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["engine"]
        assert order == ["config", "reads"] and timeouts[-1] == (7, 9)


def test_an_engine_takes_over_anothers_reads_only_for_the_same_endpoint(tmp_path):
    with fake_engine(EMPTY_STORE, socket_path=tmp_path / "fake.sock") as fake:
        early = Engine(fake.url, timeout=1, long_timeout=1)
        early.prefetch_store(disk_usage=True)
        try:
            assert not early.take_over(Engine(f"unix://{tmp_path}/other.sock"))
            assert early.timeout == 1
            assert early.take_over(Engine(fake.url, timeout=7, long_timeout=9))
            waiting = [
                (paths, conn[0].gettimeout())
                for (paths, _), gets in early._prefetched.items()
                for conn in gets._conns
                if conn is not None
            ]
            assert sorted({t for _, t in waiting}) == [7, 9], waiting
            assert all(t == 9 for paths, t in waiting if "/system/df" in paths)
        finally:
            early.close()


def test_a_host_named_on_the_command_line_that_does_not_answer_is_asked_with_the_configs_timeout(
    tmp_path, capsys
):
    """The early reads wait EARLY_TIMEOUT for ``/_ping``; then the command asks again, as it
    would have without them, with the config's timeout, and reports that."""
    from tui.cli import EARLY_TIMEOUT, main

    config = tmp_path / "config.toml"
    config.write_text("[engine]\ntimeout = 1\n")
    with fake_engine({**EMPTY_STORE, "/_ping": (-10, b"")}, socket_path=tmp_path / "fake.sock") as fake:
        start = time.monotonic()
        code = main(["--config", str(config), "--host", fake.url, "images", "--json"])
        took = time.monotonic() - start
    assert code == 3 and "did not answer in time" in capsys.readouterr().err
    assert took < EARLY_TIMEOUT + 1 + 1.5
    assert not [s for s in fake.seen if "/images/json" in s.target]


def test_df_and_plan_with_the_configs_timeouts_read_as_without_them(engine, tmp_path, capsys):
    """On a real engine, ``--host`` with a config that sets other timeouts: the reads sent before
    the config was read are the ones used (Docker 20.10 refuses a second ``/system/df`` while one
    runs), and the output is the one without that config."""
    from tui.cli import main

    config = tmp_path / "config.toml"
    config.write_text("[engine]\ntimeout = 30\nlong_timeout = 300\n")
    seed(engine.api, engine.url, STANDARD, (("old-app", "myapp:1.5.0", False),))
    try:
        for argv in (["df", "--json"], ["plan", "prune", "--all", "--json"]):
            code = main(["--host", engine.url, *argv])
            plain = capsys.readouterr()
            assert main(["--config", str(config), "--host", engine.url, *argv]) == code
            timed = capsys.readouterr()
            assert timed.err == plain.err == ""
            assert json.loads(timed.out) == json.loads(plain.out)
        assert json.loads(timed.out)["delete"] and json.loads(plain.out)["blocked"]
    finally:
        wipe(engine.api)
