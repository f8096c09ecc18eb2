"""The snapshot read's own threads (``_Threads``, in place of a ``ThreadPoolExecutor``): answers,
errors raised where the answer is asked, every thread waited for, and no reference cycle left by
an error (a headless command and the app's reads run with the collector paused or rarely run)."""

from __future__ import annotations

import gc
import threading
import weakref

import pytest

from tui.engine.snapshot import _Threads


class Broken(Exception):
    pass


def _fail() -> int:
    raise Broken("the read failed")


def test_answers_and_errors_come_back_where_they_are_asked():
    pool = _Threads("t")
    names: list[str] = []
    fine = pool.submit(lambda a, b: (names.append(threading.current_thread().name), a + b)[1], 2, 3)
    broken = pool.submit(_fail)
    pool.shutdown(wait=True)
    assert fine.result() == 5 and names == ["t-0"]
    with pytest.raises(Broken, match="the read failed"):
        broken.result()
    assert broken.cancel() is False  # started at once, like a running future


def test_shutdown_waits_for_every_thread():
    release = threading.Event()
    done: list[int] = []
    pool = _Threads("t")
    for i in range(3):
        pool.submit(lambda i=i: (release.wait(5), done.append(i)))
    release.set()
    pool.shutdown(wait=True)
    assert sorted(done) == [0, 1, 2]


def test_an_error_leaves_no_reference_cycle():
    was_on = gc.isenabled()
    gc.disable()
    try:
        pool = _Threads("t")
        pending = pool.submit(_fail)
        pool.shutdown(wait=True)
        gone = weakref.ref(pending)
        with pytest.raises(Broken) as caught:
            pending.result()
        del pending, pool
        assert gone() is None, "freed by its reference count, with the error still held"
        assert isinstance(caught.value, Broken)
    finally:
        if was_on:
            gc.enable()
