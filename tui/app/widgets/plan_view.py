"""A plan rendered for people: untag, delete, containers removed, blocked (and by whom), bytes."""

from __future__ import annotations

from rich.text import Text

from tui.core.model import Snapshot
from tui.core.plan import Plan
from tui.core.usage import human_size
from tui.core.views import display_name

FORCE_HELP = (
    "Force untags every reference and deletes images that stopped containers use (their layers "
    "stay on disk until those containers are removed, so that frees 0 bytes). It never deletes an "
    "image a running container uses: it only untags it."
)


def plan_text(plan: Plan, snapshot: Snapshot, *, limit: int = 200) -> Text:
    """The plan as styled text; long lists are cut at ``limit`` lines each."""
    t = Text()
    t.append(plan.description + "\n", style="bold")
    t.append("Will free: ", style="bold")
    if plan.unknown_layers:
        t.append(plan.freed_text(human_size), style="bold yellow")
    elif plan.layers_known:
        t.append(f"{human_size(plan.reclaim_bytes)}", style="bold green")
        t.append(f"  ({plan.reclaim_bytes:,} bytes in {len(plan.freed_layers)} layer(s), exact)")
        if plan.engine_reported_bytes is not None and plan.engine_reported_bytes != plan.reclaim_bytes:
            t.append(f"; the engine will report {human_size(plan.engine_reported_bytes)}", style="dim")
    else:
        t.append("unknown until layers are read", style="yellow")
    t.append(f" · untag {len(plan.untag)} · delete {len(plan.delete)} · blocked {len(plan.blocked)}\n")
    if plan.empty:
        t.append("Nothing to do.\n", style="dim")

    def section(title: str, items: list[Text], style: str) -> None:
        if not items:
            return
        t.append(f"\n{title} ({len(items)})\n", style=f"bold {style}")
        for item in items[:limit]:
            t.append("  ")
            t.append(item)
            t.append("\n")
        if len(items) > limit:
            t.append(f"  … {len(items) - limit} more\n", style="dim")

    section(
        "Remove stopped containers",
        [Text(f"{c.name} ({c.short_id}, {c.state})") for c in plan.remove_containers],
        "cyan",
    )
    section("Untag", [Text(r) for r in plan.untag], "yellow")
    deletes = []
    for image_id in plan.delete:
        image = snapshot.images[image_id]
        line = Text(f"{image.short_id}  {display_name(image)}  {human_size(image.size)}")
        if image_id in plan.pinned:
            line.append("  (layers kept by its containers: frees 0)", style="magenta")
        if image.local_only:
            line.append("  local-only", style="magenta")
        deletes.append(line)
    section("Delete", deletes, "red")
    blocked = []
    for b in plan.blocked:
        line = Text(f"{b.ref}: ", style="bold")
        line.append(b.reason, style="red")
        if b.containers:
            line.append(" — " + ", ".join(f"{c.name} ({c.short_id}, {c.state})" for c in b.containers))
        line.append(f"\n    {b.message}", style="dim")
        if b.fix:
            line.append(f"\n    fix: {b.fix}")
        blocked.append(line)
    section("Blocked", blocked, "magenta")
    section("Notes", [Text(w) for w in plan.warnings], "dim")
    return t
