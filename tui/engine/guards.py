"""Connecting config-driven safety (backups of local-only images) to the executor."""

from __future__ import annotations

from collections.abc import Callable

from tui.config import Config
from tui.core.model import Image
from tui.engine.backup import BackupStore
from tui.engine.client import Engine


def backup_hook(engine: Engine, config: Config) -> Callable[[Image], list[str]] | None:
    """The ``PlanExecutor(backup=...)`` callback that ``[local_only] backup = true`` asks for:
    it saves a local-only image into the backup directory before its removal. ``None`` when off."""
    if not config.local_only.backup:
        return None
    store = BackupStore(config.backup_dir(), config.backup_max_bytes())

    def save(image: Image) -> list[str]:
        backup, dropped = store.save(engine, image.id, image.tags)
        return list(store.log_lines(backup, dropped))

    return save
