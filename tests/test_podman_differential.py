"""Differential tests on Podman: random stores and removals, :class:`PodmanStore` against Podman 4.3.

Like ``tests/test_differential.py`` (smaller): Hypothesis draws a store and references (short and
full names, short and full IDs, a one-character prefix, unknown names; with or without force). The
engine-mode model must predict every ``Deleted``/``Untagged`` line, every error status, which
containers force removed, and the final store; a dangling prune must match ``POST /images/prune``,
including Podman's own ``SpaceReclaimed`` (whole image sizes).
"""

from __future__ import annotations

import contextlib
import os
import time

import docker.errors
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.enginecase import SLEEP
from tests.native import engine_prune
from tests.test_differential import stores
from tests.wipe import wipe
from tui.core.classic import PredictedRefusal
from tui.core.filters import parse_filters
from tui.core.plan import plan_prune
from tui.core.podman import PodmanStore, reported_space
from tui.engine.client import Engine
from tui.engine.podman import full_id
from tui.engine.snapshot import read_snapshot
from tui.sandbox import fixtures
from tui.sandbox import imagegen as gen

EXAMPLES = int(os.environ.get("SWEEP_DIFF_EXAMPLES", "12"))


def load(engine, images, containers):
    wipe(engine.api)
    fixtures.load_tarball(engine.api, gen.build_tarball(images))
    for name, image_id, running in containers:
        fixtures.create_container(engine.api, image_id, name, start=running, cmd=SLEEP)
    return read_snapshot(Engine(engine.url))


def native(api, refs, force):
    lines, errors = [], {}
    for ref in refs:
        try:
            for item in api.remove_image(ref, force=force) or []:
                for kind, value in item.items():
                    lines.append(f"{kind}: {full_id(value) if kind == 'Deleted' else value}")
        except docker.errors.APIError as exc:
            errors[ref] = exc.status_code
    return lines, errors


def predicted(snap, refs, force):
    store = PodmanStore(snap, safe=False)
    lines, errors = [], {}
    for ref in refs:
        try:
            records = store.delete(ref, force=force)
        except PredictedRefusal as exc:
            errors[ref] = exc.status
            continue
        # the engine reports images, never layers
        lines += [str(r) for r in records if r.kind == "Untagged" or r.value in snap.images]
    return lines, errors, store


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(store=stores(), data=st.data())
def test_random_removals_match_podman(podman_engine, store, data):
    images, containers = store
    snap = load(podman_engine, images, containers)
    ids = sorted(snap.images)
    short = [t.removeprefix("localhost/") for i in snap.images.values() for t in i.tags]
    candidates = (
        short
        + [t for i in snap.images.values() for t in i.tags]
        + [i[7:19] for i in ids]
        + ids
        + ["nosuch:tag", ids[0][7:8]]
    )
    refs = data.draw(st.lists(st.sampled_from(candidates), min_size=1, max_size=4))
    force = data.draw(st.booleans())
    predicted_lines, predicted_errors, model = predicted(snap, refs, force)
    lines, errors = native(podman_engine.api, refs, force)
    assert sorted(lines) == sorted(predicted_lines), (refs, force)
    assert errors == predicted_errors, (refs, force)
    remaining = {r["Id"] for r in podman_engine.api.images(all=True)}
    assert remaining == set(model.images), (refs, force)
    left = {c["Id"] for c in podman_engine.api.containers(all=True)}
    assert left == set(model.containers), (refs, force)


@settings(max_examples=max(EXAMPLES // 2, 4), deadline=None, suppress_health_check=list(HealthCheck))
@given(
    store=stores(),
    filters=st.lists(st.sampled_from(["until=480h", "label=env=dev", "label=env"]), max_size=1),
)
def test_random_dangling_prunes_match_podman(podman_engine, store, filters):
    images, containers = store
    load(podman_engine, images, containers)
    for row in podman_engine.api.images():  # make some images dangling
        for tag in row.get("RepoTags") or []:
            if tag.endswith(":latest"):
                with contextlib.suppress(docker.errors.APIError):  # in use: stays tagged
                    podman_engine.api.remove_image(tag)
    snap = read_snapshot(Engine(podman_engine.url))
    parsed = parse_filters(filters, now=time.time())
    plan = plan_prune(snap, parsed, engine_semantics=True)
    response = engine_prune(Engine(podman_engine.url), parsed.engine_filters())
    gone = {full_id(d["Deleted"]) for d in response.get("ImagesDeleted") or [] if d.get("Deleted")}
    assert gone == set(plan.delete), filters
    assert response["SpaceReclaimed"] == reported_space(snap, list(plan.delete))
