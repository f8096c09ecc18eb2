"""SVG snapshots of every screen and dialog on the frozen store with a fixed clock."""

from __future__ import annotations

import pytest
from textual.widgets import Input

from tests.frozen import NOW, FrozenSource
from tui.app.main import SweepApp

SIZE = (140, 40)


def app(tmp_path=None) -> SweepApp:
    config = None
    if tmp_path is not None:
        from tui.config import load_config

        path = tmp_path / "c.toml"
        path.write_text(
            '[protect]\nimages = ["postgres:*"]\n[policies.keep-one]\nkeep_last = 1\n'
            'repositories = ["myapp"]\n[policies.old]\nolder_than = "30d"\n'
        )
        config = load_config(path)
    return SweepApp(FrozenSource(), config, now=lambda: NOW)  # type: ignore[arg-type]


async def settle(pilot) -> None:
    for _ in range(40):
        screen = pilot.app.screen
        if getattr(screen, "snapshot", None) is not None and screen.snapshot.images:
            break
        await pilot.pause(0.05)
    await pilot.pause()


def pressing(keys):
    """A ``run_before`` that waits for the store, then presses ``keys``."""

    async def run_before(pilot) -> None:
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await pilot.pause()
        # a blinking text cursor would make the picture depend on the moment it is taken (seen
        # under load): keep it shown, as it is right after a key
        for field in pilot.app.screen.query(Input):
            field.cursor_blink = False
        await pilot.pause()

    return run_before


def _cases(*cases: tuple[str, list[str]]) -> list:
    """Parameters with ids that are names (``test_screen[confirm]``), not positions."""
    return [pytest.param(keys, id=name) for name, keys in cases]


@pytest.mark.parametrize(
    "keys",
    _cases(
        ("main", []),
        ("details_blocked", ["down", "down", "down"]),
        ("layers_image", ["down", "t", "t"]),
        ("layers_store", ["t"]),
        ("marked", ["space", "space"]),
        ("confirm", ["space", "d"]),
        ("confirm_local_only", ["down", "down", "down", "down", "d"]),
        ("confirm_local_only_acknowledged", ["down", "down", "down", "down", "d", "l"]),
        ("confirm_force", ["d", "f"]),
        ("prune_dialog", ["p"]),
        ("prune_dialog_all", ["p", "a"]),
        ("help", ["question_mark"]),
        ("filter", ["slash", "m", "y", "a", "p", "p"]),
        ("filter_closed", ["slash", "m", "y", "a", "p", "p", "enter"]),
        ("sorted_by_name", ["s", "s", "s"]),
        ("space_chart", ["g"]),
        ("space_chart_selected", ["g", "down", "enter"]),
        ("age_chart", ["o"]),
    ),
)
def test_screen(snap_compare, keys):
    assert snap_compare(app(), terminal_size=SIZE, run_before=pressing(keys))


@pytest.mark.parametrize(
    "keys",
    _cases(
        ("main", []),
        ("confirm_local_only", ["down", "down", "down", "down", "d"]),
        ("prune_dialog", ["p"]),
        ("space_chart", ["g"]),
    ),
)
def test_screen_80x24(snap_compare, keys):
    assert snap_compare(app(), terminal_size=(80, 24), run_before=pressing(keys))


@pytest.mark.parametrize("keys", _cases(("main", []), ("age_chart", ["o"])))
def test_screen_160x45(snap_compare, keys):
    assert snap_compare(app(), terminal_size=(160, 45), run_before=pressing(keys))


@pytest.mark.parametrize(
    "keys",
    _cases(("policy_picker", ["P"]), ("protected", ["down", "down"]), ("policy_marked", ["P", "enter"])),
)
def test_screen_with_config(snap_compare, tmp_path, keys):
    assert snap_compare(app(tmp_path), terminal_size=SIZE, run_before=pressing(keys))
