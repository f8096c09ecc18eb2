"""A large cold layer read in a second process.

The app reads the store while its UI thread starts and draws. In one process the two take turns on
the GIL: a cold read of a thousand images finished some three times later inside the app than the
same read headless. So where it pays, the classic store's layer read (its image configs and layer
records read from disk, else the engine's inspect and history) runs in a child process, on another
core; the reading thread of the app only waits for the child's answers and fills them in.

The child (:func:`main`, started by :func:`child_command`) reads one request (a JSON object) from
stdin: the engine's host and ID, the image ids to read, the image list's size of each and the layer
cache's file. It does what the parent's own read would do with each image but fill it in: reads it,
builds its layers, and appends its entry to the layer cache's file. It writes one line per image,
in the request's order: ``[image id, entry, layers, created ns, cached]`` (the cache entry, or the
detail where it cannot be cached, as :func:`tui.engine.snapshot.read_layers` reads it; each layer
as ``[chain id, diff id, size]``); ``[image id, null, null, null, false]``: the image is gone. It
changes nothing else, in the engine or on disk.

It pays on a unix socket (the child reads the same local engine), on the classic store, with at
least :data:`MIN_IMAGES` images to read and more than one CPU. When the child cannot start, answers
for another engine or stops early, the parent reads the images it has no answer for itself.
"""

from __future__ import annotations

import gc
import json
import os
import sys
from collections.abc import Callable, Generator, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from tui.core.model import Layer

Details = Iterator[tuple[str, "dict[str, Any] | None"]]


class Built(NamedTuple):
    """What the child made of an image besides its detail."""

    layers: tuple[Layer, ...]
    created_ns: int | None  # the detail's precise created time, if it has one
    cached: bool  # the detail is the cache entry the child appended to the cache's file


MIN_IMAGES = 200
"""Fewer images to read than this are read in the app's process: a child costs some 0.1 s to start
(Python and the reader's imports: 0.11 s measured), more than a small read gains from it."""

NICE = 10
"""The child's niceness: on a busy machine the app's own threads (its UI) come first."""

FLUSH_EVERY = 64
"""Lines the child writes before it flushes (the parent's progress moves with them)."""


def worth_a_child(host: str, image_store: str, to_read: int) -> bool:
    """True when the layer read of ``to_read`` images of this engine goes to a child process."""
    return (
        to_read >= MIN_IMAGES
        and image_store == "classic"
        and host.startswith("unix://")
        and (os.cpu_count() or 1) > 1
    )


def child_details(
    host: str,
    engine_id: str,
    image_ids: list[str],
    sizes: Mapping[str, int],
    cache_path: Path | None,
    built: dict[str, Built],
    cancelled: Callable[[], bool] | None,
    read_here: Callable[[list[str]], Details],
) -> Generator[tuple[str, dict[str, Any] | None], None, None]:
    """``(image id, detail)`` for ``image_ids``, in order, as a child process reads them, and in
    ``built`` what it made of each (the child appended the cached ones to ``cache_path``); the ids
    it gives no answer for (it could not start, failed, or answered for another engine) from
    ``read_here(rest)``, with nothing in ``built``. Stops early once ``cancelled()``; the child
    is stopped when this ends."""
    import subprocess  # (with its own imports) only where a child is started

    def stop() -> bool:
        return cancelled is not None and cancelled()

    done = 0
    try:
        child = subprocess.Popen(
            child_command(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # the app's screen: a failure shows as the parent's own read
        )
    except OSError:
        child = None
    if child is not None:
        try:
            assert child.stdin is not None and child.stdout is not None
            request = {
                "host": host,
                "engine_id": engine_id,
                "ids": image_ids,
                "sizes": dict(sizes),
                "cache": None if cache_path is None else str(cache_path),
            }
            try:
                child.stdin.write(json.dumps(request).encode())
                child.stdin.close()
            except OSError:
                pass  # it is gone: read here
            for line in _lines(child.stdout.fileno(), stop):
                expected = image_ids[done] if done < len(image_ids) else None
                answer = _answer(line, expected, engine_id)
                if answer is None or expected is None:
                    break
                detail, made = answer
                if made is not None:
                    built[expected] = made
                yield expected, detail
                done += 1
        finally:
            if child.poll() is None:
                child.kill()
            child.wait()
            for pipe in (child.stdin, child.stdout):
                if pipe is not None:
                    pipe.close()
    if done < len(image_ids) and not stop():
        yield from read_here(image_ids[done:])


_CHILD_CODE = (
    "import sys; sys.path.insert(0, sys.argv[1]); from tui.engine.layer_child import main; sys.exit(main())"
)


def child_command() -> list[str]:
    """The child's command line: this Python, this module, imported from where this process
    imported it. Isolated (``-I``): neither the working directory (``-m`` would look there first:
    a ``tui`` package in the directory the app runs in, as root, must not run) nor ``PYTHON*``
    variables choose its code."""
    root = Path(__file__).resolve().parents[2]
    return [sys.executable, "-I", "-c", _CHILD_CODE, str(root)]


def _lines(fd: int, stop: Callable[[], bool]) -> Iterator[bytes]:
    """The lines read from ``fd`` until its end, or until ``stop()`` (asked at least every 0.1 s,
    also while the child reads and writes nothing)."""
    import select

    pending = b""
    while not stop():
        ready, _, _ = select.select([fd], [], [], 0.1)
        if not ready:
            continue
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            if stop():
                return
            yield line


def _answer(
    line: bytes, expected: str | None, engine_id: str
) -> tuple[dict[str, Any] | None, Built | None] | None:
    """The child's line as ``(detail, built)`` (both None: the image is gone) when it answers for
    ``expected`` as the module says; else None."""
    try:
        got = json.loads(line)
    except ValueError:
        return None
    if expected is None or not isinstance(got, list) or len(got) != 5 or got[0] != expected:
        return None
    _, detail, layers, created_ns, cached = got
    if detail is None:
        return None, None
    if (
        not isinstance(detail, dict)
        or not isinstance(layers, list)
        or not (created_ns is None or type(created_ns) is int)
        or type(cached) is not bool
        or (cached and detail.get("key") != f"{engine_id}/{expected}")
    ):
        return None
    try:
        made = tuple([Layer(chain, diff, size) for chain, diff, size in layers])
    except (TypeError, ValueError):
        return None
    return detail, Built(made, created_ns, cached)


def main() -> int:
    """The child: read the request on stdin, write the details on stdout (see the module)."""
    from tui.engine.client import Engine
    from tui.engine.snapshot import (
        READ_WORKERS,
        ClassicDetail,
        LayerCache,
        cache_entry,
        detail_created_ns,
        detail_layers,
        fetch_details,
        read_facts,
    )

    os.nice(NICE)
    gc.disable()  # a read makes no reference cycles (as the headless commands' reads, tui/cli.py)
    try:
        request = json.loads(sys.stdin.buffer.read())
        host, engine_id, ids, sizes, path = (
            request[k] for k in ("host", "engine_id", "ids", "sizes", "cache")
        )
    except (ValueError, KeyError, TypeError):
        print(json.dumps({"error": "the request is not a layer read's"}), flush=True)
        return 2
    engine = Engine(host)
    try:
        facts = read_facts(engine)
        if facts.engine_id != engine_id or facts.image_store != "classic":
            print(json.dumps({"error": f"{host} is not the engine {engine_id}"}), flush=True)
            return 1
        cache = LayerCache(Path(path), defer=True) if path else None  # (its file not read)
        out = sys.stdout
        steps_made: dict[Any, Any] = {}
        entries: list[dict[str, Any]] = []  # the cache entries not appended yet
        details = fetch_details(engine, ids, READ_WORKERS, None, None, ClassicDetail(facts, sizes))
        for written, (image_id, detail) in enumerate(details, 1):
            line: list[Any] = [image_id, None, None, None, False]
            if detail is not None:
                entry = cache_entry(engine_id, image_id, detail)
                layers = detail_layers(detail, sizes.get(image_id), steps_made)
                line[1:] = [
                    detail if entry is None else entry,
                    [[layer.chain_id, layer.diff_id, layer.size] for layer in layers],
                    detail_created_ns(detail),
                    entry is not None,
                ]
                if entry is not None:
                    entries.append(entry)
            out.write(json.dumps(line) + "\n")
            if written % FLUSH_EVERY == 0:
                if cache is not None:
                    cache.append(entries)  # before the parent takes them
                entries = []
                out.flush()
        if cache is not None:
            cache.append(entries)
        out.flush()
    except BrokenPipeError:
        return 0  # the app stopped listening (it quit, or its read was cancelled)
    except Exception as exc:  # the parent reads the rest itself and reports what it meets
        print(json.dumps({"error": str(exc)}), flush=True)
        return 1
    finally:
        engine.close()
        gc.freeze()  # the exit's last collection walks none of them
    return 0


if __name__ == "__main__":
    sys.exit(main())
