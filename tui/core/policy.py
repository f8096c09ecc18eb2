"""Named cleanup policies: which images a policy selects. Its plan is the ordinary removal plan.

Every condition a policy sets must hold (AND). ``keep_last`` keeps the newest N images (by created
date) of each repository; an image tagged in several repositories is selected only if every one of
its repositories lets it go. Protected images and images in use are never removed: the planner
shows them as blocked.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tui.core.filters import FilterError, parse_duration_ns
from tui.core.labels import all_labels_match
from tui.core.model import Image, Snapshot
from tui.core.protect import Protection, check_label_selector
from tui.core.reference import repository_of

if TYPE_CHECKING:  # the planner is imported by plan_policy (the config reads policies without it)
    from tui.core.plan import Plan


class PolicyError(ValueError):
    """A policy that cannot be used; the message names the field and what was expected."""


@dataclass(frozen=True)
class Policy:
    name: str
    keep_last: int | None = None  # keep the newest N images of each repository
    older_than: str = ""  # a duration (72h, 30d, 2w): only images created before now - it
    dangling_only: bool = False
    repositories: tuple[str, ...] = ()  # globs on repository names ("myapp", "registry:5000/team/*")
    labels: tuple[str, ...] = ()  # KEY or KEY=VALUE, all must match
    not_labels: tuple[str, ...] = ()  # skip images matching all of these
    description: str = ""

    def validate(self) -> Policy:
        if self.keep_last is not None and self.keep_last < 0:
            raise PolicyError(f"policy {self.name}: keep_last must be 0 or more, got {self.keep_last}")
        if self.older_than:
            try:
                ns, _ = parse_duration_ns(self.older_than)
            except FilterError as exc:
                raise PolicyError(
                    f"policy {self.name}: older_than {self.older_than!r} is not a "
                    "duration (e.g. 72h, 30d, 2w)"
                ) from exc
            if ns < 0:
                raise PolicyError(f"policy {self.name}: older_than must be positive")
        for selector in (*self.labels, *self.not_labels):
            try:
                check_label_selector(selector)
            except ValueError as exc:
                raise PolicyError(f"policy {self.name}: {exc}") from exc
        if not (
            self.keep_last is not None
            or self.older_than
            or self.dangling_only
            or self.repositories
            or self.labels
            or self.not_labels
        ):
            raise PolicyError(
                f"policy {self.name}: sets no condition; it would select every image. "
                "Set keep_last, older_than, dangling_only, repositories or labels"
            )
        return self

    def cutoff(self, now: float) -> float | None:
        if not self.older_than:
            return None
        ns, _ = parse_duration_ns(self.older_than)
        return now - ns / 1e9


def _repositories(image: Image) -> set[str]:
    return {repository_of(t) for t in image.tags}


def select(snapshot: Snapshot, policy: Policy, now: float) -> list[str]:
    """Image ids the policy selects (before protection and in-use checks), sorted."""
    cutoff = policy.cutoff(now)
    keep: dict[str, set[str]] = {}
    if policy.keep_last is not None:
        by_repo: dict[str, list[Image]] = {}
        for image in snapshot.top_images():
            for repo in _repositories(image):
                by_repo.setdefault(repo, []).append(image)
        for repo, images in by_repo.items():
            images.sort(key=lambda i: (-i.created, i.id))
            keep[repo] = {i.id for i in images[: policy.keep_last]}
    selected = []
    for image in snapshot.top_images():
        labels = dict(image.labels)
        repos = _repositories(image)
        if policy.dangling_only and not snapshot.is_dangling(image.id):
            continue
        if cutoff is not None and not image.created < cutoff:
            continue
        if policy.repositories and not any(
            fnmatch.fnmatchcase(r, g) for r in repos for g in policy.repositories
        ):
            continue
        if policy.labels and not all_labels_match(policy.labels, labels):
            continue
        if policy.not_labels and all_labels_match(policy.not_labels, labels):
            continue
        if policy.keep_last is not None:
            if not repos:
                continue  # keep_last is about repositories; untagged images have none
            if any(image.id in keep.get(r, set()) for r in repos):
                continue
        selected.append(image.id)
    return sorted(selected)


def plan_policy(snapshot: Snapshot, policy: Policy, now: float, protection: Protection | None = None) -> Plan:
    """The removal plan of what ``policy`` selects (protected and in-use images show as blocked)."""
    from tui.core.marking import plan_images

    ids = select(snapshot, policy, now)
    text = (
        f"policy {policy.name}: "
        + (policy.description or describe(policy))
        + f" ({len(ids)} image(s) selected)"
    )
    return plan_images(snapshot, ids, protection=protection, description=text)


def describe(policy: Policy) -> str:
    parts = []
    if policy.keep_last is not None:
        parts.append(f"keep the newest {policy.keep_last} per repository")
    if policy.older_than:
        parts.append(f"older than {policy.older_than}")
    if policy.dangling_only:
        parts.append("dangling only")
    if policy.repositories:
        parts.append("repositories " + ", ".join(policy.repositories))
    parts.extend(f"label {x}" for x in policy.labels)
    parts.extend(f"not label {x}" for x in policy.not_labels)
    return ", ".join(parts)
