"""How images are shown: names, flags, container use, and which images a view lists in what order.

One place for these rules, used by the TUI table and by the headless ``images`` command.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: the config reads SORT_KEYS and TABLE_COLUMNS, cheaply
    from tui.core.model import Container, Image, Snapshot
    from tui.core.protect import Protection

SORT_KEYS = ("size", "unique", "created", "name")
TABLE_COLUMNS = ("name", "id", "created", "size", "unique", "shared", "containers", "flags")


def display_name(image: Image, *, with_id: bool = False) -> str:
    """The first tag, else the first digest's repository, else ``<none>:<none>`` (plus the short
    id when ``with_id``)."""
    if image.tags:
        return image.tags[0]
    if image.digests:
        return image.digests[0].split("@")[0] + "@<digest>"
    return f"<none>:<none> ({image.short_id})" if with_id else "<none>:<none>"


def image_flags(snapshot: Snapshot, image: Image, protection: Protection | None = None) -> list[str]:
    """Markers of an image: dangling, intermediate, local-only, protected."""
    flags = []
    if snapshot.is_dangling(image.id):
        flags.append("dangling")
    if snapshot.is_intermediate(image.id):
        flags.append("intermediate")
    if image.local_only:
        flags.append("local-only")
    if protection and protection.reason(image):
        flags.append("protected")
    return flags


def usage_text(containers: Sequence[Container]) -> str:
    """Who uses an image: ``-``, ``1 stopped``, ``2 running`` or ``3 (1 running)``."""
    running = sum(1 for c in containers if c.running)
    if not containers:
        return "-"
    if running == len(containers):
        return f"{running} running"
    if running:
        return f"{len(containers)} ({running} running)"
    return f"{len(containers)} stopped"


def matches(snapshot: Snapshot, image: Image, text: str) -> bool:
    """Case-insensitive substring match on tags, digests, id and labels (``k=v``)."""
    needle = text.strip().lower()
    if not needle:
        return True
    haystack = [*image.tags, *image.digests, image.id, *(f"{k}={v}" for k, v in image.labels.items())]
    if not image.tags:
        haystack.append("<none>:<none>")
    return any(needle in h.lower() for h in haystack)


def select_images(
    snapshot: Snapshot,
    *,
    filter_text: str = "",
    dangling_only: bool = False,
    show_all: bool = False,
    sort_key: str = "size",
    reverse: bool = False,
) -> list[Image]:
    """The images a view lists. Default order: biggest/newest first, names A-Z."""
    images = list(snapshot.images.values()) if show_all else snapshot.top_images()
    if dangling_only:
        images = [i for i in images if snapshot.is_dangling(i.id)]
    images = [i for i in images if matches(snapshot, i, filter_text)]
    if sort_key == "name":
        images.sort(key=lambda i: (display_name(i), i.id))
    elif sort_key == "created":
        images.sort(key=lambda i: (-i.created, i.id))
    elif sort_key == "unique":
        images.sort(key=lambda i: (-snapshot.unique_size(i.id), i.id))
    else:
        images.sort(key=lambda i: (-i.size, i.id))
    if reverse:
        images.reverse()
    return images
