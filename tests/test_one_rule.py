"""The rules that live in one place: ``repo:tag`` splitting, label selectors, engine timestamps."""

from __future__ import annotations

import pytest

from tui.core.labels import all_labels_match, label_matches
from tui.core.reference import repository_of, split_tag
from tui.engine.snapshot import parse_created, parse_created_ns


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("busybox:1.36", ("busybox", "1.36")),
        ("localhost:5000/app:v1", ("localhost:5000/app", "v1")),
        ("localhost:5000/app", ("localhost:5000/app", "latest")),
        ("app", ("app", "latest")),
        ("<none>:<none>", ("<none>", "<none>")),
    ],
)
def test_split_tag(ref: str, expected: tuple[str, str]) -> None:
    assert split_tag(ref) == expected
    assert repository_of(ref) == expected[0]


def test_label_selectors() -> None:
    labels = {"env": "dev", "keep": ""}
    assert label_matches("env", labels) and label_matches("env=dev", labels)
    assert label_matches("keep=", labels) and not label_matches("env=prod", labels)
    assert not label_matches("team", labels) and not label_matches("env", {})
    assert all_labels_match([], {}) and all_labels_match(["env", "keep"], labels)
    assert not all_labels_match(["env", "team"], labels)


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("", 0),
        ("1970-01-01T00:00:00Z", 0),
        ("2024-01-31T12:00:00.123456789Z", 1_706_702_400_123_456_789),
        ("2024-01-31T12:00:00.123456789z", 1_706_702_400_123_456_789),
        ("2024-01-31T12:00:00.1234567891Z", 1_706_702_400_123_456_789),  # Go keeps 9 digits
        ("1969-12-31T23:59:59.5Z", -500_000_000),
        ("0001-01-01T00:00:00Z", -62_135_596_800 * 10**9),  # Go's zero time (images without Created)
        # a fraction with an offset: the hand-written parser before fromisoformat refused this
        ("2024-01-31T14:00:00.25+02:00", 1_706_702_400_250_000_000),
    ],
)
def test_parse_created_keeps_nanoseconds(text: str, ns: int) -> None:
    assert parse_created_ns(text) == ns
    assert parse_created(text) == ns / 1_000_000_000


def test_parse_created_refuses_garbage() -> None:
    with pytest.raises(ValueError):
        parse_created_ns("yesterday")
