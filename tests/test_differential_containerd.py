"""Differential tests on the containerd image store: random stores and removals, the containerd
model's prediction (tui/core/containerd.py) against a real engine with ``containerd-snapshotter``.

Like tests/test_differential.py: Hypothesis draws a store (images over shared layers, tags across
repositories, containers created by tag or by ID, stopped or running) and either references to
remove (tags, ``repo@id`` digests, full, short, 4-character and 1-to-3-character IDs, unknown
names; with or without force) or prune filters (dangling / all, ``until`` between two loads,
``label``, ``label!``). Every response line, error, the final store and the bytes must match:
``SpaceReclaimed`` is the plan's ``engine_reported_bytes`` (content only), and the drop of
``/system/df`` LayersSize is the plan's disk freed (content + snapshots) on Docker 28 and its
snapshot part on Docker 26, where LayersSize counts snapshots only.
"""

from __future__ import annotations

import os
import time
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.ctrdcase import ctrd_fixture, disk_drop, layers_size  # noqa: F401 (fixture ctrd)
from tests.enginecase import BUSYBOX, NOW, SLEEP, data_layer, native_rm
from tests.native import engine_prune
from tests.wipe import wipe
from tui.core.classic import PredictedRefusal
from tui.core.containerd import ContainerdStore, familiar_name
from tui.core.filters import parse_filters
from tui.core.plan import plan_prune, plan_remove
from tui.engine.client import Engine as SweepEngine
from tui.engine.snapshot import read_snapshot
from tui.sandbox import fixtures
from tui.sandbox import imagegen as gen

pytestmark = pytest.mark.engine
EXAMPLES = int(os.environ.get("SWEEP_DIFF_EXAMPLES", "20"))
POOL = [data_layer(f"cpool{i}", 1_000 * (i + 1)) for i in range(5)]
REPOS = ["app", "web", "team/api", "db"]


@st.composite
def stores(draw: Any) -> tuple[list[list[gen.ImageSpec]], list[tuple[str, int, bool, bool]]]:
    n = draw(st.integers(2, 6))
    images: list[gen.ImageSpec] = []
    used_tags: set[str] = set()
    for i in range(n):
        shared = draw(st.lists(st.sampled_from(range(len(POOL))), max_size=2, unique=True))
        # Without an own layer an image can be another's prefix or twin (same layers, other
        # labels): then which image unpacked a chain first decides who holds its snapshot.
        own = [data_layer(f"cown{i}-{draw(st.integers(0, 3))}", 500 + i)] if draw(st.booleans()) else []
        layers = [POOL[j] for j in sorted(shared)] + own
        tags = []
        for _ in range(draw(st.integers(0, 3))):
            tag = f"{draw(st.sampled_from(REPOS))}:{draw(st.sampled_from(['1', '2', 'latest']))}"
            if tag not in used_tags:
                used_tags.add(tag)
                tags.append(tag)
        labels = draw(st.sampled_from([{}, {"env": "dev"}, {"env": "prod"}, {"keep": "1", "env": "dev"}]))
        spec = gen.ImageSpec(
            tuple(tags),
            (BUSYBOX, *layers),
            NOW - timedelta(days=draw(st.integers(1, 60))),
            labels=labels,
            cmd=SLEEP,
        )
        if gen.image_id(spec) not in {gen.image_id(s) for s in images}:
            images.append(spec)
    order = draw(st.permutations(images))
    cuts = sorted(draw(st.lists(st.integers(0, len(images)), min_size=2, max_size=2)))
    containers = []
    for j in range(draw(st.integers(0, 2))):
        containers.append((f"c{j}", draw(st.integers(0, 5)), draw(st.booleans()), draw(st.booleans())))
    return [order[: cuts[0]], order[cuts[0] : cuts[1]], order[cuts[1] :]], containers


def load(
    api: Any,
    url: str,
    batches: list[list[gen.ImageSpec]],
    containers: list[tuple[str, int, bool, bool]],
    *,
    gap: bool = False,
) -> float:
    """Load the batches one after the other (with ``gap``, the first a second before the rest);
    returns an instant between the first batch and the others (0 without ``gap``)."""
    wipe(api)
    between = 0.0
    for n, batch in enumerate(batches):
        if n == 1 and gap:
            time.sleep(1.1)
            between = time.time()
            time.sleep(1.1)
        if batch:
            fixtures.load_tarball(api, gen.build_tarball(batch))
    rows = sorted(api.images(all=True), key=lambda row: row["Id"])
    for name, index, running, by_tag in containers:
        if not rows:
            break
        image = rows[index % len(rows)]
        ref = (image["RepoTags"] or [image["Id"]])[0] if by_tag else image["Id"][7:19]
        fixtures.create_container(api, ref, name, start=running, cmd=SLEEP)
    return between


def _head(message: str) -> str:
    return message.split(" - ")[0]


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(store=stores(), data=st.data())
def test_random_removals_match_the_engine(ctrd, store, data):
    batches, containers = store
    load(ctrd.api, ctrd.url, batches, containers)
    snap = read_snapshot(SweepEngine(ctrd.url))
    assert snap.containerd
    ids = sorted(snap.images)
    candidates = (
        [t for i in snap.images.values() for t in i.tags]
        + [d for i in snap.images.values() for d in i.digests]
        + [i[7:19] for i in ids]
        + [i[7:11] for i in ids]
        + ids
        + ["nosuch:tag", ids[0][7:8], ids[0][7:10]]
    )
    refs = data.draw(st.lists(st.sampled_from(candidates), min_size=1, max_size=4))
    force = data.draw(st.booleans())
    model = ContainerdStore(snap)
    predicted_lines: list[str] = []
    predicted_errors: dict[str, str] = {}
    for ref in refs:
        try:
            predicted_lines.extend(str(r) for r in model.delete(ref, force=force))
        except PredictedRefusal as exc:
            predicted_errors[ref] = f"{exc.status} {exc.message}"
    plan = plan_remove(snap, refs, force=force)
    before = layers_size(ctrd.api)
    lines, errors = native_rm(ctrd.api, refs, force=force)
    assert sorted(lines) == sorted(predicted_lines), (refs, force)
    assert {r: _head(e) for r, e in errors.items()} == {r: _head(e) for r, e in predicted_errors.items()}, (
        refs,
        force,
    )
    remaining = {row["Id"]: sorted(row["RepoTags"] or []) for row in ctrd.api.images(all=True)}
    assert remaining == {i: sorted(familiar_name(n) for n in model.references(i)) for i in model.images}
    assert before - layers_size(ctrd.api) == disk_drop(plan, ctrd.api), (refs, force)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    store=stores(),
    all_images=st.booleans(),
    filters=st.lists(
        st.sampled_from(["until", "label=env=dev", "label=env", "label!=keep", "label!=env=dev"]),
        max_size=2,
        unique_by=lambda f: f.split("=")[0],
    ),
)
def test_random_prunes_match_the_engine(ctrd, store, all_images, filters):
    batches, containers = store
    between = load(ctrd.api, ctrd.url, batches, containers, gap="until" in filters)
    terms = [f"until={between:.3f}" if f == "until" else f for f in filters]
    if not between:
        terms = [t for t in terms if not t.startswith("until")]
    snap = read_snapshot(SweepEngine(ctrd.url))
    parsed = parse_filters(terms, all_images=all_images, now=time.time())
    predicted = plan_prune(snap, parsed, engine_semantics=True)
    before = layers_size(ctrd.api)
    response = engine_prune(SweepEngine(ctrd.url), parsed.engine_filters())
    lines = response.get("ImagesDeleted") or []
    gone = {d["Deleted"] for d in lines if d.get("Deleted")}
    untagged = sorted(d["Untagged"] for d in lines if d.get("Untagged"))
    predicted_gone = {r.value for step in predicted.steps for r in step.expect if r.kind == "Deleted"}
    assert gone == predicted_gone, (terms, all_images)
    assert gone & set(snap.images) == set(predicted.delete), (terms, all_images)
    assert untagged == sorted(predicted.untag), (terms, all_images)
    assert response["SpaceReclaimed"] == predicted.engine_reported_bytes
    assert before - layers_size(ctrd.api) == disk_drop(predicted, ctrd.api), (terms, all_images)
