"""A stand-in HTTP server on a unix socket or 127.0.0.1 for what no real engine can be made to do
on demand: answer one endpoint with an error, a broken body or nothing at all. It records every
request (target and headers), so a test also sees which client sent it (the SDK's User-Agent)."""

from __future__ import annotations

import json
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

API = "1.41"

#: A minimal empty store: the answers a snapshot read needs (path without the query -> status, body).
EMPTY_STORE: dict[str, tuple[int, Any]] = {
    "/version": (200, {"Version": "20.10.24", "ApiVersion": API, "Os": "linux"}),
    f"/v{API}/info": (200, {"ID": "fake-engine", "Driver": "overlay2", "DriverStatus": [], "Name": "fake"}),
    f"/v{API}/images/json": (200, []),
    f"/v{API}/containers/json": (200, []),
    f"/v{API}/system/df": (200, {"LayersSize": 0, "Images": [], "Containers": [], "Volumes": []}),
}


@dataclass
class Seen:
    target: str
    headers: dict[str, str]


@dataclass
class FakeEngine:
    url: str
    answers: dict[str, tuple[int, Any]]
    seen: list[Seen] = field(default_factory=list)
    #: the ``API-Version`` header of ``/_ping`` (answered "OK" unless ``answers`` has it), as dockerd
    ping_version: str = API


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: FakeEngine

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.fake.seen.append(Seen(self.path, {k.lower(): v for k, v in self.headers.items()}))
        path = self.path.split("?", 1)[0]
        if path == "/_ping" and path not in self.fake.answers:
            self.send_response(200)
            self.send_header("Api-Version", self.fake.ping_version)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"OK")
            return
        status, body = self.fake.answers.get(path, (404, {"message": "page not found"}))
        if status == 0:  # hang up without an answer
            self.close_connection = True
            return
        if status < 0:  # never answer (until the client gives up)
            threading.Event().wait(-status)
            self.close_connection = True
            return
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's name
        pass


class _Quiet:
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # e.g. a client that closed a connection it no longer needed (a broken pipe here)


class _UnixServer(_Quiet, socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class _TCPServer(_Quiet, socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


@contextmanager
def fake_engine(
    answers: dict[str, tuple[int, Any]], *, socket_path: Path | None = None
) -> Iterator[FakeEngine]:
    """Serve ``answers`` on the unix socket ``socket_path``, or on 127.0.0.1 (tcp://) if None."""
    handler = type("Handler", (_Handler,), {})
    server: socketserver.BaseServer
    if socket_path is not None:
        server = _UnixServer(str(socket_path), handler)
        fake = FakeEngine(f"unix://{socket_path}", dict(answers))
    else:
        server = _TCPServer(("127.0.0.1", 0), handler)
        fake = FakeEngine(f"tcp://127.0.0.1:{server.server_address[1]}", dict(answers))
    handler.fake = fake
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
