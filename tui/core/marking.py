"""Removing whole images — what marking does in the app and what policies select.

An image goes by all of its references (each tag, and digests of repositories without a tag), then
the image itself; :func:`plan_images` makes that all-or-nothing per image unless forced.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from tui.core.model import Snapshot
from tui.core.plan import Blocked, Plan, plan_remove
from tui.core.protect import Protection
from tui.core.reference import repository_of
from tui.core.views import display_name


def refs_for_images(snapshot: Snapshot, image_ids: Iterable[str]) -> list[str]:
    """The references that remove whole images: every tag, then digests of repositories that have
    no tag (a tag's removal takes its repository's digests along), or the ID for an untagged
    image. Children come before their parents so a marked parent is not blocked by a marked child.
    """

    def depth(image_id: str) -> int:
        n = 0
        parent = snapshot.images[image_id].parent_id
        while parent and parent in snapshot.images and n < 1000:
            n += 1
            parent = snapshot.images[parent].parent_id
        return n

    ordered = sorted((i for i in set(image_ids) if i in snapshot.images), key=lambda i: (-depth(i), i))
    refs: list[str] = []
    for image_id in ordered:
        image = snapshot.images[image_id]
        tagged_repos = {repository_of(t) for t in image.tags}
        digests = [d for d in image.digests if d.partition("@")[0] not in tagged_repos]
        refs.extend(image.tags)
        refs.extend(digests)
        if not image.tags and not digests:
            refs.append(image_id)
    return refs


def plan_images(
    snapshot: Snapshot,
    image_ids: Iterable[str],
    *,
    force: bool = False,
    with_stopped_containers: bool = False,
    protection: Protection | None = None,
    description: str = "",
) -> Plan:
    """Plan removing whole images (what marking does): all of an image's references, then the image.

    Without force this is all-or-nothing per image: an image that would lose some tags but stay
    (its last reference is blocked) is left untouched and shown as blocked, so marking never strips
    tags off an image it cannot remove. With force, untag-only outcomes are kept (the confirm screen
    explains them).
    """
    wanted = [i for i in dict.fromkeys(image_ids) if i in snapshot.images]
    excluded: dict[str, Blocked] = {}
    while True:
        ids = [i for i in wanted if i not in excluded]
        plan = plan_remove(
            snapshot,
            refs_for_images(snapshot, ids),
            force=force,
            with_stopped_containers=with_stopped_containers,
            protection=protection,
        )
        if force:
            break
        untagged = set(plan.untag)
        partial = [i for i in ids if i not in plan.delete and untagged & set(snapshot.images[i].refs)]
        if not partial:
            break
        for image_id in partial:
            reason = next((b for b in plan.blocked if b.image_id == image_id), None)
            name = display_name(snapshot.images[image_id], with_id=True)
            excluded[image_id] = reason or Blocked(
                name, image_id, "untag only", "its last reference cannot be removed"
            )
    blocked = list(plan.blocked) + [b for b in excluded.values() if b not in plan.blocked]
    names = [display_name(snapshot.images[i], with_id=True) for i in wanted]
    text = description or ("force-remove " if force else "remove ") + (
        f"{len(wanted)} images" if len(wanted) > 3 else ", ".join(names)
    )
    if with_stopped_containers:
        text += " with their stopped containers"
    return replace(plan, description=text, blocked=tuple(blocked))
