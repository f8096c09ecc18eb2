"""Details of the highlighted image: references, labels, containers, and what blocks its removal."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.text import Text
from textual.widgets import Static

from tui.core.marking import plan_images
from tui.core.model import Image, Snapshot, short_id
from tui.core.plan import Plan
from tui.core.protect import Protection
from tui.core.usage import human_size

RemovalPlans = tuple[Plan, Plan | None]
"""The plan of removing one image alone, and (when only stopped containers block it) the plan of
removing it with them."""


def removal_plans(snapshot: Snapshot, image_id: str, protection: Protection | None) -> RemovalPlans | None:
    """What the pane says about removing ``image_id``: CPU work, run in a worker on big stores."""
    if not snapshot.layers_complete or image_id not in snapshot.images:
        return None
    plan = plan_images(snapshot, [image_id], protection=protection)
    users = snapshot.containers_of(image_id)
    fixed = None
    if image_id not in plan.delete and users and not any(c.running for c in users):
        fixed = plan_images(snapshot, [image_id], with_stopped_containers=True, protection=protection)
    return plan, fixed


class DetailPane(Static):
    """Everything about one image, and the exact effect of removing it alone."""

    def show(
        self,
        snapshot: Snapshot,
        image_id: str | None,
        protection: Protection | None = None,
        plans: RemovalPlans | None | str = "inline",
    ) -> None:
        """``plans``: the image's :func:`removal_plans`, or ``"inline"`` to make them here, or
        ``"pending"`` while a worker makes them."""
        if image_id is None or image_id not in snapshot.images:
            self.update(Text("No image highlighted", style="dim"))
            return
        image = snapshot.images[image_id]
        t = Text()
        t.append(image.id + "\n", style="bold")
        when = datetime.fromtimestamp(image.created, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        t.append(f"created {when} · size {human_size(image.size)}")
        if image.layers is not None:
            t.append(f" · unique {human_size(snapshot.unique_size(image.id))} · {len(image.layers)} layers")
        t.append("\n")
        if snapshot.is_dangling(image.id):
            t.append("dangling (no tag, no child image)\n", style="yellow")
        if image.local_only:
            t.append(
                (image.provenance or "local-only: no registry digest; it cannot be pulled back once removed")
                + "\n",
                style="magenta",
            )
        if image.manifests:
            t.append("Platforms: ", style="bold")
            t.append(
                ", ".join(
                    f"{platform}{'' if available else ' (not present)'}"
                    for _, platform, kind, available in image.manifests
                    if kind == "image"
                )
                + "\n"
            )
            self._platforms(t, image)
        t.append("Tags: ", style="bold")
        t.append((", ".join(image.tags) or "<none>") + "\n")
        if image.digests:
            t.append("Digests: ", style="bold")
            t.append(", ".join(image.digests) + "\n")
        if image.labels:
            t.append("Labels: ", style="bold")
            t.append(", ".join(f"{k}={v}" for k, v in sorted(image.labels.items())) + "\n")
        users = snapshot.containers_of(image.id)
        t.append("Containers: ", style="bold")
        if not users:
            t.append("none\n", style="dim")
        else:
            t.append("\n")
            for c in users:
                style = "bold red" if c.running else "yellow"
                t.append(f"  {c.name} ({c.short_id}) ", style=style)
                t.append(("running" if c.running else c.state) + "\n", style=style)
        why = protection.reason(image) if protection else None
        if why:
            t.append(why + "\n", style="bold cyan")
        if plans == "pending":
            if snapshot.layers_complete:
                t.append("Removing it: ", style="bold")
                t.append("planning …\n", style="dim")
        else:
            found = removal_plans(snapshot, image.id, protection) if plans == "inline" else plans
            if found is not None and not isinstance(found, str):
                self._removal(t, snapshot, image.id, found)
        self.update(t)

    @staticmethod
    def _platforms(t: Text, image: Image) -> None:
        """One line per platform of a multi-platform image (like ``docker image ls --tree``): its
        manifest, the content it reaches and its unpacked snapshots (shared blobs count in each)."""
        platforms = [(d, p, a) for d, p, kind, a in image.manifests if kind == "image"]
        if len(platforms) < 2:
            return
        for digest, platform, available in platforms:
            t.append(f"  {platform:<16} {short_id(digest)}  ", style="" if available else "dim")
            if not available:
                t.append("not present\n", style="dim")
                continue
            blobs = image.manifest_content.get(digest)
            content = human_size(sum(blobs.values())) if blobs is not None else "?"
            unpacked = image.manifest_unpacked.get(digest)
            t.append(f"content {content}")
            t.append(f" · unpacked {human_size(unpacked)}\n" if unpacked is not None else "\n")
        t.append("  shift+m removes one platform (the image and its tags stay)\n", style="dim")

    def _removal(self, t: Text, snapshot: Snapshot, image_id: str, plans: RemovalPlans) -> None:
        plan, fixed = plans
        t.append("Removing it: ", style="bold")
        if image_id in plan.delete:
            exact = " (exact)" if plan.exact else ""
            t.append(f"deletes it and frees {plan.freed_text(human_size)}{exact}\n", style="green")
            return
        if plan.untag and not plan.blocked:
            t.append("only untags it\n", style="yellow")
        for b in plan.blocked:
            t.append(f"blocked: {b.reason}", style="bold red")
            if b.containers:
                t.append(" by " + ", ".join(f"{c.name} ({c.state})" for c in b.containers), style="red")
            t.append(f"\n  {b.message}\n", style="dim")
            if b.fix:
                t.append(f"  fix: {b.fix}\n")
        stopped = [c for c in snapshot.containers_of(image_id) if not c.running]
        if fixed is not None and image_id in fixed.delete:
            t.append(
                f"  press c to remove it with its {len(stopped)} stopped container(s): "
                f"frees {fixed.freed_text(human_size)}\n",
                style="cyan",
            )
