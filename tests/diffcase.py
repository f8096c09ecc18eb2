"""Shared by the differential tests: how many examples, Hypothesis settings, random stores, loading.

``SWEEP_DIFF_EXAMPLES`` sets the examples per test (CI runs a bounded number; set it higher for a
longer hunt; ``scripts/test.sh`` gives the secondary engines fewer). ``SWEEP_DIFF_NO_SHRINK=1``
reports a failing case as drawn, without shrinking it (each shrink step reloads a real engine).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, TypeVar

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

from tests.enginecase import BUSYBOX, NOW, SLEEP, data_layer
from tests.wipe import wipe
from tui.core.model import Snapshot
from tui.engine.client import Engine
from tui.engine.snapshot import read_snapshot
from tui.sandbox import fixtures
from tui.sandbox import imagegen as gen

REPOS = ["app", "web", "team/api", "db"]
TAG_NAMES = ["1", "2", "latest"]
LABELS: list[dict[str, str]] = [{}, {"env": "dev"}, {"env": "prod"}, {"keep": "1", "env": "dev"}]

F = TypeVar("F", bound=Callable[..., Any])


def examples(default: int = 20) -> int:
    """Examples per differential test: ``SWEEP_DIFF_EXAMPLES``, else ``default``."""
    return int(os.environ.get("SWEEP_DIFF_EXAMPLES", str(default)))


def diff_settings(max_examples: int) -> Callable[[F], F]:
    """Hypothesis settings of an engine-backed differential test (no deadline, no health checks:
    every example loads a store into a real engine)."""
    phases = [p for p in Phase if p != Phase.shrink or not os.environ.get("SWEEP_DIFF_NO_SHRINK")]
    return settings(
        max_examples=max_examples, deadline=None, suppress_health_check=list(HealthCheck), phases=phases
    )


def filter_lists(terms: Sequence[str]) -> st.SearchStrategy[list[str]]:
    """Up to two prune filters from ``terms``, at most one per key (``until``, ``label``, ``label!``)."""
    return st.lists(st.sampled_from(list(terms)), max_size=2, unique_by=lambda f: f.split("=")[0])


def pool(prefix: str) -> list[gen.LayerSpec]:
    """Five layers images share (1 kB to 5 kB)."""
    return [data_layer(f"{prefix}{i}", 1_000 * (i + 1)) for i in range(5)]


def draw_images(
    draw: Any, shared_pool: Sequence[gen.LayerSpec], own_prefix: str, *, own_optional: bool = False
) -> list[gen.ImageSpec]:
    """2 to 6 distinct images: busybox, up to two layers of ``shared_pool`` and an own layer
    (sometimes none with ``own_optional``), up to three tags across :data:`REPOS` (no tag twice),
    labels from :data:`LABELS`, 1 to 60 days old."""
    images: list[gen.ImageSpec] = []
    used_tags: set[str] = set()
    for i in range(draw(st.integers(2, 6))):
        shared = draw(st.lists(st.sampled_from(range(len(shared_pool))), max_size=2, unique=True))
        own_variant = draw(st.integers(0, 3))
        own = (
            []
            if own_optional and not draw(st.booleans())
            else [data_layer(f"{own_prefix}{i}-{own_variant}", 500 + i)]
        )
        layers = [shared_pool[j] for j in sorted(shared)] + own
        tags = []
        for _ in range(draw(st.integers(0, 3))):
            tag = f"{draw(st.sampled_from(REPOS))}:{draw(st.sampled_from(TAG_NAMES))}"
            if tag not in used_tags:
                used_tags.add(tag)
                tags.append(tag)
        spec = gen.ImageSpec(
            tuple(tags),
            (BUSYBOX, *layers),
            NOW - timedelta(days=draw(st.integers(1, 60))),
            labels=draw(st.sampled_from(LABELS)),
            cmd=SLEEP,
        )
        if gen.image_id(spec) not in {gen.image_id(s) for s in images}:
            images.append(spec)
    return images


def load(
    api: Any, url: str, images: Sequence[gen.ImageSpec], containers: Sequence[tuple[str, str, bool]]
) -> Snapshot:
    """Wipe the engine, load ``images``, create ``(name, image, running)`` containers; the snapshot."""
    wipe(api)
    fixtures.load_tarball(api, gen.build_tarball(images))
    for name, image, running in containers:
        fixtures.create_container(api, image, name, start=running, cmd=SLEEP)
    return read_snapshot(Engine(url))
