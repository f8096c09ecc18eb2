"""Layer identities and sizes: chain IDs, and mapping image history onto layers.

The engine's image inspect gives ``RootFS.Layers`` (diff IDs, base first); its history endpoint gives
one entry per build step, newest first, where the steps that created a layer carry that layer's
DiffSize. The API has no "empty layer" flag, so a 0-byte step may or may not be a layer. This module
aligns the two lists; every step with a size > 0 is always a layer, so the alignment only ever decides
where 0-byte layers go and never moves bytes between layers when sizes are unambiguous.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from tui.core.model import EMPTY_LAYER_DIFF_ID, Layer


def chain_ids(diff_ids: Sequence[str]) -> list[str]:
    """Chain IDs base first: chain1 = diff1, chainN = sha256(chainN-1 + " " + diffN)."""
    out: list[str] = []
    for diff in diff_ids:
        if not out:
            out.append(diff)
        else:
            digest = hashlib.sha256(f"{out[-1]} {diff}".encode()).hexdigest()
            out.append(f"sha256:{digest}")
    return out


@dataclass(frozen=True)
class HistoryStep:
    """One entry of ``GET /images/{id}/history`` (kept oldest first here)."""

    created_by: str
    size: int


# Steps the builders record without a layer. The classic builder writes "#(nop) CMD ..." (but
# "#(nop) ADD/COPY" do make layers); BuildKit writes the bare instruction.
_METADATA_STEP = re.compile(
    r"^(/bin/sh -c #\(nop\)\s*)?(ENV|LABEL|CMD|ENTRYPOINT|EXPOSE|USER|ARG|STOPSIGNAL|HEALTHCHECK|"
    r"SHELL|VOLUME|ONBUILD|MAINTAINER)\b",
    re.IGNORECASE,
)


def _looks_metadata(step: HistoryStep) -> bool:
    return bool(_METADATA_STEP.match(step.created_by.strip()))


def layer_sizes(diff_ids: Sequence[str], history_oldest_first: Sequence[HistoryStep]) -> list[int]:
    """Size of each layer (base first), aligning history steps onto layers.

    Every step with ``size > 0`` must take a layer, in order. Where 0-byte steps leave a choice, a
    dynamic programme prefers to give layers to steps that do not look like metadata-only
    instructions (and empty-tar layers to 0-byte steps). If the history cannot be aligned at all
    (foreign or squashed images), sizes are assigned to the last layers in order and the rest get 0.
    """
    n_layers = len(diff_ids)
    steps = list(history_oldest_first)
    n_steps = len(steps)
    if n_layers == 0:
        return []
    if sum(1 for s in steps if s.size > 0) == n_layers and n_steps >= n_layers:
        return [s.size for s in steps if s.size > 0]
    neg = -(10**9)
    # best[i][j]: best score aligning the first i layers with the first j steps.
    best = [[neg] * (n_steps + 1) for _ in range(n_layers + 1)]
    take = [[False] * (n_steps + 1) for _ in range(n_layers + 1)]
    best[0][0] = 0
    for j in range(1, n_steps + 1):
        step = steps[j - 1]
        for i in range(0, n_layers + 1):
            candidates: list[tuple[int, bool]] = []
            # skip step j (only 0-byte steps may be skipped)
            if step.size == 0 and best[i][j - 1] > neg:
                candidates.append((best[i][j - 1] + (1 if _looks_metadata(step) else 0), False))
            # step j is layer i
            if i > 0 and best[i - 1][j - 1] > neg:
                empty_tar = diff_ids[i - 1] == EMPTY_LAYER_DIFF_ID
                score = 0
                if step.size == 0:
                    score = 2 if empty_tar else (-1 if _looks_metadata(step) else 1)
                elif empty_tar:
                    score = -5
                candidates.append((best[i - 1][j - 1] + score, True))
            if candidates:
                # ties: prefer taking the step as a layer (earlier placement)
                best[i][j], take[i][j] = max(candidates, key=lambda c: (c[0], c[1]))
    if best[n_layers][n_steps] <= neg:
        sizes = [s.size for s in steps if s.size > 0][-n_layers:]
        return [0] * (n_layers - len(sizes)) + sizes
    sizes = [0] * n_layers
    i, j = n_layers, n_steps
    while i > 0 and j > 0:
        if take[i][j]:
            sizes[i - 1] = steps[j - 1].size
            i -= 1
        j -= 1
    return sizes


def build_layers(diff_ids: Sequence[str], history_oldest_first: Sequence[HistoryStep]) -> tuple[
    Layer, ...
]:
    """Layers (base first) with chain IDs and sizes, from inspect's diff IDs and the history."""
    sizes = layer_sizes(diff_ids, history_oldest_first)
    chains = chain_ids(diff_ids)
    return tuple(
        Layer(chain_id=c, diff_id=d, size=s) for c, d, s in zip(chains, diff_ids, sizes, strict=True)
    )


@dataclass(frozen=True)
class SharingNode:
    """One layer in the store-wide sharing tree: its chain, size, users, and the layers on top."""

    chain_id: str
    size: int
    image_ids: tuple[str, ...]  # every image whose stack includes this layer
    ends_here: tuple[str, ...]  # images whose top layer this is
    children: tuple[SharingNode, ...]


def sharing_tree(images: Sequence[tuple[str, Sequence[Layer]]]) -> tuple[SharingNode, ...]:
    """The store as a trie of chain IDs, base layers first; most-shared branches first.

    ``images`` is ``(image id, layers base first)`` for every image with known layers.
    """
    children: dict[str, list[str]] = {}
    users: dict[str, list[str]] = {}
    ends: dict[str, list[str]] = {}
    sizes: dict[str, int] = {}
    for image_id, layers in images:
        parent = ""
        for layer in layers:
            siblings = children.setdefault(parent, [])
            if layer.chain_id not in siblings:
                siblings.append(layer.chain_id)
            users.setdefault(layer.chain_id, []).append(image_id)
            sizes[layer.chain_id] = layer.size
            parent = layer.chain_id
        if layers:
            ends.setdefault(layers[-1].chain_id, []).append(image_id)

    def build(chain: str) -> SharingNode:
        kids = sorted(children.get(chain, []), key=lambda c: (-len(users[c]), c))
        return SharingNode(chain, sizes[chain], tuple(sorted(users[chain])),
                           tuple(sorted(ends.get(chain, []))), tuple(build(k) for k in kids))

    bases = sorted(children.get("", []), key=lambda c: (-len(users[c]), c))
    return tuple(build(c) for c in bases)
