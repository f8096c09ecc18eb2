"""containerd's image records read from its metadata database on disk (tui/engine/containerd_meta.py),
checked against the engine's own image inspect (``Metadata.LastTagTime``, ``RepoTags``) on a real
containerd-store daemon; damaged copies of the file and reads during writes give None or a
consistent answer, never an exception or a mix."""

from __future__ import annotations

import random
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.ctrdcase import ctrd_fixture  # noqa: F401 (fixture ctrd)
from tests.enginecase import data_layer, spec
from tests.wipe import wipe
from tui.core.reference import familiar_ref
from tui.engine.containerd_meta import META_DB, ImageRecord, by_target, read_images
from tui.engine.snapshot import parse_created_ns
from tui.sandbox import fixtures
from tui.sandbox import imagegen as gen

pytestmark = pytest.mark.engine

A = spec(("meta-a:1",), (data_layer("meta-a", 10_000),))
B = spec(("meta-b:1", "meta-b:2"), (data_layer("meta-b", 10_000),))
C = spec(("meta-c:1",), (data_layer("meta-c", 10_000),))
LOOSE = spec((), (data_layer("meta-loose", 10_000),))  # loaded without a name: dangling


def containerd_root(api: Any) -> Path:
    """The root of the containerd dockerd starts itself."""
    return Path(api.info()["DockerRootDir"], "containerd", "daemon")


def tag_names(names: frozenset[str]) -> set[str]:
    """The names inspect lists in ``RepoTags``: the record names but the dangling one, familiar."""
    return {familiar_ref(n) for n in names if not n.startswith("moby-dangling@")}


def assert_matches_inspect(api: Any) -> None:
    """For every image the engine lists: the module's LastTagTime and names are inspect's."""
    records = read_images(containerd_root(api))
    assert records is not None
    targets = by_target(records)
    listed = {row["Id"] for row in api.images(all=True)}
    assert set(targets) == listed
    for image_id in listed:
        inspect = api.inspect_image(image_id)
        assert targets[image_id].last_tag_ns == parse_created_ns(inspect["Metadata"]["LastTagTime"])
        assert tag_names(targets[image_id].names) == set(inspect["RepoTags"] or [])


def test_names_and_last_tag_times_are_inspects(ctrd):
    """Tags, a re-tag of the same image, a tag moved to another image, an image loaded twice
    (its records are rewritten), a dangling image, and one left dangling by a moved tag."""
    wipe(ctrd.api)
    fixtures.load_tarball(ctrd.api, gen.build_tarball((A, B, C, LOOSE)))
    fixtures.tag(ctrd.api, "meta-a:1", "meta-a", "again")
    fixtures.tag(ctrd.api, "meta-a:1", "elsewhere/meta-a", "3")
    fixtures.tag(ctrd.api, "meta-b:1", "meta-c", "1")  # C's one tag moves to B: C is dangling now
    time.sleep(0.05)
    fixtures.load_tarball(ctrd.api, gen.build_tarball((B,)))  # B loaded again
    records = read_images(containerd_root(ctrd.api))
    assert records is not None
    by_name = {familiar_ref(r.name): r for r in records.values() if not r.name.startswith("moby-")}
    ids = {s: gen.loaded_image_id(s, "containerd") for s in (A, B, C, LOOSE)}
    assert by_name["meta-c:1"].target == ids[B]
    assert f"moby-dangling@{ids[C]}" in records and f"moby-dangling@{ids[LOOSE]}" in records
    assert by_target(records)[ids[B]].last_tag_ns == max(
        r.updated_ns for r in records.values() if r.target == ids[B]
    )
    assert all(r.media_type and r.size > 0 and r.created_ns > 0 for r in records.values())
    assert_matches_inspect(ctrd.api)


def test_damaged_copies_give_none_not_an_exception(ctrd, tmp_path):
    wipe(ctrd.api)
    fixtures.load_tarball(ctrd.api, gen.build_tarball((A, B, LOOSE)))
    live = read_images(containerd_root(ctrd.api))
    assert live is not None and len(live) == 4
    copy = tmp_path / META_DB
    copy.parent.mkdir(parents=True)
    shutil.copyfile(containerd_root(ctrd.api) / META_DB, copy)
    data = copy.read_bytes()
    assert read_images(tmp_path) == live  # the engine is idle: the copy holds what it reads live
    assert read_images(tmp_path, "no-such-namespace") == {}
    assert read_images(tmp_path / "missing") is None
    page_size = int.from_bytes(data[24:28], "little")

    def damaged(content: bytes) -> dict[str, ImageRecord] | None:
        copy.write_bytes(content)
        return read_images(tmp_path)

    # a byte changed in both meta pages (magic, root bucket, high-water mark, txid, checksum)
    for offset in (16, 32, 56, 64, 72):
        both = bytearray(data)
        both[offset] ^= 0xFF
        both[page_size + offset] ^= 0xFF
        assert damaged(bytes(both)) is None
    # cut short: no meta page at all, or the pages the records are on missing
    for size in (0, 100, page_size + 50, 2 * page_size, 3 * page_size):
        assert damaged(data[:size]) is None
    # cut anywhere: the records as they were, or None (never another answer)
    for size in range(0, len(data), page_size // 2):
        assert damaged(data[:size]) in (None, live)
    # a page whose header names another page: refused when the records are reached through it
    results = []
    for pgid in range(2, len(data) // page_size):
        wrong = bytearray(data)
        wrong[pgid * page_size] ^= 0x01
        results.append(damaged(bytes(wrong)))
    assert None in results and all(r in (None, live) for r in results)
    # random damage outside the meta pages: no exception, whatever it reads
    rng = random.Random(7)
    for _ in range(200):
        noisy = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            noisy[rng.randrange(2 * page_size, len(data))] = rng.randrange(256)
        result = damaged(bytes(noisy))
        assert result is None or isinstance(result, dict)


def test_reads_while_the_engine_tags_are_consistent_or_none(ctrd):
    """A writer adds ``meta-churn:0``, ``:1``, ... in order, and moves ``meta-churn:moving``
    between two images (moby deletes the old record, then creates the new one: two commits, so
    the name may be missing in between): every answer read meanwhile holds a prefix of the
    numbered tags, the untouched names on their images and the moving tag, if present, on one of
    the two (a torn read could show a gap or lose records); afterwards, idle, it is inspect's."""
    wipe(ctrd.api)
    fixtures.load_tarball(ctrd.api, gen.build_tarball((A, B)))
    fixtures.tag(ctrd.api, "meta-a:1", "meta-churn", "moving")
    root = containerd_root(ctrd.api)
    ids = {s: gen.loaded_image_id(s, "containerd") for s in (A, B)}
    still = {"meta-a:1": ids[A], "meta-b:1": ids[B], "meta-b:2": ids[B]}
    stop = threading.Event()
    errors: list[BaseException] = []

    def churn() -> None:
        try:
            n = 0
            while not stop.is_set():
                fixtures.tag(ctrd.api, "meta-a:1", "meta-churn", str(n))
                fixtures.tag(ctrd.api, "meta-b:1" if n % 2 == 0 else "meta-a:1", "meta-churn", "moving")
                n += 1
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)

    writer = threading.Thread(target=churn)
    writer.start()
    answers = nones = 0
    try:
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            records = read_images(root)
            if records is None:
                nones += 1
                continue
            answers += 1
            targets = {familiar_ref(r.name): r.target for r in records.values() if "@" not in r.name}
            churned = [n.removeprefix("meta-churn:") for n in targets if n.startswith("meta-churn:")]
            numbered = sorted(int(n) for n in churned if n.isdigit())
            assert numbered == list(range(len(numbered)))
            assert {n: targets.get(n) for n in still} == still
            assert targets.get("meta-churn:moving", ids[A]) in (ids[A], ids[B])
    finally:
        stop.set()
        writer.join()
    assert not errors
    assert answers > 0, f"no read completed while the engine wrote ({nones} gave up)"
    assert_matches_inspect(ctrd.api)
