"""Label selectors ``KEY`` or ``KEY=VALUE``: the one place that says how they match.

The engine's classic store, Podman's prune filters, the policies and the ``[protect]`` labels all
use this rule (Go ``filters.Args.MatchKVList``): ``KEY`` needs the label, ``KEY=VALUE`` needs the
label with exactly that value. The containerd store's ``label!`` rule differs and lives in
:func:`tui.core.containerd.config_labels_match`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def label_matches(selector: str, labels: Mapping[str, str]) -> bool:
    """Whether ``labels`` has ``KEY`` (for ``KEY``) or ``KEY`` with ``VALUE`` (for ``KEY=VALUE``)."""
    key, eq, value = selector.partition("=")
    return key in labels and (not eq or labels[key] == value)


def all_labels_match(selectors: Iterable[str], labels: Mapping[str, str]) -> bool:
    """Every selector matches (Go ``MatchKVList``); no selectors match everything."""
    return all(label_matches(s, labels) for s in selectors)
