"""The executor's raw per-step client on a real engine: the SDK's answers and errors, call for call.

:class:`UnixStepClient` replaces the SDK for the re-read (``inspect_image``) and the delete
(``remove_image``) of every step on a unix socket. Each case makes the same call both ways on the
same store (a destructive one on a freshly reloaded store each time) and compares what came back:
the response lines, or the error's class, status and message.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.enginecase import BASE, SLEEP, data_layer, eid, spec
from tests.wipe import wipe
from tui.core.plan import Step, plan_remove
from tui.engine.actions import PlanExecutor
from tui.engine.client import Engine, EngineAPIError, EngineUnavailable, UnixStepClient
from tui.engine.snapshot import read_snapshot
from tui.sandbox import fixtures
from tui.sandbox import imagegen as gen

TWO_TAGS = spec(("steps/two:a", "steps/two:b"), (BASE, data_layer("two", 30_000)))
USED = spec(("steps/used:1",), (BASE, data_layer("used", 20_000)))
PLAIN = spec(("steps/plain:1",), (BASE, data_layer("plain", 10_000)))
IMAGES = (TWO_TAGS, USED, PLAIN)
MISSING = "sha256:" + "0" * 64

Call = Callable[[Any], Any]


def _outcome(engine: Engine, fn: Call, step_client: UnixStepClient | None) -> tuple[Any, ...]:
    try:
        if step_client is None:
            return ("answer", engine.call(fn))
        return ("answer", engine.call_on(step_client, fn))
    except EngineAPIError as exc:
        return ("error", type(exc).__name__, exc.status, exc.message)


def _seed(api: Any) -> dict[str, str]:
    """Load the images, give ``steps/used:1`` a stopped container; the containers' ids by name."""
    fixtures.load_tarball(api, gen.build_tarball(IMAGES))
    used = fixtures.create_container(api, eid(USED), "steps-user", start=False, cmd=SLEEP)
    return {"steps-user": used}


@pytest.fixture
def stepped(engine: Any) -> Any:
    wipe(engine.api)
    _seed(engine.api)
    return engine


def _step_client(eng: Engine) -> UnixStepClient:
    client = eng.new_step_client()
    assert isinstance(client, UnixStepClient)
    return client


def test_reads_and_refusals_equal_the_sdks(stepped):
    eng = Engine(stepped.url)
    raw = _step_client(eng)
    two_id = eid(TWO_TAGS)
    cases: list[Call] = [
        lambda api: api.inspect_image("steps/two:a"),
        lambda api: api.inspect_image(two_id),
        lambda api: api.inspect_image(eid(USED)),
        lambda api: api.inspect_image("steps/missing:1"),  # 404
        lambda api: api.inspect_image(MISSING),  # 404
        lambda api: api.remove_image("steps/missing:1", force=False, noprune=True),  # 404
        lambda api: api.remove_image(MISSING, force=True, noprune=True),  # 404
        # the last reference of an image a stopped container uses: refused (409)
        lambda api: api.remove_image("steps/used:1", force=False, noprune=True),
        lambda api: api.remove_image(eid(USED), force=False, noprune=True),
        # by id with two tags, no force: Docker's soft conflict (409), Podman's 500
        lambda api: api.remove_image(two_id, force=False, noprune=True),
    ]
    seen_errors = set()
    for call in cases:
        through_sdk = _outcome(eng, call, None)
        assert _outcome(eng, call, raw) == through_sdk
        if through_sdk[0] == "error":
            seen_errors.add(through_sdk[2])
    assert 404 in seen_errors and seen_errors & {409, 500}, seen_errors
    raw.close()


def _both_ways(engine: Any, call: Call, prepare: Callable[[], None] = lambda: None) -> list[tuple[Any, ...]]:
    """``call`` on the seeded store through the raw client, then again on a freshly seeded store
    through the SDK; the two outcomes."""
    eng = Engine(engine.url)
    outcomes = []
    for step_client in (_step_client(eng), None):
        wipe(engine.api)
        _seed(engine.api)
        prepare()
        outcomes.append(_outcome(eng, call, step_client))
        if step_client is not None:
            step_client.close()
    return outcomes


def test_untag_equals_the_sdks(engine):
    raw, sdk = _both_ways(engine, lambda api: api.remove_image("steps/two:b", force=False, noprune=True))
    assert raw == sdk
    assert raw[0] == "answer" and len(raw[1]) == 1 and "Untagged" in raw[1][0]


def test_delete_equals_the_sdks(engine):
    raw, sdk = _both_ways(engine, lambda api: api.remove_image("steps/plain:1", force=False, noprune=True))
    assert raw == sdk
    assert raw[0] == "answer" and {k for line in raw[1] for k in line} >= {"Untagged", "Deleted"}


def test_forced_delete_by_id_equals_the_sdks(engine):
    raw, sdk = _both_ways(engine, lambda api: api.remove_image(eid(TWO_TAGS), force=True, noprune=True))
    assert raw == sdk
    assert raw[0] == "answer"
    assert sorted(line["Untagged"] for line in raw[1] if "Untagged" in line)[-1].endswith("steps/two:b")


def test_a_connection_closed_while_idle_is_opened_again(stepped):
    eng = Engine(stepped.url)
    raw = _step_client(eng)
    first = eng.call_on(raw, lambda api: api.inspect_image("steps/plain:1"))
    assert raw._conn is not None
    sock = raw._conn[0]
    sock.shutdown(socket.SHUT_RDWR)  # as when the engine closes an idle connection
    assert eng.call_on(raw, lambda api: api.inspect_image("steps/plain:1")) == first
    assert raw._conn is not None and raw._conn[0] is not sock
    raw._conn[0].shutdown(socket.SHUT_RDWR)  # a delete is sent on a new connection, never twice
    lines = eng.call_on(raw, lambda api: api.remove_image("steps/plain:1", force=False, noprune=True))
    assert any("Deleted" in line for line in lines)
    raw.close()


def test_unreachable_and_silent_engines_are_engine_unavailable(tmp_path: Path):
    eng = Engine(f"unix://{tmp_path}/gone.sock")
    gone = UnixStepClient(str(tmp_path / "gone.sock"), "1.41", 5)
    with pytest.raises(EngineUnavailable) as raw_error:
        eng.call_on(gone, lambda api: api.inspect_image("x"))
    with pytest.raises(EngineUnavailable) as sdk_error:
        eng.call(lambda api: api.inspect_image("x"))
    assert str(raw_error.value).split(" (")[0] == str(sdk_error.value).split(" (")[0]
    # an engine that accepts the connection and never answers: the read timeout's message
    path = tmp_path / "silent.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)
    try:
        silent = UnixStepClient(str(path), "1.41", 0.3)
        with pytest.raises(EngineUnavailable, match="did not answer in time"):
            Engine(f"unix://{path}").call_on(
                silent, lambda api: api.remove_image("x", force=False, noprune=True)
            )
        silent.close()
    finally:
        server.close()


def test_the_executor_sends_its_image_calls_through_the_raw_client(stepped):
    eng = Engine(stepped.url)
    snapshot = read_snapshot(eng)
    plan = plan_remove(snapshot, ["steps/plain:1", "steps/two:b"])
    clients: list[Any] = []

    def in_window(step: Step) -> None:
        clients.append(executor._step_client)

    executor = PlanExecutor(eng, plan, snapshot, before_call=in_window)
    result = executor.run_all()
    assert not result.failed, result.errors
    assert len(clients) == 2 and isinstance(clients[0], UnixStepClient) and clients[1] is clients[0]
    assert executor._step_client is None  # closed when the run ended
    assert any(ref.endswith("steps/two:b") for ref in result.untagged)
    assert eid(PLAIN) in result.deleted
