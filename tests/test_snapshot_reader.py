"""The snapshot reader on a real engine: list first, layers with progress, cache, vanished images."""

from __future__ import annotations

from unittest.mock import ANY

import pytest

from tests.enginecase import APP_V1, STANDARD, seed
from tui.engine.client import Engine, EngineAPIError, UnixGets, UnixReader
from tui.engine.snapshot import LayerCache, list_images, read_facts, read_layers, read_snapshot
from tui.engine.source import EngineSource
from tui.sandbox import imagegen as gen


@pytest.mark.classic_store
def test_list_then_layers_with_progress_and_cache(engine, tmp_path):
    seed(engine.api, engine.url, STANDARD)
    eng = Engine(engine.url)
    facts = read_facts(eng)
    assert facts.api_version and facts.image_store == "classic" and facts.engine_id
    images = list_images(eng)
    assert all(i.layers is None for i in images)
    seen: list[tuple[int, int]] = []
    cache = LayerCache(tmp_path / "layers.jsonl")
    full = read_layers(
        eng, images, cache=cache, engine_id=facts.engine_id, progress=lambda d, t: seen.append((d, t))
    )
    assert seen[-1] == (len(images), len(images)) and len(seen) == len(images)
    assert all(i.layers is not None for i in full)
    # A new cache object reads the file: no engine call is needed for known ids.
    reloaded = LayerCache(tmp_path / "layers.jsonl")
    calls: list[str] = []
    original = eng.call

    def counting(fn, **kwargs):
        calls.append("call")
        return original(fn, **kwargs)

    eng.call = counting  # type: ignore[method-assign]
    again = read_layers(eng, images, cache=reloaded, engine_id=facts.engine_id)
    assert calls == []
    assert {i.id: i.layers for i in again} == {i.id: i.layers for i in full}


def test_image_removed_between_list_and_layers_is_dropped(engine):
    seed(engine.api, engine.url, STANDARD)
    eng = Engine(engine.url)
    images = list_images(eng)
    engine.api.remove_image("myapp:1.5.0")
    full = read_layers(eng, images)
    assert gen.image_id(APP_V1) not in {i.id for i in full}
    assert len(full) == len(images) - 1


def test_source_yields_listed_then_layers_then_df(engine):
    seed(engine.api, engine.url, STANDARD)
    stages = list(EngineSource(Engine(engine.url)).load(progress=lambda d, t: None, cancelled=lambda: False))
    assert [s.layers_complete for s in stages] == [False, True, True]
    assert stages[-1].disk is not None and stages[1].disk is None
    assert read_snapshot(Engine(engine.url), disk_usage=True).disk.layers_size == stages[-1].disk.layers_size


def test_cache_file_is_compacted(tmp_path):
    path = tmp_path / "layers.jsonl"
    cache = LayerCache(path)
    entry = {"diff_ids": ["sha256:" + "a" * 64], "history": [["ADD a", 5]], "created": ""}
    cache.put("e", "sha256:1", entry)
    cache.put("e", "sha256:1", entry)
    cache.put("e", "sha256:2", entry)
    path.write_text(path.read_text() + "not json\n")
    assert len(path.read_text().splitlines()) == 4
    reloaded = LayerCache(path)  # duplicates and the damaged line are dropped, entries kept
    assert len(path.read_text().splitlines()) == 2
    assert reloaded.get("e", "sha256:1") == {**entry, "key": "e/sha256:1", "sum": ANY}
    assert reloaded.get("e", "sha256:2") == {**entry, "key": "e/sha256:2", "sum": ANY}
    assert reloaded.get("other-engine", "sha256:1") is None


def test_reads_keep_one_connection_and_the_fast_reader_matches_the_sdk(engine):
    seed(engine.api, engine.url, STANDARD)
    eng = Engine(engine.url)
    api = eng.api()
    ids = [row["Id"] for row in api.images(all=True)]
    for image_id in ids:
        api.inspect_image(image_id)
    # docker-py keys its unix-socket pools by request URL: one new connection per image without
    # keep_alive(); with it, one pool (one kept-alive connection) serves every path.
    assert len(api._custom_adapter.pools) == 1
    assert api.trust_env is False
    reader = eng.new_reader()
    assert isinstance(reader, UnixReader)
    for image_id in ids:
        assert reader.inspect_image(image_id) == api.inspect_image(image_id)
        assert reader.history(image_id) == api.history(image_id)
    with pytest.raises(EngineAPIError) as missing:
        reader.inspect_image("sha256:" + "0" * 64)
    assert missing.value.status == 404 and "No such image" in str(missing.value)
    reader.close()
    images = list_images(eng)
    one = read_layers(eng, images, workers=1)
    four = read_layers(eng, images, workers=4)
    assert [i.id for i in one] == [i.id for i in four] == [i.id for i in images]
    assert {i.id: i.layers for i in one} == {i.id: i.layers for i in four}


def test_cancelled_layer_read_keeps_every_image_in_order(engine):
    seed(engine.api, engine.url, STANDARD)
    eng = Engine(engine.url)
    images = list_images(eng)
    asked = []

    def cancelled() -> bool:
        asked.append(1)
        return len(asked) > 2

    out = read_layers(eng, images, cancelled=cancelled, workers=2)
    assert [i.id for i in out] == [i.id for i in images]
    assert any(i.layers is None for i in out)


def test_version_is_read_once_for_negotiation_and_facts(engine, monkeypatch):
    """``GET /version`` answers both the API version negotiation and the engine facts, through
    the SDK and without it (a unix socket's direct reads)."""
    import docker

    calls: list[bool] = []
    original = docker.APIClient.version
    expected = docker.APIClient(base_url=engine.url, version="auto").version()

    def counted(self, api_version=True):  # a spy: the real engine answers
        calls.append(api_version)
        return original(self, api_version=api_version)

    monkeypatch.setattr(docker.APIClient, "version", counted)
    eng = Engine(engine.url, direct_reads=False)
    facts = read_facts(eng)
    assert len(calls) == 1
    assert facts.version == expected["Version"] and facts.api_version == expected["ApiVersion"]
    read_facts(eng)  # a reload reads /info again, not /version
    assert len(calls) == 1
    sent: list[str] = []
    original_init = UnixGets.__init__

    def spied(self, socket_path, targets, *args, **kwargs):
        sent.extend(targets)
        original_init(self, socket_path, targets, *args, **kwargs)

    monkeypatch.setattr(UnixGets, "__init__", spied)
    direct = Engine(engine.url)
    assert read_facts(direct) == facts
    read_facts(direct)
    info = f"/v{expected['ApiVersion']}/info"
    assert sent == ["/version", info, info] and calls == [False]
