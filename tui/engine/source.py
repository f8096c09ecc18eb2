"""The app's :class:`~tui.app.source.StoreSource` over a real engine."""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator

from tui.core.buildcache import BuildCachePlan, CacheRecord
from tui.core.model import Image, Snapshot
from tui.core.plan import Plan
from tui.engine.actions import ExecutionResult, PlanExecutor, ResultEvent
from tui.engine.buildcache import (
    BuildCachePruneResult,
    prune_build_cache_as_planned,
    read_build_cache,
)
from tui.engine.client import Engine
from tui.engine.snapshot import LayerCache, layers_from_cache, read_stages
from tui.engine.snapshot import default_cache_path as default_cache_path  # its old home


class EngineSource:
    """Loads snapshots (list first, then layers with progress, then df) and executes plans."""

    def __init__(
        self,
        engine: Engine,
        cache: LayerCache | None = None,
        *,
        backup: Callable[[Image], list[str]] | None = None,
    ) -> None:
        self.engine = engine
        self.cache = cache if cache is not None else LayerCache()
        self.backup = backup

    @property
    def description(self) -> str:
        return self.engine.host

    def load(
        self, *, progress: Callable[[int, int], None], cancelled: Callable[[], bool]
    ) -> Iterator[Snapshot]:
        yield from read_stages(
            self.engine,
            disk_usage=True,
            cache=self.cache,
            progress=progress,
            cancelled=cancelled,
            child_reads=True,  # a large cold read leaves the GIL to the app's UI thread
        )

    def layers_cached(self, listed: Snapshot) -> bool:
        """True when the layer stage after ``listed`` (this source's first stage) reads nothing
        from the engine or the disk: every image's layers are in the layer cache (classic store)."""
        return layers_from_cache(self.cache, listed)

    def watch(
        self, changed: Callable[[str], None], stopped: Callable[[], bool], since_ns: int | None = None
    ) -> None:
        """Block, calling ``changed(description)`` for every image or container event from
        ``since_ns`` (unix nanoseconds; default now) on, until ``stopped()`` (checked per event) or
        the stream ends. Uses its own connection."""
        import time

        since_ns = time.time_ns() if since_ns is None else since_ns
        client = self.engine.new_client(timeout=None)
        try:
            # the API's since is whole seconds here: events earlier in that second (the ones the
            # first read already saw) come too, and are left out by their own timeNano
            stream = client.events(
                since=since_ns // 1_000_000_000, decode=True, filters={"type": ["image", "container"]}
            )
            for event in stream:
                if stopped():
                    break
                if int(event.get("timeNano") or since_ns) < since_ns:
                    continue
                what = f"{event.get('Type', '')} {event.get('Action', '')}".strip()
                changed(what)
        except Exception:
            # The stream broke (the engine went away, the connection dropped): live updates stop
            # here and nothing reports it; the user's next refresh (r) shows the engine's error.
            return
        finally:
            client.close()

    def build_cache(self) -> list[CacheRecord]:
        """The BuildKit build cache records (``/system/df``)."""
        return read_build_cache(self.engine)

    def prune_build_cache_as_planned(self, plan: BuildCachePlan) -> BuildCachePruneResult:
        """Re-read the cache and prune only if it still gives ``plan`` (else
        :class:`~tui.engine.buildcache.BuildCacheChanged`, nothing deleted)."""
        return prune_build_cache_as_planned(self.engine, plan)

    def execute(
        self, plan: Plan, snapshot: Snapshot, cancelled: Callable[[], bool]
    ) -> Generator[ResultEvent, None, ExecutionResult]:
        executor = PlanExecutor(self.engine, plan, snapshot, backup=self.backup)
        return (yield from executor.run(cancelled))
