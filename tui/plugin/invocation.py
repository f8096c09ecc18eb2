"""A docker CLI plugin invocation turned into docker-sweep's own argv and engine endpoint."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence

from tui import exit_codes
from tui.plugin import PLUGIN_NAME, PluginError
from tui.plugin.metadata import METADATA_SUBCOMMAND, print_metadata

# The docker options parser, the endpoint and the CLI socket are imported in a plugin run only:
# every standalone command goes through :func:`plugin_main` first (their dataclasses, 3-5 ms).

REEXEC_ENV = "DOCKER_CLI_PLUGIN_ORIGINAL_CLI_COMMAND"
COMPLETE_SUBCOMMAND = "__complete"  # cobra.ShellCompRequestCmd


def _fail(message: str) -> int:
    print(f"docker-sweep: {message}", file=sys.stderr)
    return exit_codes.EXIT_USAGE


def _with_help(args: list[str]) -> list[str]:
    """``args`` asking for help (``--help`` before a ``--``, so that it stays an option)."""
    if "--" in args:
        cut = args.index("--")
        return [*args[:cut], "--help", *args[cut:]]
    return [*args, "--help"]


def _complete(args: Sequence[str], commands: Callable[[], Sequence[str]]) -> int:
    """Answer ``__complete sweep [ARGS] WORD`` in cobra's format: candidates, then ``:directive``."""
    if len(args) == 1 and not args[0].startswith("-"):
        for name in sorted(commands()):
            if name.startswith(args[0]):
                print(name)
    print(":4")  # cobra.ShellCompDirectiveNoFileComp
    return 0


def plugin_main(
    argv: Sequence[str],
    environ: Mapping[str, str],
    *,
    commands: Callable[[], Sequence[str]],
    watch_socket: bool = True,
) -> tuple[list[str], str | None] | int:
    """Handle a docker CLI plugin invocation; call first thing with ``sys.argv[1:]`` and ``os.environ``.

    * ``["docker-cli-plugin-metadata"]``: prints :func:`tui.plugin.metadata.metadata` as JSON, returns 0.
    * ``[DOCKER GLOBAL OPTIONS] sweep ARGS`` (also ``help sweep ARGS``, ``--help sweep ARGS``):
      returns ``(TLS + ARGS, host)``, ``host`` being the endpoint the options select or ``None``
      and ``TLS`` docker-sweep's TLS options for it (see :func:`resolve_endpoint`); with help asked
      for, ``--help`` is added to ARGS. Starts watching
      the CLI's plugin socket (unless ``watch_socket`` is false).
    * ``__complete sweep ARGS WORD`` (shell completion): prints the names from ``commands()`` (the
      composition root passes docker-sweep's command names) that complete WORD, returns 0.
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
    if PLUGIN_NAME not in argv:  # every plugin run (and its error below) names the plugin
        return argv, None
    from tui.plugin.cli_socket import SOCKET_ENV, watch_cli_socket
    from tui.plugin.docker_flags import parse_docker_globals
    from tui.plugin.endpoint import resolve_endpoint

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
        return _complete(rest[2:], commands)
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
