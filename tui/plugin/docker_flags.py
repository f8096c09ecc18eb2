"""The docker CLI's global options (``-H``, ``--context``, ``--config``, TLS …), parsed as the
docker CLI parses them (pflag, not interspersed), from the argv the CLI hands its plugins."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tui.plugin import PluginError


@dataclass(frozen=True)
class _Flag:
    name: str
    short: str | None
    boolean: bool


# cli/flags/options.go ClientOptions.InstallFlags, plus the root command's --help and --version.
_FLAGS = (
    _Flag("config", None, False),
    _Flag("debug", "D", True),
    _Flag("log-level", "l", False),
    _Flag("tls", None, True),
    _Flag("tlsverify", None, True),
    _Flag("tlscacert", None, False),
    _Flag("tlscert", None, False),
    _Flag("tlskey", None, False),
    _Flag("host", "H", False),
    _Flag("context", "c", False),
    _Flag("help", "h", True),
    _Flag("version", "v", True),
)
_LONG = {f.name: f for f in _FLAGS}
_SHORT = {f.short: f for f in _FLAGS if f.short}
_GO_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_GO_FALSE = ("0", "f", "F", "FALSE", "false", "False")


@dataclass
class DockerGlobals:
    """The docker CLI global options found before the plugin name (``None``: not given)."""

    host: str | None = None
    context: str | None = None
    config: str | None = None
    debug: bool = False
    log_level: str | None = None
    tls: bool | None = None
    tlsverify: bool | None = None
    tlscacert: str | None = None
    tlscert: str | None = None
    tlskey: str | None = None
    help: bool = False
    version: bool = False
    host_count: int = 0  # docker refuses more than one -H

    @property
    def tls_options_given(self) -> bool:
        given = (self.tls, self.tlsverify, self.tlscacert, self.tlscert, self.tlskey)
        return any(v is not None for v in given)

    def _set(self, flag: _Flag, value: str | bool) -> None:
        if flag.name == "host":
            self.host_count += 1
            if self.host is not None:
                return
        setattr(self, flag.name.replace("-", "_"), value)


def _go_bool(text: str, arg: str) -> bool:
    if text in _GO_TRUE:
        return True
    if text in _GO_FALSE:
        return False
    raise PluginError(f'invalid argument "{text}" for "{arg}": not a boolean')


def parse_docker_globals(argv: Sequence[str]) -> tuple[DockerGlobals, list[str]]:
    """Parse docker's global options like the CLI does (pflag, not interspersed).

    Returns the options and the arguments from the first non-option on (``--`` ends the options and
    is dropped). Raises :class:`PluginError` for an unknown option or a missing value.
    """
    opts = DockerGlobals()
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            return opts, list(argv[i + 1 :])
        if not arg.startswith("-") or arg == "-":
            return opts, list(argv[i:])
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            flag = _LONG.get(name)
            if flag is None:
                raise PluginError(f"unknown flag: --{name}")
            if flag.boolean:
                opts._set(flag, _go_bool(value, arg) if eq else True)
            elif eq:
                opts._set(flag, value)
            elif i + 1 < len(argv):
                i += 1
                opts._set(flag, argv[i])
            else:
                raise PluginError(f"flag needs an argument: --{name}")
            i += 1
            continue
        shorts = arg[1:]
        while shorts:
            flag = _SHORT.get(shorts[0])
            if flag is None:
                raise PluginError(f"unknown shorthand flag: {shorts[0]!r} in {arg}")
            if len(shorts) > 2 and shorts[1] == "=":  # -H=x, -D=false
                opts._set(flag, _go_bool(shorts[2:], arg) if flag.boolean else shorts[2:])
                shorts = ""
            elif flag.boolean:  # -D, -Dl debug
                opts._set(flag, True)
                shorts = shorts[1:]
            elif len(shorts) > 1:  # -Hunix:///x
                opts._set(flag, shorts[1:])
                shorts = ""
            elif i + 1 < len(argv):  # -H x
                i += 1
                opts._set(flag, argv[i])
                shorts = ""
            else:
                raise PluginError(f"flag needs an argument: {shorts[0]!r} in {arg}")
        i += 1
    return opts, []
