"""The BuildKit build cache on a real engine: read its records, prune it (``POST /build/prune``)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from tui.core.buildcache import BuildCachePrune, CacheRecord
from tui.engine.client import Engine
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


def prune_build_cache(engine: Engine, prune: BuildCachePrune) -> BuildCachePruneResult:
    result = engine.call(lambda api: api.prune_builds(**prune.engine_args(time.time())), long=True)
    return BuildCachePruneResult(
        tuple(result.get("CachesDeleted") or ()), int(result.get("SpaceReclaimed") or 0)
    )
