"""The main screen's destructive flows: remove the marked (or highlighted) images, prune, clean
unused, mark by policy; each one plans (in a worker on big stores), confirms, then runs one job."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from tui.app.screens.planning import PlanWorkers
from tui.app.screens.store import StoreScreen
from tui.app.widgets.image_table import ImageTable
from tui.core.marking import plan_images
from tui.core.model import Snapshot
from tui.core.plan import Plan, plan_prune
from tui.core.platform_removal import PlatformError, parse_platform, plan_remove_platform
from tui.core.policy import select

if TYPE_CHECKING:
    from tui.app.screens.prune import PruneRequest

# The dialogs and the confirm screen are imported when first opened, not before the first frame.


class RemovalFlows(PlanWorkers, StoreScreen):
    """Mixed into the main screen, which lays out the ``ImageTable``."""

    confirm_enabled: bool

    @property
    def table(self) -> ImageTable:
        return self.query_one("#images", ImageTable)

    def refresh_table(self) -> None:
        """Redraw the table and the side panes (the main screen does it)."""

    # -- destructive flows -------------------------------------------------------------------
    def _targets(self) -> set[str]:
        if self.marked:
            return set(self.marked)
        current = self.table.current_image_id
        return {current} if current else set()

    def action_remove(self, with_containers: bool = False) -> None:
        if not self.ready_for_job():
            return
        targets = self._targets()
        if not targets:
            self.notify("Nothing highlighted or marked.", severity="warning")
            return
        snapshot = self.snapshot

        def build(force: bool) -> Plan:
            return plan_images(
                snapshot,
                targets,
                force=force,
                with_stopped_containers=with_containers,
                protection=self.protection,
            )

        self._confirm_then_run(build, snapshot, allow_force=True)

    def action_remove_with_containers(self) -> None:
        self.action_remove(with_containers=True)

    def action_prune(self, everything: bool = False) -> None:
        if not self.ready_for_job():
            return
        from tui.app.screens.prune import PruneDialog

        snapshot = self.snapshot

        def chosen(request: PruneRequest | None) -> None:
            if request is None:
                return

            def build(_force: bool) -> Plan:
                return plan_prune(
                    snapshot,
                    request.filters,
                    with_stopped_containers=request.with_containers,
                    protection=self.protection,
                )

            self._confirm_then_run(build, snapshot, allow_force=False)

        self.app.push_screen(
            PruneDialog(snapshot, now=self.now, everything=everything, protection=self.protection), chosen
        )

    def action_clean_unused(self) -> None:
        self.action_prune(everything=True)

    def action_policy(self) -> None:
        if not self.config.policies:
            self.notify(
                "No policies in the config: add [policies.NAME] (see config.example.toml).",
                severity="warning",
            )
            return
        from tui.app.screens.policy import PolicyPicker

        def chosen(name: str | None) -> None:
            if name is None or not self.snapshot.layers_complete:
                return
            policy = self.config.policy(name)
            selected = select(self.snapshot, policy, self.now())
            self.marked = set(selected)
            self.refresh_table()
            self.log_line("info", f"Policy {name} marks {len(selected)} image(s); press d to see the plan")

        self.app.push_screen(PolicyPicker(self.config), chosen)

    def action_remove_platform(self) -> None:
        """Remove one platform of the highlighted multi-platform image (containerd store): pick
        it, then the plan (:func:`plan_remove_platform`) is confirmed like any removal."""
        if not self.ready_for_job():
            return
        image_id = self.table.current_image_id
        snapshot = self.snapshot
        image = snapshot.images.get(image_id) if image_id else None
        if image is None:
            self.notify("Nothing highlighted.", severity="warning")
            return
        present = [
            p for _, p, kind, available in image.manifests if kind == "image" and available and _parses(p)
        ]
        if len([1 for _, _, kind, _ in image.manifests if kind == "image"]) < 2 or not present:
            self.notify(
                f"{image.tags[0] if image.tags else image.short_id} is not a multi-platform image "
                "with a platform present: d removes the whole image.",
                severity="warning",
            )
            return
        ref = image.tags[0] if image.tags else image.id
        from tui.app.screens.platform_picker import PlatformPicker

        def chosen(platform: str | None) -> None:
            if platform is None:
                return
            parsed = parse_platform(platform)
            self._confirm_then_run(
                lambda _force: plan_remove_platform(snapshot, ref, parsed), snapshot, allow_force=False
            )

        self.app.push_screen(PlatformPicker(ref, present), chosen)

    def _confirm_then_run(
        self, build: Callable[[bool], Plan], snapshot: Snapshot, *, allow_force: bool
    ) -> None:
        from tui.app.screens.confirm import ConfirmScreen

        def confirmed(plan: Plan | None) -> None:
            if plan is None:
                self.log_line("info", "Cancelled; nothing was deleted.")
                return
            self.start_job(plan, snapshot)

        def planned(plan: Plan) -> None:
            # a reload that read the same store (an event of no consequence) keeps the plan good
            if self.job_running or not snapshot.same_store(self.snapshot):
                self.log_line("info", "The store changed while planning; nothing was deleted. Try again.")
                return
            if not self.confirm_enabled:
                confirmed(plan)
                return
            screen = ConfirmScreen(
                build,
                snapshot,
                allow_force=allow_force,
                local_only_confirm=self.config.local_only.confirm,
                plan=plan,
            )
            self.app.push_screen(screen, confirmed)

        if not self.plan_then("confirm", lambda: build(False), planned):
            self.log_line("info", f"Planning ({len(snapshot.images)} images) …")


def _parses(platform: str) -> bool:
    try:
        parse_platform(platform)
    except PlatformError:
        return False
    return True
