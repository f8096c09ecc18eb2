"""Prune filters as the engine accepts them, validated before any engine call.

Accepted keys (``POST /images/prune``): ``dangling``, ``until``, ``label``, ``label!``. ``until`` takes a
Go duration (``72h``, ``1h30m``), an RFC 3339 date or date-time, or Unix seconds; ``7d`` and ``2w`` are
not Go durations (the engine rejects them) so they are converted to hours here, since users type them.
The planner resolves ``until`` to one absolute instant and compares every image with it; docker-sweep
never sends ``until`` to the engine (its prune deletes the plan's explicit steps).
:attr:`Until.engine_value` is that instant in the form ``POST /images/prune`` accepts, for comparing
the plan with the engine's own prune.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

from tui.core.filter_error import FilterError as FilterError
from tui.core.labels import all_labels_match

ACCEPTED_KEYS = ("dangling", "until", "label", "label!")

_UNITS_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
}
_EXTRA_UNITS_H = {"d": 24, "w": 24 * 7}
_DURATION = re.compile(r"^[-+]?((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h|d|w))+$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h|d|w)")
_UNIX = re.compile(r"^\d+(\.\d{1,9})?$")

UNTIL_FORMS = (
    "a duration (e.g. 72h, 90m, 1h30m, or 7d / 2w which are converted to hours), "
    "an RFC 3339 date or date-time (2024-01-31, 2024-01-31T12:00:00Z), or Unix seconds (1706702400)"
)


@dataclass(frozen=True)
class Until:
    """An ``until`` filter resolved to an absolute instant."""

    text: str  # what the user typed
    timestamp: float  # unix seconds (for display; comparisons use ``ns``)
    engine_value: str  # the instant as the engine's prune filter takes it ("<sec>.<nanosec>")
    note: str = ""  # e.g. "7d was converted to 168h"
    ns: int = 0  # unix nanoseconds: images created strictly after it are kept

    @classmethod
    def at(cls, text: str, ns: int, note: str = "") -> Until:
        """The instant ``ns`` (unix nanoseconds); the engine's prune filter form is ``<sec>.<nanosec>``."""
        value = f"{ns // 10**9}.{ns % 10**9:09d}"
        if ns < 0:  # the engine reads a "-" as a broken date: give it RFC 3339 in UTC instead
            value = _fmt_ts(ns).removesuffix(" UTC").replace(" ", "T") + "Z"
        return cls(text, ns / 1e9, value, note, ns)


@dataclass(frozen=True)
class PruneFilters:
    """Validated prune filters. ``dangling`` True prunes only dangling images (the default)."""

    dangling: bool = True
    until: Until | None = None
    labels: tuple[str, ...] = ()
    not_labels: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())

    def engine_filters(self) -> dict[str, list[str]]:
        """The filters for ``POST /images/prune``, with ``until`` as the plan's absolute instant."""
        out: dict[str, list[str]] = {"dangling": ["true" if self.dangling else "false"]}
        if self.until is not None:
            out["until"] = [self.until.engine_value]
        if self.labels:
            out["label"] = list(self.labels)
        if self.not_labels:
            out["label!"] = list(self.not_labels)
        return out

    def describe(self) -> str:
        """Exactly which prune this is, in words (no "all unused" for a dangling-only prune)."""
        what = "dangling images only" if self.dangling else "all images not used by any container"
        parts = [what]
        if self.until is not None:
            parts.append(f"created before {_fmt_ts(self.until.ns)} (until={self.until.text})")
        parts.extend(f"with label {x}" for x in self.labels)
        if self.not_labels:
            parts.append("except those with label " + " and ".join(self.not_labels))
        return ", ".join(parts)

    def matches_labels(self, labels: Mapping[str, str]) -> bool:
        """The engine's ``matchLabels``: all ``label`` terms match, and not all ``label!`` terms."""
        if not all_labels_match(self.labels, labels):
            return False
        return not (self.not_labels and all_labels_match(self.not_labels, labels))


def _fmt_ts(ns: int) -> str:
    try:
        moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=ns // 1000)
    except OverflowError:
        return f"unix time {ns // 10**9}"
    text = moment.strftime("%Y-%m-%d %H:%M:%S")
    return text + (f".{ns % 10**9:09d}".rstrip("0") if ns % 10**9 else "") + " UTC"


_NS_MAX = 2**63 - 1  # Go's int64: durations and Unix seconds beyond it are refused by the engine


def parse_duration_ns(text: str) -> tuple[int, str]:
    """A Go duration (plus ``d`` and ``w``) in nanoseconds, and a note when d/w were converted.

    Computed like Go's ``time.ParseDuration`` (integer part exact, fraction scaled), in integers.
    """
    body = text.strip()
    if not _DURATION.match(body):
        raise FilterError(f"invalid duration {text!r}")
    sign = -1 if body.startswith("-") else 1
    total = 0
    converted = False
    for number, unit in _DURATION_PART.findall(body):
        if unit in _EXTRA_UNITS_H:
            converted = True
            scale = _EXTRA_UNITS_H[unit] * _UNITS_NS["h"]
        else:
            scale = _UNITS_NS[unit]
        whole, _, frac = number.partition(".")
        total += int(whole or "0") * scale
        if frac.strip("0"):
            total += int(float(int(frac)) * (scale / 10 ** len(frac)))
        if total > _NS_MAX + (sign < 0):
            raise FilterError(
                f"invalid value for 'until' filter: duration {text!r} is out of range; the longest "
                "the engine accepts is 2562047h (about 292 years)"
            )
    note = ""
    if converted:
        hours = total / _UNITS_NS["h"]
        shown = f"{hours:g}h"
        note = f"until={text} is not a duration the engine accepts; it was converted to {shown}"
    return sign * total, note


_DATETIME = re.compile(r"^(?P<main>[^.]*?)(?:\.(?P<frac>\d+))?(?P<zone>[zZ]|[+-]\d\d:\d\d)?$")


def parse_until(text: str, now: float, local_tz: timezone | None = None) -> Until:
    """Resolve an ``until`` value like the engine's ``GetTimestamp``, relative to ``now``, to an
    instant in integer nanoseconds (RFC 3339 with up to nanoseconds, as ``docker inspect`` prints)."""
    value = text.strip()
    if not value:
        raise FilterError(f"invalid value for 'until' filter: empty; expected {UNTIL_FORMS}")
    if value != "0" and _DURATION.match(value):
        ns, note = parse_duration_ns(value)
        return Until.at(value, round(now * 1e9) - ns, note)
    if _UNIX.match(value):
        whole, _, fraction = value.partition(".")
        if int(whole) > _NS_MAX:
            raise FilterError(
                f"invalid value for 'until' filter: {value!r} is out of range for Unix seconds; "
                f"expected {UNTIL_FORMS}"
            )
        ns = int(whole) * 10**9 + (int(fraction.ljust(9, "0")) if fraction else 0)
        return Until(value, ns / 1e9, value, "", ns)
    tz = local_tz or datetime.now().astimezone().tzinfo or UTC
    match = _DATETIME.match(value)
    parsed = None
    nanos = 0
    if match is not None:
        main, frac, zone = str(match["main"]), match["frac"], match["zone"]
        parsed = _parse_datetime(main + (zone or ""), tz)
        nanos = int((frac or "0")[:9].ljust(9, "0"))
        if frac is not None and ("T" not in main or main.count(":") != 2):
            parsed = None  # a fraction only after full seconds
    if parsed is None:
        raise FilterError(
            f"invalid value for 'until' filter: {value!r} is not a time or duration; expected {UNTIL_FORMS}"
        )
    seconds = (parsed - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(seconds=1)
    return Until.at(value, seconds * 10**9 + nanos)


def _parse_datetime(value: str, tz: timezone | object) -> datetime | None:
    candidate = value.replace("z", "Z")
    if candidate.endswith("Z"):
        candidate = candidate[:-1] + "+00:00"
    formats = ("%Y-%m-%d", "%Y-%m-%dT%H", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S")
    for fmt in formats:
        for suffix in ("", "%z"):
            try:
                parsed = datetime.strptime(candidate, fmt + suffix)
            except ValueError:
                continue
            if parsed.tzinfo is None:
                assert isinstance(tz, timezone) or hasattr(tz, "utcoffset")
                parsed = parsed.replace(tzinfo=tz)  # type: ignore[arg-type]
            return parsed
    return None


def parse_filters(
    items: Iterable[str],
    *,
    all_images: bool = False,
    now: float,
    local_tz: timezone | None = None,
) -> PruneFilters:
    """Parse ``K=V`` filter strings (as given to ``--filter``) into validated :class:`PruneFilters`.

    ``all_images`` is ``prune --all`` (``dangling=false``). Raises :class:`FilterError` with a message
    naming the accepted keys and forms.
    """
    dangling = not all_images
    until: Until | None = None
    labels: list[str] = []
    not_labels: list[str] = []
    notes: list[str] = []
    for raw in items:
        key, eq, value = raw.partition("=")
        key = key.strip()
        if not eq:
            raise FilterError(
                f"bad filter {raw!r}: expected KEY=VALUE with KEY one of {', '.join(ACCEPTED_KEYS)}"
            )
        if key == "dangling":
            low = value.strip().lower()
            if low in ("true", "1"):
                dangling = True
            elif low in ("false", "0"):
                dangling = False
            else:
                raise FilterError(f"invalid filter 'dangling={value}': expected true or false")
        elif key == "until":
            if until is not None:
                raise FilterError("more than one until filter specified; give at most one")
            until = parse_until(value, now, local_tz)
            if until.note:
                notes.append(until.note)
        elif key in ("label", "label!"):
            if not value or value.startswith("="):
                raise FilterError(f"invalid filter '{raw}': expected {key}=KEY or {key}=KEY=VALUE")
            (labels if key == "label" else not_labels).append(value)
        else:
            raise FilterError(
                f"invalid filter '{key}': accepted filters are {', '.join(ACCEPTED_KEYS)} "
                "(e.g. --filter until=72h --filter label=env=dev --filter label!=keep)"
            )
    return PruneFilters(dangling, until, tuple(labels), tuple(not_labels), tuple(notes))
