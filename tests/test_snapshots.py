"""SVG snapshots of every screen and dialog on the frozen store with a fixed clock."""

from __future__ import annotations

import pytest

from tests.frozen import NOW, FrozenSource
from tui.app.main import SweepApp

SIZE = (140, 40)


def app() -> SweepApp:
    return SweepApp(FrozenSource(), now=lambda: NOW)  # type: ignore[arg-type]


async def settle(pilot) -> None:
    for _ in range(40):
        screen = pilot.app.screen
        if getattr(screen, "snapshot", None) is not None and screen.snapshot.images:
            break
        await pilot.pause(0.05)
    await pilot.pause()


@pytest.mark.parametrize(
    ("name", "keys"),
    [
        ("main", []),
        ("details_blocked", ["down", "down", "down"]),
        ("layers_image", ["down", "t", "t"]),
        ("layers_store", ["t"]),
        ("marked", ["space", "space"]),
        ("confirm", ["space", "d"]),
        ("confirm_force", ["d", "f"]),
        ("prune_dialog", ["p"]),
        ("help", ["question_mark"]),
        ("filter", ["slash", "m", "y", "a", "p", "p"]),
        ("sorted_by_name", ["s", "s", "s"]),
    ],
)
def test_screen(snap_compare, name, keys):
    async def run_before(pilot) -> None:
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await pilot.pause()
        await pilot.pause()

    assert snap_compare(app(), terminal_size=SIZE, run_before=run_before)
