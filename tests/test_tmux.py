"""A real terminal (tmux): the app starts from a shell, draws, answers keys and quits cleanly.

The test runs its own tmux server (``tmux -L <unique socket name>``), so another tmux server on
the machine (the user's own session) neither disturbs it nor is touched by it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid

import pytest

from tests.conftest import unavailable
from tests.enginecase import STANDARD, seed

SERVER = f"sweep-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"  # this test's private tmux server


def _tmux(*args: str, server: str = SERVER) -> str:
    argv = ["tmux", "-L", server, "-f", "/dev/null", *args]
    # the test session's COLUMNS/LINES (set by a plugin) would pin the app to 80x24 in any pane
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    return subprocess.run(argv, capture_output=True, text=True, check=True, env=env).stdout


def _wait_screen(session: str, needle: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = _tmux("capture-pane", "-p", "-t", session)
        if needle in screen:
            return screen
        time.sleep(0.2)
    raise AssertionError(f"{needle!r} never appeared; screen was:\n{screen}")


@pytest.mark.docker_only(reason="reads the dockerd sandbox's version")
def test_app_in_a_real_terminal(engine):
    if shutil.which("tmux") is None:
        unavailable("tmux", "not installed (apt-get install -y tmux)")
    seed(engine.api, engine.url, STANDARD)
    session = "sweep"
    command = f"{sys.executable} -m tui --host {engine.url}; echo EXIT=$?; sleep 30"
    # another tmux server (as a user's own would be) with a session of the same name: left alone
    neighbour = f"{SERVER}-other"
    try:
        _tmux("new-session", "-d", "-s", session, "-x", "80", "-y", "20", "sleep 120", server=neighbour)
        _tmux("new-session", "-d", "-s", session, "-x", "130", "-y", "40", command)
        _wait_screen(session, "myapp:1.5.0")
        screen = _wait_screen(session, "Mark")  # the footer may be drawn after the table
        assert "REPOSITORY:TAG" in screen and "myapp:1.5.0" in screen
        _wait_screen(session, f"Engine {engine.daemon.version}")
        _tmux("send-keys", "-t", session, "s")
        _wait_screen(session, "sort: unique")
        _tmux("send-keys", "-t", session, "?")
        _wait_screen(session, "docker-sweep — keys")
        _tmux("send-keys", "-t", session, "Escape")
        time.sleep(0.5)
        _tmux("send-keys", "-t", session, "q")
        screen = _wait_screen(session, "EXIT=")
        assert "EXIT=0" in screen and "Traceback" not in screen
        assert _tmux("list-sessions", "-F", "#{session_name}", server=neighbour).split() == [session]
    finally:
        subprocess.run(["tmux", "-L", SERVER, "kill-server"], capture_output=True)
        subprocess.run(["tmux", "-L", neighbour, "kill-server"], capture_output=True)
