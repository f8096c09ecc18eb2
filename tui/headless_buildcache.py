"""``docker-sweep [plan] prune --build-cache [--all] [--filter until=...] [--keep-storage SIZE]``:
the build cache's ``docker builder prune``, with the exact records and bytes shown first."""

from __future__ import annotations

import json
import sys
import time
from typing import TextIO

from tui.core.buildcache import BuildCachePlan, BuildCachePrune, parse_size, plan_build_cache_prune
from tui.core.filters import FilterError, parse_until
from tui.core.usage import human_size
from tui.engine.buildcache import BuildCacheChanged, prune_build_cache_as_planned, read_build_cache
from tui.engine.client import Engine
from tui.exit_codes import EXIT_OK, EXIT_PARTIAL, EXIT_REFUSED


def make_build_cache_prune(
    filters: list[str], all_records: bool, keep_storage: str | None
) -> BuildCachePrune:
    """Only ``until`` filters the build cache here (as ``docker builder prune`` documents it)."""
    until = None
    for item in filters:
        key, _, value = item.partition("=")
        if key != "until" or not value:
            raise FilterError(
                f"invalid build cache filter {item!r}: only until=DURATION|DATE|UNIX "
                "is accepted with --build-cache"
            )
        until = parse_until(value, time.time())
    return BuildCachePrune(
        all=all_records, until=until, keep_storage=parse_size(keep_storage) if keep_storage else 0
    )


def render(plan: BuildCachePlan, out: TextIO) -> None:
    out.write(f"Prune build cache: {plan.prune.describe()}\n")
    for record in plan.delete:
        shared = "  (shared with an image: its bytes stay on disk)" if record.shared else ""
        out.write(f"  delete {record.short_id}  {record.type:<14} {human_size(record.size):>8}{shared}\n")
    at_most = "" if plan.exact else "at most "
    out.write(
        f"Will free: {at_most}{human_size(plan.reclaim_bytes)} ({plan.reclaim_bytes:,} bytes as "
        f"the engine counts them; {len(plan.delete)} of {plan.total_records} record(s))\n"
    )
    if plan.shared_bytes:
        out.write(f"  of which {human_size(plan.shared_bytes)} are layers images still hold\n")


def cmd_build_cache(
    engine: Engine,
    prune: BuildCachePrune,
    *,
    execute: bool,
    yes: bool,
    as_json: bool,
    out: TextIO,
    stdin: TextIO | None = None,
) -> int:
    plan = plan_build_cache_prune(read_build_cache(engine), prune)
    if not execute:
        if as_json:
            json.dump(plan.to_json(), out, indent=2)
            out.write("\n")
        else:
            render(plan, out)
        return EXIT_OK
    if not yes:
        render(plan, out)
        stdin = stdin or sys.stdin
        if not stdin.isatty():
            out.write("Not confirmed (no terminal to ask on): pass --yes to prune. Nothing was deleted.\n")
            return EXIT_REFUSED
        out.write("Proceed? [y/N] ")
        out.flush()
        if stdin.readline().strip().lower() not in ("y", "yes"):
            out.write("Nothing was deleted.\n")
            return EXIT_REFUSED
    try:  # re-reads the cache first: what was shown (and confirmed) is what is pruned
        result = prune_build_cache_as_planned(engine, plan)
    except BuildCacheChanged as exc:
        sys.stderr.write(f"docker-sweep: {exc}\n")
        return EXIT_PARTIAL
    if as_json:
        json.dump({"plan": plan.to_json(), **result.to_json()}, out, indent=2)
        out.write("\n")
    else:
        for record_id in result.deleted:
            out.write(f"Deleted build cache objects: {record_id}\n")
        out.write(f"Total reclaimed space: {human_size(result.reclaimed_bytes)}\n")
    return EXIT_OK
