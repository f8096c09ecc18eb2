"""A plan as lines for people: the one place that says what each section shows and in which words.

The TUI (:mod:`tui.app.widgets.plan_view`) styles these lines and the headless commands
(:func:`tui.headless.render_plan`) print them; neither decides what a plan says.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tui.core.model import Container, Snapshot
from tui.core.plan import Plan
from tui.core.usage import human_size
from tui.core.views import display_name

#: What a piece of text is, so each renderer can show it its way (the TUI maps roles to styles).
Role = Literal["", "ref", "problem", "remark", "detail"]
SectionKey = Literal["containers", "untag", "delete", "blocked", "notes"]


@dataclass(frozen=True)
class Segment:
    """A piece of a line and what it is."""

    text: str
    role: Role = ""


@dataclass(frozen=True)
class PlanLine:
    """One item of a section: its segments, then indented detail lines (engine message, fix)."""

    segments: tuple[Segment, ...]
    details: tuple[Segment, ...] = ()

    @property
    def text(self) -> str:
        """The line without roles."""
        return "".join(s.text for s in self.segments)


@dataclass(frozen=True)
class PlanSection:
    """A titled group of lines; renderers skip empty sections."""

    key: SectionKey
    title: str
    lines: tuple[PlanLine, ...]


def _who(container: Container) -> str:
    return f"{container.name} ({container.short_id}, {container.state})"


def plan_sections(plan: Plan, snapshot: Snapshot) -> list[PlanSection]:
    """The plan's sections in order: containers removed, untagged, deleted, blocked, notes."""
    deletes = []
    for image_id in plan.delete:
        image = snapshot.images[image_id]
        segments = [Segment(f"{image.short_id}  {display_name(image)}  {human_size(image.size)}")]
        if image_id in plan.pinned:
            segments.append(Segment("  (layers kept by its containers: frees 0)", "remark"))
        if image.local_only:
            segments.append(Segment("  local-only", "remark"))
        deletes.append(PlanLine(tuple(segments)))
    blocked = []
    for b in plan.blocked:
        segments = [Segment(f"{b.ref}: ", "ref"), Segment(b.reason, "problem")]
        if b.containers:
            segments.append(Segment(" — " + ", ".join(_who(c) for c in b.containers)))
        details = [Segment(b.message, "detail")]
        if b.fix:
            details.append(Segment(f"fix: {b.fix}"))
        blocked.append(PlanLine(tuple(segments), tuple(details)))
    return [
        PlanSection(
            "containers",
            "Remove stopped containers",
            tuple(PlanLine((Segment(_who(c)),)) for c in plan.remove_containers),
        ),
        PlanSection("untag", "Untag", tuple(PlanLine((Segment(r),)) for r in plan.untag)),
        PlanSection("delete", "Delete", tuple(deletes)),
        PlanSection("blocked", "Blocked", tuple(blocked)),
        PlanSection("notes", "Notes", tuple(PlanLine((Segment(w),)) for w in plan.warnings)),
    ]
