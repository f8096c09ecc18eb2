"""The log panel (no engine): a batch of job lines is drawn exactly as the same lines written one
by one (text, colour per kind, order, ids shortened, a long line kept whole to scroll sideways),
and the panel ends scrolled to its last line."""

from __future__ import annotations

from textual.app import App, ComposeResult

from tui.app.widgets.log_panel import LogPanel

LINES = [
    ("untagged", "Untagged: rmbench/app:1"),
    ("deleted", "Deleted: sha256:" + "ab" * 32),
    ("deleted_layer", "Deleted: sha256:" + "cd" * 32),
    ("error", "Error: " + "x" * 240),
    ("info", ""),
    ("skipped", "Skipped: " + "ef" * 32 + " is gone"),
] * 20


class _Logs(App[None]):
    def compose(self) -> ComposeResult:
        yield LogPanel(id="one-by-one")
        yield LogPanel(id="batched")


def _drawn(log: LogPanel) -> list[list[tuple[str, str]]]:
    """Each stored line as (text, style) pieces, the padding to a common width left out."""
    return [[(seg.text, str(seg.style)) for seg in strip if seg.text.strip()] for strip in log.lines]


async def test_a_batch_is_drawn_as_the_same_lines_written_one_by_one() -> None:
    app = _Logs()
    async with app.run_test(size=(100, 40)) as pilot:
        one, batched = app.query_one("#one-by-one", LogPanel), app.query_one("#batched", LogPanel)
        await pilot.pause()
        for kind, text in LINES:
            one.add(kind, text)
        batched.add_many(LINES[:50])
        batched.add_many(LINES[50:])
        batched.add_many([])
        await pilot.pause()
        assert batched.lines_written == one.lines_written
        assert batched.lines_written[1] == "Deleted: sha256:" + "ab" * 6
        assert len(batched.lines) == len(LINES)
        assert _drawn(batched) == _drawn(one)
        assert ("Untagged: rmbench/app:1", "yellow") in _drawn(batched)[0]
        assert batched.virtual_size.width == one.virtual_size.width >= 247
        await pilot.pause(0.1)
        assert batched.scroll_y == batched.max_scroll_y > 0
