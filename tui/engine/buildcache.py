"""The BuildKit build cache on a real engine: read its records, prune it (``POST /build/prune``)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from tui.core.buildcache import BuildCachePlan, BuildCachePrune, CacheRecord, changes_since
from tui.engine.client import Engine, EngineError
from tui.engine.snapshot import parse_created


def _time(text: str | None) -> float:
    return parse_created(text) if text else 0.0


def _record(data: dict[str, Any]) -> CacheRecord:
    parents = data.get("Parents") or ([data["Parent"]] if data.get("Parent") else [])
    return CacheRecord(
        id=str(data.get("ID", "")),
        type=str(data.get("Type", "")),
        size=int(data.get("Size") or 0),
        in_use=bool(data.get("InUse")),
        shared=bool(data.get("Shared")),
        parents=tuple(parents),
        created=_time(data.get("CreatedAt")),
        last_used=_time(data.get("LastUsedAt")),
        description=str(data.get("Description") or ""),
    )


def read_build_cache(engine: Engine) -> list[CacheRecord]:
    """The ``BuildCache`` records of ``GET /system/df`` (the build-cache part only where the API
    can ask for it, 1.42+)."""

    def call(api: Any) -> dict[str, Any]:
        from docker.utils import version_gte

        params = {"type": "build-cache"} if version_gte(api._version, "1.42") else None
        result: dict[str, Any] = api._result(api._get(api._url("/system/df"), params=params), True)
        return result

    data = engine.call(call, long=True)
    return [_record(r) for r in data.get("BuildCache") or []]


@dataclass(frozen=True)
class BuildCachePruneResult:
    deleted: tuple[str, ...]
    reclaimed_bytes: int  # the engine's SpaceReclaimed

    def to_json(self) -> dict[str, object]:
        return {"deleted": list(self.deleted), "reclaimed_bytes": self.reclaimed_bytes}

    def unplanned(self, plan: BuildCachePlan) -> list[str]:
        """Records the engine deleted that ``plan`` did not list."""
        planned = {r.id for r in plan.delete}
        return [i for i in self.deleted if i not in planned]


def prune_build_cache(engine: Engine, prune: BuildCachePrune) -> BuildCachePruneResult:
    result = engine.call(lambda api: api.prune_builds(**prune.engine_args(time.time())), long=True)
    return BuildCachePruneResult(
        tuple(result.get("CachesDeleted") or ()), int(result.get("SpaceReclaimed") or 0)
    )


class BuildCacheChanged(EngineError):
    """The build cache is no longer what the confirmed plan was made from: nothing was pruned."""

    def __init__(self, changes: list[str]) -> None:
        super().__init__(
            "the build cache changed since the preview: " + "; ".join(changes) + ". Nothing was deleted; "
            "open the build cache dialog again (b) to see the new preview."
        )
        self.changes = tuple(changes)


def prune_build_cache_as_planned(engine: Engine, plan: BuildCachePlan) -> BuildCachePruneResult:
    """Re-read the build cache; prune ``plan.prune`` only if the records still give the same plan,
    else raise :class:`BuildCacheChanged` without deleting anything. The engine's own choice in
    the short window between the re-read and its prune shows in the result (see
    :meth:`BuildCachePruneResult.unplanned`)."""
    changes = changes_since(plan, read_build_cache(engine))
    if changes:
        raise BuildCacheChanged(changes)
    return prune_build_cache(engine, plan.prune)
