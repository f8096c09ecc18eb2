"""Shared fixtures: private Docker daemons and a private registry for engine tests.

``DOCKER_SWEEP_TEST_ENGINE`` (default ``20.10``) names the engine of the session's daemons
(``engine``, ``engine2``, ``clean_engine`` and the default of ``start_daemon``): one of
``tui.sandbox.daemon.ENGINES``. On a containerd-store engine, tests marked ``classic_store``
(expectations specific to the classic store) are deselected.

If an engine (or another requirement) is missing, tests that need it are skipped, except with
``CI=true`` in the environment, where they fail: every skip goes through :func:`unavailable`.
Tests that use these fixtures get the ``engine`` marker automatically (``-m "not engine"``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
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
    """The image store of the session's engine: "classic" or "containerd"."""
    return engine_spec(SESSION_ENGINE).store


@dataclass
class Engine:
    """A running private daemon and a low-level client for it."""

    daemon: PrivateDaemon
    api: Any = field(repr=False)

    @property
    def url(self) -> str:
        return self.daemon.url


def _start_engine() -> Engine:
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


@pytest.fixture(scope="session")
def podman_engine() -> Iterator[Engine]:
    """The session's private ``podman system service`` (``.url``, ``.api``, ``.daemon``)."""
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
    yield Engine(service, api)  # type: ignore[arg-type]
    api.close()
    service.stop()


@pytest.fixture
def clean_podman(podman_engine: Engine) -> Engine:
    """The session's Podman service with every container and image removed first."""
    wipe(podman_engine.api)
    return podman_engine


def pytest_configure(config: pytest.Config) -> None:
    try:
        engine_spec(SESSION_ENGINE)
    except SandboxError as exc:
        raise pytest.UsageError(f"{ENGINE_ENV}: {exc}") from None


def pytest_report_header(config: pytest.Config) -> str:
    spec = engine_spec(SESSION_ENGINE)
    return f"session engine: {spec.name} ({spec.store} image store; {ENGINE_ENV})"


_deselected_for_store: list[str] = []
_deselected_own_engines: list[str] = []


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that uses an engine fixture with ``engine``; on a containerd-store
    session engine, deselect the tests marked ``classic_store``."""
    for item in items:
        if ENGINE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.engine)
    if session_store() == "classic":
        if SESSION_ENGINE != DEFAULT_ENGINE:
            # the containerd-store tests start their own containerd-store daemons whatever the
            # session engine is: the default engine's run has them already
            own = [item for item in items if "ctrd" in getattr(item, "fixturenames", ())]
            if own:
                config.hook.pytest_deselected(items=own)
                items[:] = [item for item in items if item not in own]
                _deselected_own_engines[:] = [item.nodeid for item in own]
        return
    kept = [item for item in items if item.get_closest_marker("classic_store") is None]
    deselected = [item for item in items if item.get_closest_marker("classic_store") is not None]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept
        _deselected_for_store[:] = [item.nodeid for item in deselected]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say how many tests the store deselected (also with ``-q``)."""
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
