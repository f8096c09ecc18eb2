"""The executor's backup callback: save a local-only image into the backup store before its removal."""

from __future__ import annotations

from collections.abc import Callable

from tui.core.model import Image
from tui.engine.backup import BackupStore
from tui.engine.client import Engine


def backup_before_removal(engine: Engine, store: BackupStore) -> Callable[[Image], list[str]]:
    """The ``PlanExecutor(backup=...)`` callback: it saves ``image`` into ``store`` (``docker save``
    from ``engine``) and returns the log lines that say where it went and which older backups the
    size cap dropped. The caller decides whether backups are on (``[local_only] backup``)."""

    def save(image: Image) -> list[str]:
        backup, dropped = store.save(engine, image.id, image.tags)
        return list(store.log_lines(backup, dropped))

    return save
