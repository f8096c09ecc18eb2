"""Connecting to a Docker engine, and turning SDK errors into docker-sweep's own.

:class:`Engine` is the one object the rest of the program holds. It knows the endpoint, makes one
low-level ``docker.APIClient`` per thread (a ``requests.Session`` must not be shared), and converts
``docker.errors`` and connection failures into :class:`EngineError` subclasses whose messages say
what happened and how to fix it.

The SDK is imported when a client is first needed, not with this module: on a unix socket the
version negotiation, the engine's facts and the store's lists are plain GETs that
:meth:`Engine.start_gets` sends straight to the socket (:class:`UnixGets`), and a headless command
on a warm layer cache needs nothing else (importing docker and requests was about a third of its
run). Any answer there that is not a clean JSON success is asked again through the SDK, so errors
keep the SDK path's messages.
"""

from __future__ import annotations

import json
import os
import re
import select
import socket
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar, cast
from urllib.parse import quote

from tui.engine.contexts import (
    DEFAULT_HOST,
    ContextError,
    DockerContext,
    EndpointError,
    TLSFiles,
    TLSRequest,
    TLSSettingsError,
    context_name,
    docker_config_dir,
    endpoint_hostname,
    is_loopback,
    normalize_endpoint,
    read_context,
    resolve_tls,
    uses_tls,
)

if TYPE_CHECKING:
    import http.client

T = TypeVar("T")
C = TypeVar("C")


class EngineError(Exception):
    """Base of every error the engine adapter raises; ``str()`` is a message for the user."""


class EngineUnavailable(EngineError):
    """The engine could not be reached at the endpoint."""


class EnginePermissionDenied(EngineError):
    """The socket exists but this user may not use it."""


class EngineAddressError(EngineError):
    """The endpoint is not a usable address."""


class EngineTLSFailed(EngineUnavailable):
    """The TLS handshake with the engine failed (wrong CA, refused client certificate...)."""


class EngineAPIError(EngineError):
    """The engine answered an error for one request."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class EngineTLSError(EngineAddressError):
    """TLS was asked for but its settings or files cannot be used."""


def _context_kwargs(context: DockerContext) -> dict[str, Any]:
    if context.tls_dir is None and not context.skip_tls_verify:
        return {}
    import docker.tls

    d = context.tls_dir
    cert = (str(d / "cert.pem"), str(d / "key.pem")) if d and (d / "cert.pem").exists() else None
    ca = str(d / "ca.pem") if d and (d / "ca.pem").exists() else None
    return {"tls": docker.tls.TLSConfig(client_cert=cert, ca_cert=ca, verify=not context.skip_tls_verify)}


def _tls_kwargs(files: TLSFiles | None) -> dict[str, Any]:
    if files is None:
        return {}
    import docker.tls

    cert = (str(files.cert), str(files.key)) if files.cert and files.key else None
    ca = str(files.ca_cert) if files.ca_cert else None
    return {"tls": docker.tls.TLSConfig(client_cert=cert, ca_cert=ca, verify=files.verify)}


def context_host(name: str) -> tuple[str, dict[str, Any]]:
    """The endpoint of the docker context ``name``; :class:`EngineAddressError` if unknown."""
    try:
        context = read_context(name, docker_config_dir())
        host = normalize_endpoint(context.host, tls=context.tls_dir is not None or context.skip_tls_verify)
    except (ContextError, EndpointError) as exc:
        raise EngineAddressError(str(exc)) from exc
    return host, _context_kwargs(context) if uses_tls(host) else {}


def endpoint(host: str, tls: TLSRequest | None = None) -> tuple[str, dict[str, Any]]:
    """``host`` checked and normalised, with the TLS the request and the environment ask for.

    TLS applies to TCP endpoints only (as in docker); raises :class:`EngineAddressError` for an
    unusable address and :class:`EngineTLSError` for unusable TLS settings.
    """
    try:
        plain = normalize_endpoint(host)
        files = resolve_tls(tls or TLSRequest()) if uses_tls(plain) else None
        return normalize_endpoint(host, tls=files is not None), _tls_kwargs(files)
    except EndpointError as exc:
        raise EngineAddressError(str(exc)) from exc
    except TLSSettingsError as exc:
        raise EngineTLSError(str(exc)) from exc


def resolve_host(host: str | None = None, tls: TLSRequest | None = None) -> tuple[str, dict[str, Any]]:
    """The endpoint to use and extra APIClient kwargs (TLS), in docker CLI order.

    ``--host``/config first, then ``DOCKER_HOST``, then ``DOCKER_CONTEXT`` or the current docker
    context, then the default socket. The TLS settings (``--tlsverify`` and friends, the config,
    ``DOCKER_TLS_VERIFY``/``DOCKER_TLS``/``DOCKER_CERT_PATH``) apply to the first two alike; a
    context uses its own TLS material.
    """
    if host:
        return endpoint(host, tls)
    name = context_name(host_given=False, context=None, environ=os.environ, config_dir=docker_config_dir())
    if name != "default":
        return context_host(name)
    return endpoint(os.environ.get("DOCKER_HOST") or DEFAULT_HOST, tls)


def unix_connect(path: str, timeout: float) -> socket.socket:
    """A stream socket connected to the unix socket ``path`` (closed again if that fails)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(path)
    except OSError:
        sock.close()
        raise
    return sock


class ReaderPerThread:
    """One bulk-read client (:meth:`Engine.new_reader`) per thread that asks (a
    ``requests.Session`` is not thread-safe); :meth:`close` closes all of them."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._local = threading.local()
        self._made: list[Any] = []
        self._lock = threading.Lock()

    def get(self) -> Any:
        api = getattr(self._local, "api", None)
        if api is None:
            api = self._local.api = self._engine.new_reader()
            with self._lock:
                self._made.append(api)
        return api

    def close(self) -> None:
        for api in self._made:
            api.close()


class UnixReader:
    """Read-only JSON GETs over one kept-alive unix-socket connection (not thread-safe).

    The bulk layer read makes two requests per image; through the SDK each costs about three
    times the engine's own time (requests' session machinery). This speaks HTTP/1.1 directly on
    the socket and offers the two ``APIClient`` methods that read needs, with the same results.
    """

    def __init__(self, socket_path: str, version: str, timeout: float) -> None:
        self._path = socket_path
        self._prefix = f"/v{version}"
        self._timeout = timeout
        self._conn: http.client.HTTPConnection | None = None
        self._raw: tuple[socket.socket, Any] | None = None  # get_json_many's connection

    def get_json_many(self, paths: Sequence[str]) -> list[Any]:
        """``GET /v<version><path>`` of every path, pipelined: all requests are written at once
        on one kept-alive connection and the answers read in order (HTTP/1.1; the engine answers
        them one by one). Returns the parsed JSON of each, or an :class:`EngineAPIError` (not
        raised) for an error status. A connection the engine closes part way is opened again for
        the requests not answered yet (they are GETs); it fails (``OSError``) when a new
        connection answers none of them."""
        answers: list[Any] = []
        fresh_failures = 0
        while len(answers) < len(paths):
            todo = paths[len(answers) :]
            if self._raw is None:
                sock = unix_connect(self._path, self._timeout)
                self._raw = (sock, sock.makefile("rb", buffering=1 << 16))
            sock, rfile = self._raw
            before = len(answers)
            try:
                sock.sendall(
                    b"".join(
                        b"GET " + (self._prefix + p).encode() + b" HTTP/1.1\r\nHost: docker\r\n\r\n"
                        for p in todo
                    )
                )
                for _ in todo:
                    status, body, keep = _read_response(rfile)
                    answers.append(_json_answer(status, body))
                    if not keep:
                        self._close_raw()
                        break
            except TimeoutError:
                self._close_raw()
                raise
            except (ConnectionError, _BadResponse) as exc:
                self._close_raw()  # e.g. the engine closed an idle connection: the rest on a new one
                if len(answers) == before:
                    fresh_failures += 1
                    if fresh_failures == 2:
                        raise OSError(f"engine connection failed: {exc}") from exc
        return answers

    def _close_raw(self) -> None:
        if self._raw is not None:
            sock, rfile = self._raw
            self._raw = None
            rfile.close()
            sock.close()

    def _connect(self) -> http.client.HTTPConnection:
        import http.client  # (and email.parser): only for the layer reads and exports

        path, timeout = self._path, self._timeout

        class _Conn(http.client.HTTPConnection):
            def connect(self) -> None:
                self.sock = unix_connect(path, timeout)

        return _Conn("localhost", timeout=timeout)

    def get_json(self, path: str) -> Any:
        """``GET /v<version><path>``; :class:`EngineAPIError` for an error status."""
        import http.client

        for attempt in (1, 2):
            if self._conn is None:
                self._conn = self._connect()
            try:
                self._conn.request("GET", self._prefix + path, headers={"Host": "docker"})
                response = self._conn.getresponse()
                body = response.read()
                break
            except (http.client.HTTPException, ConnectionError) as exc:
                self.close()  # the engine closed an idle connection: retry once on a new one
                if attempt == 2:
                    raise OSError(f"engine connection failed: {exc}") from exc
        if response.status >= 400:
            try:
                message = str(json.loads(body).get("message") or "")
            except (ValueError, AttributeError):
                message = body.decode(errors="replace").strip()
            raise EngineAPIError(message or f"HTTP {response.status}", response.status)
        return json.loads(body)

    def inspect_image(self, image: str) -> dict[str, Any]:
        return cast(dict[str, Any], self.get_json(f"/images/{quote(image, safe='/:')}/json"))

    def history(self, image: str) -> list[dict[str, Any]]:
        return cast(list[dict[str, Any]], self.get_json(f"/images/{quote(image, safe='/:')}/history"))

    def image_chunks(self, image: str, chunk_size: int = 1 << 16) -> Iterator[bytes]:
        """``GET /images/{image}/get`` (the export tar) in chunks, on a connection of its own that
        is closed when the caller stops reading (so it can stop early)."""
        import http.client

        conn = self._connect()
        try:
            conn.request(
                "GET", f"{self._prefix}/images/{quote(image, safe='/:')}/get", headers={"Host": "docker"}
            )
            response = conn.getresponse()
            if response.status >= 400:
                body = response.read()
                try:
                    message = str(json.loads(body).get("message") or "")
                except (ValueError, AttributeError):
                    message = body.decode(errors="replace").strip()
                raise EngineAPIError(message or f"HTTP {response.status}", response.status)
            while chunk := response.read(chunk_size):
                yield chunk
        except (http.client.HTTPException, ConnectionError) as exc:
            raise OSError(f"engine connection failed: {exc}") from exc
        finally:
            conn.close()

    def close(self) -> None:
        self._close_raw()
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class UnixStepClient:
    """The executor's per-step image calls (``inspect_image``, ``remove_image``) over one
    kept-alive unix-socket connection (not thread-safe).

    Through the SDK each call costs about a millisecond of Python (requests' session machinery)
    on top of the engine's own time; a removal makes two per image. Same requests, same answers:
    an error status raises :class:`EngineAPIError` with the engine's message and status (as
    :meth:`Engine.translate_errors` makes of the SDK's ``APIError``); a transport failure raises
    ``OSError`` (``TimeoutError`` when the engine does not answer in time). A connection the
    engine closed while idle is noticed before a request and opened again (as urllib3 does); a
    read that fails on a reused connection is sent again once, a delete never.
    """

    def __init__(self, socket_path: str, version: str, timeout: float) -> None:
        self._path = socket_path
        self._prefix = f"/v{version}"
        self._timeout = timeout
        self._conn: tuple[socket.socket, Any, select.poll] | None = None  # socket, reader, poll

    def inspect_image(self, image: str) -> dict[str, Any]:
        """``GET /images/{image}/json``."""
        path = f"/images/{quote(image, safe='/:')}/json"
        return cast(dict[str, Any], self._request(b"GET", path, b"", resend=True))

    def remove_image(self, image: str, force: bool = False, noprune: bool = False) -> list[dict[str, Any]]:
        """``DELETE /images/{image}?force=&noprune=`` (the SDK's query values); the response lines."""
        path = f"/images/{quote(image, safe='/:')}?force={force}&noprune={noprune}"
        return cast(
            list[dict[str, Any]], self._request(b"DELETE", path, b"Content-Length: 0\r\n", resend=False)
        )

    def _request(self, method: bytes, path: str, headers: bytes, *, resend: bool) -> Any:
        request = b"%s %s HTTP/1.1\r\nHost: docker\r\n%s\r\n" % (
            method,
            (self._prefix + path).encode(),
            headers,
        )
        while True:
            if self._conn is not None and self._conn[2].poll(0):
                self.close()  # readable while idle: the engine closed it
            reused = self._conn is not None
            if self._conn is None:
                self._conn = self._open()
            sock, rfile, _ = self._conn
            try:
                sock.sendall(request)
                status, body, keep = _read_response(rfile)
            except TimeoutError:
                self.close()
                raise
            except (ConnectionError, _BadResponse) as exc:
                self.close()
                if resend and reused:
                    continue
                raise OSError(f"engine connection failed: {exc}") from exc
            if not keep:
                self.close()
            try:
                answer = _json_answer(status, body)
            except ValueError as exc:
                raise OSError(f"the engine's answer is not JSON: {body[:80]!r}") from exc
            if isinstance(answer, EngineAPIError):
                raise answer
            return answer

    def _open(self) -> tuple[socket.socket, Any, select.poll]:
        sock = unix_connect(self._path, self._timeout)
        idle = select.poll()  # not select(): any descriptor number
        idle.register(sock, select.POLLIN)
        return sock, sock.makefile("rb", buffering=1 << 16), idle

    def close(self) -> None:
        if self._conn is not None:
            sock, rfile, _ = self._conn
            self._conn = None
            rfile.close()
            sock.close()


class _BadResponse(Exception):
    """The engine's answer is not HTTP/1.1 as expected (or the connection ended inside it)."""


_MAX_LINE = 1 << 16


def _read_response(rfile: Any) -> tuple[int, bytes, bool]:
    """One HTTP/1.1 response from a buffered reader: ``(status, body, keep_alive)``. Reads
    ``Content-Length`` and ``chunked`` bodies (the engine sends both), skips 1xx answers."""
    while True:
        line = rfile.readline(_MAX_LINE)
        if not line:
            raise _BadResponse("the engine closed the connection")
        parts = line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
            raise _BadResponse(f"not an HTTP status line: {line[:80]!r}")
        status = int(parts[1])
        keep = parts[0] == b"HTTP/1.1"
        length: int | None = None
        chunked = False
        while True:
            header = rfile.readline(_MAX_LINE)
            if not header:
                raise _BadResponse("the engine closed the connection in the headers")
            if header in (b"\r\n", b"\n"):
                break
            name, _, value = header.partition(b":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == b"content-length":
                if not value.isdigit():
                    raise _BadResponse(f"bad Content-Length {value[:40]!r}")
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = value.endswith(b"chunked")
            elif name == b"connection":
                keep = value != b"close" if keep else value == b"keep-alive"
        if status >= 200:
            break
    if status in (204, 304):
        return status, b"", keep
    if chunked:
        return status, _read_chunked(rfile), keep
    if length is None:  # the body runs to the end of the connection
        return status, rfile.read(), False
    body = rfile.read(length)
    if len(body) != length:
        raise _BadResponse("the engine closed the connection in a response")
    return status, body, keep


def _read_chunked(rfile: Any) -> bytes:
    parts: list[bytes] = []
    while True:
        line = rfile.readline(_MAX_LINE)
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise _BadResponse(f"bad chunk size line {line[:40]!r}") from None
        if size == 0:
            while (trailer := rfile.readline(_MAX_LINE)) not in (b"\r\n", b"\n"):
                if not trailer:
                    raise _BadResponse("the engine closed the connection in a response")
            return b"".join(parts)
        data = rfile.read(size)
        if len(data) != size or rfile.readline(_MAX_LINE) not in (b"\r\n", b"\n"):
            raise _BadResponse("the engine closed the connection in a response")
        parts.append(data)


def _ping_api_version(socket_path: str, timeout: float) -> str | None:
    """The ``API-Version`` header of ``GET /_ping``, or None (no such header, not a 200 answer, no
    connection). dockerd gives its default API version there, the ``ApiVersion`` of ``/version``
    (what the SDK negotiates), and answers at once: ``/version`` takes it some 10 ms (it asks
    containerd, and runs runc and docker-init for their versions). Raises ``TimeoutError``."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(socket_path)
        sock.sendall(b"GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n")
        with sock.makefile("rb") as rfile:
            status = rfile.readline(_MAX_LINE).split(None, 2)
            if len(status) < 2 or not status[0].startswith(b"HTTP/") or status[1] != b"200":
                return None
            while (header := rfile.readline(_MAX_LINE)) not in (b"\r\n", b"\n", b""):
                name, _, value = header.partition(b":")
                if name.strip().lower() == b"api-version":
                    text = value.strip().decode("ascii", errors="replace")
                    return text if _API_VERSION.fullmatch(text) else None
        return None
    except TimeoutError:
        raise
    except OSError:
        return None
    finally:
        sock.close()


def _json_answer(status: int, body: bytes) -> Any:
    """The parsed body of a success, or the :class:`EngineAPIError` of an error status (as
    :meth:`UnixReader.get_json` raises it)."""
    if status >= 400:
        try:
            message = str(json.loads(body).get("message") or "")
        except (ValueError, AttributeError):
            message = body.decode(errors="replace").strip()
        return EngineAPIError(message or f"HTTP {status}", status)
    return json.loads(body)


class _NoAnswer:
    """What :meth:`UnixGets.json` gives for an answer that is not a JSON success."""

    def __repr__(self) -> str:
        return "NO_ANSWER"


#: See :meth:`UnixGets.json`.
NO_ANSWER: Any = _NoAnswer()


class UnixGets:
    """GETs sent at once to a unix-socket engine, each on a connection of its own (the engine
    answers them in parallel while the caller does other work), without the SDK. Made by
    :meth:`Engine.start_gets`; :meth:`json` reads one answer, :meth:`close` drops the unread ones.
    """

    def __init__(
        self,
        socket_path: str,
        targets: Sequence[str],
        timeout: float,
        error: Callable[[BaseException], EngineError],
    ) -> None:
        self._error = error
        self._conns: list[tuple[socket.socket, Any] | None] = []
        try:
            for target in targets:
                self._conns.append(self._send(socket_path, target, timeout))
        except BaseException:
            self.close()
            raise

    def _send(self, socket_path: str, target: str, timeout: float) -> tuple[socket.socket, Any] | None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(socket_path)
            sock.sendall(
                b"GET " + target.encode() + b" HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n"
            )
        except TimeoutError as exc:
            sock.close()
            raise self._error(exc) from exc
        except OSError:  # refused, missing, permission denied: the SDK asks again and says why
            sock.close()
            return None
        return sock, sock.makefile("rb", buffering=1 << 16)

    def json(self, index: int) -> Any:
        """The parsed JSON of answer ``index`` (read once), or :data:`NO_ANSWER` when it is not a
        2xx answer with a JSON body (an error status, a failed connection, a broken answer): the
        caller then asks through the SDK, whose answer, or error and its message, is the one the
        SDK path always gave. A timeout raises :class:`EngineUnavailable` (asking again would wait
        as long a second time)."""
        conn = self._conns[index]
        self._conns[index] = None
        if conn is None:
            return NO_ANSWER
        sock, rfile = conn
        try:
            status, body, _ = _read_response(rfile)
            if 200 <= status < 300:
                return json.loads(body)
        except TimeoutError as exc:
            raise self._error(exc) from exc
        except (OSError, _BadResponse, ValueError):
            pass
        finally:
            rfile.close()
            sock.close()
        return NO_ANSWER

    def set_timeout(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for each answer not read yet."""
        for conn in self._conns:
            if conn is not None:
                conn[0].settimeout(timeout)

    def close(self) -> None:
        for index, conn in enumerate(self._conns):
            if conn is not None:
                self._conns[index] = None
                conn[1].close()
                conn[0].close()


#: The URLs ``APIClient.images(all=True)`` and ``APIClient.containers(all=True)`` (``size=True``:
#: the second) ask, query and all: read without the SDK (:meth:`Engine.start_gets`) they get the
#: same answers. tests/test_sdk_pins.py checks that the SDK still asks these.
IMAGES_URL = "/images/json?only_ids=0&all=1"
CONTAINERS_URL = "/containers/json?limit=-1&all=1&size=0&trunc_cmd=0"
CONTAINER_SIZES_URL = "/containers/json?limit=-1&all=1&size=1&trunc_cmd=0"
#: From API 1.47 the image list is asked with its manifests (tui/engine/snapshot.py
#: ``list_image_rows``; through the SDK: ``params={"all": 1, "manifests": 1}``).
IMAGES_MANIFESTS_URL = "/images/json?all=1&manifests=1"
MANIFESTS_API = (1, 47)
#: What a snapshot read asks with ``df`` (tui/engine/snapshot.py ``_read_lists``).
DISK_USAGE = ("/system/df",)


def images_url(api_version: str) -> tuple[str, bool]:
    """The image list's URL at this API version, and whether it asks the manifests."""
    if tuple(int(x) for x in api_version.split(".")) < MANIFESTS_API:
        return IMAGES_URL, False
    return IMAGES_MANIFESTS_URL, True


def store_lists(api_version: str) -> tuple[str, ...]:
    """What a snapshot read asks first (tui/engine/snapshot.py ``_read_lists``)."""
    return ("/info", images_url(api_version)[0], CONTAINERS_URL)


#: The lowest API version the SDK accepts (``docker.constants.MINIMUM_DOCKER_API_VERSION``, checked
#: in tests/test_sdk_pins.py); below it the negotiation is the SDK's, and so is its refusal.
SDK_MINIMUM_API = (1, 24)
_API_VERSION = re.compile(r"(\d+)\.(\d+)")


def _sdk_sends_headers() -> bool:
    """Whether the docker config the SDK reads has ``HttpHeaders`` (the SDK adds them to every
    request). Its file: ``$DOCKER_CONFIG/config.json``, ``~/.docker/config.json``,
    ``~/.dockercfg``, the first that exists (``docker.utils.config.find_config_file``)."""
    home = os.path.expanduser("~")
    paths = [os.path.join(home, ".docker", "config.json"), os.path.join(home, ".dockercfg")]
    if os.environ.get("DOCKER_CONFIG"):
        paths.insert(0, os.path.join(os.environ["DOCKER_CONFIG"], "config.json"))
    for path in paths:
        if os.path.exists(path):
            try:
                with open(path, "rb") as fh:
                    data = json.load(fh)
            except (OSError, ValueError):
                return False
            return isinstance(data, dict) and "HttpHeaders" in data
    return False


def _sdk_error(module: str, name: str) -> type[BaseException] | None:
    """The exception class ``module.name`` if that module is imported already, else None: an
    exception of a module nobody imported cannot have been raised, so telling them apart never
    imports the SDK."""
    found = getattr(sys.modules.get(module), name, None)
    return found if isinstance(found, type) and issubclass(found, BaseException) else None


def _is(exc: BaseException, module: str, name: str) -> bool:
    cls = _sdk_error(module, name)
    return cls is not None and isinstance(exc, cls)


class Engine:
    """One Docker endpoint. Thread-safe: each thread gets its own low-level client."""

    def __init__(
        self,
        host: str | None = None,
        *,
        timeout: int = 60,
        long_timeout: int = 600,
        context: str = "",
        tls: TLSRequest | None = None,
        direct_reads: bool = True,
    ) -> None:
        """``direct_reads=False``: the version negotiation, facts and lists go through the SDK
        on a unix socket too (:meth:`start_gets` gives None; the tests compare the two)."""
        if context and not host:
            self.host, self._kwargs = context_host(context)
        else:
            self.host, self._kwargs = resolve_host(host, tls)
        if self.host.startswith("ssh://"):
            # the system ssh client (keys, agent, ~/.ssh/config) rather than paramiko
            self._kwargs.setdefault("use_ssh_client", True)
        self.timeout = timeout
        self.long_timeout = long_timeout
        self._local = threading.local()
        self._version: str | None = None
        self._server_version: dict[str, Any] | None = None
        self._lock = threading.Lock()
        self._direct_reads = direct_reads
        self._direct: bool | None = None if direct_reads and self.host.startswith("unix://") else False
        self._prefetched: dict[tuple[tuple[str, ...], bool], UnixGets] = {}
        self._version_error: EngineError | None = None
        # /version asked by prefetch and not read yet, and the API version (from /_ping) the
        # prefetched GETs were asked with: they are dropped if /version negotiates another one
        self._pending_version: tuple[UnixGets, str | None] | None = None

    def __repr__(self) -> str:
        return f"Engine({self.host!r})"

    @property
    def uses_tls(self) -> bool:
        return "tls" in self._kwargs

    def take_over(self, other: Engine) -> bool:
        """Become ``other`` (an engine made for the same command, not used yet), keeping the
        reads this one has started: True when both reach the same endpoint the same way (address,
        TLS, direct reads) and this one's version request did not fail; this one then takes
        ``other``'s timeouts, its waiting answers too. False: nothing changed (close this one)."""
        mine = (self.host, self._kwargs, self._direct_reads)
        if mine != (other.host, other._kwargs, other._direct_reads) or self._version_error is not None:
            return False
        self.timeout, self.long_timeout = other.timeout, other.long_timeout
        with self._lock:
            waiting = [(gets, long) for (_, long), gets in self._prefetched.items()]
            if self._pending_version is not None:
                waiting.append((self._pending_version[0], False))
        for gets, long in waiting:
            gets.set_timeout(self.long_timeout if long else self.timeout)
        return True

    def insecure_warning(self) -> str | None:
        """A warning when the engine is reached over plain TCP on a non-loopback address."""
        if not uses_tls(self.host) or self.uses_tls or is_loopback(endpoint_hostname(self.host)):
            return None
        return (
            f"warning: {self.host} is plain TCP without TLS: anyone on the network can read and "
            "command this engine (full root access to that machine). Use --tlsverify with "
            "certificates (or DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH), or ssh://"
        )

    # -- clients ---------------------------------------------------------------------------
    def api(self, *, long: bool = False) -> Any:
        """This thread's ``docker.APIClient`` (``long=True``: the one with the long timeout)."""
        attr = "long_client" if long else "client"
        client = getattr(self._local, attr, None)
        if client is None:
            version = self._negotiated_version()
            client = self._sdk_client(version, self.long_timeout if long else self.timeout)
            setattr(self._local, attr, client)
        return client

    def _sdk_client(self, version: str, timeout: int) -> Any:
        with self.translate_errors():
            from tui.engine.sdk_client import APIClient, keep_alive

            return keep_alive(APIClient(base_url=self.host, version=version, timeout=timeout, **self._kwargs))

    def _negotiated_version(self) -> str:
        with self._lock:
            if self._version_error is not None:
                raise self._version_error
            if self._version is None:
                direct = self._direct_version()
                if direct is not None:
                    self._version, self._server_version = str(direct["ApiVersion"]), direct
                    return self._version
                with self.translate_errors():
                    from tui.engine.sdk_client import APIClient

                    probe = APIClient(
                        base_url=self.host, version="auto", timeout=self.timeout, **self._kwargs
                    )
                    self._version = str(probe.api_version)
                    self._server_version = probe.server_version
                    probe.close()
            return self._version

    def _direct_version(self) -> dict[str, Any] | None:
        """The SDK's negotiation (``version="auto"``: ``GET /version``, unversioned, and its
        ``ApiVersion`` as is) without the SDK; None when it is the SDK's to do (not a unix socket,
        or any answer the SDK would refuse: it then says why). The answer to the ``/version`` that
        :meth:`prefetch` sent, if there is one; GETs it sent with an API version this does not
        negotiate are dropped (asked again by :meth:`start_gets`). The caller holds the lock."""
        if not self.reads_directly():
            return None
        pending, self._pending_version = self._pending_version, None  # the caller holds the lock
        if pending is None:
            path = self.host[len("unix://") :]
            pending = UnixGets(path, ["/version"], self.timeout, self._connection_error), None
        gets, guessed = pending
        try:
            answer: dict[str, Any] | None = gets.json(0)
        finally:
            gets.close()
        found = None
        if isinstance(answer, dict) and isinstance(answer.get("ApiVersion"), str):
            found = _API_VERSION.fullmatch(answer["ApiVersion"])
        if found is None or (int(found[1]), int(found[2])) < SDK_MINIMUM_API:
            answer = None
        if guessed is not None and (answer is None or answer["ApiVersion"] != guessed):
            early, self._prefetched = list(self._prefetched.values()), {}  # asked with another version
            for unused in early:
                unused.close()
        return answer

    def reads_directly(self) -> bool:
        """Whether :meth:`start_gets` reads without the SDK: a unix-socket endpoint whose
        docker config adds no ``HttpHeaders`` (the SDK would send them)."""
        if self._direct is None:
            self._direct = not _sdk_sends_headers()
        return self._direct

    def start_gets(self, paths: Sequence[str], *, long: bool = False) -> UnixGets | None:
        """``GET /v<negotiated version><path>`` of each path (the URL an ``APIClient`` method
        asks, query included), all sent now, each on its own connection, without the SDK; read
        them with :meth:`UnixGets.json`. None when this engine is read through the SDK
        (:meth:`reads_directly`). ``long``: with the long timeout."""
        if not self.reads_directly():
            return None
        version = self._negotiated_version()  # first: prefetched GETs of another version are dropped
        with self._lock:
            early = self._prefetched.pop((tuple(paths), long), None)
        if early is not None:
            return early
        return self._send_gets(paths, long, version)

    def _send_gets(self, paths: Sequence[str], long: bool, version: str) -> UnixGets:
        return UnixGets(
            self.host[len("unix://") :],
            [f"/v{version}{path}" for path in paths],
            self.long_timeout if long else self.timeout,
            self._connection_error,
        )

    def api_version(self) -> str:
        """The negotiated API version (``GET /version``'s ``ApiVersion``, as the SDK takes it)."""
        return self._negotiated_version()

    def prefetch_store(self, *, disk_usage: bool = False) -> None:
        """:meth:`prefetch` of what a snapshot read asks first (and ``/system/df``)."""
        self.prefetch(
            lambda version: [(store_lists(version), False)] + ([(DISK_USAGE, True)] if disk_usage else [])
        )

    def prefetch(self, requests: Callable[[str], Sequence[tuple[Sequence[str], bool]]]) -> None:
        """Send the ``(paths, long)`` GETs ``requests(api_version)`` names now (:meth:`start_gets`);
        the first :meth:`start_gets` that asks the same paths takes their answers. A headless command
        calls this as soon as it knows its engine, so the engine works on them while the command
        imports the rest of itself. Best effort, and never raises: an engine that cannot be read
        so is left to the reads that follow, which report it in their order (after usage
        errors). A timeout of the version request is kept and raised by the next read (not
        waited for twice)."""
        if not self.reads_directly():
            return
        version = self._version
        with self._lock:
            if self._version is None and self._version_error is None and self._pending_version is None:
                path = self.host[len("unix://") :]
                try:
                    asked = UnixGets(path, ["/version"], self.timeout, self._connection_error)
                    self._pending_version = asked, None
                    try:
                        version = _ping_api_version(path, self.timeout)
                    except TimeoutError as exc:
                        raise self._connection_error(exc) from exc
                    if version is not None:  # /version is read when first needed, and must agree
                        self._pending_version = asked, version
                    else:
                        direct = self._direct_version()
                        if direct is None:
                            return  # the SDK's to negotiate (and to report), later
                        self._version, self._server_version = str(direct["ApiVersion"]), direct
                        version = self._version
                except EngineError as exc:
                    self._version_error = exc
                    return
        if version is None:
            return
        for paths, long in requests(version):
            try:
                gets = self._send_gets(paths, long, version)
            except EngineError:
                return  # a timeout while sending: the read that follows sends again
            with self._lock:
                pending = self._pending_version
                if self._version != version and (pending is None or pending[1] != version):
                    gets.close()  # another thread negotiated another version meanwhile
                    return
                self._prefetched[(tuple(paths), long)] = gets

    def server_version(self) -> dict[str, Any]:
        """The engine's ``GET /version`` answer (read once, with the API version negotiation)."""
        self._negotiated_version()
        found = self._server_version
        if found is None:
            found = self._server_version = self.call(lambda api: api.version())
        return found

    def new_client(self, *, timeout: int | None = None) -> Any:
        """A fresh client (e.g. for an event stream that blocks its connection)."""
        return self._sdk_client(self._negotiated_version(), timeout or self.timeout)

    def new_reader(self) -> Any:
        """A client for bulk reads (``inspect_image``, ``history``, ``close``): a
        :class:`UnixReader` for a unix-socket endpoint, else a new SDK client."""
        if self.host.startswith("unix://"):
            return UnixReader(self.host[len("unix://") :], self._negotiated_version(), self.timeout)
        return self.new_client()

    def new_step_client(self) -> UnixStepClient | None:
        """For a unix-socket endpoint, a :class:`UnixStepClient` for the executor's per-step image
        calls (use it with :meth:`call_on`); ``None`` elsewhere (the SDK client then)."""
        if self.host.startswith("unix://"):
            return UnixStepClient(self.host[len("unix://") :], self._negotiated_version(), self.timeout)
        return None

    def close(self) -> None:
        with self._lock:
            early, self._prefetched = list(self._prefetched.values()), {}
            if self._pending_version is not None:
                early.append(self._pending_version[0])
                self._pending_version = None
        for gets in early:
            gets.close()
        for attr in ("client", "long_client"):
            client = getattr(self._local, attr, None)
            if client is not None:
                client.close()
                setattr(self._local, attr, None)

    # -- errors ------------------------------------------------------------------------------
    @contextmanager
    def translate_errors(self) -> Iterator[None]:
        """Turn SDK and transport errors into :class:`EngineError` with a clear message."""
        try:
            yield
        except EngineError:
            raise
        except Exception as exc:  # the SDK's classes only if it is imported (see _sdk_error)
            if _is(exc, "docker.errors", "APIError"):
                api_error: Any = exc
                status = int(api_error.status_code or 0)
                text = str(api_error.explanation or exc)
                raise EngineAPIError(text, status) from exc
            # requests' RequestException is an OSError
            if isinstance(exc, OSError) or _is(exc, "docker.errors", "DockerException"):
                raise self._connection_error(exc) from exc
            raise

    def _connection_error(self, exc: BaseException) -> EngineError:
        text = str(exc)
        if _is(exc, "requests.exceptions", "SSLError") or ("SSL" in text and self.uses_tls):
            return EngineTLSFailed(self._tls_failure(text))
        if "Invalid bind address" in text or "port is required" in text:
            return EngineAddressError(
                f"{self.host!r} is not an engine address ({_short(text)}); expected "
                "unix:///path/docker.sock, tcp://host:port or ssh://user@host"
            )
        if "HTTP request to an HTTPS server" in text:
            return EngineUnavailable(
                f"The Docker engine at {self.host} speaks TLS on this port, and docker-sweep connected "
                "without it: use --tlsverify with the certificates (--tlscacert, --tlscert, --tlskey), "
                'or DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH, or [engine] tls = "verify"'
            )
        if "paramiko" in text:
            return EngineUnavailable(
                f"{self.host}: ssh:// endpoints need the paramiko package in docker-sweep's environment "
                "(pip install paramiko); the system ssh client is then used for the connection"
            )
        if "Permission denied" in text or isinstance(exc, PermissionError):
            return EnginePermissionDenied(
                f"Permission denied on the Docker engine at {self.host}. Run as root, or add your "
                "user to the docker group (sudo usermod -aG docker $USER, then log in again)."
            )
        if _is(exc, "requests.exceptions", "ReadTimeout") or isinstance(exc, TimeoutError):
            return EngineUnavailable(f"The Docker engine at {self.host} did not answer in time ({text}).")
        return EngineUnavailable(
            f"Cannot reach the Docker engine at {self.host} ({_short(text)}). Is dockerd running? "
            "Point docker-sweep at another engine with --host URL or DOCKER_HOST, or try "
            "`docker-sweep demo` for a throwaway sandbox engine."
        )

    def _tls_failure(self, text: str) -> str:
        lowered = text.lower()
        if "certificate verify failed" in lowered or "self-signed" in lowered or "self signed" in lowered:
            why = (
                "the engine's certificate is not signed by the CA docker-sweep trusts (--tlscacert, "
                "ca.pem in DOCKER_CERT_PATH) or does not name this host"
            )
        elif "unknown ca" in lowered or "bad certificate" in lowered or "certificate required" in lowered:
            why = (
                "the engine refused docker-sweep's client certificate: it is missing or not signed by "
                "a CA the engine trusts (--tlscert/--tlskey, cert.pem/key.pem in DOCKER_CERT_PATH)"
            )
        elif "wrong version number" in lowered or "record layer" in lowered:
            why = "the engine does not speak TLS on this port (plain TCP? then drop --tlsverify/--tls)"
        else:
            why = "the TLS handshake failed"
        return (
            f"TLS connection to the Docker engine at {self.host} failed: {why} ({_short(text)}). "
            "Nothing was sent to the engine."
        )

    def call(self, fn: Callable[[Any], T], *, long: bool = False) -> T:
        """Run ``fn(api_client)`` with error translation."""
        with self.translate_errors():
            return fn(self.api(long=long))

    def call_on(self, client: C, fn: Callable[[C], T]) -> T:
        """Run ``fn(client)`` (a :class:`UnixStepClient`) with :meth:`call`'s error translation; an
        engine that does not answer in time gets the message the SDK's read timeout gets."""
        with self.translate_errors():
            try:
                return fn(client)
            except TimeoutError as exc:
                raise EngineUnavailable(
                    f"The Docker engine at {self.host} did not answer in time ({exc})."
                ) from exc

    def remove_image_platform(self, name: str, platform: Mapping[str, str]) -> list[dict[str, str]]:
        """``DELETE /images/{name}?force=1&platforms=<OCI platform JSON>``: remove one platform of
        a multi-platform image (containerd image store, API 1.50+; the SDK's ``remove_image`` has
        no ``platforms``). Refused here below API 1.50, where the engine ignores ``platforms`` and
        would remove the whole image. Returns the response lines (``{"Deleted": <manifest>}``)."""
        version = self._negotiated_version()
        if tuple(int(x) for x in version.split(".")[:2]) < (1, 50):
            raise EngineAPIError(
                f"this engine (API {version}) cannot remove one platform; needs Docker 28+ (API 1.50)"
            )

        def delete(api: Any) -> list[dict[str, str]]:
            params = {"force": 1, "platforms": json.dumps(dict(platform), separators=(",", ":"))}
            response = api._delete(api._url("/images/{0}", name), params=params)
            return [{str(k): str(v) for k, v in line.items()} for line in api._result(response, True) or []]

        return self.call(delete)


def _short(text: str) -> str:
    for marker in ("Caused by", "(Caused"):
        if marker in text:
            text = text.split(marker, 1)[0]
    return text.strip().rstrip("(:, ")[:200]
