"""Benchmark: the pure planner on a synthetic store (no engine).

    python bench/planner_bench.py [--images 20000] [--repeat 3] [--store classic|containerd] [--json]

Builds a snapshot of N images the way a busy build host looks: a few shared base chains, a unique
top layer per image, 1 to 3 tags on 4 of 5 images (some with registry digests), untagged and
digest-only images, legacy-builder parent chains (intermediates), and containers (running and
stopped) on 1 in 40 images. Then times, median of --repeat runs each on a fresh snapshot (so
nothing made for the previous run's snapshot is reused; the process-wide caches of parsed
references are, as in the app after its first load):

* ``prune --all`` plan (``plan_prune(dangling=False)``), and the dangling-only one;
* ``rm`` of 1,000 short-id references (``plan_remove``);
* "(totals)" rows time the plan as returned: its references, images, layers, bytes, blocked and
  warnings. Its steps (each engine call with the state it expects to find) are made on the first
  read of ``Plan.steps`` (the confirm screen, the executor, ``--json``); the "steps included" rows
  time the plan and that first read together. (A tree where steps are made eagerly gives the
  same time in both rows.)
* the per-image plan the detail pane makes on a cursor move (``plan_images([id])``): the first
  one on a new snapshot, and the median of the next 200;
* the ``df`` summary (two prune plans and the live-layer total).

``--store containerd`` gives the same images as a containerd image store (Docker 28): each image's
ID is its manifest digest (an index digest with two platform manifests, one present, for 1 in 5),
its content blobs (index, manifest, config, one compressed blob per layer; the base chains' blobs
shared) and when it entered the store; the plans then replay that store's rules
(:mod:`tui.core.containerd`, :mod:`tui.core.containerd_prune`).

Times are CPU seconds of this process (``time.process_time``): the planner is single-threaded, so
on an idle machine they equal wall time, and on a shared one they are not inflated by other load.
Prints milliseconds per row. Nothing here is a pass/fail test.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tui.core.filters import PruneFilters  # noqa: E402
from tui.core.layers import chain_ids  # noqa: E402
from tui.core.marking import plan_images  # noqa: E402
from tui.core.model import Container, EngineFacts, Image, Layer, Snapshot  # noqa: E402
from tui.core.plan import plan_prune, plan_remove  # noqa: E402
from tui.core.usage import summarize  # noqa: E402


def _digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def synthetic(n: int, seed: int = 1) -> tuple[list[Image], list[Container]]:
    """``n`` images and their containers (deterministic for a seed)."""
    rnd = random.Random(seed)
    bases = [[_digest(f"base{b}:{k}") for k in range(rnd.randint(1, 5))] for b in range(20)]
    images: list[Image] = []
    containers: list[Container] = []
    parent = ""
    for i in range(n):
        diffs = [*bases[i % len(bases)], _digest(f"diff:{i}")]
        chains = chain_ids(diffs)
        layers = tuple(
            Layer(c, d, 1_000_000 if k < len(diffs) - 1 else 1_000 + i)
            for k, (c, d) in enumerate(zip(chains, diffs, strict=True))
        )
        kind = i % 20
        repo = f"registry.example.com/team{i % 37}/app{i % 500}"
        tags: tuple[str, ...] = ()
        digests: tuple[str, ...] = ()
        if kind < 16:
            tags = tuple(f"{repo}:{i}-{t}" for t in range(1 + i % 3))
            if kind % 4 == 0:
                digests = (f"{repo}@{_digest(f'manifest:{i}')}",)
        elif kind == 16:
            digests = (f"{repo}@{_digest(f'manifest:{i}')}",)  # digest-only
        image_parent = ""
        if kind == 17:  # a legacy-builder chain: this image's parent is the previous kind-17 one
            image_parent, parent = parent, ""
        elif kind == 18:
            parent = _digest(f"image:{i}")
        images.append(
            Image(
                id=_digest(f"image:{i}"),
                tags=tags,
                digests=digests,
                created=1.7e9 - i * 60,
                size=sum(layer.size for layer in layers),
                parent_id=image_parent,
                labels=MappingProxyType({"team": str(i % 37)} if i % 3 else {}),
                layers=layers,
            )
        )
        if i % 40 == 5:
            state = "running" if i % 80 == 5 else "exited"
            containers.append(
                Container(
                    _digest(f"c:{i}")[7:],
                    f"c{i}",
                    images[-1].id,
                    images[-1].tags[0] if images[-1].tags else "",
                    state,
                )
            )
    known = {image.id for image in images}
    images = [
        img
        if not img.parent_id or img.parent_id in known
        else Image(img.id, img.tags, img.digests, img.created, img.size, "", img.labels, img.layers)
        for img in images
    ]
    return images, containers


def containerd(images: list[Image], containers: list[Container]) -> tuple[list[Image], list[Container]]:
    """The same images and containers as a containerd image store's (Docker 28.5) would list."""
    ids = {image.id: _digest(f"manifest-or-index:{image.id}") for image in images}
    out: list[Image] = []
    for i, image in enumerate(images):
        new_id = ids[image.id]
        assert image.layers is not None
        content = {new_id: 500 + i % 300, _digest(f"config:{image.id}"): 1_500 + i % 700}
        for layer in image.layers:  # a compressed blob per layer, about half its size
            content[_digest(f"blob:{layer.diff_id}")] = (layer.size or 0) // 2 + 1
        manifests: tuple[tuple[str, str, str, bool], ...] = ((new_id, "linux/amd64", "image", True),)
        if i % 5 == 0:  # a multi-platform index: one platform present, one not pulled
            present, absent = _digest(f"amd64:{image.id}"), _digest(f"arm64:{image.id}")
            content[present] = 450
            manifests = ((present, "linux/amd64", "image", True), (absent, "linux/arm64", "image", False))
        stored = image.created + 3_600 + i
        out.append(
            Image(
                id=new_id,
                tags=image.tags,
                digests=tuple(d.partition("@")[0] + "@" + new_id for d in image.digests),
                created=image.created,
                size=sum(content.values()) + image.size,
                parent_id=ids.get(image.parent_id, ""),
                labels=image.labels,
                layers=image.layers,
                content=MappingProxyType(content),
                content_size=sum(content.values()),
                unpacked_size=image.size,
                stored_at=stored,
                stored_ns=round(stored * 1_000_000_000),
                manifests=manifests,
            )
        )
    moved = [Container(c.id, c.name, ids[c.image_id], c.image, c.state) for c in containers]
    return out, moved


def again(run: Callable[[Snapshot], object]) -> Callable[[Snapshot], object]:
    """``run`` timed the second time on a snapshot: the per-snapshot indexes (layer sizes, parsed
    references, the base store) exist already, as in the app after the first plan of a load."""

    def prepare_then_run(snap: Snapshot) -> object:
        return run(snap)

    prepare_then_run.prepare = run  # type: ignore[attr-defined]
    return prepare_then_run


def median_time(make: Callable[[], Snapshot], run: Callable[[Snapshot], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        snap = make()
        prepare = getattr(run, "prepare", None)
        if prepare is not None:
            prepare(snap)  # not timed
        start = time.process_time()
        run(snap)
        times.append(time.process_time() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--store",
        choices=("classic", "containerd"),
        default="classic",
        help="the image store the synthetic snapshot is of (default: classic)",
    )
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args()
    images, containers = synthetic(args.images)
    facts = EngineFacts()
    if args.store == "containerd":
        images, containers = containerd(images, containers)
        facts = EngineFacts(version="28.5.2", image_store="containerd", storage_driver="overlayfs")

    def make() -> Snapshot:
        return Snapshot(images, containers, facts)

    rnd = random.Random(2)
    short_refs = [i.id[7:19] for i in rnd.sample(images, min(1000, len(images)))]
    cursor = [i.id for i in rnd.sample(images, min(201, len(images)))]

    def cursor_moves(snap: Snapshot) -> float:
        plan_images(snap, [cursor[0]])  # the first one on this snapshot builds its indexes
        times = []
        for image_id in cursor[1:]:
            start = time.process_time()
            plan_images(snap, [image_id])
            times.append(time.process_time() - start)
        return statistics.median(times)

    rows = [
        (
            "prune --all plan (totals)",
            median_time(make, lambda s: plan_prune(s, PruneFilters(dangling=False)), args.repeat),
        ),
        (
            "prune --all plan, its steps included",
            median_time(make, lambda s: plan_prune(s, PruneFilters(dangling=False)).steps, args.repeat),
        ),
        (
            "prune --all plan, again on the same snapshot",
            median_time(make, again(lambda s: plan_prune(s, PruneFilters(dangling=False))), args.repeat),
        ),
        ("prune (dangling) plan", median_time(make, lambda s: plan_prune(s, PruneFilters()), args.repeat)),
        (
            "rm plan of 1,000 short-id refs (totals)",
            median_time(make, lambda s: plan_remove(s, short_refs), args.repeat),
        ),
        (
            "rm plan of 1,000 short-id refs, its steps included",
            median_time(make, lambda s: plan_remove(s, short_refs).steps, args.repeat),
        ),
        (
            "rm plan of 1,000 short-id refs, again on the same snapshot",
            median_time(make, again(lambda s: plan_remove(s, short_refs)), args.repeat),
        ),
        (
            "detail-pane plan, first on a snapshot",
            median_time(make, lambda s: plan_images(s, [cursor[0]]), args.repeat),
        ),
        (
            "detail-pane plan, per cursor move",
            statistics.median(cursor_moves(make()) for _ in range(args.repeat)),
        ),
        ("df summary (2 prune plans)", median_time(make, summarize, args.repeat)),
    ]
    if args.json:
        print(json.dumps({"images": args.images, "store": args.store, "rows": dict(rows)}))
        return 0
    print(
        f"planner on a synthetic {args.store} store: {args.images} images, {len(containers)} containers "
        f"(CPU time, median of {args.repeat})"
    )
    width = max(len(r[0]) for r in rows)
    for name, seconds in rows:
        print(f"  {name:<{width}}  {seconds * 1000:9.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
