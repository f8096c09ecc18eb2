"""BuildKit build cache: its records and what ``docker builder prune`` would delete.

The rules, as measured on Docker Engine 20.10 (BuildKit in the daemon, ``POST /build/prune``):

* A record in use (a running build holds it) is never deleted.
* Without ``all``, shared records (their snapshot is also an image's layer) are kept, and so are
  ``internal`` and ``frontend`` records; with ``all`` every unused record goes.
* ``until``: only records last used (else created) before the instant are deleted.
* A record that a kept record has as parent is kept.
* ``keep_storage``: the engine deletes some of the candidates, least recently used first, until
  the cache fits, by its own size accounting, which does not follow the records' sizes (measured:
  600,033 bytes of records, keep 500,000 deleted nothing; keep 300,000 deleted one 300,000-byte
  record; keep 1,000 deleted the same one). So with ``keep_storage`` the plan lists the records
  that may go (an upper bound) and says so; the result reports what the engine did.
* ``SpaceReclaimed`` is the sum of the deleted records' ``Size`` — also for shared records, whose
  bytes an image still holds on disk.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tui.core.filters import FilterError, Until

KEPT_WITHOUT_ALL = frozenset({"internal", "frontend"})


@dataclass(frozen=True)
class CacheRecord:
    """One ``/system/df`` ``BuildCache`` record."""

    id: str
    type: str
    size: int
    in_use: bool
    shared: bool
    parents: tuple[str, ...] = ()
    created: float = 0.0  # unix seconds
    last_used: float = 0.0  # unix seconds, 0 when never used
    description: str = ""

    @property
    def short_id(self) -> str:
        return self.id[:12]


@dataclass(frozen=True)
class BuildCachePrune:
    """What ``docker builder prune [--all] [--filter until=...] [--keep-storage N]`` asks."""

    all: bool = False
    until: Until | None = None
    keep_storage: int = 0

    def describe(self) -> str:
        parts = [
            "all unused build cache"
            if self.all
            else "unused build cache not shared with images (docker builder prune)"
        ]
        if self.until is not None:
            parts.append(f"last used before until={self.until.text}")
        if self.keep_storage:
            parts.append(
                f"keep-storage {self.keep_storage:,} bytes (the engine picks least recently "
                "used records among these until the cache fits)"
            )
        return ", ".join(parts)

    def engine_args(self, now: float) -> dict[str, object]:
        """Keyword arguments of the SDK's ``prune_builds`` at time ``now``.

        The build cache's ``until`` takes only a Go duration (an absolute time is refused with
        ``"until" filter expects a duration``, seen on 20.10), so the planned instant is sent as
        the duration from ``now`` to it, in nanoseconds, computed right before the call.
        """
        filters = None
        if self.until is not None:
            age_ns = max(0, round(now * 1e9) - round(self.until.timestamp * 1e9))
            filters = {"until": f"{age_ns}ns"}
        return {"filters": filters, "keep_storage": self.keep_storage or None, "all": self.all or None}


@dataclass(frozen=True)
class BuildCachePlan:
    prune: BuildCachePrune
    delete: tuple[CacheRecord, ...]
    total_records: int
    total_bytes: int

    @property
    def exact(self) -> bool:
        """False with ``keep_storage``: :attr:`delete` is then what *may* go (an upper bound)."""
        return not self.prune.keep_storage

    @property
    def reclaim_bytes(self) -> int:
        """What the engine will report as ``SpaceReclaimed`` (at most this without :attr:`exact`)."""
        return sum(r.size for r in self.delete)

    @property
    def shared_bytes(self) -> int:
        """Part of :attr:`reclaim_bytes` an image still holds on disk (shared records)."""
        return sum(r.size for r in self.delete if r.shared)

    def to_json(self) -> dict[str, object]:
        return {
            "kind": "build-cache-prune",
            "description": self.prune.describe(),
            "delete": [{"id": r.id, "type": r.type, "size": r.size, "shared": r.shared} for r in self.delete],
            "reclaim_bytes": self.reclaim_bytes,
            "exact": self.exact,
            "shared_bytes": self.shared_bytes,
            "total_records": self.total_records,
            "total_bytes": self.total_bytes,
        }


def plan_build_cache_prune(records: list[CacheRecord], prune: BuildCachePrune) -> BuildCachePlan:
    """The records ``prune`` deletes (see the module's rules)."""

    def candidate(r: CacheRecord) -> bool:
        if r.in_use:
            return False
        if not prune.all and (r.shared or r.type in KEPT_WITHOUT_ALL):
            return False
        when = r.last_used or r.created
        return prune.until is None or when < prune.until.timestamp

    chosen = {r.id for r in records if candidate(r)}
    changed = True
    while changed:  # a parent of a kept record stays
        changed = False
        for r in records:
            if r.id not in chosen:
                for parent in r.parents:
                    if parent in chosen:
                        chosen.discard(parent)
                        changed = True
    delete = [r for r in records if r.id in chosen]
    delete.sort(key=lambda r: (r.last_used or r.created, r.id))  # least recently used first
    return BuildCachePlan(prune, tuple(delete), len(records), sum(r.size for r in records))


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)\s*$", re.IGNORECASE)
_FACTORS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "m": 10**6,
    "mb": 10**6,
    "g": 10**9,
    "gb": 10**9,
    "t": 10**12,
    "tb": 10**12,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
    "ki": 1024,
    "mi": 1024**2,
    "gi": 1024**3,
    "ti": 1024**4,
}


def parse_size(text: str) -> int:
    """``512MB``, ``1.5GB``, ``2GiB`` or plain bytes; raises :class:`FilterError` otherwise."""
    match = _SIZE.match(text)
    if not match or match.group(2).lower() not in _FACTORS:
        raise FilterError(
            f"invalid size {text!r}: give bytes or a number with kB, MB, GB, TB "
            "(or KiB, MiB, GiB, TiB), e.g. 512MB"
        )
    return int(float(match.group(1)) * _FACTORS[match.group(2).lower()])


def changes_since(planned: BuildCachePlan, records: list[CacheRecord]) -> list[str]:
    """How the build cache ``records`` read now differ from what ``planned`` was made from, as
    short sentences ("" nothing): records added or gone, sizes changed, and records the same
    prune would now delete or keep instead. Empty: the plan still holds."""
    now = plan_build_cache_prune(records, planned.prune)
    changes: list[str] = []
    if now.total_records != planned.total_records or now.total_bytes != planned.total_bytes:
        changes.append(
            f"the cache holds {now.total_records} record(s), {now.total_bytes:,} bytes "
            f"(the preview saw {planned.total_records}, {planned.total_bytes:,} bytes)"
        )
    before = {r.id: r.size for r in planned.delete}
    after = {r.id: r.size for r in now.delete}
    added = sorted(set(after) - set(before))
    gone = sorted(set(before) - set(after))
    resized = sorted(i for i in set(before) & set(after) if before[i] != after[i])
    if added:
        changes.append("would now also delete " + ", ".join(i[:12] for i in added))
    if gone:
        changes.append("would no longer delete " + ", ".join(i[:12] for i in gone))
    if resized:
        changes.append("size changed for " + ", ".join(i[:12] for i in resized))
    return changes
