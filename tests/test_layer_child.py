"""A large cold layer read in a child process (:mod:`tui.engine.layer_child`), on a real engine.

* The child's answers are the parent's own read: the same images, layers and created times, and
  the parent reads nothing itself.
* A child that cannot start, answers for another engine, stops early or writes garbage costs
  nothing but time: the parent reads what it has no answer for, and the result is the same.
* A cancelled read stops the child.
* The child changes nothing: a request that is not a layer read's gets a clear error line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.enginecase import STANDARD, seed
from tui.engine import layer_child
from tui.engine import snapshot as snapshot_module
from tui.engine.client import Engine
from tui.engine.layer_child import child_details, worth_a_child
from tui.engine.snapshot import (
    LayerCache,
    detail_layers,
    list_images,
    read_facts,
    read_layers,
    read_snapshot,
)
from tui.engine.source import EngineSource


def layers_of(images: list[Any]) -> dict[str, Any]:
    return {i.id: (i.layers, i.created_ns, i.has_config) for i in images}


def no_read_here(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Record (and still do) every read of the parent's own."""
    asked: list[list[str]] = []
    real = snapshot_module.fetch_details

    def recorded(engine: Engine, image_ids: list[str], *args: Any) -> Iterator[Any]:
        asked.append(list(image_ids))
        return real(engine, image_ids, *args)

    monkeypatch.setattr(snapshot_module, "fetch_details", recorded)
    return asked


@pytest.mark.classic_store
def test_the_child_reads_what_the_parent_would_and_the_parent_reads_nothing(engine, tmp_path, monkeypatch):
    seed(engine.api, engine.url, STANDARD)
    eng = Engine(engine.url)
    facts = read_facts(eng)
    images = list_images(eng)
    truth = read_layers(eng, images, engine_id=facts.engine_id)
    assert all(i.layers for i in truth)
    monkeypatch.setattr(layer_child, "MIN_IMAGES", 1)
    assert worth_a_child(eng.host, "classic", len(images)) is ((os.cpu_count() or 1) > 1)
    if not worth_a_child(eng.host, "classic", len(images)):
        pytest.fail("this machine has one CPU: the child is never used here")
    asked = no_read_here(monkeypatch)
    cache = LayerCache(tmp_path / "layers.jsonl")
    got = read_layers(eng, images, cache=cache, engine_id=facts.engine_id, child_reads=True)
    assert layers_of(got) == layers_of(truth)
    assert asked == []  # all from the child
    assert all(cache.get(facts.engine_id, i.id) is not None for i in images)  # held in memory too
    # and what it read was saved in the parent's cache, as the parent's own read would
    again = no_read_here(monkeypatch)
    assert layers_of(read_layers(eng, images, cache=LayerCache(cache.path), engine_id=facts.engine_id)) == (
        layers_of(truth)
    )
    assert again == [[]]


@pytest.mark.classic_store
def test_the_apps_source_has_a_large_cold_read_done_by_a_child(engine, tmp_path, monkeypatch):
    seed(engine.api, engine.url, STANDARD)
    truth = read_snapshot(Engine(engine.url), disk_usage=True)
    monkeypatch.setattr(layer_child, "MIN_IMAGES", 1)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    asked = no_read_here(monkeypatch)
    source = EngineSource(Engine(engine.url), LayerCache(tmp_path / "layers.jsonl"))
    *_, last = source.load(progress=lambda done, total: None, cancelled=lambda: False)
    assert asked == []
    assert last.layers_complete and last.disk is not None
    assert layers_of(list(last.images.values())) == layers_of(list(truth.images.values()))


def test_small_reads_other_stores_and_remote_hosts_stay_in_the_process(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert worth_a_child("unix:///run/docker.sock", "classic", layer_child.MIN_IMAGES)
    assert not worth_a_child("unix:///run/docker.sock", "classic", layer_child.MIN_IMAGES - 1)
    assert not worth_a_child("unix:///run/docker.sock", "containerd", 10_000)
    assert not worth_a_child("unix:///run/podman.sock", "podman", 10_000)
    assert not worth_a_child("tcp://10.0.0.1:2376", "classic", 10_000)
    assert not worth_a_child("ssh://build-host", "classic", 10_000)
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    assert not worth_a_child("unix:///run/docker.sock", "classic", 10_000)


def fake_child(tmp_path: Path, script: str) -> list[str]:
    path = tmp_path / f"child{len(list(tmp_path.glob('child*.py')))}.py"
    path.write_text(script)
    return [sys.executable, str(path)]


@pytest.mark.classic_store
@pytest.mark.parametrize(
    "child",
    [
        "wrong engine",  # the real child, asked for another engine's images: an error line
        "missing command",  # cannot start
        "garbage",
        "first only",  # answers one image, then stops
        "another image",  # answers for an image it was not asked next
    ],
)
def test_what_the_child_does_not_answer_the_parent_reads_itself(engine, tmp_path, monkeypatch, child):
    seed(engine.api, engine.url, STANDARD)
    eng = Engine(engine.url)
    facts = read_facts(eng)
    images = list_images(eng)
    ids = [i.id for i in images]
    sizes = {i.id: i.size for i in images}
    truth = dict(snapshot_module.fetch_details(eng, ids, 2, None))
    engine_id = "another-engine" if child == "wrong engine" else facts.engine_id
    # the real child's lines for the first two images
    request = {"host": eng.host, "engine_id": facts.engine_id, "ids": ids[:2], "sizes": sizes, "cache": None}
    real = subprocess.run(
        layer_child.child_command(), input=json.dumps(request).encode(), capture_output=True, check=True
    ).stdout.splitlines()
    assert [json.loads(line)[0] for line in real] == ids[:2]
    commands = {
        "missing command": [str(tmp_path / "no-such-python")],
        "garbage": fake_child(tmp_path, "print('not json')\n"),
        "first only": fake_child(tmp_path, f"import sys\nsys.stdin.read()\nprint({real[0].decode()!r})\n"),
        "another image": fake_child(tmp_path, f"print({real[1].decode()!r})\n"),
    }
    if child in commands:
        monkeypatch.setattr(layer_child, "child_command", lambda: commands[child])
    read_here: list[list[str]] = []

    def here(rest: list[str]) -> Iterator[tuple[str, dict[str, Any] | None]]:
        read_here.append(rest)
        return snapshot_module.fetch_details(eng, rest, 2, None)

    built: dict[str, layer_child.Built] = {}
    got = list(child_details(eng.host, engine_id, ids, sizes, None, built, None, here))
    from_child = ids[:1] if child == "first only" else []
    assert [image_id for image_id, _ in got] == ids
    assert list(built) == from_child
    for image_id, detail in got:
        assert detail is not None
        if image_id in from_child:  # the child's cache entry, and the layers it built
            assert detail["diff_ids"] == truth[image_id]["diff_ids"] and "labels" not in detail
            assert built[image_id].layers == detail_layers(truth[image_id], sizes[image_id])
            assert built[image_id].cached and detail["key"] == f"{facts.engine_id}/{image_id}"
        else:
            assert detail == truth[image_id]
    assert read_here == [ids[1:] if child == "first only" else ids]


def children_of_this_process() -> list[str]:
    me = str(os.getpid())
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me and fields[0] != "Z":
            found.append(stat.parent.name)
    return found


@pytest.mark.classic_store
def test_a_cancelled_read_stops_the_child(engine, tmp_path, monkeypatch):
    seed(engine.api, engine.url, STANDARD)
    eng = Engine(engine.url)
    facts = read_facts(eng)
    ids = [i.id for i in list_images(eng)]
    # a child that reads its request, then answers nothing for a long time
    monkeypatch.setattr(
        layer_child,
        "child_command",
        lambda: fake_child(tmp_path, "import sys, time\nsys.stdin.read()\ntime.sleep(60)\n"),
    )
    before = set(children_of_this_process())
    cancel_at = time.monotonic() + 0.5
    read_here: list[list[str]] = []
    started = time.monotonic()
    got = list(
        child_details(
            eng.host,
            facts.engine_id,
            ids,
            {},
            None,
            {},
            lambda: time.monotonic() > cancel_at,
            lambda rest: read_here.append(rest) or iter(()),
        )
    )
    assert got == [] and read_here == []  # cancelled: neither the child's answers nor a read here
    assert time.monotonic() - started < 5  # not the child's 60 s
    assert set(children_of_this_process()) <= before  # the child is gone (and reaped)


def test_a_request_that_is_not_a_layer_read_gets_a_clear_error():
    done = subprocess.run(
        layer_child.child_command(), input=b"{not json", capture_output=True, timeout=60, check=False
    )
    assert done.returncode == 2
    assert json.loads(done.stdout) == {"error": "the request is not a layer read's"}


def test_a_tui_package_in_the_working_directory_does_not_run_as_the_child(tmp_path):
    """The app often runs as root in a directory it does not own: the child's code is the app's."""
    planted = tmp_path / "tui" / "engine"
    planted.mkdir(parents=True)
    for package in (tmp_path / "tui", planted):
        (package / "__init__.py").write_text("")
    marker = tmp_path / "ran"
    (planted / "layer_child.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('x')\ndef main():\n    return 0\n"
    )
    done = subprocess.run(
        layer_child.child_command(),
        input=b"{not json",
        capture_output=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )
    assert not marker.exists()
    assert done.returncode == 2 and json.loads(done.stdout) == {"error": "the request is not a layer read's"}
