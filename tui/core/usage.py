"""The ``docker system df``-style summary, with the exact bytes a prune would free.

The docker CLI's RECLAIMABLE column for images is a heuristic; here ``reclaimable`` for images is
the exact byte count of the planner's ``prune --all`` plan, and ``dangling_reclaimable`` that of a
dangling-only prune.
"""

from __future__ import annotations

from dataclasses import dataclass

from tui.core.containerd_bytes import held_bytes
from tui.core.filters import PruneFilters
from tui.core.model import Snapshot
from tui.core.plan import plan_prune
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


def summarize(snapshot: Snapshot) -> UsageSummary:
    """Compute the summary from a snapshot (layers read; disk usage optional)."""
    top = snapshot.top_images()
    active_images = sum(1 for i in top if snapshot.containers_of(i.id))
    live = snapshot.live_chains()
    images_size, unknown = snapshot.measure(live)
    if snapshot.containerd:
        images_size = held_bytes(snapshot)
    if snapshot.disk is not None and snapshot.disk.layers_size >= 0 and not snapshot.layers_complete:
        images_size = snapshot.disk.layers_size
    all_plan = plan_prune(snapshot, PruneFilters(dangling=False))
    dangling_plan = plan_prune(snapshot, PruneFilters(dangling=True))
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
    )
