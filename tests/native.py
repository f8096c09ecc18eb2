"""The engine's own prune, which the differential tests compare docker-sweep's plans with."""

from __future__ import annotations

from typing import Any

from tui.engine.client import Engine


def engine_prune(engine: Engine, filters: dict[str, list[str]]) -> dict[str, Any]:
    """``POST /images/prune`` itself (what ``docker image prune`` does).

    docker-sweep's own prune never calls it: it runs the plan's explicit steps, so that it deletes
    exactly the confirmed images even if the store changes in between.
    """
    result: dict[str, Any] = engine.call(lambda api: api.prune_images(filters=filters), long=True)
    return result
