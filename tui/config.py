"""docker-sweep's configuration file (TOML), validated into documented dataclasses.

The file is ``platformdirs.user_config_path("docker-sweep") / "config.toml"``; ``--config PATH`` or the
``DOCKER_SWEEP_CONFIG`` environment variable point at another one. A missing default file is fine;
a missing file that was asked for, bad TOML, an unknown key or a wrong type is a :class:`ConfigError`
whose message names the file, the key and what was expected.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import platformdirs

ENV_VAR = "DOCKER_SWEEP_CONFIG"
SORT_KEYS = ("size", "unique", "created", "name")


class ConfigError(Exception):
    """The configuration cannot be used; the message says where and what was expected."""


@dataclass(frozen=True)
class EngineSection:
    """``[engine]``: which engine to use when ``--host`` is not given."""

    host: str = ""  # e.g. "unix:///var/run/docker.sock" or "tcp://10.0.0.5:2376"; "" = docker's default
    timeout: int = 60  # seconds for ordinary requests
    long_timeout: int = 600  # seconds for /system/df and prune


@dataclass(frozen=True)
class UISection:
    """``[ui]``: how the app looks and behaves."""

    theme: str = "textual-dark"
    default_sort: str = "size"  # one of size, unique, created, name
    confirm: bool = True  # show the plan and ask before deleting


@dataclass(frozen=True)
class Config:
    engine: EngineSection = field(default_factory=EngineSection)
    ui: UISection = field(default_factory=UISection)
    path: Path | None = None


def default_path() -> Path:
    return platformdirs.user_config_path("docker-sweep") / "config.toml"


def _section(cls: type[Any], data: Any, name: str, path: Path) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: [{name}] must be a table")
    known = {f.name: f for f in fields(cls)}
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in known:
            raise ConfigError(
                f"{path}: unknown key '{key}' in [{name}]; expected one of {', '.join(known)}"
            )
        default = getattr(cls(), key)
        if isinstance(default, bool) != isinstance(value, bool) or not isinstance(value, type(default)):
            raise ConfigError(
                f"{path}: [{name}] {key} must be a {type(default).__name__}, got {value!r}"
            )
        values[key] = value
    return cls(**values)


def load_config(path: str | Path | None = None) -> Config:
    """Load the config from ``path``, ``$DOCKER_SWEEP_CONFIG`` or the default location."""
    explicit = path is not None or bool(os.environ.get(ENV_VAR))
    chosen = Path(path) if path is not None else Path(os.environ.get(ENV_VAR) or default_path())
    if not chosen.exists():
        if explicit:
            raise ConfigError(f"{chosen}: config file not found (given by --config or ${ENV_VAR})")
        return Config()
    try:
        data = tomllib.loads(chosen.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{chosen}: invalid TOML: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"{chosen}: cannot read: {exc.strerror}") from exc
    sections = {"engine": EngineSection, "ui": UISection}
    parsed: dict[str, Any] = {}
    for key, value in data.items():
        if key not in sections:
            raise ConfigError(
                f"{chosen}: unknown section [{key}]; expected one of {', '.join(sections)}"
            )
        parsed[key] = _section(sections[key], value, key, chosen)
    config = Config(**parsed, path=chosen)
    if config.ui.default_sort not in SORT_KEYS:
        raise ConfigError(
            f"{chosen}: [ui] default_sort must be one of {', '.join(SORT_KEYS)}, "
            f"got {config.ui.default_sort!r}"
        )
    return config
