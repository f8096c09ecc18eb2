"""The ``docker system df``-style summary, with the exact bytes a prune would free.

The docker CLI's RECLAIMABLE column for images is a heuristic; here ``reclaimable`` for images is
the exact byte count of the planner's ``prune --all`` plan, and ``dangling_reclaimable`` that of a
dangling-only prune.
"""

from __future__ import annotations

from dataclasses import dataclass

from tui.core.containerd_bytes import containers_own_bytes, content_of, held_bytes
from tui.core.containerd_prune import engine_major
from tui.core.filters import PruneFilters
from tui.core.model import Snapshot
from tui.core.plan import Plan, plan_prune
from tui.core.podman import reported_space


def human_size(n: int | None) -> str:
    """Sizes the way the docker CLI prints them: 3 significant digits, decimal units (``5.28MB``);
    ``?`` for an unknown size (negative or ``None``)."""
    if n is None or n < 0:
        return "?"
    units = ("B", "kB", "MB", "GB", "TB", "PB")
    value = float(n)
    unit = 0
    while value >= 1000 and unit < len(units) - 1:
        value /= 1000
        unit += 1
    if unit == 0:
        return f"{n}B"
    return f"{value:.3g}{units[unit]}"


@dataclass(frozen=True)
class UsageRow:
    """One row of the summary: TYPE, TOTAL, ACTIVE, SIZE, RECLAIMABLE."""

    type: str
    total: int
    active: int
    size: int
    reclaimable: int
    note: str = ""


@dataclass(frozen=True)
class UsageSummary:
    rows: tuple[UsageRow, ...]
    prune_all_bytes: int
    prune_dangling_bytes: int
    engine: str
    root_dir: str
    storage_driver: str
    version: str
    engine_estimate: str = ""  # the engine's own (differently computed) figure, labelled
    # containerd store: bytes the engine's df LayersSize counts beyond what the images and
    # containers hold (see :func:`unattributed_bytes`); None where not compared
    engine_unattributed: int | None = None
    # bytes of build-cache records shared with images (``docker buildx du``'s "Shared"): on disk,
    # but counted in the images' size, so not in the Build Cache row (as ``docker system df``)
    build_cache_shared: int = 0


def unattributed_bytes(snapshot: Snapshot, images_size: int) -> int | None:
    """Bytes /system/df LayersSize counts that no image or container of the snapshot holds, on
    the containerd store (None elsewhere, or where a figure is missing).

    The containerd store's LayersSize is the usage of every snapshot in the engine's snapshotter
    (moby ``layerDiskUsage`` walks them all), plus the images' content on Docker 28 (26 counts no
    content). BuildKit keeps its build cache's snapshots there too, so after a BuildKit build
    LayersSize is larger than what the images and containers hold, by their usage (measured on
    28.5 and 26.1: a one-COPY build whose image was then removed left LayersSize at 225,280 with
    no image and no container, until the build cache was pruned). The model does not spread
    those bytes over images: it says how many there are.
    """
    disk = snapshot.disk
    if not snapshot.containerd or disk is None or disk.layers_size < 0 or not snapshot.layers_complete:
        return None
    if containers_own_bytes(snapshot, snapshot.containers)[1]:
        return None  # a container's own bytes are unknown: the difference would include them
    counted = images_size
    if engine_major(snapshot) < 28:  # LayersSize is snapshots only there
        content: dict[str, int] = {}
        for image_id in snapshot.images:
            content.update(content_of(snapshot, image_id))
        counted -= sum(content.values())
    return disk.layers_size - counted


@dataclass(frozen=True)
class SummaryPlans:
    """The two prune plans a summary reports (``--all`` and dangling), made on ``snapshot``."""

    snapshot: Snapshot
    all_plan: Plan
    dangling_plan: Plan

    def serve(self, other: Snapshot) -> bool:
        """True when these are ``other``'s plans too: a plan reads the images, the containers,
        the facts and the layer sizes, and ``other`` has the same (e.g. the same store read
        before and after ``/system/df`` answered, with every size known without it)."""
        mine = self.snapshot
        return mine.same_store(other) and mine.layer_sizes.size == other.layer_sizes.size


def summary_plans(snapshot: Snapshot) -> SummaryPlans:
    """The plans :func:`summarize` reports. A headless ``df`` makes them on the layered
    snapshot while ``/system/df`` is still being answered, and hands them to it."""
    return SummaryPlans(
        snapshot,
        plan_prune(snapshot, PruneFilters(dangling=False)),
        plan_prune(snapshot, PruneFilters(dangling=True)),
    )


def summarize(snapshot: Snapshot, early: SummaryPlans | None = None) -> UsageSummary:
    """Compute the summary from a snapshot (layers read; disk usage optional). ``early``: the
    plans made on another snapshot, used where they are this one's (:meth:`SummaryPlans.serve`)."""
    top = snapshot.top_images()
    active_images = sum(1 for i in top if snapshot.containers_of(i.id))
    live = snapshot.live_chains()
    images_size, unknown = snapshot.measure(live)
    if snapshot.containerd:
        images_size = held_bytes(snapshot)
    if snapshot.disk is not None and snapshot.disk.layers_size >= 0 and not snapshot.layers_complete:
        images_size = snapshot.disk.layers_size
    plans = early if early is not None and early.serve(snapshot) else summary_plans(snapshot)
    all_plan, dangling_plan = plans.all_plan, plans.dangling_plan
    note = "exact: what prune --all frees"
    if unknown or all_plan.unknown_layers:
        note = (
            f"at least: {max(unknown, all_plan.unknown_layers)} layer(s) of unknown size "
            "(images without full history)"
        )
    rows = [UsageRow("Images", len(top), active_images, images_size, all_plan.reclaim_bytes, note)]
    containers = snapshot.containers
    running = sum(1 for c in containers if c.running)
    disk = snapshot.disk
    if disk is not None:
        sizes = disk.container_sizes
        c_size = sum(sizes.get(c.id, (0, 0))[0] for c in containers)
        c_free = sum(sizes.get(c.id, (0, 0))[0] for c in containers if not c.running)
        rows.append(UsageRow("Containers", len(containers), running, c_size, c_free))
        v_size = sum(max(v.size, 0) for v in disk.volumes)
        v_free = sum(max(v.size, 0) for v in disk.volumes if v.ref_count == 0)
        rows.append(
            UsageRow(
                "Local Volumes",
                len(disk.volumes),
                sum(1 for v in disk.volumes if v.ref_count > 0),
                v_size,
                v_free,
            )
        )
        b_size = sum(b.size for b in disk.build_cache if not b.shared)
        b_free = sum(b.size for b in disk.build_cache if not b.in_use and not b.shared)
        rows.append(
            UsageRow(
                "Build Cache",
                len(disk.build_cache),
                sum(1 for b in disk.build_cache if b.in_use),
                b_size,
                b_free,
            )
        )
    else:
        rows.append(UsageRow("Containers", len(containers), running, -1, -1, "sizes not read"))
    facts = snapshot.facts
    unattributed = None if unknown else unattributed_bytes(snapshot, images_size)
    estimate = ""
    if facts.image_store == "podman":
        estimate = (
            f"Podman's estimate for prune --all: "
            f"{human_size(reported_space(snapshot, list(all_plan.delete)))} (whole image "
            "sizes, shared layers counted once per image; not disk truth)"
        )
    return UsageSummary(
        rows=tuple(rows),
        prune_all_bytes=all_plan.reclaim_bytes,
        prune_dangling_bytes=dangling_plan.reclaim_bytes,
        engine=facts.host,
        root_dir=facts.root_dir,
        storage_driver=facts.storage_driver,
        version=facts.version,
        engine_estimate=estimate,
        engine_unattributed=unattributed,
        build_cache_shared=sum(b.size for b in disk.build_cache if b.shared) if disk is not None else 0,
    )


def unattributed_note(summary: UsageSummary, *, build_cache: bool) -> str:
    """One line on what the engine's df counts beyond the images and containers ("" if nothing)."""
    gap = summary.engine_unattributed
    if not gap:
        return ""
    if gap < 0:
        return f"The engine's df counts {human_size(-gap)} less than the images and containers hold here."
    where = ""
    if build_cache:
        where = " (the build cache's snapshots, which the containerd store counts there too)"
    return (
        f"The engine's df Images size also counts {human_size(gap)} ({gap} bytes) that no image or "
        f"container holds{where}."
    )


def build_cache_shared_note(summary: UsageSummary) -> str:
    """One line on the build cache's records shared with images ("" if none)."""
    shared = summary.build_cache_shared
    if not shared:
        return ""
    row = next((r for r in summary.rows if r.type == "Build Cache"), None)
    total = shared + (row.size if row is not None else 0)
    return (
        f"Build Cache: also {human_size(shared)} ({shared} bytes) in records shared with images "
        f"(counted in the images' size; all records together: {human_size(total)}, as docker buildx du)."
    )
