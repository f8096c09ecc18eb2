"""A working copy of a snapshot's classic store that small plans borrow and give back unchanged.

A plan replays its removals on its own :class:`~tui.core.classic.ClassicStore`; copying the store's
indexes (some 100,000 entries at 20,000 images) was most of what a small plan cost (the detail
pane plans one image per cursor move). Here one copy per snapshot is kept whose dicts log every
write (key and old value) to a journal; a plan of a few references runs on it and the journal is
undone when the plan is made, so the copy is as the snapshot shows it again. One plan at a time:
a plan that finds the copy in use (another thread) makes its own store as before.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, NoReturn, TypeVar

from tui.core.classic import ClassicStore, _base_store, _RefIndex, keep_per_snapshot, per_snapshot
from tui.core.model import Snapshot

K = TypeVar("K")
V = TypeVar("V")
_MISSING = object()
_Journal = list[tuple[dict[Any, Any], Any, Any]]


class _Journaled(dict[K, V]):
    """A dict whose writes are logged to a shared journal (dict, key, old value or _MISSING)."""

    def __init__(self, items: Mapping[K, V], journal: _Journal) -> None:
        super().__init__(items)
        self.journal = journal

    def __setitem__(self, key: K, value: V) -> None:
        self.journal.append((self, key, dict.get(self, key, _MISSING)))
        dict.__setitem__(self, key, value)

    def __delitem__(self, key: K) -> None:
        self.journal.append((self, key, dict.__getitem__(self, key)))
        dict.__delitem__(self, key)

    def pop(self, key: K, *default: Any) -> Any:
        if key in self:
            self.journal.append((self, key, dict.__getitem__(self, key)))
        return dict.pop(self, key, *default)

    def _unlogged(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("a write the journal does not log: use [], del or pop")

    setdefault = update = clear = popitem = __ior__ = _unlogged


class _JournaledRefs(_RefIndex):
    """The reference index with its own entries and its per-image index logged."""

    def __init__(self, base: _RefIndex, journal: _Journal) -> None:
        super().__init__()
        dict.update(self, base)
        self.by_image = _Journaled(base.by_image, journal)
        self.journal = journal

    def __setitem__(self, key: str, image_id: str) -> None:
        self.journal.append((self, key, dict.get(self, key, _MISSING)))
        _RefIndex.__setitem__(self, key, image_id)

    def __delitem__(self, key: str) -> None:
        self.journal.append((self, key, dict.__getitem__(self, key)))
        _RefIndex.__delitem__(self, key)


class _Scratch:
    def __init__(self, snapshot: Snapshot) -> None:
        self.lock = threading.Lock()
        self.journal: _Journal = []
        store = ClassicStore.__new__(ClassicStore)
        _base_store(snapshot)._copy_into(store)
        journal = self.journal
        store.images = _Journaled(store.images, journal)
        store.kids = _Journaled(store.kids, journal)
        store.refs = _JournaledRefs(store.refs, journal)
        store.containers = _Journaled(store.containers, journal)
        store.users = _Journaled(store.users, journal)
        store.layer_refs = _Journaled(store.layer_refs, journal)
        self.store = store

    def undo(self) -> None:
        journal = self.journal
        while journal:
            mapping, key, old = journal.pop()
            if old is _MISSING:
                dict.__delitem__(mapping, key)
            else:
                dict.__setitem__(mapping, key, old)
        self.store.calls = []
        self.store.protected = {}


_SCRATCH_LOCK = threading.Lock()


@contextmanager
def borrowed_store(snapshot: Snapshot, protected: Mapping[str, str] | None) -> Iterator[ClassicStore | None]:
    """The snapshot's working copy with ``protected`` set, undone when the block ends (also on an
    error); ``None`` when another plan is using it (then make a store of your own). Classic store
    only (not :class:`~tui.core.podman.PodmanStore`). The store must not be kept past the block."""
    with _SCRATCH_LOCK:
        scratch = per_snapshot(snapshot, "_classic_scratch")
        if scratch is None:
            scratch = _Scratch(snapshot)
            keep_per_snapshot(snapshot, "_classic_scratch", scratch)
    assert isinstance(scratch, _Scratch)
    if not scratch.lock.acquire(blocking=False):
        yield None
        return
    try:
        scratch.store.calls = []
        scratch.store.protected = protected or {}
        yield scratch.store
    finally:
        scratch.undo()
        scratch.lock.release()
