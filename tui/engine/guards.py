"""Connecting config-driven safety (backups of local-only images) to the executor."""

from __future__ import annotations

from collections.abc import Callable

from tui.core.model import Image
from tui.engine.client import Engine


def backup_hook(engine: Engine, directory: str, max_bytes: int) -> Callable[[Image], list[str]]:
    """A ``PlanExecutor(backup=...)`` callback that saves a local-only image before its removal."""
    from pathlib import Path

    from tui.engine.backup import BackupStore

    store = BackupStore(Path(directory), max_bytes)

    def save(image: Image) -> list[str]:
        backup, dropped = store.save(engine, image.id, image.tags)
        return list(store.log_lines(backup, dropped))

    return save
