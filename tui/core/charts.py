"""The numbers behind the app's charts: space by repository, disk use before and after a plan,
and images per age bucket. Pure functions over a :class:`Snapshot`; the widgets only draw them.

All byte counts are layer bytes (chain IDs and their DiffSize), the same numbers the planner uses,
so a chart never disagrees with a plan.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tui.core.containerd_bytes import content_of, held_bytes
from tui.core.filters import PruneFilters, parse_until
from tui.core.marking import plan_images
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
    if snapshot.containerd:
        return _containerd_space(snapshot, repo_of, removable, protection)
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
    return _rows(repo_of, unique, shared, freed)


def _rows(
    repo_of: dict[str, str], unique: dict[str, int], shared: dict[str, int], freed: dict[str, int]
) -> list[RepositoryUsage]:
    counts: dict[str, int] = {}
    for repo in repo_of.values():
        counts[repo] = counts.get(repo, 0) + 1
    rows = [
        RepositoryUsage(repo, n, unique.get(repo, 0), shared.get(repo, 0), freed.get(repo, 0))
        for repo, n in counts.items()
    ]
    rows.sort(key=lambda r: (-r.reclaimable, -r.total, r.repository))
    return rows


def _containerd_space(
    snapshot: Snapshot, repo_of: dict[str, str], removable: set[str], protection: Protection | None
) -> list[RepositoryUsage]:
    """The containerd store: an image holds content blobs (compressed layers, config, manifests)
    besides its snapshots, and blobs go only with the last image reaching them (and stay in the
    build cache for BuildKit-built images), so each repository's reclaimable bytes are its removal
    plan's, exactly as marking its images and pressing ``d`` would show."""
    users: dict[str, set[str]] = {}  # snapshot chain or content digest -> repositories
    size_of: dict[str, int] = {}
    for chain, chain_users in snapshot.images_by_chain.items():
        users[chain] = {repo_of[u] for u in chain_users if u in repo_of}
        size_of[chain] = snapshot.layers[chain].size or 0
    for image_id, repo in repo_of.items():
        for digest, size in content_of(snapshot, image_id).items():
            users.setdefault(digest, set()).add(repo)
            size_of[digest] = size
    unique: dict[str, int] = {}
    shared: dict[str, int] = {}
    for key, repos in users.items():
        for repo in repos:
            target = unique if len(repos) == 1 else shared
            target[repo] = target.get(repo, 0) + size_of[key]
    by_repo: dict[str, list[str]] = {}
    for image_id in sorted(removable):
        by_repo.setdefault(repo_of[image_id], []).append(image_id)
    freed = {
        repo: plan_images(snapshot, ids, protection=protection).reclaim_bytes for repo, ids in by_repo.items()
    }
    return _rows(repo_of, unique, shared, freed)


@dataclass(frozen=True)
class BeforeAfter:
    """Bytes the store's images hold now, and after a plan (``freed`` is the plan's exact bytes)."""

    before: int
    freed: int

    @property
    def after(self) -> int:
        return self.before - self.freed


def images_disk_use(snapshot: Snapshot) -> int:
    """Bytes of every distinct layer images and containers hold now; on the containerd store
    the content blobs and the containers' own snapshots too (what a plan's bytes count there)."""
    if snapshot.containerd:
        return held_bytes(snapshot)
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
    """Images in one age range (by the time the store's ``until`` compares, see :func:`age_buckets`).

    ``bytes`` are the distinct bytes those images hold (layers; on the containerd store content
    too); ``prune_until`` is the ``until`` value that keeps this bucket and everything younger
    (empty for the youngest: no prune), and ``prune_all_frees`` the exact bytes
    ``prune --all --filter until=<it>`` frees.
    """

    label: str
    images: int
    bytes: int
    prune_until: str
    prune_all_frees: int


def age_buckets(snapshot: Snapshot, now: float, protection: Protection | None = None) -> list[AgeBucket]:
    """Top-level images per age bucket, by the time the store's ``until`` compares: the config's
    Created on the classic store, the time the image entered the store on the containerd store
    (an image built years ago and loaded today is a day old to its prune)."""
    if not snapshot.layers_complete:
        return []
    groups: list[list[Image]] = [[] for _ in AGE_BUCKETS]
    for image in snapshot.top_images():
        born = image.stored_at_ns / 1e9 if snapshot.containerd else image.created
        age_days = (now - born) / 86_400
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
    """The layer bytes the images hold together; on the containerd store their distinct content
    blobs too (compressed layers, configs, manifests), which the store keeps beside the snapshots."""
    chains: set[str] = set()
    content: dict[str, int] = {}
    for image in images:
        chains.update(image.chain_ids)
        if snapshot.containerd:
            content.update(content_of(snapshot, image.id))
    return snapshot.bytes_of(chains) + sum(content.values())
