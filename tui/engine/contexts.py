"""The docker CLI's context store, read the way the docker CLI reads it.

docker-py's ``ContextAPI`` falls back to the wrong directory when ``$DOCKER_CONFIG/config.json`` does
not exist, so docker-sweep reads ``<config dir>/contexts/meta/<sha256(name)>/meta.json`` itself.
"""

from __future__ import annotations

import hashlib
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


def read_context(name: str, config_dir: Path) -> DockerContext:
    """The docker endpoint of context ``name``; raises :class:`ContextError`."""
    if name == "default":
        return DockerContext(name, DEFAULT_HOST, None, False)
    digest = hashlib.sha256(name.encode()).hexdigest()
    meta = config_dir / "contexts" / "meta" / digest / "meta.json"
    try:
        data = json.loads(meta.read_text())
    except FileNotFoundError:
        raise ContextError(f"no docker context named {name!r} in {config_dir / 'contexts'} "
                           "(see `docker context ls`)") from None
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
