"""One digest of many plans, to show that a speed change of the planner changes no plan (issue 10).

    python -m tests.plan_digest [--quick] [--store classic|containerd]

Makes plans over random classic stores (the generators of tests/test_plan_fast_paths.py and
tests/test_prune_fast_path.py: awkward references, parents, containers, labels) and over the
synthetic store of bench/planner_bench.py (3,000 and 20,000 images): prune with every filter kind
(dangling, --all, until, label, label!), engine semantics, stopped containers and protection; rm
of every image by each of its references and its id, with and without force and stopped
containers; rm of short ids, digests and mixed references; the detail pane's plans. Each plan is
hashed by ``to_json()`` (which reads its steps) and ``repr()``, and the refusals by their message.
Prints how many plans were hashed and one sha256 over all of them: run it on two trees and
compare. Not a test (no assertion): the tests check the same paths against reference replays.

``--store containerd``: the same stores as containerd image stores (the small ones as Docker 28.5
and as 26.1, whose prune differs; the synthetic one as bench/planner_bench.py ``--store
containerd`` makes it, at 1,000 and 3,000 images).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.planner_bench import containerd, synthetic  # noqa: E402
from tests.test_plan_fast_paths import _store as fast_path_store  # noqa: E402
from tests.test_prune_fast_path import _random_store  # noqa: E402
from tui.core.filters import PruneFilters, Until  # noqa: E402
from tui.core.marking import plan_images  # noqa: E402
from tui.core.model import EngineFacts, Snapshot  # noqa: E402
from tui.core.plan import Plan, plan_prune, plan_remove  # noqa: E402
from tui.core.protect import Protection  # noqa: E402


def _filter_sets(created: list[float]) -> list[PruneFilters]:
    """Eight prune filter sets; ``until`` at the median of the images' creation times."""
    middle = sorted(created)[len(created) // 2] if created else 0.0
    until = Until.at("middle", round(middle * 1_000_000_000))
    return [
        PruneFilters(),
        PruneFilters(dangling=False),
        PruneFilters(dangling=False, until=until),
        PruneFilters(until=until),
        PruneFilters(dangling=False, labels=("keep=1",)),
        PruneFilters(dangling=False, labels=("team",)),
        PruneFilters(dangling=False, not_labels=("keep=1",)),
        PruneFilters(dangling=False, until=until, not_labels=("team=3",)),
    ]


class Digest:
    def __init__(self) -> None:
        self.sha = hashlib.sha256()
        self.plans = 0
        self.refusals = 0

    def plan(self, make: Callable[[], Plan]) -> None:
        try:
            plan = make()
        except Exception as exc:  # noqa: BLE001  # a refusal is part of the answer too
            self.sha.update(f"error {type(exc).__name__}: {exc}\n".encode())
            self.refusals += 1
            return
        self.sha.update(json.dumps(plan.to_json(), sort_keys=True).encode())
        self.sha.update(repr(plan).encode())
        self.plans += 1


def _fresh(snap: Snapshot) -> Snapshot:
    return Snapshot(snap.images.values(), snap.containers, snap.facts, snap.disk, snap.taken_at)


def _prunes(out: Digest, snap: Snapshot, protections: list[Protection | None]) -> None:
    for filters in _filter_sets([i.created for i in snap.images.values()]):
        for engine in (False, True):
            for stopped in (False, True):
                for protection in protections:
                    out.plan(
                        lambda f=filters, e=engine, s=stopped, p=protection: plan_prune(
                            _fresh(snap), f, engine_semantics=e, with_stopped_containers=s, protection=p
                        )
                    )


def _small_store(snap: Snapshot, out: Digest, rnd: random.Random) -> None:
    _prunes(out, snap, [None, Protection(images=("r1:*", "a*"))])
    fresh = _fresh(snap)
    for image_id in sorted(snap.images):
        image = snap.images[image_id]
        for ref in (*image.refs, image_id, image_id[7:19]):
            for force in (False, True):
                for stopped in (False, True):
                    out.plan(
                        lambda r=ref, f=force, s=stopped: plan_remove(
                            fresh, [r], force=f, with_stopped_containers=s
                        )
                    )
    ids = sorted(snap.images)
    for _ in range(6):
        picked = rnd.sample(ids, min(rnd.randint(1, 4), len(ids)))
        refs = [rnd.choice([i[7:19], i[7:9], i, *snap.images[i].refs]) for i in picked]
        refs.append(rnd.choice(["nosuch", "Bad:Ref", "a", "b:1"]))
        for force in (False, True):
            out.plan(lambda r=refs, f=force: plan_remove(fresh, r, force=f, with_stopped_containers=f))
            out.plan(lambda r=refs, f=force: plan_remove(_fresh(snap), r, force=f))
        out.plan(lambda p=picked: plan_images(fresh, p))


def _as(snap: Snapshot, facts: EngineFacts | None) -> Snapshot:
    return snap if facts is None else Snapshot(snap.images.values(), snap.containers, facts)


def _synthetic(out: Digest, n: int, facts: EngineFacts | None = None) -> None:
    images, containers = synthetic(n)
    if facts is not None:
        images, containers = containerd(images, containers)
    snap = Snapshot(images, containers, facts)
    _prunes(out, snap, [None, Protection(images=("registry.example.com/team1/*",))])
    rnd = random.Random(n)
    short = [i.id[7:19] for i in rnd.sample(images, min(1000, len(images)))]
    mixed = [rnd.choice([i.id, i.id[7:20], *i.refs]) for i in rnd.sample(images, min(300, len(images)))] + [
        "nosuch",
        "registry.example.com/team1/app1",
    ]
    for force in (False, True):
        out.plan(lambda f=force: plan_remove(_fresh(snap), short, force=f))
        out.plan(lambda f=force: plan_remove(_fresh(snap), mixed, force=f, with_stopped_containers=f))
    for image in rnd.sample(images, min(30, len(images))):
        out.plan(lambda i=image.id: plan_images(snap, [i]))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer stores, no 20,000-image store")
    parser.add_argument("--store", choices=("classic", "containerd"), default="classic")
    args = parser.parse_args()
    out = Digest()
    seeds = 20 if args.quick else 120
    if args.store == "containerd":
        engines = [EngineFacts(version=v, image_store="containerd") for v in ("28.5.2", "26.1.5")]
        for seed in range(seeds):
            for facts in engines:
                _small_store(_as(fast_path_store(seed), facts), out, random.Random(seed))
                _small_store(_as(_random_store(seed), facts), out, random.Random(seed + 1000))
        for n in (1000,) if args.quick else (1000, 3000):
            _synthetic(out, n, engines[0])
    else:
        for seed in range(seeds):
            _small_store(fast_path_store(seed), out, random.Random(seed))
            _small_store(_random_store(seed), out, random.Random(seed + 1000))
        _synthetic(out, 3000)
        if not args.quick:
            _synthetic(out, 20_000)
    print(f"{out.plans} plans, {out.refusals} refusals: {out.sha.hexdigest()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
