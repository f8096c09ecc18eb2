"""The store's disk read shortens the GIL's turns while it runs, and gives the process its own
interval back when the last reader is done (threads read at once in the app: a reload next to a
first read)."""

from __future__ import annotations

import sys
import threading

from tui.engine.snapshot import short_gil_turns


def test_short_turns_while_reading_and_restored_after() -> None:
    usual = sys.getswitchinterval()
    try:
        sys.setswitchinterval(0.004)
        with short_gil_turns():
            assert sys.getswitchinterval() < 0.001
            with short_gil_turns():
                assert sys.getswitchinterval() < 0.001
            assert sys.getswitchinterval() < 0.001  # the outer reader still runs
        assert sys.getswitchinterval() == 0.004
    finally:
        sys.setswitchinterval(usual)


def test_restored_when_readers_end_in_any_order() -> None:
    usual = sys.getswitchinterval()
    first_in, second_in, first_may_end = threading.Event(), threading.Event(), threading.Event()
    seen: list[float] = []

    def first() -> None:
        with short_gil_turns():
            first_in.set()
            first_may_end.wait(5)
        seen.append(sys.getswitchinterval())

    def second() -> None:
        first_in.wait(5)
        with short_gil_turns():
            second_in.set()
            first_may_end.set()
            one.join(5)  # the first reader ends while this one still reads
            seen.append(sys.getswitchinterval())

    one = threading.Thread(target=first)
    two = threading.Thread(target=second)
    one.start()
    two.start()
    two.join(10)
    assert second_in.is_set()
    assert seen[0] < 0.001 and seen[1] < 0.001  # still short while the second one reads
    assert sys.getswitchinterval() == usual


def test_restored_after_an_error() -> None:
    usual = sys.getswitchinterval()
    try:
        with short_gil_turns():
            raise OSError("a file went away")
    except OSError:
        pass
    assert sys.getswitchinterval() == usual
