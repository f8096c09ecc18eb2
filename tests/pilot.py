"""Pilot helpers shared by the app tests: build the app, wait for the store, drive the screens."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Checkbox

from tests.frozen import NOW, FrozenSource
from tui.app.main import SweepApp
from tui.app.screens.confirm import ConfirmScreen
from tui.app.screens.main import MainScreen
from tui.app.screens.prune import PruneDialog
from tui.app.widgets.log_panel import LogPanel
from tui.engine.client import Engine
from tui.engine.source import EngineSource


async def wait_for(pilot: Pilot[Any], condition: Callable[[], object], timeout: float = 30.0) -> None:
    """Let the app run until ``condition()`` holds (checked after each pause); fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition not met in time")


def make_app(url: str) -> SweepApp:
    """The app on the real engine at ``url``."""
    return SweepApp(EngineSource(Engine(url)))


def frozen_app(config: Any = None) -> SweepApp:
    """The app on the frozen store (``tests/frozen.py``) with its fixed clock: no engine."""
    return SweepApp(FrozenSource(), config, now=lambda: NOW)  # type: ignore[arg-type]


async def loaded(pilot: Pilot[Any]) -> MainScreen:
    """The main screen once the store is read completely (layers and disk usage)."""
    app = pilot.app

    def complete() -> bool:
        screen = app.screen
        return (
            isinstance(screen, MainScreen)
            and screen.snapshot.layers_complete
            and bool(screen.snapshot.images)
            and screen.snapshot.disk is not None
        )

    await wait_for(pilot, complete)
    await pilot.pause()
    assert isinstance(app.screen, MainScreen)
    return app.screen


async def press_confirm(pilot: Pilot[Any]) -> None:
    """Tick the local-only acknowledgement (every fixture image is local-only), then press y."""
    screen = pilot.app.screen
    assert isinstance(screen, ConfirmScreen)
    if screen.needs_local_ack:
        await pilot.press("y")  # refused until the box is ticked
        assert isinstance(pilot.app.screen, ConfirmScreen)
        await pilot.press("l")
        await pilot.pause()
        assert screen.query_one("#confirm-local", Checkbox).value
    await pilot.press("y")


def log_text(screen: MainScreen) -> str:
    """Everything the log panel has shown."""
    return "\n".join(screen.query_one("#log", LogPanel).lines_written)


async def highlight(pilot: Pilot[Any], screen: MainScreen, image_id: str) -> None:
    """Move the table's cursor to ``image_id``."""
    index = [i.id for i in screen.table.shown].index(image_id)
    screen.table.move_cursor(row=index)
    await pilot.pause()


async def find(pilot: Pilot[Any], text: str) -> None:
    """Type a filter with / and close the bar with Enter."""
    await pilot.press("slash", *text, "enter")
    await pilot.pause()


def focused_id(app: SweepApp) -> str | None:
    """The id of the focused widget of the active screen."""
    return app.screen.focused.id if app.screen.focused is not None else None


async def open_prune_dialog(pilot: Pilot[Any]) -> PruneDialog:
    """Press p on the main screen and return the prune dialog once it is shown."""
    await pilot.press("p")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, PruneDialog))
    dialog = pilot.app.screen
    assert isinstance(dialog, PruneDialog)
    return dialog
