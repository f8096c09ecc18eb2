"""A plan rendered for people: the lines of :func:`tui.core.plan_lines.plan_sections`, styled, and bytes."""

from __future__ import annotations

from rich.text import Text

from tui.core.model import Snapshot
from tui.core.plan import Plan
from tui.core.plan_lines import PlanLine, Role, SectionKey, plan_sections
from tui.core.usage import human_size

FORCE_HELP = (
    "Force untags every reference and deletes images that stopped containers use (their layers "
    "stay on disk until those containers are removed, so that frees 0 bytes). It never deletes an "
    "image a running container uses: it only untags it."
)


_SECTION_STYLE: dict[SectionKey, str] = {
    "containers": "cyan",
    "untag": "yellow",
    "delete": "red",
    "blocked": "magenta",
    "notes": "dim",
}
_ROLE_STYLE: dict[Role, str] = {"": "", "ref": "bold", "problem": "red", "remark": "magenta", "detail": "dim"}


#: A blocked reference is a whole bold line (its reason red, its engine message dim).
_LINE_STYLE: dict[SectionKey, str] = {"blocked": "bold"}


def _line_text(line: PlanLine, key: SectionKey) -> Text:
    text = Text(style=_LINE_STYLE.get(key, ""))
    for segment in line.segments:
        text.append(segment.text, style=_ROLE_STYLE[segment.role])
    for detail in line.details:
        text.append(f"\n    {detail.text}", style=_ROLE_STYLE[detail.role])
    return text


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

    for section in plan_sections(plan, snapshot):
        if not section.lines:
            continue
        t.append(f"\n{section.title} ({len(section.lines)})\n", style=f"bold {_SECTION_STYLE[section.key]}")
        for item in section.lines[:limit]:
            t.append("  ")
            t.append(_line_text(item, section.key))
            t.append("\n")
        if len(section.lines) > limit:
            t.append(f"  … {len(section.lines) - limit} more\n", style="dim")
    return t
