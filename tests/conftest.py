"""Shared fixtures: private Docker daemons and a private registry for engine tests.

If ``dockerd`` is missing or will not start, tests that need it are skipped, except with
``CI=true`` in the environment, where they fail (the CI image must provide an engine).
Tests that use these fixtures get the ``engine`` marker automatically (``-m "not engine"``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, NoReturn

import docker
import pytest

from tui.engine.fixtures import wipe
from tui.sandbox.daemon import PrivateDaemon, PrivateRegistry, SandboxError

ENGINE_FIXTURES = {
    "engine", "engine2", "registry", "clean_engine", "start_daemon", "start_registry",
    "podman_engine", "clean_podman",
}  # fmt: skip


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


def unavailable(what: str, exc: BaseException) -> NoReturn:
    """Skip (locally) or fail (``CI=true``) a test whose engine could not be provided."""
    message = f"{what} unavailable: {exc}"
    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


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
        daemon = PrivateDaemon.start()
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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses an engine fixture with ``engine``."""
    for item in items:
        if ENGINE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.engine)
