"""Differential tests: random stores and random removals, the model's prediction against the engine.

Hypothesis draws a store (images over a small pool of shared layers, tags across repositories,
stopped and running containers) and either a list of references to remove (tags, short and full IDs,
unknown names; with or without force) or prune filters. The engine runs it; the classic-store
model must predict every response line, every error, the bytes and the final store.
"""

from __future__ import annotations

import time

import docker.errors
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from tests.diffcase import diff_settings, draw_images, examples, filter_lists, load, pool
from tests.enginecase import native_rm, predicted_rm, state
from tests.native import engine_prune
from tui.core.filters import parse_filters
from tui.core.plan import plan_prune
from tui.engine.client import Engine
from tui.engine.snapshot import read_snapshot
from tui.sandbox import fixtures
from tui.sandbox import imagegen as gen

# The classic store's model; tests/test_differential_containerd.py checks the containerd store's.
pytestmark = pytest.mark.classic_store

EXAMPLES = examples()
POOL = pool("pool")


@st.composite
def stores(draw):
    images = draw_images(draw, POOL, "own")
    containers = []
    for j in range(draw(st.integers(0, 2))):
        target = draw(st.sampled_from(images))
        containers.append((f"c{j}", gen.image_id(target), draw(st.booleans())))
    return images, containers


@diff_settings(EXAMPLES)
@given(store=stores(), data=st.data())
def test_random_removals_match_the_engine(engine, store, data):
    images, containers = store
    snap = load(engine.api, engine.url, images, containers)
    ids = sorted(snap.images)
    candidates = (
        [t for i in snap.images.values() for t in i.tags]
        + [i[7:19] for i in ids]
        + ids
        + ["nosuch:tag", ids[0][7:8]]
    )
    refs = data.draw(st.lists(st.sampled_from(candidates), min_size=1, max_size=4))
    force = data.draw(st.booleans())
    predicted_lines, predicted_errors = predicted_rm(snap, refs, force=force)
    lines, errors = native_rm(engine.api, refs, force=force)
    assert sorted(lines) == sorted(predicted_lines), (refs, force)
    assert {r: e.split(" ")[0] for r, e in errors.items()} == {
        r: e.split(" ")[0] for r, e in predicted_errors.items()
    }, (refs, force)
    deleted = [x.split(": ", 1)[1] for x in lines if x.startswith("Deleted")]
    predicted_deleted = [x.split(": ", 1)[1] for x in predicted_lines if x.startswith("Deleted")]
    assert snap.bytes_of(deleted) == snap.bytes_of(predicted_deleted)
    remaining = state(engine.api)
    assert set(remaining) == set(snap.images) - {d for d in deleted if d in snap.images}


@diff_settings(EXAMPLES)
@given(
    store=stores(),
    all_images=st.booleans(),
    filters=filter_lists(["until=480h", "label=env=dev", "label=env", "label!=keep", "until=1000h"]),
)
def test_random_prunes_match_the_engine(engine, store, all_images, filters):
    images, containers = store
    snap = load(engine.api, engine.url, images, containers)
    parsed = parse_filters(filters, all_images=all_images, now=time.time())
    predicted = plan_prune(snap, parsed, engine_semantics=True)
    response = engine_prune(Engine(engine.url), parsed.engine_filters())
    gone = {d["Deleted"] for d in response.get("ImagesDeleted") or [] if d.get("Deleted")}
    untagged = sorted(
        d["Untagged"].removeprefix("docker.io/library/")
        for d in response.get("ImagesDeleted") or []
        if d.get("Untagged")
    )
    assert gone & set(snap.images) == set(predicted.delete), (filters, all_images)
    assert gone - set(snap.images) == set(predicted.freed_layers)
    assert untagged == sorted(predicted.untag)
    assert response["SpaceReclaimed"] == predicted.reclaim_bytes


@diff_settings(max(EXAMPLES // 2, 5))
@given(store=stores(), data=st.data())
def test_random_removals_with_digests_match_the_engine(engine, registry, store, data):
    images, containers = store
    load(engine.api, engine.url, images, containers)
    ids = sorted(gen.image_id(s) for s in images)
    # Push some images to the private registry (real RepoDigests); then move or drop some of
    # those tags, which leaves digest-only images behind (dangling in the classic store).
    for n, image_id in enumerate(data.draw(st.lists(st.sampled_from(ids), max_size=3, unique=True))):
        repo = f"{registry.host}/diff/r{n}"
        action = data.draw(st.sampled_from(["keep", "move", "drop"]))
        other = data.draw(st.sampled_from(ids))
        try:  # setting the scene, not under test: a step the engine refuses is simply skipped
            fixtures.tag(engine.api, image_id, repo, "1")
            fixtures.push(engine.api, f"{repo}:1")
            if action == "move":
                fixtures.tag(engine.api, other, repo, "1")
            elif action == "drop":
                engine.api.remove_image(f"{repo}:1")
        except docker.errors.APIError:
            continue
    snap = read_snapshot(Engine(engine.url))
    candidates = [r for i in snap.images.values() for r in i.refs] + [i[7:19] for i in snap.images]
    assume(candidates)  # dropping the only tag of every image deletes them all: nothing to remove
    refs = data.draw(st.lists(st.sampled_from(candidates), min_size=1, max_size=4))
    force = data.draw(st.booleans())
    predicted_lines, predicted_errors = predicted_rm(snap, refs, force=force)
    lines, errors = native_rm(engine.api, refs, force=force)
    assert sorted(lines) == sorted(predicted_lines), (refs, force)
    assert errors.keys() == predicted_errors.keys(), (refs, force)
    filters = parse_filters([], now=time.time())
    after = read_snapshot(Engine(engine.url))
    predicted = plan_prune(after, filters, engine_semantics=True)
    response = engine_prune(Engine(engine.url), filters.engine_filters())
    gone = {d["Deleted"] for d in response.get("ImagesDeleted") or [] if d.get("Deleted")}
    assert gone & set(after.images) == set(predicted.delete)
    assert response["SpaceReclaimed"] == predicted.reclaim_bytes
