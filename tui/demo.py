"""``docker-sweep demo``: the app on a throw-away private engine seeded with a sample store.

The sandbox is a :class:`~tui.sandbox.daemon.PrivateDaemon` (its own ``dockerd``, containerd,
data and socket in one temp directory) seeded with :mod:`tui.sandbox.demo_store`. Whatever ends
the app, the sandbox goes with it: quitting, an exception, Ctrl-C/SIGINT and interpreter exit run
``stop()`` here (a second Ctrl-C cannot interrupt that); SIGKILL/SIGTERM of this process leave it
to the daemon's watchdog process, which notices and tears everything down.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import threading
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime

import docker
import docker.errors

from tui.app.main import SweepApp
from tui.config import ConfigError, load_config
from tui.engine.client import Engine, EngineError
from tui.engine.demo_seed import seed_demo
from tui.engine.fixtures import FixtureError
from tui.engine.snapshot import LayerCache
from tui.engine.source import EngineSource
from tui.headless import EXIT_CONFIG, EXIT_ENGINE, EXIT_INTERRUPTED
from tui.sandbox.daemon import PrivateDaemon, SandboxError

INSTALL_COMMAND = "sudo apt-get install -y docker.io busybox-static"
BUSYBOX = "/bin/busybox"
EXIT_APP_ERROR = 1
_PREFIX = "docker-sweep demo:"


def _say(text: str) -> None:
    print(f"{_PREFIX} {text}", file=sys.stderr, flush=True)


def missing_requirement() -> str | None:
    """Why the demo cannot run on this machine (a message for the user), or ``None``."""
    if shutil.which("dockerd") is None:
        return f"dockerd is not installed (not on PATH). Install it with:\n    {INSTALL_COMMAND}"
    if not os.access(BUSYBOX, os.X_OK):
        return (f"{BUSYBOX} (static) is missing; the demo images need it. Install it with:\n"
                f"    {INSTALL_COMMAND}")
    if os.geteuid() != 0:
        return ("the sandbox runs its own dockerd, and dockerd needs root: run it as root "
                "(sudo docker-sweep demo)")
    return None


def start_demo_engine(
    *, now: datetime | None = None, survive_crash: bool = False, stop_at_exit: bool = True
) -> PrivateDaemon:
    """Start a private ``dockerd`` and seed it with the demo store (dates relative to ``now``).

    The caller owns the returned daemon and must ``stop()`` it (the watchdog and the atexit hook
    are armed as :meth:`PrivateDaemon.start` describes). If seeding fails, the daemon is stopped
    and the error propagates (:class:`SandboxError`, :class:`FixtureError` or a ``docker`` error).
    """
    daemon = PrivateDaemon.start(survive_crash=survive_crash, stop_at_exit=stop_at_exit)
    try:
        api = docker.APIClient(base_url=daemon.url, version="auto", timeout=120)
        try:
            seed_demo(api, now or datetime.now(UTC))
        finally:
            api.close()
    except BaseException:
        with _sigint_ignored():
            daemon.stop()
        raise
    return daemon


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Ignore SIGINT inside the block (main thread only), so a second Ctrl-C cannot cut a teardown."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _stop(daemon: PrivateDaemon) -> None:
    _say("stopping the sandbox engine …")
    with _sigint_ignored():
        try:
            daemon.stop()
        except SandboxError as exc:
            _say(f"could not clean up completely: {exc}")
            return
    _say(f"sandbox stopped; {daemon.root} is removed.")


def run_demo(keep: bool = False) -> int:
    """Run the app on a fresh demo sandbox; returns the exit code (0 when the user quits).

    ``keep=True`` leaves the sandbox running after the app exits (and survives a crash), and
    prints how to use and remove it.
    """
    problem = missing_requirement()
    if problem is not None:
        _say(problem)
        return EXIT_ENGINE
    try:
        config = load_config()
    except ConfigError as exc:
        _say(str(exc))
        return EXIT_CONFIG
    daemon: PrivateDaemon | None = None
    try:
        _say("starting a private dockerd and loading sample images (a few seconds) …")
        daemon = start_demo_engine(survive_crash=keep, stop_at_exit=not keep)
        gone = "kept after exit (--keep)" if keep else "removed when you quit"
        _say(f"sandbox engine at {daemon.url} (files in {daemon.root}; {gone})")
        app = SweepApp(EngineSource(Engine(daemon.url), LayerCache()), config)
        app.run()
        code = int(app.return_code or 0)
        if code:
            _say(f"the app exited with status {code}")
        return code
    except KeyboardInterrupt:
        _say("interrupted.")
        return EXIT_INTERRUPTED
    except (SandboxError, FixtureError, EngineError, docker.errors.DockerException, OSError) as exc:
        _say(f"the sandbox engine could not be started or seeded: {exc}")
        return EXIT_ENGINE
    except Exception as exc:
        traceback.print_exc()
        _say(f"the app failed: {type(exc).__name__}: {exc} (traceback above)")
        return EXIT_APP_ERROR
    finally:
        if daemon is not None and keep:
            _say(f"the sandbox keeps running: docker-sweep --host {daemon.url} …; remove it with:\n"
                 f"    {sys.executable} -c 'from tui.sandbox.daemon import cleanup_root; "
                 f"cleanup_root(\"{daemon.root}\")'")
        elif daemon is not None:
            _stop(daemon)
