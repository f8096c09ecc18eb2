"""docker-sweep as a docker CLI plugin: ``docker sweep …``.

How the docker CLI (19.03 and later, checked against docker/cli ``cli-plugins/manager`` and with the
real 20.10 and 28.x CLIs) treats a plugin:

* Discovery: an executable named ``docker-sweep`` in ``$DOCKER_CONFIG/cli-plugins`` (default
  ``~/.docker/cli-plugins``; ``docker --config DIR`` makes it ``DIR/cli-plugins``), in a
  ``cliPluginsExtraDirs`` entry of ``config.json``, or in ``/usr/local/lib/docker/cli-plugins``,
  ``/usr/local/libexec/docker/cli-plugins``, ``/usr/lib/docker/cli-plugins``,
  ``/usr/libexec/docker/cli-plugins``. Symlinks are followed.
* Metadata: the CLI runs ``docker-sweep docker-cli-plugin-metadata`` (exactly that one argument, no
  special environment) for ``docker --help``, ``docker info`` and before every run, and expects the
  JSON of :func:`metadata` on stdout. ``SchemaVersion`` and ``Vendor`` are mandatory.
* Running: ``docker [GLOBAL OPTIONS] sweep ARGS`` execs the plugin with the CLI's whole original
  argv minus ``argv[0]``: the global options come first, unparsed and as typed (``-H x``,
  ``--host=x``, ``-Hx``, ``-Dl debug``, ``--config DIR``, ``--tlsverify`` …), then ``sweep``, then
  ARGS. ``docker help sweep [ARGS]`` gives ``help sweep [ARGS]``; ``docker --help sweep`` gives
  ``--help sweep``; shell completion gives ``__complete sweep [ARGS] WORD``. The CLI validates
  neither the context name nor the endpoint first (``docker -c nosuch sweep`` still runs us), but it
  does reject ``-H`` together with ``--context``, and more than one ``-H``.
* Environment: ``DOCKER_CLI_PLUGIN_ORIGINAL_CLI_COMMAND`` (the docker binary, always set for a run),
  ``DOCKER_CLI_PLUGIN_SOCKET`` (28.x: an abstract unix socket the plugin may connect to; the CLI
  closes it when it gets SIGINT/SIGTERM while its stdout is not a terminal, which means "stop") and
  ``OTEL_RESOURCE_ATTRIBUTES``. ``--config DIR`` is *not* exported as ``DOCKER_CONFIG``: a plugin
  that wants the same context store has to read ``--config`` from its argv itself.

:func:`plugin_main` turns such an argv into docker-sweep's own: what follows ``sweep``, plus the
engine endpoint that the global options select, resolved exactly as the docker CLI resolves it
(``-H``; else ``--context``; else ``DOCKER_HOST``; else ``DOCKER_CONTEXT``; else the
``currentContext`` of the config dir's ``config.json``; a context's ``Host`` is read from the
context store, ``contexts/meta/<sha256(name)>/meta.json``). When nothing on the command line or in
``DOCKER_CONTEXT`` picks an endpoint, it returns ``None`` and docker-sweep resolves
``DOCKER_HOST`` / the current context / the default socket itself, as it does when run standalone.

TLS: docker-sweep has the docker CLI's TLS options with the same meaning (``--tls``/``--no-tls``,
``--tlsverify``/``--no-tlsverify`` for docker's ``=false`` forms, ``--tlscacert``, ``--tlscert``,
``--tlskey``; defaults from ``DOCKER_TLS_VERIFY``, ``DOCKER_TLS``, ``DOCKER_CERT_PATH``), so the
TLS options on the docker command line are passed on as docker-sweep's own, before its command. A
named context's TLS material (``contexts/tls/<sha256(name)>/docker/{ca,cert,key}.pem``,
``SkipTLSVerify``) is passed on the same way, and docker's TLS options are then ignored, as docker
ignores them for a named context. docker-sweep applies TLS to ``tcp://`` endpoints only, like docker.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tui.engine import contexts

PLUGIN_NAME = "sweep"
SHORT_DESCRIPTION = "Browse and prune images exactly and safely"
METADATA_SUBCOMMAND = "docker-cli-plugin-metadata"
REEXEC_ENV = "DOCKER_CLI_PLUGIN_ORIGINAL_CLI_COMMAND"
SOCKET_ENV = "DOCKER_CLI_PLUGIN_SOCKET"
COMPLETE_SUBCOMMAND = "__complete"  # cobra.ShellCompRequestCmd
DEFAULT_HOST = "unix:///var/run/docker.sock"  # = tui.engine.client.DEFAULT_HOST (not imported: light)
EXIT_USAGE = 2  # = tui.headless.EXIT_USAGE
WRAPPER_MARKER = "# docker-sweep: docker CLI plugin wrapper"
_SOCKET_SCHEMES = ("unix", "npipe", "ssh", "fd")  # endpoints for which docker ignores TLS settings


class PluginError(Exception):
    """Installing the plugin or reading the docker options failed; ``str()`` is for the user."""


def metadata() -> dict[str, Any]:
    """The JSON the docker CLI reads from ``docker-sweep docker-cli-plugin-metadata``."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        ver = version("docker-sweep")
    except PackageNotFoundError:  # running from a source tree that is not installed
        ver = "0+unknown"
    return {
        "SchemaVersion": "0.1.0",
        "Vendor": "docker-sweep",
        "Version": ver,
        "ShortDescription": SHORT_DESCRIPTION,
    }


def print_metadata() -> None:
    """Answer ``docker-cli-plugin-metadata`` on stdout."""
    print(json.dumps(metadata(), indent=2), flush=True)


# --- the docker CLI's global options -------------------------------------------------------------


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


# --- the endpoint ----------------------------------------------------------------------------------


def docker_config_dir(environ: Mapping[str, str], override: str | None = None) -> Path:
    """The docker CLI's config dir: ``--config DIR``, else ``$DOCKER_CONFIG``, else ``~/.docker``."""
    return contexts.docker_config_dir(environ, override)


def _uses_tls(host: str) -> bool:
    """Whether docker would apply TLS settings to ``host`` (not for sockets or ssh)."""
    scheme = host.split("://", 1)[0].lower() if "://" in host else "tcp"
    return scheme not in _SOCKET_SCHEMES


def _current_context(config_dir: Path) -> str:
    """``currentContext`` of ``config_dir/config.json``; "default" if unset or unreadable (as docker)."""
    return contexts.current_context(config_dir)


def context_host(name: str, config_dir: Path) -> str:
    """The docker endpoint ``Host`` of context ``name`` in the context store of ``config_dir``.

    Raises :class:`PluginError` if there is no such context.
    """
    return context_endpoint(name, config_dir)[0]


def context_endpoint(name: str, config_dir: Path) -> tuple[str, list[str]]:
    """The endpoint of context ``name`` and docker-sweep's TLS options for its TLS material."""
    try:
        context = contexts.read_context(name, config_dir)
    except contexts.ContextError as exc:
        raise PluginError(str(exc)) from None
    host = context.host
    if not _uses_tls(host) or (context.tls_dir is None and not context.skip_tls_verify):
        return host, []
    options = ["--no-tlsverify" if context.skip_tls_verify else "--tlsverify"]
    for pem, flag in (("ca.pem", "--tlscacert"), ("cert.pem", "--tlscert"), ("key.pem", "--tlskey")):
        if context.tls_dir is not None and (context.tls_dir / pem).is_file():
            options.append(f"{flag}={context.tls_dir / pem}")
    return host, options


def tls_options(opts: DockerGlobals) -> list[str]:
    """docker's TLS options in ``opts`` as docker-sweep's own (same names and meaning)."""
    out: list[str] = []
    if opts.tls is not None:
        out.append("--tls" if opts.tls else "--no-tls")
    if opts.tlsverify is not None:
        out.append("--tlsverify" if opts.tlsverify else "--no-tlsverify")
    for flag, value in (
        ("--tlscacert", opts.tlscacert),
        ("--tlscert", opts.tlscert),
        ("--tlskey", opts.tlskey),
    ):
        if value is not None:
            out.append(f"{flag}={value}")
    return out


def resolve_endpoint(opts: DockerGlobals, environ: Mapping[str, str]) -> tuple[str | None, list[str]]:
    """The engine endpoint docker would use with ``opts``, for docker-sweep's ``--host``, and the
    docker-sweep TLS options that go with it.

    A ``None`` host means "let docker-sweep resolve it itself": nothing on the command line (nor
    ``DOCKER_CONTEXT``) chose the endpoint, or it is ``DOCKER_HOST``. Raises :class:`PluginError`.
    """
    if opts.host_count > 1:
        raise PluginError("specify only one -H")
    if opts.host is not None and opts.context:
        raise PluginError("conflicting options: cannot specify both --host and --context")
    env_host = environ.get("DOCKER_HOST", "")
    config_dir = docker_config_dir(environ, opts.config)
    if opts.context:
        name = opts.context
    elif opts.host is not None or env_host:
        name = "default"
    elif environ.get("DOCKER_CONTEXT"):
        name = environ["DOCKER_CONTEXT"]
    elif opts.config is not None:
        name = _current_context(config_dir)
    else:
        return None, tls_options(opts)  # the current context of the usual config dir, or the default socket
    if name != "default":
        return context_endpoint(name, config_dir)
    if opts.host is not None:
        return opts.host or DEFAULT_HOST, tls_options(opts)
    return (None if env_host else DEFAULT_HOST), tls_options(opts)


# --- running as a plugin --------------------------------------------------------------------------


def _fail(message: str) -> int:
    print(f"docker-sweep: {message}", file=sys.stderr)
    return EXIT_USAGE


def _with_help(args: list[str]) -> list[str]:
    """``args`` asking for help (``--help`` before a ``--``, so that it stays an option)."""
    if "--" in args:
        cut = args.index("--")
        return [*args[:cut], "--help", *args[cut:]]
    return [*args, "--help"]


def _subcommands() -> list[str]:
    from tui.cli import build_parser  # lazy: tui.cli imports this module

    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            return sorted(action.choices)
    return []


def _complete(args: Sequence[str]) -> int:
    """Answer ``__complete sweep [ARGS] WORD`` in cobra's format: candidates, then ``:directive``."""
    if len(args) == 1 and not args[0].startswith("-"):
        for name in _subcommands():
            if name.startswith(args[0]):
                print(name)
    print(":4")  # cobra.ShellCompDirectiveNoFileComp
    return 0


def _stop_main_thread() -> None:
    """What Ctrl-C does: KeyboardInterrupt in the main thread (interrupting a blocking call)."""
    ident = threading.main_thread().ident
    handler = signal.getsignal(signal.SIGINT)
    if ident is not None and callable(handler):
        signal.pthread_kill(ident, signal.SIGINT)
    else:  # SIGINT ignored or default: there is no Python handler to run, terminate as docker asks
        os.kill(os.getpid(), signal.SIGTERM)


def watch_cli_socket(address: str | None, on_close: Callable[[], None] | None = None) -> bool:
    """Connect to the docker CLI's plugin socket; call ``on_close`` once the CLI closes it.

    The CLI closes it when it is asked to stop (SIGINT/SIGTERM while its stdout is not a terminal);
    the default ``on_close`` then interrupts the main thread like Ctrl-C. Returns whether connected.
    """
    if not address:
        return False
    path = "\0" + address[1:] if address.startswith("@") else address  # "@name": abstract socket
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        return False
    action = on_close or _stop_main_thread

    def wait() -> None:
        try:
            while sock.recv(1):
                pass
        except ConnectionResetError:
            pass  # the CLI closed its listener before accepting us: the same message
        except OSError:
            return
        finally:
            sock.close()
        action()

    threading.Thread(target=wait, name="docker-cli-plugin-socket", daemon=True).start()
    return True


def plugin_main(
    argv: Sequence[str], environ: Mapping[str, str], *, watch_socket: bool = True
) -> tuple[list[str], str | None] | int:
    """Handle a docker CLI plugin invocation; call first thing with ``sys.argv[1:]`` and ``os.environ``.

    * ``["docker-cli-plugin-metadata"]``: prints :func:`metadata` as JSON, returns 0.
    * ``[DOCKER GLOBAL OPTIONS] sweep ARGS`` (also ``help sweep ARGS``, ``--help sweep ARGS``):
      returns ``(TLS + ARGS, host)``, ``host`` being the endpoint the options select or ``None``
      and ``TLS`` docker-sweep's TLS options for it (see :func:`resolve_endpoint`); with help asked
      for, ``--help`` is added to ARGS. Starts watching
      the CLI's plugin socket (unless ``watch_socket`` is false).
    * ``__complete sweep ARGS WORD`` (shell completion): prints candidates, returns 0.
    * Conflicting options, an unknown context: prints why, returns 2.
    * Anything else (docker-sweep run standalone): returns ``(argv, None)`` unchanged.

    A plugin run is recognised by ``sweep`` following the docker global options (what the docker
    CLI always passes; docker-sweep itself has no ``sweep`` command); ``$DOCKER_CLI_PLUGIN_ORIGINAL_
    CLI_COMMAND`` only decides whether an unparsable option before ``sweep`` is an error.
    """
    argv = list(argv)
    if argv == [METADATA_SUBCOMMAND]:
        print_metadata()
        return 0
    try:
        opts, rest = parse_docker_globals(argv)
    except PluginError as exc:
        if environ.get(REEXEC_ENV) and PLUGIN_NAME in argv:
            return _fail(f"the docker options before {PLUGIN_NAME!r}: {exc}")
        return argv, None
    if rest[:1] == [PLUGIN_NAME]:
        args, want_help = rest[1:], opts.help
    elif rest[:2] == ["help", PLUGIN_NAME]:
        args, want_help = rest[2:], True
    elif rest[:2] == [COMPLETE_SUBCOMMAND, PLUGIN_NAME]:
        return _complete(rest[2:])
    else:
        return argv, None
    if want_help:
        return _with_help(args), None
    try:
        host, tls = resolve_endpoint(opts, environ)
    except PluginError as exc:
        return _fail(str(exc))
    if watch_socket:
        watch_cli_socket(environ.get(SOCKET_ENV))
    return [*tls, *args], host


# --- installing -----------------------------------------------------------------------------------


def plugins_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where the docker CLI looks first: ``$DOCKER_CONFIG/cli-plugins`` or ``~/.docker/cli-plugins``."""
    return docker_config_dir(os.environ if environ is None else environ) / "cli-plugins"


_IMPORT_CHECK = "import tui.plugin, sys; sys.stdout.write(tui.plugin.__file__)"


def _importable(python: str, pythonpath: str | None) -> tuple[bool, str]:
    """Whether ``python -P`` run elsewhere imports this docker-sweep (with ``pythonpath`` prepended)."""
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (pythonpath, env.get("PYTHONPATH")) if p)
    try:
        done = subprocess.run(
            [python, "-P", "-c", _IMPORT_CHECK],
            cwd="/",
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return False, str(exc)
    ok = done.returncode == 0 and done.stdout.endswith("plugin.py")
    return ok, (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]


def wrapper_script(python: str, pythonpath: str | None = None) -> str:
    """The shell script the docker CLI runs: ``exec PYTHON -P -m tui "$@"``."""
    lines = [
        "#!/bin/sh",
        f"{WRAPPER_MARKER} (written by `docker-sweep install-plugin`; safe to delete).",
        "# The docker CLI runs it as: docker-sweep [DOCKER GLOBAL OPTIONS] sweep [ARGS...]",
    ]
    if pythonpath:
        lines += [f'PYTHONPATH={shlex.quote(pythonpath)}"${{PYTHONPATH:+:$PYTHONPATH}}"', "export PYTHONPATH"]
    # -P: no cwd on sys.path, so a ./tui directory where `docker sweep` runs cannot shadow the package.
    lines.append(f'exec {shlex.quote(python)} -P -m tui "$@"')
    return "\n".join(lines) + "\n"


def install_plugin(
    target_dir: Path | None = None, *, executable: str | None = None, force: bool = False
) -> Path:
    """Install ``docker-sweep`` as ``docker sweep``; returns the path of the installed plugin.

    Writes an executable shell script ``target_dir/docker-sweep`` (default :func:`plugins_dir`) that
    execs ``executable`` (a Python that has docker-sweep installed; default: this interpreter, by its
    unresolved path so that a venv stays a venv) with ``-P -m tui``. A script rather than a symlink
    to the ``docker-sweep`` console script: it works whether or not that script exists or is on
    PATH, and names the interpreter explicitly. Idempotent; replaces an earlier wrapper, but not a
    file it did not write unless ``force``. Raises :class:`PluginError` with a message for the user.
    """
    python = executable or sys.executable
    if not python:
        raise PluginError("cannot tell which Python runs docker-sweep; pass the interpreter explicitly")
    python = os.path.abspath(python)
    if not (os.path.isfile(python) and os.access(python, os.X_OK)):
        raise PluginError(f"{python} is not an executable file")
    pythonpath: str | None = None
    ok, why = _importable(python, None)
    if not ok:  # a source checkout that is not installed: point PYTHONPATH at it
        pythonpath = str(Path(__file__).resolve().parent.parent)
        ok, _ = _importable(python, pythonpath)
        if not ok:
            raise PluginError(f"{python} cannot import docker-sweep ({why}); install docker-sweep into it")
    script = wrapper_script(python, pythonpath)

    directory = Path(target_dir) if target_dir is not None else plugins_dir()
    path = directory / f"docker-{PLUGIN_NAME}"
    if directory.exists() and not directory.is_dir():
        raise PluginError(f"{directory} exists and is not a directory")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PluginError(f"cannot create {directory}: {exc.strerror or exc}") from None
    if path.is_symlink() or path.exists():
        current: str | None = None
        if path.is_file() and not path.is_symlink():
            try:
                current = path.read_text()
            except (OSError, UnicodeDecodeError):
                current = None
        if current == script:
            if not os.access(path, os.X_OK):
                _chmod(path)
            return path
        if path.is_dir() and not path.is_symlink():
            raise PluginError(f"{path} is a directory")
        if not force and (current is None or WRAPPER_MARKER not in current):
            raise PluginError(
                f"{path} exists and was not written by docker-sweep; remove it, or use --force to replace it"
            )
    try:
        fd, tmp = tempfile.mkstemp(prefix=".docker-sweep.", dir=directory)
    except OSError as exc:
        raise PluginError(
            f"cannot write to {directory}: {exc.strerror or exc} (choose another directory "
            "or set DOCKER_CONFIG)"
        ) from None
    try:
        with os.fdopen(fd, "w") as out:
            out.write(script)
        _chmod(Path(tmp))
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise PluginError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def _chmod(path: Path) -> None:
    try:
        path.chmod(0o755)
    except OSError as exc:
        raise PluginError(f"cannot make {path} executable: {exc.strerror or exc}") from None


__all__ = [
    "PLUGIN_NAME",
    "DockerGlobals",
    "PluginError",
    "context_host",
    "docker_config_dir",
    "install_plugin",
    "metadata",
    "parse_docker_globals",
    "plugin_main",
    "plugins_dir",
    "resolve_endpoint",
    "watch_cli_socket",
    "wrapper_script",
]
