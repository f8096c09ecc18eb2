"""Which images a view shows, and in what order (shared by the TUI table and tests)."""

from __future__ import annotations

from tui.core.model import Image, Snapshot

SORT_KEYS = ("size", "unique", "created", "name")


def display_name(image: Image) -> str:
    """The first tag, else the first digest, else ``<none>:<none>``."""
    if image.tags:
        return image.tags[0]
    if image.digests:
        return image.digests[0].split("@")[0] + "@<digest>"
    return "<none>:<none>"


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
