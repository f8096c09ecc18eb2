"""Protected images: config patterns that no removal, prune or force may touch."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from tui.core.labels import label_matches
from tui.core.model import Image, Snapshot


class PatternError(ValueError):
    """A protection pattern or label selector that cannot be used."""


def _check_glob(pattern: str) -> str:
    if not pattern or pattern != pattern.strip() or any(c.isspace() for c in pattern):
        raise PatternError(
            f"image pattern {pattern!r} must be a non-empty glob without spaces "
            '(e.g. "postgres:*", "myapp:1.*", "sha256:0123*")'
        )
    if pattern.count("[") != pattern.count("]"):
        raise PatternError(f"image pattern {pattern!r} has an unbalanced [ ]")
    return pattern


def check_label_selector(selector: str) -> str:
    """``KEY`` or ``KEY=VALUE`` with a non-empty key."""
    key = selector.partition("=")[0]
    if not key or any(c.isspace() for c in key):
        raise PatternError(f'label selector {selector!r} must be KEY or KEY=VALUE (e.g. "keep=true")')
    return selector


@dataclass(frozen=True)
class Protection:
    """``[protect]``: globs on ``repo:tag`` and on image ids, and label selectors."""

    images: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()

    @classmethod
    def build(cls, images: Iterable[str] = (), labels: Iterable[str] = ()) -> Protection:
        """Validated protection; raises :class:`PatternError`."""
        return cls(tuple(_check_glob(p) for p in images), tuple(check_label_selector(s) for s in labels))

    def reason(self, image: Image) -> str | None:
        """Why ``image`` is protected, or ``None``."""
        hex_id = image.id.split(":", 1)[-1]
        if self.images:
            # the reference parser (its regular expressions) only where there are patterns:
            # ``images`` imports it for nothing else
            from tui.core.reference import repository_of
        for pattern in self.images:
            for tag in image.tags:
                if fnmatch.fnmatchcase(tag, pattern) or (
                    ":" not in pattern.rsplit("/", 1)[-1] and fnmatch.fnmatchcase(repository_of(tag), pattern)
                ):
                    return f"protected by config (pattern {pattern})"
            if fnmatch.fnmatchcase(image.id, pattern) or fnmatch.fnmatchcase(hex_id, pattern):
                return f"protected by config (pattern {pattern})"
        for selector in self.labels:
            if label_matches(selector, image.labels):
                return f"protected by config (label {selector})"
        return None

    def protected(self, snapshot: Snapshot) -> Mapping[str, str]:
        """Image id -> reason, for every protected image of ``snapshot``."""
        out: dict[str, str] = {}
        for image in snapshot.images.values():
            why = self.reason(image)
            if why is not None:
                out[image.id] = why
        return out

    def __bool__(self) -> bool:
        return bool(self.images or self.labels)
