"""The numbers behind the app's charts: space by repository, disk use before and after a plan,
and images per age bucket. Pure functions over a :class:`Snapshot`; the widgets only draw them.

All byte counts are layer bytes (chain IDs and their DiffSize), the same numbers the planner uses,
so a chart never disagrees with a plan.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tui.core.filters import PruneFilters, parse_until
from tui.core.model import Image, Snapshot
from tui.core.plan import Plan, plan_prune
from tui.core.protect import Protection
from tui.core.reference import repository_of

NO_REPOSITORY = "<none>"


def repository(image: Image) -> str:
    """The repository an image is counted under: its first tag's, else its first digest's, else
    ``<none>`` (dangling and intermediate images)."""
    if image.tags:
        return repository_of(image.tags[0])
    if image.digests:
        return image.digests[0].split("@")[0]
    return NO_REPOSITORY


@dataclass(frozen=True)
class RepositoryUsage:
    """One bar of the space-by-repository chart.

    ``unique``: bytes of layers only this repository's images use; ``shared``: bytes of its layers
    that other repositories' images use too; ``reclaimable``: exact bytes freed by removing every
    image of the repository that can go without force (no container uses it, not protected) — what
    marking the repository and pressing ``d`` would free.
    """

    repository: str
    images: int
    unique: int
    shared: int
    reclaimable: int

    @property
    def total(self) -> int:
        return self.unique + self.shared


def space_by_repository(snapshot: Snapshot, protection: Protection | None = None) -> list[RepositoryUsage]:
    """One entry per repository, sorted by reclaimable bytes, then total, then name.

    Intermediate images (untagged parents of classic builds) are not counted as users of a layer:
    their layers are a prefix of their children's, and removing the children prunes them.
    """
    if not snapshot.layers_complete:
        return []
    repo_of = {i.id: repository(i) for i in snapshot.images.values() if not snapshot.is_intermediate(i.id)}
    removable = {
        image_id
        for image_id in repo_of
        if not snapshot.containers_of(image_id)
        and not (protection is not None and protection.reason(snapshot.images[image_id]))
    }
    held: set[str] = set()  # chains containers keep whatever happens to images
    for container in snapshot.containers:
        used = snapshot.images.get(container.image_id)
        held.update(used.chain_ids if used is not None else container.held_chains)
    unique: dict[str, int] = {}
    shared: dict[str, int] = {}
    freed: dict[str, int] = {}
    for chain, users in snapshot.images_by_chain.items():
        size = snapshot.layers[chain].size or 0  # unknown sizes (None) count as known bytes only
        repos = {repo_of[u] for u in users if u in repo_of}
        for repo in repos:
            target = unique if len(repos) == 1 else shared
            target[repo] = target.get(repo, 0) + size
        if len(repos) == 1 and chain not in held and all(u in removable for u in users if u in repo_of):
            (repo,) = repos
            freed[repo] = freed.get(repo, 0) + size
    counts: dict[str, int] = {}
    for repo in repo_of.values():
        counts[repo] = counts.get(repo, 0) + 1
    rows = [
        RepositoryUsage(repo, n, unique.get(repo, 0), shared.get(repo, 0), freed.get(repo, 0))
        for repo, n in counts.items()
    ]
    rows.sort(key=lambda r: (-r.reclaimable, -r.total, r.repository))
    return rows


@dataclass(frozen=True)
class BeforeAfter:
    """Bytes the store's images hold now, and after a plan (``freed`` is the plan's exact bytes)."""

    before: int
    freed: int

    @property
    def after(self) -> int:
        return self.before - self.freed


def images_disk_use(snapshot: Snapshot) -> int:
    """Bytes of every distinct layer images and containers hold now."""
    return snapshot.bytes_of(snapshot.live_chains())


def before_after(snapshot: Snapshot, plan: Plan) -> BeforeAfter:
    return BeforeAfter(images_disk_use(snapshot), plan.reclaim_bytes if plan.layers_known else 0)


AGE_BUCKETS: tuple[tuple[str, str, float], ...] = (
    ("< 1 day", "24h", 1.0),
    ("1–7 days", "168h", 7.0),
    ("7–30 days", "720h", 30.0),
    ("> 30 days", "", float("inf")),
)
"""``(label, until value of the bucket's upper end, upper end in days)``, youngest first."""


@dataclass(frozen=True)
class AgeBucket:
    """Images created in one age range.

    ``bytes`` are the distinct layer bytes those images hold; ``prune_until`` is the ``until``
    value that keeps this bucket and everything younger (empty for the youngest: no prune), and
    ``prune_all_frees`` the exact bytes ``prune --all --filter until=<it>`` frees.
    """

    label: str
    images: int
    bytes: int
    prune_until: str
    prune_all_frees: int


def age_buckets(snapshot: Snapshot, now: float, protection: Protection | None = None) -> list[AgeBucket]:
    """Top-level images per age bucket (by the config's Created, as the engine's ``until``)."""
    if not snapshot.layers_complete:
        return []
    groups: list[list[Image]] = [[] for _ in AGE_BUCKETS]
    for image in snapshot.top_images():
        age_days = (now - image.created) / 86_400
        for index, (_, _, upper) in enumerate(AGE_BUCKETS):
            if age_days < upper:
                groups[index].append(image)
                break
    out = []
    previous_until = ""
    for (label, until, _), images in zip(AGE_BUCKETS, groups, strict=True):
        frees = 0
        if previous_until:
            filters = PruneFilters(dangling=False, until=parse_until(previous_until, now))
            frees = plan_prune(snapshot, filters, protection=protection).reclaim_bytes
        out.append(AgeBucket(label, len(images), _distinct_bytes(snapshot, images), previous_until, frees))
        previous_until = until
    return out


def _distinct_bytes(snapshot: Snapshot, images: Iterable[Image]) -> int:
    chains: set[str] = set()
    for image in images:
        chains.update(image.chain_ids)
    return snapshot.bytes_of(chains)
