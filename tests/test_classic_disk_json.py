"""The classic store's disk reader reads an image config as Go's decoder does, or leaves the image
to the engine: configs Go reads differently from Python's ``json`` (a key twice, a key in another
case, a non-ASCII key, a null label value, NaN) and configs the engine answers with an error (another
OS, more non-empty history steps than layers) give None. The real-engine comparison is in
tests/test_classic_local_reads.py; these configs are written by hand into a store directory."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tui.core.layers import chain_ids
from tui.engine.classic_disk import ClassicStore

DIFF_A = "sha256:" + "a" * 64
DIFF_B = "sha256:" + "b" * 64
GOOD = (
    '{"architecture":"amd64","config":{"Env":null,"Labels":{"k":"v","K":"w"}},'
    '"created":"2024-05-01T10:00:00.250Z","history":[{"created_by":"ADD a"},'
    '{"created_by":"ENV X=1","empty_layer":true},{"created_by":"COPY b","comment":"last"}],'
    '"os":"linux","rootfs":{"type":"layers","diff_ids":["' + DIFF_A + '","' + DIFF_B + '"]}}'
)


def _store(tmp_path: Path, sizes: tuple[int, int] = (100, 20)) -> ClassicStore:
    root = tmp_path / "image" / "overlay2"
    (root / "imagedb" / "content" / "sha256").mkdir(parents=True)
    for chain, diff, size in zip(chain_ids([DIFF_A, DIFF_B]), (DIFF_A, DIFF_B), sizes, strict=True):
        folder = root / "layerdb" / "sha256" / chain.removeprefix("sha256:")
        folder.mkdir(parents=True)
        (folder / "diff").write_text(diff)
        (folder / "size").write_text(str(size))
    return ClassicStore(root)


def _put(store: ClassicStore, text: str) -> str:
    data = text.encode()
    hexid = hashlib.sha256(data).hexdigest()
    (store.root / "imagedb" / "content" / "sha256" / hexid).write_bytes(data)
    return "sha256:" + hexid


def test_a_plain_config_gives_what_inspect_and_history_give(tmp_path: Path):
    store = _store(tmp_path)
    image_id = _put(store, GOOD)
    assert store.detail({image_id: 120}, image_id) == {
        "diff_ids": [DIFF_A, DIFF_B],
        "history": [["ADD a", 100], ["ENV X=1", 0], ["COPY b", 20]],
        "created": "2024-05-01T10:00:00.25Z",  # as Go's RFC3339Nano writes it
        "labels": {"k": "v", "K": "w"},  # label keys are map keys: case matters
        "has_config": True,
        "comment": "last",  # no top-level comment: the newest step's
        "config_read": 3,
    }
    assert store.detail({image_id: 121}, image_id) is None  # not the size the engine lists
    assert store.detail({}, image_id) is None  # not listed


@pytest.mark.parametrize(
    ("old", "new", "why"),
    [
        ('"config":{', '"config":null,"config":{', "a key twice"),
        ('"history":', '"History":', "a key in another case"),
        ('"Labels":', '"labels":', "a nested key in another case"),
        ('"history":', '"hi\u017ftory":', "a non-ASCII key Go folds onto history"),
        ('"k":"v"', '"k":null', "a null label value"),
        ('"architecture":"amd64"', '"architecture":NaN', "NaN"),
        ('"os":"linux"', '"os":"windows"', "another OS"),
        ('"created":"2024-05-01T10:00:00.250Z",', "", "no created time"),
        ('"created":"2024-05-01T10:00:00.250Z"', '"created":"2024-05-01 10:00:00Z"', "not RFC 3339"),
        ('"empty_layer":true', '"empty_layer":"true"', "a type Go refuses"),
        ('"empty_layer":true', '"empty_layer":false', "more non-empty steps than layers"),
        ('"rootfs":{"type":"layers",', '"rootfs":null,"x":{', "no rootfs"),
        ('"created_by":"ADD a"', '"created_by":"\\ud800"', "a lone surrogate (Go: U+FFFD)"),
    ],
)
def test_what_go_reads_otherwise_goes_to_the_engine(tmp_path: Path, old: str, new: str, why: str):
    store = _store(tmp_path)
    assert old in GOOD
    image_id = _put(store, GOOD.replace(old, new, 1))
    assert store.detail({image_id: 120}, image_id) is None, why


def test_without_history_or_config_or_layers(tmp_path: Path):
    store = _store(tmp_path)
    bare = json.dumps({"created": "2024-05-01T12:00:00+02:00", "rootfs": {"type": "layers"}, "comment": "c"})
    image_id = _put(store, bare)
    assert store.detail({image_id: 0}, image_id) == {
        "diff_ids": [],
        "history": [],
        "created": "2024-05-01T10:00:00Z",
        "labels": {},
        "has_config": False,
        "comment": "c",
        "config_read": 3,
    }


def test_damaged_layer_records_and_configs(tmp_path: Path):
    store = _store(tmp_path)
    image_id = _put(store, GOOD)
    config = store.root / "imagedb" / "content" / "sha256" / image_id.removeprefix("sha256:")
    config.write_bytes(GOOD.encode() + b" ")
    assert store.detail({image_id: 120}, image_id) is None  # bytes no longer the id's
    store = _store(tmp_path / "2", sizes=(100, -20))
    image_id = _put(store, GOOD)
    assert store.detail({image_id: 80}, image_id) is None  # a size strconv did not write
