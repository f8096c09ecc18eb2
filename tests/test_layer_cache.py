"""The layer cache on a real engine: it saves layer reads and decides nothing.

An edited cache file must not un-protect an image (``[protect] labels`` use the labels the engine
lists in this run), change an image's created time (policies and ``until`` use it), or put wrong
layers into plans: damaged or edited entries are dropped and read again from the engine.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.enginecase import STANDARD, WEB, seed
from tui import exit_codes
from tui.cli import main
from tui.engine.client import Engine
from tui.engine.snapshot import LayerCache, _entry_sum, list_images, read_facts, read_layers
from tui.engine.source import EngineSource, default_cache_path


def web_id(api: Any) -> str:
    """WEB's image id on this engine (the config digest on the classic store, the manifest digest on
    the containerd store)."""
    return str(api.inspect_image(WEB.tags[0])["Id"])


def images_json(capsys: pytest.CaptureFixture[str], url: str, config: Path) -> dict[str, Any]:
    assert main(["--host", url, "--config", str(config), "images", "--json"]) == 0
    return {row["id"]: row for row in json.loads(capsys.readouterr().out)}


def edit_cache(path: Path, image_id: str, change: Any, *, reseal: bool) -> None:
    """Apply ``change(entry)`` to the image's line; ``reseal``: recompute its checksum (an adversary
    who read the code) — otherwise the edit is a plain hand edit."""
    lines = []
    hits = 0
    for line in path.read_text().splitlines():
        entry = json.loads(line)
        if entry["key"].endswith("/" + image_id):
            change(entry)
            if reseal and "sum" in entry:
                entry["sum"] = _entry_sum(entry)
            hits += 1
        lines.append(json.dumps(entry))
    assert hits >= 1
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def protect_keep(tmp_path: Path) -> Path:
    config = tmp_path / "protect.toml"
    config.write_text('[protect]\nlabels = ["keep=true"]\n')
    return config


@pytest.mark.parametrize("reseal", [False, True], ids=["hand-edit", "resealed"])
def test_edited_cache_labels_do_not_unprotect(
    engine, tmp_path: Path, protect_keep: Path, capsys: pytest.CaptureFixture[str], reseal: bool
) -> None:
    seed(engine.api, engine.url, STANDARD)
    web_image = web_id(engine.api)
    cache = default_cache_path()
    cache.unlink(missing_ok=True)
    rows = images_json(capsys, engine.url, protect_keep)
    assert rows[web_image]["protected"] and rows[web_image]["labels"]["keep"] == "true"
    assert cache.exists()
    # what an older cache held, and what someone who wants the image gone would write
    unkeep = {"role": "web", "keep": "no"}
    edit_cache(cache, web_image, lambda e: e.__setitem__("labels", unkeep), reseal=reseal)
    rows = images_json(capsys, engine.url, protect_keep)
    assert rows[web_image]["protected"] and rows[web_image]["labels"] == {"role": "web", "keep": "true"}
    code = main(["--host", engine.url, "--config", str(protect_keep), "plan", "rm", "web:1.25", "--json"])
    plan = json.loads(capsys.readouterr().out)
    assert code == exit_codes.EXIT_PARTIAL and plan["delete"] == [] and plan["untag"] == []
    assert "protected" in plan["blocked"][0]["message"]


def test_edited_created_time_is_not_believed(
    engine, tmp_path: Path, protect_keep: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(engine.api, engine.url, STANDARD)
    web_image = web_id(engine.api)
    cache = default_cache_path()
    cache.unlink(missing_ok=True)
    truth = images_json(capsys, engine.url, protect_keep)[web_image]["created"]
    edit_cache(cache, web_image, lambda e: e.__setitem__("created", "2001-01-01T00:00:00Z"), reseal=True)
    assert images_json(capsys, engine.url, protect_keep)[web_image]["created"] == truth


def test_damaged_or_edited_layers_are_read_again(engine, tmp_path: Path) -> None:
    seed(engine.api, engine.url, STANDARD)
    web_image = web_id(engine.api)
    other_id = str(engine.api.inspect_image(STANDARD[0].tags[0])["Id"])
    eng = Engine(engine.url)
    facts = read_facts(eng)
    images = list_images(eng)
    path = tmp_path / "layers.jsonl"
    truth = {
        i.id: i.layers for i in read_layers(eng, images, cache=LayerCache(path), engine_id=facts.engine_id)
    }
    fake = "sha256:" + "f" * 64
    edit_cache(path, web_image, lambda e: e.__setitem__("diff_ids", [fake]), reseal=False)
    edit_cache(path, other_id, lambda e: e["history"].__setitem__(0, ["x", -5]), reseal=True)
    with path.open("a") as fh:
        fh.write('{"key": "x/y", "diff_ids": 5}\n\x00garbage\n')
    cache = LayerCache(path)
    assert cache.rejected == 4
    assert cache.get(facts.engine_id, web_image) is None
    again = {i.id: i.layers for i in read_layers(eng, images, cache=cache, engine_id=facts.engine_id)}
    assert again == truth
    assert fake not in path.read_text()


def test_the_source_says_when_its_layer_stage_reads_only_the_cache(engine, tmp_path: Path) -> None:
    """What lets the app's first read go on with the layer stage while Textual starts: on the
    classic store, every listed image in the cache; never on the other stores (their layer stage
    asks the engine or the content store more than the cache holds)."""
    seed(engine.api, engine.url, STANDARD)
    path = tmp_path / "layers.jsonl"
    source = EngineSource(Engine(engine.url), LayerCache(path))
    listed, *later = source.load(progress=lambda done, total: None, cancelled=lambda: False)
    assert listed.images and not listed.layers_complete and later[-1].layers_complete
    classic = listed.facts.image_store == "classic"
    assert source.layers_cached(listed) is classic
    assert (
        EngineSource(Engine(engine.url), LayerCache(tmp_path / "empty.jsonl")).layers_cached(listed) is False
    )
    web_image = web_id(engine.api)
    if classic:  # one image the cache lacks (or holds an entry it does not believe)
        edit_cache(path, web_image, lambda e: e.__setitem__("diff_ids", ["sha256:" + "f" * 64]), reseal=False)
        assert EngineSource(Engine(engine.url), LayerCache(path)).layers_cached(listed) is False


def test_cache_file_others_may_write_is_not_used(engine, tmp_path: Path) -> None:
    seed(engine.api, engine.url, STANDARD)
    web_image = web_id(engine.api)
    eng = Engine(engine.url)
    facts = read_facts(eng)
    images = list_images(eng)
    path = tmp_path / "layers.jsonl"
    read_layers(eng, images, cache=LayerCache(path), engine_id=facts.engine_id)
    assert os.stat(path).st_mode & 0o777 == 0o600
    os.chmod(path, 0o666)
    shared = LayerCache(path)
    assert shared.path is None and shared.get(facts.engine_id, web_image) is None
    os.chmod(path, 0o600)
    os.chown(path, 65534, 65534)
    assert LayerCache(path).path is None
    os.chown(path, os.geteuid(), os.getegid())
    listed = next(i.created for i in images if i.id == web_image)
    assert LayerCache(path).get(facts.engine_id, web_image, created=listed) is not None


def test_labels_are_never_cached(tmp_path: Path) -> None:
    path = tmp_path / "layers.jsonl"
    cache = LayerCache(path)
    cache.put("e", "sha256:1", {"diff_ids": [], "history": [], "created": "", "labels": {"keep": "true"}})
    assert "labels" not in path.read_text()
    keys = {"diff_ids", "history", "created", "key", "sum"}
    assert set(LayerCache(path).get("e", "sha256:1") or {}) == keys


def test_a_checked_file_is_not_checked_line_by_line_again_but_an_edited_one_is(tmp_path, monkeypatch):
    """``layers.jsonl.checked`` holds the sha256 of the bytes whose every line passed the checks:
    a warm start with those bytes skips them; any other bytes (an edit) are checked again."""
    from tui.engine import snapshot

    path = tmp_path / "layers.jsonl"
    entry = {"diff_ids": ["sha256:" + "a" * 64], "history": [["ADD a", 5]], "created": ""}
    cache = LayerCache(path)
    cache.put("e", "sha256:1", entry)
    cache.put("e", "sha256:2", entry)
    checks: list[object] = []
    real = snapshot._valid_entry
    monkeypatch.setattr(snapshot, "_valid_entry", lambda e: checks.append(e) or real(e))
    assert LayerCache(path).get("e", "sha256:1") is not None and len(checks) == 2
    seal = tmp_path / "layers.jsonl.checked"
    assert seal.read_text().strip() == hashlib.sha256(path.read_bytes()).hexdigest()
    assert os.stat(seal).st_mode & 0o777 == 0o600
    checks.clear()
    assert LayerCache(path).get("e", "sha256:2") is not None and checks == []  # the same bytes
    os.chmod(seal, 0o666)  # a seal others may write is not believed
    assert LayerCache(path).get("e", "sha256:2") is not None and len(checks) == 2
    os.chmod(seal, 0o600)
    path.write_text(path.read_text().replace("ADD a", "ADD b"))  # an edit: the lines' sums fail
    checks.clear()
    edited = LayerCache(path)
    assert len(checks) == 2 and edited.rejected == 2 and edited.get("e", "sha256:1") is None


@pytest.mark.parametrize("sealed", [False, True], ids=["checked-per-line", "sealed"])
def test_a_read_file_shares_equal_layer_ids_and_history_commands(tmp_path: Path, sealed: bool) -> None:
    """Entries read from the file hold one string for each diff id and history command that
    several of them have (JSON gives each line its own copies), with the same values."""
    path = tmp_path / "layers.jsonl"
    base = "sha256:" + "b" * 64
    details = [
        {
            "diff_ids": [base, "sha256:" + c * 64],
            "history": [["ADD base", 7], [f"COPY {c}", 1]],
            "created": "",
        }
        for c in "cde"
    ]
    writer = LayerCache(path)
    writer.put_many("e", [(f"sha256:{n}", d) for n, d in enumerate(details)])
    entries = [LayerCache(path).get("e", f"sha256:{n}") for n in range(3)]
    seal = tmp_path / "layers.jsonl.checked"
    assert seal.exists()  # every line passed the checks
    if not sealed:
        seal.unlink()  # the next read checks each line again
    reread = LayerCache(path)
    first, second, third = (reread.get("e", f"sha256:{n}") for n in range(3))
    assert first is not None and second is not None and third is not None
    assert [first, second, third] == entries  # the same values as written
    assert [{k: e[k] for k in ("diff_ids", "history", "created")} for e in entries if e] == details
    assert first["diff_ids"][0] is second["diff_ids"][0] is third["diff_ids"][0]
    assert first["history"][0][0] is second["history"][0][0] is third["history"][0][0]
    assert first["diff_ids"][1] != second["diff_ids"][1]


def test_a_sealed_entry_of_another_shape_is_read_as_it_is(tmp_path: Path) -> None:
    """A file sealed by someone who may write it (the seal vouches for nothing the lines' own
    checks do not) may hold entries the checks would refuse: they are read as they are."""
    path = tmp_path / "layers.jsonl"
    odd = [
        {"key": "e/sha256:1", "diff_ids": {"x": 1}, "history": "ADD", "created": ""},
        {"key": "e/sha256:2", "diff_ids": [1, True, ["x"]], "history": [[], 5, ["ADD", 1], [2, 3]]},
    ]
    path.write_text("".join(json.dumps(e) + "\n" for e in odd))
    (tmp_path / "layers.jsonl.checked").write_text(hashlib.sha256(path.read_bytes()).hexdigest() + "\n")
    cache = LayerCache(path)
    assert cache.rejected == 0
    assert [cache.get("e", "sha256:1"), cache.get("e", "sha256:2")] == odd
