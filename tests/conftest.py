"""Shared fixtures: private Docker daemons and a private registry for engine tests.

``DOCKER_SWEEP_TEST_ENGINE`` (default ``20.10``) names the engine of the session's daemons
(``engine``, ``engine2``, ``clean_engine`` and the default of ``start_daemon``): one of
``tui.sandbox.daemon.ENGINES``, or ``podman`` (a private ``podman system service`` as ``engine``).
On a containerd-store engine, tests marked ``classic_store`` (expectations specific to the classic
store) are deselected. On ``podman`` these are deselected too, and so are the tests marked
``docker_only`` (with their reason) and those that start daemons of their own; the Podman tests
(``podman_engine``, ``clean_podman``) run only in the ``podman`` session, on its engine.

If an engine (or another requirement) is missing, tests that need it are skipped, except with
``CI=true`` in the environment, where they fail: every skip goes through :func:`unavailable`.
Tests that use these fixtures get the ``engine`` marker automatically (``-m "not engine"``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import docker
import pytest

from tests.wipe import wipe
from tui.sandbox.daemon import DEFAULT_ENGINE, PrivateDaemon, PrivateRegistry, SandboxError, engine_spec

ENGINE_FIXTURES = {
    "engine", "engine2", "registry", "clean_engine", "start_daemon", "start_registry",
    "podman_engine", "clean_podman",
}  # fmt: skip
ENGINE_ENV = "DOCKER_SWEEP_TEST_ENGINE"
SESSION_ENGINE = os.environ.get(ENGINE_ENV, "").strip() or DEFAULT_ENGINE
PODMAN = "podman"  # the session engine value that runs the engine tests on Podman
PODMAN_FIXTURES = {"podman_engine", "clean_podman"}
OWN_DAEMON_FIXTURES = {"engine2", "start_daemon", "start_registry", "ctrd", "tls_engine"}


@pytest.fixture(autouse=True, scope="session")
def _private_user_dirs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep the tests' layer cache, backups and config out of the real user directories."""
    root = tmp_path_factory.mktemp("xdg")
    saved = {k: os.environ.get(k) for k in ("XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME")}
    for key in saved:
        os.environ[key] = str(root / key.lower())
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def unavailable(what: str, exc: BaseException | str) -> NoReturn:
    """Skip (locally) or fail (``CI=true``) a test whose engine or tool could not be provided.

    The one way tests skip: ``CI=true`` (the default of ``scripts/test.sh``) turns it into a failure.
    """
    message = f"{what} unavailable: {exc}"
    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def session_store() -> str:
    """The image store of the session's engine: "classic", "containerd" or "podman"."""
    return PODMAN if SESSION_ENGINE == PODMAN else engine_spec(SESSION_ENGINE).store


@dataclass
class Engine:
    """A running private daemon and a low-level client for it."""

    daemon: PrivateDaemon
    api: Any = field(repr=False)

    @property
    def url(self) -> str:
        return self.daemon.url


def _start_engine() -> Engine:
    if SESSION_ENGINE == PODMAN:
        return _start_podman()
    try:
        daemon = PrivateDaemon.start(engine=SESSION_ENGINE)
    except (SandboxError, OSError) as exc:
        unavailable("private dockerd", exc)
    try:
        api = docker.APIClient(base_url=daemon.url, version="auto", timeout=120)
    except Exception as exc:
        daemon.stop()
        unavailable("docker API on private dockerd", exc)
    return Engine(daemon, api)


@pytest.fixture(scope="session")
def engine() -> Iterator[Engine]:
    """The session's private daemon (``.url``, ``.api``, ``.daemon``); stopped at session end."""
    eng = _start_engine()
    yield eng
    eng.api.close()
    eng.daemon.stop()


@pytest.fixture(scope="session")
def engine2() -> Iterator[Engine]:
    """A second private daemon, started only if a test asks for it."""
    eng = _start_engine()
    yield eng
    eng.api.close()
    eng.daemon.stop()


@pytest.fixture(scope="session")
def registry() -> Iterator[PrivateRegistry]:
    """A private plain-HTTP registry on 127.0.0.1 (``.host`` = ``"127.0.0.1:PORT"``)."""
    try:
        reg = PrivateRegistry.start()
    except (SandboxError, OSError) as exc:
        unavailable("private docker-registry", exc)
    yield reg
    reg.stop()


@pytest.fixture
def clean_engine(engine: Engine) -> Engine:
    """The session daemon with every container and image removed first."""
    wipe(engine.api)
    return engine


@pytest.fixture
def start_daemon() -> Iterator[Callable[..., PrivateDaemon]]:
    """A factory for extra daemons (``PrivateDaemon.start`` kwargs); all stopped afterwards."""
    started: list[PrivateDaemon] = []

    def start(**kwargs: Any) -> PrivateDaemon:
        kwargs.setdefault("engine", SESSION_ENGINE)
        try:
            daemon = PrivateDaemon.start(**kwargs)
        except (SandboxError, OSError) as exc:
            unavailable("private dockerd", exc)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.stop()


@pytest.fixture
def start_registry() -> Iterator[Callable[[], PrivateRegistry]]:
    """A factory for extra registries; all stopped afterwards."""
    started: list[PrivateRegistry] = []

    def start() -> PrivateRegistry:
        try:
            started.append(PrivateRegistry.start())
        except (SandboxError, OSError) as exc:
            unavailable("private docker-registry", exc)
        return started[-1]

    yield start
    for reg in started:
        reg.stop()


# --- Podman (its Docker-compatible API) -------------------------------------------------------


def _start_podman() -> Engine:
    from tui.sandbox.podman import PrivatePodman

    try:
        service = PrivatePodman.start()
    except (SandboxError, OSError) as exc:
        unavailable("private podman service", exc)
    try:
        api = docker.APIClient(base_url=service.url, version="auto", timeout=120)
    except Exception as exc:
        service.stop()
        unavailable("docker API on private podman service", exc)
    return Engine(service, api)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def podman_engine(engine: Engine) -> Engine:
    """The session's private ``podman system service`` (``.url``, ``.api``, ``.daemon``): the
    session engine of ``DOCKER_SWEEP_TEST_ENGINE=podman`` (other sessions deselect its tests)."""
    return engine


@pytest.fixture
def clean_podman(podman_engine: Engine) -> Engine:
    """The session's Podman service with every container and image removed first."""
    wipe(podman_engine.api)
    return podman_engine


def pytest_configure(config: pytest.Config) -> None:
    if SESSION_ENGINE == PODMAN:
        return
    try:
        engine_spec(SESSION_ENGINE)
    except SandboxError as exc:
        raise pytest.UsageError(f"{ENGINE_ENV}: {exc}") from None


def pytest_report_header(config: pytest.Config) -> str:
    if SESSION_ENGINE == PODMAN:
        return f"session engine: podman (its Docker-compatible API; {ENGINE_ENV})"
    spec = engine_spec(SESSION_ENGINE)
    return f"session engine: {spec.name} ({spec.store} image store; {ENGINE_ENV})"


_deselected_for_store: list[str] = []
_deselected_own_engines: list[str] = []
_deselected_podman: list[str] = []
_deselected_not_podman: dict[str, list[str]] = {}


def _deselect(config: pytest.Config, items: list[pytest.Item], drop: list[pytest.Item]) -> list[str]:
    if drop:
        config.hook.pytest_deselected(items=drop)
        gone = set(map(id, drop))
        items[:] = [item for item in items if id(item) not in gone]
    return [item.nodeid for item in drop]


def _fixtures(item: pytest.Item) -> set[str]:
    return set(getattr(item, "fixturenames", ()))


def _podman_checked() -> set[str]:
    """The engine tests checked on Podman: tests/podman_checked.txt, one node id a line."""
    path = Path(__file__).with_name("podman_checked.txt")
    lines = path.read_text().splitlines()
    return {line.strip() for line in lines if line.strip() and not line.startswith("#")}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that uses an engine fixture with ``engine``; deselect what the session
    engine cannot run: ``classic_store`` tests on a containerd-store engine; the Podman tests
    on every engine but ``podman``; on ``podman``, the Docker tests (``classic_store``,
    ``docker_only``, and those that start daemons of their own)."""
    for item in items:
        if ENGINE_FIXTURES & _fixtures(item):
            item.add_marker(pytest.mark.engine)
    if SESSION_ENGINE == PODMAN:
        checked = _podman_checked()
        reasons: dict[str, list[pytest.Item]] = {}
        for item in items:
            only = item.get_closest_marker("docker_only")
            if item.get_closest_marker("classic_store") is not None:
                reasons.setdefault(
                    "Docker's classic-store rules (Podman's: tests/test_podman*.py)", []
                ).append(item)
            elif only is not None:
                reasons.setdefault(
                    str(only.kwargs.get("reason") or (only.args or ("Docker only",))[0]), []
                ).append(item)
            elif OWN_DAEMON_FIXTURES & _fixtures(item):
                reasons.setdefault("they start dockerd daemons or registries of their own", []).append(item)
            elif item.get_closest_marker("engine") is not None and item.nodeid not in checked:
                reasons.setdefault(
                    "not yet checked against Podman's own figures (see tests/podman_checked.txt)",
                    [],
                ).append(item)
        for reason, drop in reasons.items():
            _deselected_not_podman[reason] = _deselect(config, items, drop)
        return
    _deselected_podman[:] = _deselect(config, items, [i for i in items if PODMAN_FIXTURES & _fixtures(i)])
    if session_store() == "classic":
        if SESSION_ENGINE != DEFAULT_ENGINE:
            # the containerd-store tests start their own containerd-store daemons whatever the
            # session engine is: the default engine's run has them already
            own = [item for item in items if "ctrd" in _fixtures(item)]
            _deselected_own_engines[:] = _deselect(config, items, own)
        return
    drop = [item for item in items if item.get_closest_marker("classic_store") is not None]
    _deselected_for_store[:] = _deselect(config, items, drop)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say how many tests the session engine deselected, and why (also with ``-q``)."""
    if _deselected_own_engines:
        terminalreporter.write_line(
            f"{len(_deselected_own_engines)} containerd-store tests deselected (they start their own "
            f"daemons and run in the {DEFAULT_ENGINE} session)"
        )
    if _deselected_for_store:
        terminalreporter.write_line(
            f"{len(_deselected_for_store)} classic_store tests deselected "
            f"(engine {SESSION_ENGINE} runs the containerd image store)"
        )
    if _deselected_podman:
        terminalreporter.write_line(
            f"{len(_deselected_podman)} Podman tests deselected (they run with {ENGINE_ENV}={PODMAN})"
        )
    for reason, ids in _deselected_not_podman.items():
        terminalreporter.write_line(f"{len(ids)} tests deselected on Podman: {reason}")
