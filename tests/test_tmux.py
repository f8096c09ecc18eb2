"""A real terminal (tmux): the app starts from a shell, draws, answers keys and quits cleanly."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid

import pytest

from tests.enginecase import STANDARD, seed


def _tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=True).stdout


def _wait_screen(session: str, needle: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = _tmux("capture-pane", "-p", "-t", session)
        if needle in screen:
            return screen
        time.sleep(0.2)
    raise AssertionError(f"{needle!r} never appeared; screen was:\n{screen}")


def test_app_in_a_real_terminal(engine):
    if shutil.which("tmux") is None:
        message = "tmux is not installed (apt-get install -y tmux)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    seed(engine.api, engine.url, STANDARD)
    session = f"sweep-{uuid.uuid4().hex[:8]}"
    command = f"{sys.executable} -m tui --host {engine.url}; echo EXIT=$?; sleep 30"
    _tmux("new-session", "-d", "-s", session, "-x", "130", "-y", "40", command)
    try:
        screen = _wait_screen(session, "myapp:1.5.0")
        assert "REPOSITORY:TAG" in screen and "Mark" in screen
        _wait_screen(session, "Engine 20.10")
        _tmux("send-keys", "-t", session, "s")
        _wait_screen(session, "sort: unique")
        _tmux("send-keys", "-t", session, "?")
        _wait_screen(session, "docker-sweep — keys")
        _tmux("send-keys", "-t", session, "Escape")
        time.sleep(0.5)
        _tmux("send-keys", "-t", session, "q")
        screen = _wait_screen(session, "EXIT=")
        assert "EXIT=0" in screen and "Traceback" not in screen
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
