"""Layer identities and sizes: chain IDs, history, and what the engine's totals prove.

The engine's image inspect gives ``RootFS.Layers`` (diff IDs, base first); its history endpoint gives
one entry per build step, newest first. The engine maps the steps *not* flagged ``empty_layer`` in the
image config, in order, onto the first layers, and gives each its layer's DiffSize; the API drops the
flag. So a step with a size > 0 is surely a layer, a 0-byte step may or may not be one, and images
from ko, Bazel, Nix or crane may have no history, fewer layer steps than layers, or a real layer
flagged empty (its bytes then show on no step). :func:`layer_sizes` keeps only what is certain.

What the history leaves open is solved store-wide by :func:`solve_sizes` from the engine's totals:
an image's ``Size`` is the sum of its layers (a known *prefix sum* at its top chain), images share
chain prefixes, ``/system/df`` ``SharedSize`` is the prefix sum up to the deepest layer an image
shares with another listed image, and the empty tar is 0 bytes. :func:`measure` then adds up a set of
layers exactly where the known prefix sums determine it, and counts the layers whose bytes no engine
number determines. Bytes are never moved between layers: an unknown size stays ``None``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import accumulate

from tui.core.model import EMPTY_LAYER_DIFF_ID, Image, Layer


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


def history_prefix_sums(
    diff_ids: Sequence[str], history_oldest_first: Sequence[HistoryStep], total: int | None = None
) -> list[int | None]:
    """Bytes of layers ``0..i`` for each layer ``i``, where the history proves them; else ``None``.

    The k-th step the config does not flag as empty is layer k. A step with size > 0 is such a step;
    a 0-byte step may be one, so the layer index of a sized step lies between the number of sized
    steps before it and that plus the 0-byte steps before it (at most ``layers - sized steps``).
    A prefix sum is certain when no sized step can fall on both sides of it, and when no layer beyond
    the history can be in it: layers ``0..sized-1`` are always covered by the history, and when
    ``total`` (the image's ``Size``) equals the sum of the sized steps the layers beyond hold 0 bytes.
    The empty tar's diff ID is a 0-byte layer.
    """
    n = len(diff_ids)
    sizes = [step.size for step in history_oldest_first]
    sized = [x for x in sizes if x > 0]
    if n == 0:
        return []
    missing = None if total is None else total - sum(sized)
    if len(sized) > n or (missing is not None and missing < 0):
        out: list[int | None] = [None] * n  # the history does not describe these layers
        if total is not None:
            out[-1] = total
        return out
    if len(sized) == n and EMPTY_LAYER_DIFF_ID not in diff_ids:
        # One sized step per layer (the usual image): the k-th sized step is layer k, so every
        # prefix is certain; the general placement below gives the same, some ten times slower.
        prefix: list[int | None] = list(accumulate(sized))
        if total is not None:
            prefix[-1] = total
        return prefix
    # Index range of each sized step: after the sized steps before it, at most its 0-byte steps
    # later, room left for the sized steps after it, and never on an empty-tar (0-byte) layer.
    empty = [d == EMPTY_LAYER_DIFF_ID for d in diff_ids]
    lows: list[int] = []
    highs: list[int] = []
    zeros = 0
    for x in sizes:
        if x == 0:
            zeros += 1
            continue
        j = len(lows)
        low = max(j, lows[-1] + 1 if lows else 0)
        while low < n and empty[low]:
            low += 1
        lows.append(low)
        highs.append(min(j + zeros, n - len(sized) + j))
    for j in range(len(highs) - 1, -1, -1):
        if j + 1 < len(highs):
            highs[j] = min(highs[j], highs[j + 1] - 1)
        while highs[j] >= 0 and empty[highs[j]]:
            highs[j] -= 1
    if any(low > high or high >= n for low, high in zip(lows, highs, strict=True)):
        out = [None] * n  # no placement fits: the history does not describe these layers
        if total is not None:
            out[-1] = total
        return out
    covered = lows[-1] if lows else -1  # layers 0..covered always have a history step
    # Layer i is open when some sized step may fall on either side of it (lo <= i < hi); else its
    # prefix is the sum of the sized steps placed at or below it (``highs`` rise strictly).
    opens = [0] * (n + 1)
    for lo, hi in zip(lows, highs, strict=True):
        if lo < hi:
            opens[lo] += 1
            opens[hi] -= 1
    prefix = []
    open_now = placed = placed_bytes = 0
    for i in range(n):
        open_now += opens[i]
        while placed < len(highs) and highs[placed] <= i:
            placed_bytes += sized[placed]
            placed += 1
        if open_now:
            prefix.append(None)
        elif i <= covered or missing == 0:
            prefix.append(placed_bytes)
        else:
            prefix.append(None)
    if total is not None:
        prefix[-1] = total
    for _ in range(2):  # the empty tar holds 0 bytes: its prefix equals the one below it
        for i in range(n):
            if diff_ids[i] != EMPTY_LAYER_DIFF_ID:
                continue
            below = 0 if i == 0 else prefix[i - 1]
            if prefix[i] is None and below is not None:
                prefix[i] = below
            elif prefix[i] is not None and below is None and i > 0:
                prefix[i - 1] = prefix[i]
    return prefix


def layer_sizes(
    diff_ids: Sequence[str], history_oldest_first: Sequence[HistoryStep], total: int | None = None
) -> list[int | None]:
    """Each layer's DiffSize (base first) where the history (and ``total``) prove it, else ``None``."""
    prefix = history_prefix_sums(diff_ids, history_oldest_first, total)
    out: list[int | None] = []
    for i, here in enumerate(prefix):
        below = 0 if i == 0 else prefix[i - 1]
        if diff_ids[i] == EMPTY_LAYER_DIFF_ID:
            out.append(0)
        elif here is not None and below is not None:
            out.append(here - below)
        else:
            out.append(None)
    return out


def build_layers(
    diff_ids: Sequence[str], history_oldest_first: Sequence[HistoryStep], total: int | None = None
) -> tuple[Layer, ...]:
    """Layers (base first) with chain IDs and the sizes the history proves (``None``: not proven)."""
    sizes = layer_sizes(diff_ids, history_oldest_first, total)
    chains = chain_ids(diff_ids)
    return tuple([Layer(c, d, s) for c, d, s in zip(chains, diff_ids, sizes, strict=True)])


@dataclass(frozen=True)
class LayerSizes:
    """What is known about the store's layer sizes.

    ``size``: chain -> DiffSize where known. ``prefix``: chain -> bytes of that layer and all below it
    where known. ``parent``: chain -> the chain below it (``""`` for a base layer).
    """

    size: Mapping[str, int]
    prefix: Mapping[str, int]
    parent: Mapping[str, str]

    @property
    def complete(self) -> bool:
        return len(self.size) == len(self.parent)


def solve_sizes(
    stacks: Iterable[tuple[Sequence[Layer], int | None]], anchors: Mapping[str, int] | None = None
) -> LayerSizes:
    """Every layer size and prefix sum the known facts determine.

    ``stacks``: each image's layers (base first) with its ``Size`` (``None`` where the image's size
    is not the sum of its layers). ``anchors``: further known prefix sums by chain (``/system/df``).
    Rules: prefix(child) = prefix(parent) + size(child) (either way round); two known prefix sums on
    one stack that are equal make every layer between them 0 bytes; adjacent ones give the size.
    """
    size: dict[str, int] = {}
    prefix: dict[str, int] = {"": 0}
    parent: dict[str, str] = {}
    stacks_by_top: dict[str, Sequence[Layer]] = {}
    for layers, total in stacks:
        below = _read_stack(layers, size, parent)
        if layers:
            stacks_by_top.setdefault(below, layers)
            if total is not None:
                prefix.setdefault(below, total)
    return solve_read_sizes(StackFacts({}, frozenset(), size, prefix, parent, stacks_by_top), anchors)


def _read_stack(layers: Sequence[Layer], size: dict[str, int], parent: dict[str, str]) -> str:
    """Each layer's parent chain and known size, into ``parent`` and ``size``; the top chain id
    (``""`` for no layers). A chain seen before keeps what was read then (shared base layers)."""
    below = ""
    for layer in layers:
        chain = layer.chain_id
        if chain not in size:
            if chain not in parent:
                parent[chain] = below
            known = layer.size
            if known is not None:
                size[chain] = known
        below = chain
    return below


@dataclass(frozen=True)
class StackFacts:
    """One pass over a classic store's images (:func:`read_classic_stacks`): each image's top
    chain ID, and what :func:`solve_sizes` reads of the layer stacks before it solves. Shared by the
    classic store model (a chain's parents are in ``parent``) and the snapshot's layer sizes."""

    tops: Mapping[str, str]  # image id -> its top chain ID (images with layers only)
    without_layers: frozenset[str]  # ids of the images whose layers are unknown (``None``)
    size: Mapping[str, int]
    prefix: Mapping[str, int]
    parent: Mapping[str, str]
    stacks_by_top: Mapping[str, Sequence[Layer]]  # empty when every size is known (none to solve)


def read_classic_stacks(images: Collection[Image]) -> StackFacts:
    """:func:`solve_sizes`'s reading of ``[(i.layers, i.size) for i in images if i.layers is not
    None]`` (on the classic store an image's ``Size`` is the sum of its layers), with each image's
    top chain collected on the way.

    A chain ID names its whole stack (``chainN = sha256(chainN-1 + " " + diffN)``): two images
    with one chain have the same layers below it. So while every layer read so far has a known
    size, a stack is read from its top down only to the first chain read before (below it this
    image can add nothing: a chain keeps the first parent and size read). Most images of a store
    are a top layer or two on a shared base: those are all that is read of them. From the first
    layer of unknown size on, stacks are read whole (:func:`_read_stack`).
    """
    tops: dict[str, str] = {}
    without: list[str] = []
    size: dict[str, int] = {}
    prefix: dict[str, int] = {"": 0}
    parent: dict[str, str] = {}
    stacks_by_top: dict[str, Sequence[Layer]] = {}
    all_sized = True  # every layer read so far has a known size
    for image in images:
        layers = image.layers
        if not layers:
            if layers is None:
                without.append(image.id)
            continue
        top = tops[image.id] = layers[-1].chain_id
        if all_sized and top not in size:  # (in ``size``: read before, with everything below it)
            # A new top: not in ``prefix`` either (its keys are tops read, all sized so far).
            prefix[top] = image.size  # the first image's
            k = len(layers) - 1
            chain = top
            while True:
                known = layers[k].size
                if known is None:  # then stop trusting "read before" to mean "sized below"
                    all_sized = False
                    _read_stack(layers, size, parent)
                    break
                size[chain] = known
                if not k:
                    parent[chain] = ""
                    break
                k -= 1
                below = layers[k].chain_id
                parent[chain] = below
                if below in size:
                    break
                chain = below
            continue
        if not all_sized:
            _read_stack(layers, size, parent)
        if top not in prefix:  # (no top is "")
            prefix[top] = image.size  # the first image's
    if not all_sized:  # the stacks, which only a solve reads (every size known: none)
        for image in images:
            if image.layers:
                stacks_by_top.setdefault(image.layers[-1].chain_id, image.layers)
    return StackFacts(tops, frozenset(without), size, prefix, parent, stacks_by_top)


def solve_read_sizes(facts: StackFacts, anchors: Mapping[str, int] | None = None) -> LayerSizes:
    """:func:`solve_sizes` from what was read of the stacks (``facts`` is left as it is)."""
    size, prefix, parent = dict(facts.size), dict(facts.prefix), facts.parent
    for chain, value in (anchors or {}).items():
        if chain in parent:
            prefix.setdefault(chain, value)
    if len(size) == len(parent):
        return LayerSizes(size, prefix, parent)  # the history gave every size
    paths = [[layer.chain_id for layer in layers] for layers in facts.stacks_by_top.values()]
    changed = True
    while changed:
        changed = False
        for path in paths:
            changed |= _settle(path, size, prefix)
    return LayerSizes(size, prefix, parent)


def _settle(path: Sequence[str], size: dict[str, int], prefix: dict[str, int]) -> bool:
    """Apply the rules along one stack; True if anything new was learnt."""
    learnt = False
    chains = ["", *path]
    for i in range(1, len(chains)):  # upwards
        c, p = chains[i], chains[i - 1]
        if c not in prefix and p in prefix and c in size:
            prefix[c] = prefix[p] + size[c]
            learnt = True
    for i in range(len(chains) - 1, 0, -1):  # downwards
        c, p = chains[i], chains[i - 1]
        if p not in prefix and c in prefix and c in size:
            prefix[p] = prefix[c] - size[c]
            learnt = True
    known = [i for i, c in enumerate(chains) if c in prefix]
    for a, b in zip(known, known[1:], strict=False):
        pa, pb = prefix[chains[a]], prefix[chains[b]]
        if b == a + 1:
            if chains[b] not in size:
                size[chains[b]] = pb - pa
                learnt = True
        elif pa == pb:
            for k in range(a + 1, b + 1):
                if chains[k] not in size or chains[k] not in prefix:
                    size[chains[k]] = 0
                    prefix[chains[k]] = pa
                    learnt = True
    return learnt


def with_unpacked_growth(
    stacks: Sequence[tuple[Sequence[Layer], int | None]],
) -> list[tuple[tuple[Layer, ...], int | None]]:
    """The containerd store's stacks with each layer's size set to what the unpacked totals grow
    by from the layer below it to it, where both totals are known (``total``: an image's unpacked
    size, the prefix sum at its top chain).

    The history gives each chain's own snapshot usage, but a legacy-builder ``RUN`` step commits
    its layer on top of its build container's ``-init`` snapshot, which stays as a parent of that
    chain only: the engine's totals (and ``/system/df``, and the disk) count it, and it goes with
    the chain (seen on Docker 28.5: 28,672 and 12,288 bytes for two steps). Elsewhere the growth
    equals the history's size.
    """
    top: dict[str, int] = {"": 0}
    for layers, total in stacks:
        if layers and total is not None:
            top.setdefault(layers[-1].chain_id, total)
    out: list[tuple[tuple[Layer, ...], int | None]] = []
    for layers, total in stacks:
        adjusted = []
        below = ""
        for layer in layers:
            here = layer.chain_id
            if here in top and below in top and top[here] - top[below] >= 0:
                layer = Layer(here, layer.diff_id, top[here] - top[below])
            adjusted.append(layer)
            below = here
        out.append((tuple(adjusted), total))
    return out


def measure(chains: Iterable[str], sizes: LayerSizes) -> tuple[int, int]:
    """``(bytes, unknown)`` of a set of layers: the bytes that are known exactly, and how many
    layers of the set are in groups whose total no known number determines (so the set holds at
    least ``bytes``). A group of layers of unknown single sizes still counts exactly when known
    prefix sums bound it (e.g. an image's layers above a layer it shares)."""
    known = 0
    unknown: set[str] = set()
    for chain in dict.fromkeys(chains):
        if chain in sizes.size:
            known += sizes.size[chain]
        elif chain in sizes.parent:
            unknown.add(chain)
    if not unknown:
        return known, 0
    group: dict[str, str] = {}

    def root(c: str) -> str:
        while group.get(c, c) != c:
            c = group[c]
        return c

    for chain in unknown:
        group.setdefault(chain, chain)
        below = sizes.parent[chain]
        if below in unknown:
            group.setdefault(below, below)
            group[root(chain)] = root(below)
    members: dict[str, list[str]] = {}
    for chain in unknown:
        members.setdefault(root(chain), []).append(chain)
    missing = 0
    for chains_in_group in members.values():
        coef: dict[str, int] = {}
        for chain in chains_in_group:
            coef[chain] = coef.get(chain, 0) + 1
            below = sizes.parent[chain]
            coef[below] = coef.get(below, 0) - 1
        if all(k == 0 or c in sizes.prefix for c, k in coef.items()):
            known += sum(k * sizes.prefix[c] for c, k in coef.items() if k)
        else:
            missing += len(chains_in_group)
    return known, missing


@dataclass(frozen=True)
class SharingNode:
    """One layer in the store-wide sharing tree: its chain, size, users, and the layers on top."""

    chain_id: str
    size: int | None  # None: not known (see :func:`solve_sizes`)
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
    sizes: dict[str, int | None] = {}
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
        return SharingNode(
            chain,
            sizes[chain],
            tuple(sorted(users[chain])),
            tuple(sorted(ends.get(chain, []))),
            tuple(build(k) for k in kids),
        )

    bases = sorted(children.get("", []), key=lambda c: (-len(users[c]), c))
    return tuple(build(c) for c in bases)
