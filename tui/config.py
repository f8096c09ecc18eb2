"""docker-sweep's configuration file (TOML), validated into documented dataclasses.

The file is ``platformdirs.user_config_path("docker-sweep") / "config.toml"``; ``--config PATH`` or the
``DOCKER_SWEEP_CONFIG`` environment variable point at another one. A missing default file is fine;
a missing file that was asked for, bad TOML, an unknown key or a wrong type is a :class:`ConfigError`
whose message names the file, the key and what was expected.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import platformdirs

from tui.core.views import SORT_KEYS, TABLE_COLUMNS
from tui.engine.contexts import TLS_MODES, EndpointError, normalize_endpoint

# The protection and policy rules are imported where they are used: a headless command reads the
# config before it asks the engine anything, and sends its first requests as early as it can.
if TYPE_CHECKING:
    from tui.core.policy import Policy
    from tui.core.protect import Protection

ENV_VAR = "DOCKER_SWEEP_CONFIG"


class ConfigError(Exception):
    """The configuration cannot be used; the message says where and what was expected."""


@dataclass(frozen=True)
class EngineSection:
    """``[engine]``: which engine to use when ``--host`` is not given."""

    host: str = ""  # e.g. "unix:///var/run/docker.sock" or "tcp://10.0.0.5:2376"; "" = docker's default
    context: str = ""  # a docker context name to use when neither --host nor host is set
    timeout: int = 60  # seconds for ordinary requests (1 to 86400)
    long_timeout: int = 600  # seconds for /system/df and prune (1 to 86400)
    tls: str = ""  # "verify", "no-verify", "off"; "" = DOCKER_TLS_VERIFY / DOCKER_TLS decide (as docker)
    cert_path: str = ""  # directory with ca.pem, cert.pem, key.pem; "" = DOCKER_CERT_PATH or ~/.docker


@dataclass(frozen=True)
class UISection:
    """``[ui]``: how the app looks and behaves."""

    theme: str = "textual-dark"
    default_sort: str = "size"  # one of size, unique, created, name
    confirm: bool = True  # show the plan and ask before deleting
    columns: tuple[str, ...] = TABLE_COLUMNS  # which image table columns to show, in this order


@dataclass(frozen=True)
class ProtectSection:
    """``[protect]``: images nothing may remove (not rm, not prune, not force)."""

    images: tuple[str, ...] = ()  # globs on repo:tag and image ids: "postgres:*", "sha256:0123*"
    labels: tuple[str, ...] = ()  # label selectors: "keep=true", "keep"


@dataclass(frozen=True)
class LocalOnlySection:
    """``[local_only]``: images without a registry digest cannot be pulled back once removed."""

    confirm: bool = True  # ask an extra confirmation before removing one
    backup: bool = False  # `docker save` each one into the backup directory first


@dataclass(frozen=True)
class BackupSection:
    """``[backup]``: where local-only images are saved before removal, and how much to keep."""

    dir: str = ""  # "" = the user data dir (platformdirs) / backups
    max_size: str = "10GB"  # oldest backups are dropped first above this (B, kB, MB, GB, TB)


@dataclass(frozen=True)
class PolicySection:
    """``[policies.NAME]``: a named cleanup policy; every condition set must hold."""

    description: str = ""
    keep_last: int = -1  # keep the newest N images per repository (-1: not set)
    older_than: str = ""  # e.g. "30d", "72h"
    dangling_only: bool = False
    repositories: tuple[str, ...] = ()  # globs on repository names
    labels: tuple[str, ...] = ()
    not_labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Config:
    engine: EngineSection = field(default_factory=EngineSection)
    ui: UISection = field(default_factory=UISection)
    protect: ProtectSection = field(default_factory=ProtectSection)
    local_only: LocalOnlySection = field(default_factory=LocalOnlySection)
    backup: BackupSection = field(default_factory=BackupSection)
    policies: dict[str, PolicySection] = field(default_factory=dict)
    path: Path | None = None

    def protection(self) -> Protection:
        from tui.core.protect import Protection

        return Protection.build(self.protect.images, self.protect.labels)

    def policy(self, name: str) -> Policy:
        if name not in self.policies:
            known = ", ".join(sorted(self.policies)) or "none defined"
            where = f" in {self.path}" if self.path else ""
            raise ConfigError(f"no policy named {name!r}{where}; known policies: {known}")
        from tui.core.policy import Policy

        p = self.policies[name]
        return Policy(
            name,
            None if p.keep_last < 0 else p.keep_last,
            p.older_than,
            p.dangling_only,
            p.repositories,
            p.labels,
            p.not_labels,
            p.description,
        )

    def backup_dir(self) -> Path:
        if self.backup.dir:
            return Path(self.backup.dir).expanduser()
        return platformdirs.user_data_path("docker-sweep") / "backups"

    def backup_max_bytes(self) -> int:
        return parse_size(self.backup.max_size)


_SIZE_UNITS = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}


MAX_SIZE = 1 << 60  # 1 EiB: any larger "size" is a typo
MAX_TIMEOUT = 86_400  # seconds (a day)
MAX_CONFIG_BYTES = 1 << 20  # 1 MiB: a config file is a few kilobytes


def parse_size(text: str) -> int:
    """``10GB``, ``500MB``, ``2GiB``, ``1000`` (bytes) to bytes; raises ValueError.

    Only plain non-negative decimal numbers up to 1 EiB: no signs, exponents, ``inf`` or ``nan``.
    """
    raw = text.strip().lower().replace(" ", "")
    number = raw.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = raw[len(number) :] or "b"
    digits = number.replace(".", "", 1)
    if not digits.isdigit() or not digits.isascii() or unit not in _SIZE_UNITS:
        raise ValueError(f"{text!r} is not a size (a number >= 0 and a unit, e.g. 500MB, 10GB, 2GiB)")
    value = int(float(number) * _SIZE_UNITS[unit])
    if value > MAX_SIZE:
        raise ValueError(f"{text!r} is larger than 1 EiB; expected a size like 500MB, 10GB, 2GiB")
    return value


def default_path() -> Path:
    return platformdirs.user_config_path("docker-sweep") / "config.toml"


def _line_of(text: str, section: str, key: str) -> str:
    """``line N`` of ``key`` inside ``[section]`` in the raw file, or "" if not found."""
    current = ""
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            current = stripped.strip("[]").strip()
        elif current == section and stripped.split("=", 1)[0].strip().strip('"') == key:
            return f"line {number}: "
    return ""


_TYPE_NAMES = {bool: "true or false", int: "a whole number", str: "a string", tuple: "a list of strings"}


def _section(cls: type[Any], data: Any, name: str, path: Path, text: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: [{name}] must be a table")
    known = {f.name: f for f in fields(cls)}
    values: dict[str, Any] = {}
    for key, value in data.items():
        where = f"{path}: {_line_of(text, name, key)}"
        if key not in known:
            raise ConfigError(f"{where}unknown key '{key}' in [{name}]; expected one of {', '.join(known)}")
        default = getattr(cls(), key)
        expected = _TYPE_NAMES.get(type(default), type(default).__name__)
        if isinstance(default, tuple):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{where}[{name}] {key} must be {expected}, got {value!r}")
            value = tuple(value)
        elif isinstance(default, bool) != isinstance(value, bool) or not isinstance(value, type(default)):
            raise ConfigError(f"{where}[{name}] {key} must be {expected}, got {value!r}")
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
    text = _read_text(chosen)
    import tomllib  # only when there is a file: a run without one starts its engine reads sooner

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{chosen}: invalid TOML: {exc}") from exc
    sections: dict[str, type[Any]] = {
        "engine": EngineSection,
        "ui": UISection,
        "protect": ProtectSection,
        "local_only": LocalOnlySection,
        "backup": BackupSection,
    }
    parsed: dict[str, Any] = {}
    for key, value in data.items():
        if key == "policies":
            if not isinstance(value, dict):
                raise ConfigError(f"{chosen}: [policies] must hold tables like [policies.NAME]")
            parsed["policies"] = {
                name: _section(PolicySection, body, f"policies.{name}", chosen, text)
                for name, body in value.items()
            }
            continue
        if key not in sections:
            raise ConfigError(
                f"{chosen}: unknown section [{key}]; expected one of "
                f"{', '.join([*sections, 'policies.NAME'])}"
            )
        parsed[key] = _section(sections[key], value, key, chosen, text)
    config = Config(**parsed, path=chosen)
    _validate(config, chosen, text)
    return config


def _read_text(path: Path) -> str:
    """The file's text: only a regular UTF-8 file of at most :data:`MAX_CONFIG_BYTES` is read.

    Opened non-blocking, so a FIFO is refused at once instead of waiting for a writer; a device
    (``/dev/zero``) or a huge file is refused before anything is read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            raise ConfigError(
                f"{path}: {kind} (a FIFO, device or socket is not read); "
                "point --config or $DOCKER_SWEEP_CONFIG at a TOML file"
            )
        data = os.read(fd, MAX_CONFIG_BYTES + 1)
        while len(data) <= MAX_CONFIG_BYTES and (more := os.read(fd, MAX_CONFIG_BYTES + 1 - len(data))):
            data += more
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    finally:
        os.close(fd)
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"{path}: larger than {MAX_CONFIG_BYTES // 1024} KiB; a config file is a few "
            "kilobytes of TOML: is this the right file?"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{path}: line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
            f"{exc.start}); save the file as UTF-8"
        ) from None


def _validate_engine(engine: EngineSection, path: Path, text: str) -> None:
    def fail(key: str, message: str) -> ConfigError:
        return ConfigError(f"{path}: {_line_of(text, 'engine', key)}[engine] {key} {message}")

    for key in ("timeout", "long_timeout"):
        value = getattr(engine, key)
        if not 1 <= value <= MAX_TIMEOUT:
            raise fail(key, f"must be a whole number of seconds from 1 to {MAX_TIMEOUT}, got {value}")
    if engine.host:
        try:
            normalize_endpoint(engine.host)
        except EndpointError as exc:
            raise ConfigError(f"{path}: {_line_of(text, 'engine', 'host')}[engine] host: {exc}") from None
    if engine.tls not in ("", *TLS_MODES):
        raise fail(
            "tls",
            f'must be one of {", ".join(repr(m) for m in TLS_MODES)} or "" (from '
            f"DOCKER_TLS_VERIFY), got {engine.tls!r}",
        )
    if engine.cert_path and not Path(engine.cert_path).expanduser().is_dir():
        raise fail(
            "cert_path",
            f"must be a directory holding ca.pem, cert.pem and key.pem; {engine.cert_path!r} is not one",
        )


def _validate(config: Config, path: Path, text: str) -> None:
    _validate_engine(config.engine, path, text)
    if config.ui.theme != UISection.theme:  # textual (a big import) only to check another theme
        _validate_theme(config, path, text)
    bad = [c for c in config.ui.columns if c not in TABLE_COLUMNS]
    if bad or not config.ui.columns or len(set(config.ui.columns)) != len(config.ui.columns):
        raise ConfigError(
            f"{path}: {_line_of(text, 'ui', 'columns')}[ui] columns must be distinct names "
            f"from {', '.join(TABLE_COLUMNS)}; got {list(config.ui.columns)}"
        )
    if config.ui.default_sort not in SORT_KEYS:
        raise ConfigError(
            f"{path}: {_line_of(text, 'ui', 'default_sort')}[ui] default_sort must be "
            f"one of {', '.join(SORT_KEYS)}, got {config.ui.default_sort!r}"
        )
    from tui.core.policy import PolicyError
    from tui.core.protect import PatternError

    try:
        config.protection()
    except PatternError as exc:
        raise ConfigError(f"{path}: [protect] {exc}") from exc
    try:
        config.backup_max_bytes()
    except ValueError as exc:
        raise ConfigError(f"{path}: {_line_of(text, 'backup', 'max_size')}[backup] max_size: {exc}") from exc
    for name in config.policies:
        try:
            config.policy(name).validate()
        except PolicyError as exc:
            raise ConfigError(f"{path}: [policies.{name}] {exc}") from exc


def _validate_theme(config: Config, path: Path, text: str) -> None:
    from textual.theme import BUILTIN_THEMES

    if config.ui.theme not in BUILTIN_THEMES:
        raise ConfigError(
            f"{path}: {_line_of(text, 'ui', 'theme')}[ui] theme {config.ui.theme!r} is not a "
            f"theme; expected one of {', '.join(sorted(BUILTIN_THEMES))}"
        )
