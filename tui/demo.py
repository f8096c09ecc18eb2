"""``docker-sweep demo``: the app on a throw-away private engine seeded with a sample store.

The sandbox is a :class:`~tui.sandbox.daemon.PrivateDaemon` (its own ``dockerd``, containerd,
data and socket in one temp directory) seeded with :mod:`tui.sandbox.demo_store`. Whatever ends
the app, the sandbox goes with it: quitting, an exception and Ctrl-C (before the app runs; inside
it Ctrl-C is a key) end in ``run_demo``'s ``finally``, which stops it (a second signal cannot cut
that short); SIGTERM/SIGHUP make a running app exit cleanly first (the terminal is restored); if
this process dies without any of that (SIGKILL), the daemon's watchdog process tears it down.
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
from typing import Any

from tui.app.main import SweepApp
from tui.config import ConfigError, load_config
from tui.engine.client import Engine, EngineError
from tui.engine.snapshot import LayerCache
from tui.engine.source import EngineSource
from tui.exit_codes import EXIT_CONFIG, EXIT_ENGINE, EXIT_INTERRUPTED
from tui.sandbox.daemon import REGISTRY_BINARY, PrivateDaemon, PrivateRegistry, SandboxError
from tui.sandbox.demo_seed import seed_demo_engine
from tui.sandbox.fixtures import FixtureError

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
        return (
            f"{BUSYBOX} (static) is missing; the demo images need it. Install it with:\n    {INSTALL_COMMAND}"
        )
    if os.geteuid() != 0:
        return (
            "the sandbox runs its own dockerd, and dockerd needs root: run it as root "
            "(sudo docker-sweep demo)"
        )
    return None


def start_demo_engine(
    *, now: datetime | None = None, survive_crash: bool = False, stop_at_exit: bool = True
) -> PrivateDaemon:
    """Start a private ``dockerd`` and seed it with the demo store (dates relative to ``now``).

    A few images are pushed through a private registry on 127.0.0.1 (started inside the daemon's
    root, stopped with it) so the demo has images with a registry digest as well as local-only
    ones (see :func:`tui.sandbox.demo_seed.seed_demo`). The caller owns the returned daemon and
    must ``stop()`` it (the watchdog and the atexit hook
    are armed as :meth:`PrivateDaemon.start` describes). If seeding fails, the daemon is stopped
    and the error propagates (:class:`SandboxError` or :class:`FixtureError`).
    """
    daemon = PrivateDaemon.start(survive_crash=survive_crash, stop_at_exit=stop_at_exit)
    try:
        # The demo's own registry lives inside the daemon's root: whatever tears the sandbox down
        # (stop, the watchdog, cleanup_root) ends it too. Without docker-registry every demo
        # image is local-only.
        registry_host = None
        if os.access(REGISTRY_BINARY, os.X_OK):
            registry = PrivateRegistry.start(daemon.root / "registry", survive_crash=True, stop_at_exit=False)
            registry_host = registry.host
        else:
            _say(
                f"{REGISTRY_BINARY} is missing: every demo image is local-only "
                "(apt-get install docker-registry)"
            )
        seed_demo_engine(daemon.url, now or datetime.now(UTC), registry_host)
    except BaseException:
        with _signals_ignored():
            daemon.stop()
        raise
    return daemon


_TEARDOWN_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def _signals_ignored() -> Iterator[None]:
    """Ignore SIGINT/SIGTERM/SIGHUP inside the block (main thread only): a second Ctrl-C or a
    ``kill`` cannot cut the sandbox's teardown short."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in _TEARDOWN_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class _TerminationHandler:
    """SIGTERM/SIGHUP while the demo runs: ask a running app to exit (it restores the terminal,
    then ``run_demo`` stops the sandbox); before the app runs, leave with ``SystemExit``."""

    def __init__(self) -> None:
        self.app: Any = None
        self.signum = 0

    def __call__(self, signum: int, _frame: object) -> None:
        self.signum = signum
        app = self.app
        if app is not None and getattr(app, "is_running", False):
            threading.Thread(target=self._exit_app, args=(app, 128 + signum), daemon=True).start()
            return
        raise SystemExit(128 + signum)

    @staticmethod
    def _exit_app(app: Any, code: int) -> None:
        with contextlib.suppress(Exception):  # the app may be closing already
            app.call_from_thread(app.exit, None, code)

    @contextlib.contextmanager
    def installed(self) -> Iterator[_TerminationHandler]:
        """Handle SIGTERM and SIGHUP inside the block (main thread only)."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {sig: signal.signal(sig, self) for sig in (signal.SIGTERM, signal.SIGHUP)}
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _stop(daemon: PrivateDaemon) -> None:
    _say("stopping the sandbox engine …")
    with _signals_ignored():
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
    with _TerminationHandler().installed() as terminate:
        try:
            _say("starting a private dockerd and loading sample images (a few seconds) …")
            daemon = start_demo_engine(survive_crash=keep, stop_at_exit=not keep)
            gone = "kept after exit (--keep)" if keep else "removed when you quit"
            _say(f"sandbox engine at {daemon.url} (files in {daemon.root}; {gone})")
            terminate.app = app = SweepApp(EngineSource(Engine(daemon.url), LayerCache()), config)
            app.run()
            code = int(app.return_code or 0)
            if terminate.signum:
                _say(f"terminated by {signal.Signals(terminate.signum).name}.")
            elif code:
                _say(f"the app exited with status {code}")
            return code
        except KeyboardInterrupt:
            _say("interrupted.")
            return EXIT_INTERRUPTED
        except SystemExit:
            if terminate.signum:
                _say(f"terminated by {signal.Signals(terminate.signum).name}.")
            raise
        except (SandboxError, FixtureError, EngineError, OSError) as exc:
            _say(f"the sandbox engine could not be started or seeded: {exc}")
            return EXIT_ENGINE
        except Exception as exc:
            traceback.print_exc()
            _say(f"the app failed: {type(exc).__name__}: {exc} (traceback above)")
            return EXIT_APP_ERROR
        finally:
            if daemon is not None and keep:
                _say(
                    f"the sandbox keeps running: docker-sweep --host {daemon.url} …; remove it with:\n"
                    f"    {sys.executable} -c 'from tui.sandbox.daemon import cleanup_root; "
                    f'cleanup_root("{daemon.root}")\''
                )
            elif daemon is not None:
                _stop(daemon)
