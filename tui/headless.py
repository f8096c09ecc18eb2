"""The headless commands: images, df, plan, rm, prune. Thin over the core planner and engine.

Every command prints either human text (docker CLI wording) or, with ``--json``, one JSON document.
Exit codes are in :mod:`tui.exit_codes` and the README.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from tui.core.filter_error import FilterError
from tui.core.json_text import fast_dumps
from tui.exit_codes import EXIT_INTERRUPTED, EXIT_OK, EXIT_PARTIAL, EXIT_REFUSED

# Each command imports what it uses when it runs (``images`` and ``df`` need no executor, ``images``
# no planner): a headless command is a whole process, and imports are much of its fixed cost.
if TYPE_CHECKING:
    from tui.core.filters import PruneFilters
    from tui.core.model import Image, Snapshot
    from tui.core.plan import Plan, Step
    from tui.core.plan_lines import SectionKey
    from tui.core.policy import Policy
    from tui.core.protect import Protection
    from tui.core.usage import SummaryPlans
    from tui.engine.actions import ExecutionResult
    from tui.engine.client import Engine


def _read(engine: Engine, *, disk_usage: bool = False) -> Snapshot:
    """A full snapshot, with layer data cached across runs (image ids are content addresses)."""
    from tui.engine.snapshot import LayerCache, default_cache_path, read_snapshot

    return read_snapshot(engine, disk_usage=disk_usage, cache=LayerCache(default_cache_path(), defer=True))


def _read_with_plans(engine: Engine) -> tuple[Snapshot, SummaryPlans | None]:
    """:func:`_read` with ``/system/df``, and the summary's plans made on the layered snapshot
    while the engine still answers ``/system/df`` (its slowest request); ``None`` when the layers
    left some size open (df's numbers settle it, so the plans wait for them)."""
    from tui.core.usage import summary_plans
    from tui.engine.snapshot import LayerCache, default_cache_path, read_stages

    cache = LayerCache(default_cache_path(), defer=True)
    early = None
    for snapshot in read_stages(engine, disk_usage=True, cache=cache, df_early=True):
        if snapshot.disk is None and snapshot.layers_complete:
            early = summary_plans(snapshot)
    return snapshot, early


def _age(ts: float, now: float) -> str:
    if ts <= 0:
        return "N/A"
    import humanize

    return humanize.naturaltime(now - ts)


def image_rows(
    snapshot: Snapshot, show_all: bool, protection: Protection | None = None
) -> list[dict[str, Any]]:
    """The rows of ``images --json``: one per image, newest first."""
    from tui.core.views import image_flags, select_images, usage_text

    rows = []
    for image in select_images(snapshot, show_all=show_all, sort_key="created"):
        containers = snapshot.containers_of(image.id)
        shared = snapshot.shared_size(image.id)
        rows.append(
            {
                "id": image.id,
                "tags": list(image.tags),
                "digests": list(image.digests),
                "created": int(image.created),
                "size": image.size,
                "shared_size": shared,
                "unique_size": -1 if shared < 0 else image.size - shared,  # Snapshot.unique_size
                "containers": [{"id": c.id, "name": c.name, "state": c.state} for c in containers],
                "dangling": snapshot.is_dangling(image.id),
                "intermediate": snapshot.is_intermediate(image.id),
                "local_only": image.local_only,
                "local_only_reason": (image.provenance or "no registry digest") if image.local_only else "",
                "platforms": list(image.platforms),
                "protected": bool(protection and protection.reason(image)),
                "flags": image_flags(snapshot, image, protection),
                "used_by": usage_text(containers),
                "labels": dict(image.labels),
                "parent_id": image.parent_id,
            }
        )
    return rows


def write_json(obj: Any, out: TextIO, depth: int = 2) -> None:
    """``obj`` as JSON, its outer ``depth`` levels one item a line (indented by two spaces) and
    everything deeper compact. ``json.dump(indent=2)`` runs Python's pure-Python encoder: for a
    20,000-image plan that took longer than the plan; this uses the C encoder for each item."""
    write_whole(out, _json_text(obj, depth, ""))


def write_whole(out: TextIO, text: str) -> None:
    """``out.write(text)`` that never loses a part. One large ``write`` to a full pipe that a
    signal handler interrupts (the ignored second Ctrl-C while the record is printed) keeps only
    the first 64 KiB in CPython's text/buffered layers (seen: the JSON record cut at 65,536
    characters); on a real file descriptor the bytes go out with ``os.write`` until all are out."""
    try:
        fd = out.fileno()
    except (AttributeError, OSError, ValueError):
        out.write(text)
        return
    out.flush()
    view = memoryview(text.encode(getattr(out, "encoding", None) or "utf-8"))
    while view:
        view = view[os.write(fd, view) :]


def _json_text(obj: Any, depth: int, pad: str) -> str:
    inner = pad + "  "
    if depth and isinstance(obj, dict) and obj:
        if depth == 1:  # the innermost indented level (e.g. each image row): values compact
            items = [inner + _key_text(k) + _dumps(v) for k, v in obj.items()]
        else:
            items = [inner + _key_text(k) + _json_text(v, depth - 1, inner) for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if depth and isinstance(obj, list | tuple) and obj:
        if depth == 1:
            return "[\n" + ",\n".join([inner + _dumps(v) for v in obj]) + f"\n{pad}]"
        return "[\n" + ",\n".join([inner + _json_text(v, depth - 1, inner) for v in obj]) + f"\n{pad}]"
    return _dumps(obj)


_dumps = fast_dumps()
_KEYS: dict[Any, str] = {}


def _key_text(key: Any) -> str:
    """``"key": `` (the rows of a document repeat the same few keys)."""
    text = _KEYS.get(key)
    if text is None:
        text = _KEYS[key] = _dumps(str(key)) + ": "
    return text


def _table(rows: Sequence[Sequence[str]], out: TextIO) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        out.write("   ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n")


def cmd_images(
    engine: Engine, show_all: bool, as_json: bool, out: TextIO, protection: Protection | None = None
) -> int:
    snapshot = _read(engine)
    rows = image_rows(snapshot, show_all, protection)
    if as_json:
        write_json(rows, out)
        out.write("\n")
        return EXIT_OK
    from tui.core.reference import split_tag
    from tui.core.usage import human_size

    now = time.time()
    table = [["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE", "SHARED", "UNIQUE", "USED BY", "FLAGS"]]
    for row in rows:
        used, flags = row["used_by"], ",".join(row["flags"])
        refs = row["tags"] or ["<none>:<none>"]
        for ref in refs:
            repo, tag = split_tag(ref)
            table.append(
                [
                    repo,
                    tag,
                    row["id"].split(":", 1)[1][:12],
                    _age(row["created"], now),
                    human_size(row["size"]),
                    human_size(row["shared_size"]),
                    human_size(row["unique_size"]),
                    used,
                    flags,
                ]
            )
    _table(table, out)
    return EXIT_OK


def cmd_df(engine: Engine, as_json: bool, out: TextIO) -> int:
    from tui.core.usage import build_cache_shared_note, human_size, summarize, unattributed_note

    snapshot, early = _read_with_plans(engine)
    summary = summarize(snapshot, early)
    if as_json:
        write_json(
            {
                "engine": summary.engine,
                "root_dir": summary.root_dir,
                "storage_driver": summary.storage_driver,
                "version": summary.version,
                "rows": [r.__dict__ for r in summary.rows],
                "prune_all_bytes": summary.prune_all_bytes,
                "prune_dangling_bytes": summary.prune_dangling_bytes,
                "engine_estimate": summary.engine_estimate,
                "engine_unattributed_bytes": summary.engine_unattributed,
                "build_cache_shared_bytes": summary.build_cache_shared,
            },
            out,
        )
        out.write("\n")
        return EXIT_OK
    table = [["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]]
    for r in summary.rows:
        table.append([r.type, str(r.total), str(r.active), human_size(r.size), human_size(r.reclaimable)])
    _table(table, out)
    for r in summary.rows:
        if r.note.startswith("at least"):
            out.write(f"{r.type}: {r.note}\n")
    exact = "Image" if any(r.note.startswith("at least") for r in summary.rows) else "Exact image"
    out.write(
        f"\n{exact} bytes freed by: prune (dangling) {human_size(summary.prune_dangling_bytes)}, "
        f"prune --all {human_size(summary.prune_all_bytes)}\n"
        f"Engine {summary.version} at {summary.engine}, {summary.storage_driver}, "
        f"data root {summary.root_dir}\n"
    )
    if summary.engine_estimate:
        out.write(summary.engine_estimate + "\n")
    note = unattributed_note(summary, build_cache=bool(snapshot.disk and snapshot.disk.build_cache))
    if note:
        out.write(note + "\n")
    if shared := build_cache_shared_note(summary):
        out.write(shared + "\n")
    return EXIT_OK


def cmd_backups(store: Any, as_json: bool, out: TextIO) -> int:
    """List backups, newest first."""
    backups = store.backups()
    if as_json:
        write_json(
            [
                {
                    "name": b.name,
                    "path": str(b.path),
                    "image_id": b.image_id,
                    "tags": list(b.tags),
                    "size_bytes": b.size_bytes,
                    "created_at": b.created_at,
                }
                for b in backups
            ],
            out,
        )
        out.write("\n")
        return EXIT_OK
    if not backups:
        out.write(f"No backups in {store.dir}\n")
        return EXIT_OK
    from tui.core.usage import human_size

    now = time.time()
    table = [["NAME", "IMAGE ID", "TAGS", "SIZE", "SAVED"]]
    for b in backups:
        table.append(
            [
                b.name,
                b.image_id.split(":", 1)[-1][:12],
                ", ".join(b.tags) or "<none>",
                human_size(b.size_bytes),
                _age(b.created_at, now),
            ]
        )
    _table(table, out)
    out.write(f"{len(backups)} backup(s), {human_size(store.total_bytes())} in {store.dir}\n")
    return EXIT_OK


def cmd_restore(engine: Engine, store: Any, name: str, as_json: bool, out: TextIO) -> int:
    """Load a backup back; prints what was loaded."""
    loaded = store.restore(engine, name)
    if as_json:
        write_json({"name": name, "loaded": loaded}, out)
        out.write("\n")
    else:
        for ref in loaded:
            out.write(f"Loaded: {ref}\n")
    return EXIT_OK


def invalid_refs(refs: Sequence[str]) -> list[str]:
    """Messages for references that are not valid syntax (checked before any engine call)."""
    from tui.core.reference import InvalidReference, parse_any_reference

    out = []
    for ref in refs:
        try:
            parse_any_reference(ref)
        except InvalidReference as exc:
            out.append(
                f"invalid reference {ref!r}: {exc}; give repository[:tag], repository@digest "
                "or an image ID (lowercase)"
            )
    return out


def make_prune_filters(filter_args: Sequence[str], all_images: bool) -> PruneFilters:
    from tui.core.filters import parse_filters

    return parse_filters(filter_args, all_images=all_images, now=time.time())


_SECTION_PREFIX: dict[SectionKey, str] = {
    "containers": "remove container  ",
    "untag": "untag    ",
    "delete": "delete   ",
    "blocked": "blocked  ",
    "notes": "note: ",
}


def render_plan(plan: Plan, snapshot: Snapshot, out: TextIO) -> None:
    """The human form of a plan: what is untagged, deleted, blocked, and the bytes freed."""
    from tui.core.plan_lines import plan_sections
    from tui.core.usage import human_size

    out.write(f"Plan: {plan.description}\n")
    if plan.force:
        out.write(
            "  force: untags references and deletes images a stopped container uses (frees no "
            "bytes while it exists); never deletes an image a running container uses\n"
        )
    for section in plan_sections(plan, snapshot):
        for line in section.lines:
            out.write(f"  {_SECTION_PREFIX[section.key]}{line.text}\n")
            for detail in line.details:
                out.write(f"           {detail.text}\n")
    if plan.empty:
        out.write("Nothing to do.\n")
    freed = plan.freed_text(human_size)
    out.write(f"Will free: {freed} ({len(plan.freed_layers)} layer(s), {len(plan.delete)} image(s))\n")
    if plan.layers_known and plan.content_bytes is not None:
        out.write(
            f"  frees {human_size(plan.reclaim_bytes)} on disk: "
            f"{human_size(plan.content_bytes)} content + "
            f"{human_size(plan.snapshot_bytes or 0)} unpacked snapshots"
            + (
                f"; the engine will report {human_size(plan.engine_reported_bytes)}"
                if plan.engine_reported_bytes is not None and plan.engine_reported_bytes != plan.reclaim_bytes
                else ""
            )
            + "\n"
        )


def _plan_exit(plan: Plan) -> int:
    return EXIT_PARTIAL if plan.blocked else EXIT_OK


def cmd_plan(engine: Engine, build: Callable[[Snapshot], Plan], as_json: bool, out: TextIO) -> int:
    snapshot = _read(engine)
    plan = build(snapshot)
    if as_json:
        write_json(plan.to_json(), out)
        out.write("\n")
    else:
        render_plan(plan, snapshot, out)
    return _plan_exit(plan)


def _ask(question: str, stdin: TextIO, out: TextIO) -> bool | None:
    """Ask on a terminal; ``None`` when there is no terminal to ask on."""
    if not stdin.isatty():
        return None
    out.write(f"{question} [y/N] ")
    out.flush()
    answer = stdin.readline().strip().lower()
    return answer in ("y", "yes")


def _confirm(
    plan: Plan, snapshot: Snapshot, stdin: TextIO, out: TextIO, local_only_confirm: bool
) -> bool | None:
    answer = _ask("Proceed?", stdin, out)
    local = plan.local_only_deletes(snapshot)
    if answer and local and local_only_confirm:
        shown = [snapshot.images[i] for i in local[:5]]
        names = ", ".join(i.tags[0] if i.tags else i.short_id for i in shown)
        names += " ..." if len(local) > 5 else ""
        answer = _ask(
            f"{len(local)} of these are local-only (no registry digest: they cannot be pulled "
            f"back): {names}. Delete them too?",
            stdin,
            out,
        )
    return answer


def cmd_execute(
    engine: Engine,
    build: Callable[[Snapshot], Plan],
    *,
    yes: bool,
    as_json: bool,
    out: TextIO,
    stdin: TextIO | None = None,
    local_only_confirm: bool = True,
    backup: Callable[[Image], list[str]] | None = None,
    before_call: Callable[[Step], None] | None = None,
) -> int:
    """``rm`` and ``prune``: plan, confirm, execute, report. Ctrl-C while the plan runs stops it
    between steps and still prints the record of what was done (``cancelled``), exit 130.
    ``before_call`` is :class:`PlanExecutor`'s test seam."""
    stdin = stdin if stdin is not None else sys.stdin
    snapshot = _read(engine)
    plan = build(snapshot)
    if not as_json:
        render_plan(plan, snapshot, out)
    if plan.empty:
        if as_json:
            write_json(
                {
                    "plan": plan.to_json(),
                    "executed": False,
                    "untagged": [],
                    "deleted": [],
                    "errors": [],
                    "reclaimed_bytes": 0,
                },
                out,
            )
            out.write("\n")
        return _plan_exit(plan)
    if not yes:
        answer = _confirm(plan, snapshot, stdin, sys.stderr if as_json else out, local_only_confirm)
        if answer is not True:
            message = (
                "Refusing to delete without confirmation: there is no terminal to ask on. Check the "
                "plan above, then rerun with --yes."
                if answer is None
                else "Cancelled; nothing was deleted."
            )
            if as_json:
                write_json({"plan": plan.to_json(), "executed": False, "error": message}, out)
                out.write("\n")
            print(message, file=sys.stderr)
            return EXIT_REFUSED
    from tui.engine.actions import PlanExecutor

    executor = PlanExecutor(engine, plan, snapshot, backup=backup, before_call=before_call)
    with _SigintStopsBetweenSteps() as stop:
        try:
            for event in executor.run(stop.is_set):
                if not as_json:
                    out.write(event.text + "\n")
                    out.flush()
        except KeyboardInterrupt:  # a second Ctrl-C: stop now, the step in flight is in doubt
            stop.finished = True
            executor.interrupted()
            if not as_json:
                out.write("\n")
        stop.finished = True  # from here on Ctrl-C is ignored, so the record is printed whole
        result = executor.result
        if as_json:
            write_json({"plan": plan.to_json(), "executed": True, **result.to_json()}, out)
            out.write("\n")
        else:
            render_result(result, out)
        out.flush()
    if result.cancelled:
        return EXIT_INTERRUPTED
    return EXIT_PARTIAL if (result.failed or plan.blocked) else EXIT_OK


def render_result(result: ExecutionResult, out: TextIO) -> None:
    """The human summary after the event lines: what did not go as planned, and the bytes freed."""
    from tui.core.usage import human_size

    if result.store_changed:
        out.write(
            f"Skipped {len(result.store_changed)} step(s): the store changed after the plan was "
            "made (see above); plan again to see the new state\n"
        )
    if result.unexpected:
        out.write(
            f"{len(result.unexpected)} response line(s) the plan did not predict: "
            f"{', '.join(result.unexpected)}\n"
        )
    if result.cancelled:
        out.write(
            "Cancelled (interrupted): the steps above were done"
            + (f"; not run: {', '.join(result.not_run)}" if result.not_run else "")
            + "\n"
        )
    if result.in_doubt:
        out.write(
            f"Interrupted during the engine call for {', '.join(result.in_doubt)}: it may or may "
            "not have been done\n"
        )
    out.write(f"Total reclaimed space: {human_size(result.reclaimed_bytes)}\n")


class _SigintStopsBetweenSteps:
    """While a plan runs: the first Ctrl-C (SIGINT) lets the current step finish and stops before the
    next one, so the record of what was done is complete; a second one interrupts at once. Outside
    the main thread (no signal handlers there) this does nothing."""

    def __init__(self) -> None:
        import threading

        self.event = threading.Event()
        self._previous: Any = None
        self._installed = False
        self.finished = False

    def is_set(self) -> bool:
        return self.event.is_set()

    def _handle(self, signum: int, frame: Any) -> None:
        if self.finished:
            return
        if self.event.is_set():
            raise KeyboardInterrupt
        self.event.set()
        print(
            "docker-sweep: interrupted: stopping after the current step (Ctrl-C again to stop now)",
            file=sys.stderr,
        )

    def __enter__(self) -> _SigintStopsBetweenSteps:
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self._installed:
            import signal

            signal.signal(signal.SIGINT, self._previous)


def remove_builder(
    refs: Sequence[str], force: bool, with_containers: bool, protection: Protection | None = None
) -> Callable[[Snapshot], Plan]:
    from tui.core.plan import plan_remove

    return lambda s: plan_remove(
        s, refs, force=force, with_stopped_containers=with_containers, protection=protection
    )


def platform_builder(
    refs: Sequence[str], platform: str, force: bool, with_containers: bool
) -> Callable[[Snapshot], Plan]:
    """``rm --platform P REF``: the plan of removing one platform (raises :class:`FilterError`,
    a usage error, for a bad platform or arguments it does not combine with)."""
    from tui.core.platform_removal import PlatformError, parse_platform, plan_remove_platform

    if len(refs) != 1:
        raise FilterError(f"--platform removes a platform of one image; got {len(refs)} references")
    if force or with_containers:
        raise FilterError("--platform does not combine with --force or --with-containers")
    try:
        parsed = parse_platform(platform)
    except PlatformError as exc:
        raise FilterError(str(exc)) from exc
    return lambda s: plan_remove_platform(s, refs[0], parsed)


def prune_builder(filters: PruneFilters, protection: Protection | None = None) -> Callable[[Snapshot], Plan]:
    from tui.core.plan import plan_prune

    return lambda s: plan_prune(s, filters, protection=protection)


def policy_builder(policy: Policy, protection: Protection | None = None) -> Callable[[Snapshot], Plan]:
    from tui.core.policy import plan_policy

    return lambda s: plan_policy(s, policy, time.time(), protection)


__all__ = ["FilterError", "cmd_df", "cmd_execute", "cmd_images", "cmd_plan"]
