"""The pipelined layer read on a real engine: the same answers as the SDK, one request after the other."""

from __future__ import annotations

import socket

from tests.enginecase import STANDARD, seed
from tui.engine.client import Engine, EngineAPIError, UnixReader
from tui.engine.snapshot import list_images, read_layers


def test_pipelined_answers_are_the_sdks_in_order_with_errors_in_place(engine):
    seed(engine.api, engine.url, STANDARD)
    eng = Engine(engine.url)
    api = eng.api()
    ids = [row["Id"] for row in api.images(all=True)]
    missing = "sha256:" + "0" * 64
    reader = eng.new_reader()
    assert isinstance(reader, UnixReader)
    paths = [p for i in ids for p in (f"/images/{i}/json", f"/images/{i}/history")]
    answers = reader.get_json_many([paths[0], f"/images/{missing}/json", *paths[1:]])
    assert isinstance(answers.pop(1), EngineAPIError)
    with_errors = reader.get_json_many([f"/images/{missing}/history"])
    assert with_errors[0].status == 404 and "No such image" in str(with_errors[0])
    expected = [a for i in ids for a in (api.inspect_image(i), api.history(i))]
    assert answers == expected
    # the engine closing the kept-alive connection between batches: the next batch opens a new one
    sock, _ = reader._raw
    sock.shutdown(socket.SHUT_RDWR)
    assert reader.get_json_many(paths[:4]) == expected[:4]
    assert reader._raw is not None and reader._raw[0] is not sock
    reader.close()


def test_layers_read_pipelined_equal_layers_read_through_the_sdk(engine):
    seed(engine.api, engine.url, STANDARD)
    eng = Engine(engine.url)
    images = list_images(eng)
    pipelined = read_layers(eng, images, workers=2)
    through_sdk = Engine(engine.url)
    through_sdk.new_reader = through_sdk.new_client  # type: ignore[method-assign]
    assert pipelined == read_layers(through_sdk, images, workers=2)
    assert all(i.layers for i in pipelined)
