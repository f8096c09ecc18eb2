"""The docker CLI's context store, read the way the docker CLI reads it.

docker-py's ``ContextAPI`` falls back to the wrong directory when ``$DOCKER_CONFIG/config.json`` does
not exist, so docker-sweep reads ``<config dir>/contexts/meta/<sha256(name)>/meta.json`` itself.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_HOST = "unix:///var/run/docker.sock"


class ContextError(Exception):
    """A context that does not exist or cannot be read; the message names it and where."""


@dataclass(frozen=True)
class DockerContext:
    name: str
    host: str
    tls_dir: Path | None  # ca.pem / cert.pem / key.pem, when the context has TLS material
    skip_tls_verify: bool


def docker_config_dir(environ: Mapping[str, str] | None = None, override: str | None = None) -> Path:
    """``--config DIR``, else ``$DOCKER_CONFIG``, else ``~/.docker``."""
    env = os.environ if environ is None else environ
    if override is not None:
        return Path(override)
    if env.get("DOCKER_CONFIG"):
        return Path(env["DOCKER_CONFIG"])
    home = env.get("HOME")
    return (Path(home) if home else Path.home()) / ".docker"


def current_context(config_dir: Path) -> str:
    """``currentContext`` of ``config.json``; "default" if unset or unreadable (as docker)."""
    try:
        data = json.loads((config_dir / "config.json").read_text())
    except (OSError, ValueError):
        return "default"
    name = data.get("currentContext") if isinstance(data, dict) else None
    return name if isinstance(name, str) and name else "default"


def context_name(
    *, host_given: bool, context: str | None, environ: Mapping[str, str], config_dir: Path
) -> str:
    """The docker context that applies, in the docker CLI's order (``resolveContextName`` in
    docker/cli ``cli/command/cli.go``): an explicit ``context``; else ``"default"`` when a host is
    given or ``DOCKER_HOST`` is set (the default context's endpoint is that host); else
    ``DOCKER_CONTEXT``; else ``currentContext`` of ``config_dir/config.json``; else ``"default"``.

    The one copy of this rule: docker-sweep's engine endpoint and the docker CLI plugin both use it.
    """
    if context:
        return context
    if host_given or environ.get("DOCKER_HOST"):
        return "default"
    return environ.get("DOCKER_CONTEXT") or current_context(config_dir)


def read_context(name: str, config_dir: Path) -> DockerContext:
    """The docker endpoint of context ``name``; raises :class:`ContextError`."""
    if name == "default":
        return DockerContext(name, DEFAULT_HOST, None, False)
    import hashlib  # only for a named context: OpenSSL's load is ~2 ms of every command's start

    digest = hashlib.sha256(name.encode()).hexdigest()
    meta = config_dir / "contexts" / "meta" / digest / "meta.json"
    try:
        data = json.loads(meta.read_text())
    except FileNotFoundError:
        raise ContextError(
            f"no docker context named {name!r} in {config_dir / 'contexts'} (see `docker context ls`)"
        ) from None
    except (OSError, ValueError) as exc:
        raise ContextError(f"docker context {name!r}: cannot read {meta}: {exc}") from None
    endpoints = data.get("Endpoints") if isinstance(data, dict) else None
    endpoint = endpoints.get("docker") if isinstance(endpoints, dict) else None
    if not isinstance(endpoint, dict):
        raise ContextError(f"docker context {name!r} has no docker endpoint ({meta})")
    host = endpoint.get("Host")
    host = host if isinstance(host, str) and host else DEFAULT_HOST
    tls_dir = config_dir / "contexts" / "tls" / digest / "docker"
    has_tls = tls_dir.is_dir() and any(tls_dir.iterdir())
    return DockerContext(name, host, tls_dir if has_tls else None, bool(endpoint.get("SkipTLSVerify")))


# --- endpoints ------------------------------------------------------------------------------------

ENDPOINT_FORMS = "unix:///path/docker.sock, tcp://HOST:PORT, ssh://[USER@]HOST[:PORT] or HOST:PORT"
_SCHEMES = ("unix", "tcp", "ssh", "npipe")
_LOOPBACK_NAMES = ("localhost", "localhost.", "ip6-localhost")


class EndpointError(ValueError):
    """An engine address that cannot be used; ``str()`` names it and the accepted forms."""


def _port(text: str, host: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise EndpointError(
            f"{host!r}: the port {text!r} is not a port number (1-65535); expected {ENDPOINT_FORMS}"
        )
    return int(text)


def normalize_endpoint(host: str, *, tls: bool = False) -> str:
    """``host`` checked and written the docker CLI's way; raises :class:`EndpointError`.

    As ``docker -H``: a bare ``HOST:PORT`` is TCP, ``tcp://HOST`` gets port 2375 (2376 with TLS),
    ``unix://`` alone is the default socket. ``http(s)://`` and ``fd://`` are refused (the docker CLI
    refuses them too; TLS is chosen with ``--tlsverify`` and friends, not by the scheme).
    """
    text = host.strip()
    if not text or text == "unix://":
        return DEFAULT_HOST
    if any(ord(ch) < 33 for ch in text):
        raise EndpointError(f"{host!r} contains spaces or control characters; expected {ENDPOINT_FORMS}")
    scheme, sep, rest = text.partition("://")
    if not sep:
        name, colon, _ = text.rpartition(":")
        if not colon or not name or "/" in text:
            raise EndpointError(f"{host!r} is not an engine address; expected {ENDPOINT_FORMS}")
        scheme, rest = "tcp", text
    scheme = scheme.lower()
    if scheme not in _SCHEMES:
        raise EndpointError(f"{host!r}: unsupported scheme {scheme + '://'!r}; expected {ENDPOINT_FORMS}")
    if scheme in ("unix", "npipe"):
        return f"{scheme}://{rest}"
    netloc, slash, path = rest.partition("/")
    if any(ch in rest for ch in "?#") or (scheme == "ssh" and slash):
        raise EndpointError(f"{host!r}: no path, query or fragment allowed here; expected {ENDPOINT_FORMS}")
    user, at, hostport = netloc.rpartition("@")
    if at and (scheme != "ssh" or not user or ":" in user):
        raise EndpointError(
            f"{host!r}: a user name belongs only in ssh://USER@HOST (no password); expected {ENDPOINT_FORMS}"
        )
    if hostport.startswith("["):
        name, bracket, tail = hostport[1:].partition("]")
        if not bracket or not name or (tail and not tail.startswith(":")):
            raise EndpointError(
                f"{host!r}: unterminated or empty IPv6 address in brackets; expected e.g. tcp://[::1]:2376"
            )
        port_text = tail[1:] if tail else ""
        shown = f"[{name}]"
    else:
        name, colon, port_text = hostport.partition(":")
        if ":" in port_text:
            raise EndpointError(f"{host!r}: an IPv6 address needs brackets, e.g. tcp://[::1]:2376")
        if colon and not port_text:
            raise EndpointError(f"{host!r}: the port after ':' is missing; expected {ENDPOINT_FORMS}")
        shown = name
    if not name:
        raise EndpointError(f"{host!r} names no host; expected {ENDPOINT_FORMS}")
    if scheme == "ssh":
        return f"ssh://{user}{at}{shown}" + (f":{_port(port_text, host)}" if port_text else "")
    port = _port(port_text, host) if port_text else 2376 if tls else 2375
    return f"tcp://{shown}:{port}" + (f"/{path}" if slash and path else "")


def endpoint_hostname(host: str) -> str:
    """The host name or address part of a ``tcp://`` or ``ssh://`` endpoint ("" for sockets)."""
    scheme, _, rest = host.partition("://")
    if scheme not in ("tcp", "ssh"):
        return ""
    hostport = rest.split("/", 1)[0].rpartition("@")[2]
    if hostport.startswith("["):
        return hostport[1:].partition("]")[0]
    return hostport.partition(":")[0]


def is_loopback(name: str) -> bool:
    """Whether ``name`` is this machine's loopback (127.0.0.0/8, ::1, localhost)."""
    import ipaddress

    if name.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def uses_tls(host: str) -> bool:
    """Whether TLS settings apply to ``host`` (TCP; not sockets, named pipes or ssh), as in docker."""
    return host.partition("://")[0].lower() == "tcp"


# --- TLS ----------------------------------------------------------------------------------------

TLS_MODES = ("verify", "no-verify", "off")


class TLSSettingsError(ValueError):
    """TLS was asked for but its files cannot be used; ``str()`` names them and where they came from."""


@dataclass(frozen=True)
class TLSRequest:
    """What the user asked for, before the docker CLI's defaults are applied.

    ``tls``/``verify``: ``--tls`` / ``--tlsverify`` (``None``: not given). ``ca_cert``, ``cert``,
    ``key``: ``--tlscacert`` / ``--tlscert`` / ``--tlskey`` ("" = not given). ``mode`` and
    ``cert_path``: the config's ``[engine] tls`` and ``cert_path`` ("" = not set), which take the
    place of ``DOCKER_TLS_VERIFY``/``DOCKER_TLS`` and ``DOCKER_CERT_PATH`` when set.
    """

    tls: bool | None = None
    verify: bool | None = None
    ca_cert: str = ""
    cert: str = ""
    key: str = ""
    mode: str = ""
    cert_path: str = ""


@dataclass(frozen=True)
class TLSFiles:
    """TLS as it will be used: check the engine's certificate (``verify``) against ``ca_cert``."""

    verify: bool
    ca_cert: Path | None
    cert: Path | None
    key: Path | None


def resolve_tls(request: TLSRequest, environ: Mapping[str, str] | None = None) -> TLSFiles | None:
    """The docker CLI's TLS decision (``cli/flags/options.go``); ``None`` = plain TCP.

    ``--tlsverify`` (given at all, even ``=false``) or ``DOCKER_TLS_VERIFY`` (any non-empty value,
    ``0`` too, as docker) turns TLS on; so does ``--tls`` or ``DOCKER_TLS``. Files default to
    ``ca.pem``, ``cert.pem``, ``key.pem`` in ``DOCKER_CERT_PATH`` (else the docker config dir); a
    default client certificate or key that does not exist is left out, like docker. Raises
    :class:`TLSSettingsError` for a missing certificate directory or file.
    """
    env = os.environ if environ is None else environ
    if request.mode and request.mode not in TLS_MODES:
        raise TLSSettingsError(f"TLS mode {request.mode!r} is not one of {', '.join(TLS_MODES)}")
    if request.mode:
        verify_default, tls_default = request.mode == "verify", request.mode != "off"
        where = "[engine] tls"
    else:
        verify_default, tls_default = bool(env.get("DOCKER_TLS_VERIFY")), bool(env.get("DOCKER_TLS"))
        where = "DOCKER_TLS_VERIFY" if env.get("DOCKER_TLS_VERIFY") else "DOCKER_TLS"
    verify = request.verify if request.verify is not None else verify_default
    tls = request.verify is not None or verify or (request.tls if request.tls is not None else tls_default)
    if not tls:
        return None
    if request.cert_path:
        cert_dir, dir_from = Path(request.cert_path).expanduser(), "[engine] cert_path"
    elif env.get("DOCKER_CERT_PATH"):
        cert_dir, dir_from = Path(env["DOCKER_CERT_PATH"]), "DOCKER_CERT_PATH"
    else:
        cert_dir, dir_from = docker_config_dir(env), "the docker config dir"
    asked = "--tlsverify" if request.verify else where if request.verify is None and verify else "--tls"
    from_dir = [
        f
        for f, flag in (("ca.pem", request.ca_cert), ("cert.pem", request.cert), ("key.pem", request.key))
        if not flag and (f != "ca.pem" or verify)
    ]
    explicit_dir = dir_from != "the docker config dir"
    if from_dir and not cert_dir.is_dir() and (explicit_dir or verify and "ca.pem" in from_dir):
        raise TLSSettingsError(
            f"TLS is on ({asked}) but the certificate directory {cert_dir} (from {dir_from}) does not "
            "exist; point DOCKER_CERT_PATH (or [engine] cert_path) at the directory holding ca.pem, "
            "cert.pem and key.pem, or give --tlscacert, --tlscert and --tlskey"
        )

    def pick(given_path: str, default: str, flag: str, *, required: bool) -> Path | None:
        path = Path(given_path).expanduser() if given_path else cert_dir / default
        if path.is_file():
            return path
        if given_path or required:
            source = flag if given_path else f"{dir_from} {cert_dir}"
            raise TLSSettingsError(
                f"TLS is on ({asked}) but {path} (from {source}) is not a readable "
                f"file; give the right path with {flag}"
            )
        return None

    ca = pick(request.ca_cert, "ca.pem", "--tlscacert", required=True) if verify else None
    cert = pick(request.cert, "cert.pem", "--tlscert", required=False)
    key = pick(request.key, "key.pem", "--tlskey", required=False)
    if (cert is None) != (key is None):
        have, missing = ("certificate", "key") if cert else ("key", "certificate")
        raise TLSSettingsError(
            f"TLS client {have} found but no client {missing} (in {cert_dir} or "
            "--tlscert/--tlskey); give both or neither"
        )
    return TLSFiles(verify, ca, cert, key)
