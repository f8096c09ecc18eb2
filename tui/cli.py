"""Command line: parses arguments, builds the engine, starts the app or a headless command."""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tui import exit_codes
from tui.engine.client import Engine, EngineAddressError, EngineError
from tui.engine.contexts import TLSRequest
from tui.plugin import PluginError
from tui.plugin.invocation import plugin_main

if TYPE_CHECKING:
    from tui.config import Config
    from tui.core.model import Image
    from tui.engine.backup import BackupStore

#: Seconds :func:`_store_read_started` waits for the engine's version before the config is read.
EARLY_TIMEOUT = 1

EPILOG = "exit codes:\n" + "\n".join(f"  {code:>3}  {text}" for code, text in exit_codes.EXIT_CODES.items())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="docker-sweep",
        description="Browse local Docker images and remove or prune them exactly and safely.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--host",
        metavar="URL",
        help="engine endpoint (default: DOCKER_HOST, the docker context, or unix:///var/run/docker.sock)",
    )
    parser.add_argument(
        "--config", metavar="PATH", help="config file (default: the user config dir; or $DOCKER_SWEEP_CONFIG)"
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    tls = parser.add_argument_group(
        "TLS (for tcp:// engines, as the docker CLI; default: "
        "DOCKER_TLS_VERIFY, DOCKER_TLS, DOCKER_CERT_PATH, [engine] tls)"
    )
    tls.add_argument(
        "--tlsverify",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="use TLS and verify the engine's certificate against the CA",
    )
    tls.add_argument(
        "--tls",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="use TLS without verifying the engine (insecure; implied by --tlsverify)",
    )
    tls.add_argument(
        "--tlscacert",
        metavar="FILE",
        default="",
        help="trust certificates signed by this CA (default: $DOCKER_CERT_PATH/ca.pem)",
    )
    tls.add_argument(
        "--tlscert",
        metavar="FILE",
        default="",
        help="client certificate (default: $DOCKER_CERT_PATH/cert.pem)",
    )
    tls.add_argument(
        "--tlskey", metavar="FILE", default="", help="client key (default: $DOCKER_CERT_PATH/key.pem)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    sub.add_parser("tui", help="start the terminal UI (the default)")
    images = sub.add_parser("images", help="list images with shared/unique sizes and markers")
    images.add_argument("--all", "-a", action="store_true", help="include intermediate images")
    images.add_argument("--json", action="store_true", help="print JSON")
    df = sub.add_parser("df", help="disk usage summary with exact prune sizes")
    df.add_argument("--json", action="store_true", help="print JSON")

    plan = sub.add_parser("plan", help="show what rm or prune would do, without doing it")
    plan_sub = plan.add_subparsers(dest="plan_command", metavar="rm|prune", required=True)
    for name, target in (("rm", plan_sub), ("prune", plan_sub)):
        p = target.add_parser(name, help=f"plan `{name}`")
        _add_action_args(p, name, destructive=False)
    for name in ("rm", "prune"):
        p = sub.add_parser(name, help=f"{name} images (asks first unless --yes)")
        _add_action_args(p, name, destructive=True)
    backups = sub.add_parser("backups", help="list backups of removed local-only images")
    backups.add_argument("--json", action="store_true", help="print JSON")
    restore = sub.add_parser("restore", help="load a backup back into the engine")
    restore.add_argument("name", metavar="NAME", help="a name from `docker-sweep backups`")
    restore.add_argument("--json", action="store_true", help="print JSON")
    inst = sub.add_parser("install-plugin", help="install as the docker CLI plugin `docker sweep`")
    inst.add_argument(
        "--dir",
        metavar="DIR",
        help="plugin directory (default: $DOCKER_CONFIG/cli-plugins or ~/.docker/cli-plugins)",
    )
    inst.add_argument("--force", action="store_true", help="replace a docker-sweep file it did not write")
    demo = sub.add_parser(
        "demo", help="start a throwaway sandbox engine with sample images and open the UI on it"
    )
    demo.add_argument("--keep", action="store_true", help=argparse.SUPPRESS)
    return parser


def command_names() -> list[str]:
    """docker-sweep's command names (for the docker CLI's shell completion of ``docker sweep``)."""
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            return sorted(action.choices)
    return []


def _add_action_args(p: argparse.ArgumentParser, name: str, *, destructive: bool) -> None:
    if name == "rm":
        p.add_argument("refs", nargs="+", metavar="REF", help="image tag, digest reference or ID")
        p.add_argument(
            "--force",
            "-f",
            action="store_true",
            help="force (untag all references; never deletes images running containers use)",
        )
        p.add_argument(
            "--with-containers",
            action="store_true",
            help="first remove the stopped containers that block the removal",
        )
        p.add_argument(
            "--platform",
            metavar="OS/ARCH[/VARIANT]",
            help="remove only this platform of one multi-platform image (e.g. linux/arm64; "
            "containerd image store, Docker 28+); the image and its tags stay",
        )
    else:
        p.add_argument(
            "--all",
            "-a",
            action="store_true",
            help="all images not used by any container (default: dangling only)",
        )
        p.add_argument(
            "--filter",
            action="append",
            default=[],
            metavar="K=V",
            help="until=DURATION|DATE|UNIX, label=K[=V], label!=K[=V] (repeatable)",
        )
        p.add_argument(
            "--policy",
            metavar="NAME",
            help="use the named policy from the config instead "
            "of filters (protected images and images in use are never removed)",
        )
        p.add_argument(
            "--build-cache",
            action="store_true",
            help="prune the BuildKit build cache "
            "instead of images (like `docker builder prune`; --all: also records shared "
            "with images; --filter until=...)",
        )
        p.add_argument(
            "--keep-storage",
            metavar="SIZE",
            help="with --build-cache: keep this much "
            "cache (e.g. 512MB), deleting the least recently used first",
        )
    if destructive:
        p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    p.add_argument("--json", action="store_true", help="print JSON")


def _backup_store(config: Config) -> BackupStore:
    """The backup store the config names (``[backup] dir`` and ``max_size``)."""
    from tui.engine.backup import BackupStore

    return BackupStore(config.backup_dir(), config.backup_max_bytes())


def _backup_callback(engine: Engine, config: Config) -> Callable[[Image], list[str]] | None:
    """The executor's backup callback when ``[local_only] backup = true``, else ``None``."""
    if not config.local_only.backup:
        return None
    from tui.engine.backup_callback import backup_before_removal

    return backup_before_removal(engine, _backup_store(config))


def _pause_collector() -> bool:
    """Turn Python's cyclic garbage collector off for a read-only command; whether it was on.

    The reads and the plan make no reference cycles (the planner pauses the collector for the same
    reason, tui/core/plan_result.py ``collector_paused``): its young collections walked the lists
    and the layer cache's entries again and again (60-odd collections in a warm run at 1,000
    images)."""
    was_on = gc.isenabled()
    gc.disable()
    return was_on


def _resume_collector(was_on: bool, *, exiting: bool) -> None:
    """Undo :func:`_pause_collector`. ``exiting`` (the process ends next): every object is
    frozen instead, so the interpreter's last collection at exit (made even with the collector
    off) walks none of them: the operating system frees the memory. Else the objects made
    meanwhile join the oldest generation at once (freeze and unfreeze move whole lists), as after
    a plan, so the next young collection does not walk them all."""
    if exiting:
        gc.freeze()
        return
    if was_on:
        if gc.get_freeze_count() == 0:
            gc.freeze()
            gc.unfreeze()
        gc.enable()


def _store_read_started(host: str | None, *, disk_usage: bool) -> Engine | None:
    """An engine for ``--host`` with the store's first reads sent (:meth:`Engine.prefetch_store`),
    made before the config is imported and read, so the engine answers meanwhile (the first
    request goes out ~10 ms sooner). Only for a unix socket named on the command line: the config
    cannot name another engine then, only other timeouts, which :meth:`Engine.take_over` applies.
    Until then it waits :data:`EARLY_TIMEOUT` for the engine's version: an engine that does not
    answer so soon is left to the engine :func:`main` makes, with the config's timeouts. None
    when ``host`` is not such an address (:func:`main` reports a bad one, in its order)."""
    if not host:
        return None
    try:
        engine = Engine(host, timeout=EARLY_TIMEOUT, long_timeout=EARLY_TIMEOUT)
    except EngineError:
        return None
    if not engine.host.startswith("unix://"):
        return None
    engine.prefetch_store(disk_usage=disk_usage)
    return engine


def _close(engine: Engine | None) -> None:
    if engine is not None:
        engine.close()


def main(argv: Sequence[str] | None = None, *, exiting: bool = False) -> int:
    """Run one command; its exit code. ``exiting``: the process ends after this call (the console
    script), so a read-only command leaves its objects to the operating system."""
    res = plugin_main(list(sys.argv[1:] if argv is None else argv), os.environ, commands=command_names)
    if isinstance(res, int):
        return res
    plugin_argv, plugin_host = res
    args = build_parser().parse_args((["--host", plugin_host] if plugin_host else []) + plugin_argv)
    if args.version:
        from importlib.metadata import version

        print(f"docker-sweep {version('docker-sweep')}")
        return exit_codes.EXIT_OK
    if args.command == "install-plugin":
        from tui.plugin.install import install_plugin  # subprocess, tempfile: only for this command

        try:
            path = install_plugin(Path(args.dir) if args.dir else None, force=args.force)
        except PluginError as exc:
            print(f"docker-sweep: {exc}", file=sys.stderr)
            return exit_codes.EXIT_USAGE
        print(f"installed {path}: try `docker sweep --help`")
        return exit_codes.EXIT_OK
    command = args.command or "tui"
    build_cache = command == "plan" and bool(
        getattr(args, "build_cache", False) or getattr(args, "keep_storage", None)
    )
    # read-only, and reads the store: the engine answers while the rest of docker-sweep is imported
    reads_store = command in ("images", "df", "plan") and not build_cache
    early = _store_read_started(args.host, disk_usage=command == "df") if reads_store else None
    from tui.config import ConfigError, load_config

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"docker-sweep: {exc}", file=sys.stderr)
        _close(early)
        return exit_codes.EXIT_CONFIG
    if command == "demo":
        from tui.demo import run_demo

        return int(run_demo(keep=args.keep))
    tls = TLSRequest(
        tls=args.tls,
        verify=args.tlsverify,
        ca_cert=args.tlscacert,
        cert=args.tlscert,
        key=args.tlskey,
        mode=config.engine.tls,
        cert_path=config.engine.cert_path,
    )
    try:
        engine = Engine(
            args.host or config.engine.host or None,
            timeout=config.engine.timeout,
            long_timeout=config.engine.long_timeout,
            context=config.engine.context,
            tls=tls,
        )
    except EngineAddressError as exc:
        print(f"docker-sweep: {exc}", file=sys.stderr)
        _close(early)
        return exit_codes.EXIT_USAGE
    if early is not None and early.take_over(engine):
        engine = early  # the same engine, with the config's timeouts: its reads are this one's
    else:
        _close(early)
    if warning := engine.insecure_warning():
        print(f"docker-sweep: {warning}", file=sys.stderr)
    if reads_store:
        if engine is not early:
            engine.prefetch_store(disk_usage=command == "df")
        collector_was_on: bool | None = _pause_collector()
    else:
        collector_was_on = None
    from tui import headless
    from tui.core.filter_error import FilterError

    out = sys.stdout
    try:
        if command == "tui":
            from tui.app.first_read import FirstRead  # imports no Textual
            from tui.engine.snapshot import LayerCache
            from tui.engine.source import EngineSource, default_cache_path

            cache = LayerCache(default_cache_path())
            source = EngineSource(engine, cache, backup=_backup_callback(engine, config))
            first_read = FirstRead(source)  # the engine answers the lists while Textual is imported
            from tui.app.main import run_app

            return run_app(source, config, first_read=first_read)
        if command == "images":
            return headless.cmd_images(engine, args.all, args.json, out, config.protection())
        if command == "df":
            return headless.cmd_df(engine, args.json, out)
        if command in ("backups", "restore"):
            store = _backup_store(config)
            if command == "backups":
                return headless.cmd_backups(store, args.json, out)
            return headless.cmd_restore(engine, store, args.name, args.json, out)
        action = args.plan_command if command == "plan" else command
        protection = config.protection()
        bad = headless.invalid_refs(args.refs) if action == "rm" else []
        for message in bad:  # like docker rmi: reported, and the valid references still go ahead
            print(f"docker-sweep: {message}", file=sys.stderr)
        if bad and len(bad) == len(args.refs):
            return exit_codes.EXIT_USAGE  # nothing valid to do
        if action == "prune" and (args.build_cache or args.keep_storage):
            from tui.headless_buildcache import cmd_build_cache, make_build_cache_prune

            if not args.build_cache or args.policy:
                print(
                    "docker-sweep: --keep-storage needs --build-cache, and --policy is for images",
                    file=sys.stderr,
                )
                return exit_codes.EXIT_USAGE
            prune = make_build_cache_prune(args.filter, args.all, args.keep_storage)
            return cmd_build_cache(
                engine,
                prune,
                execute=command != "plan",
                yes=getattr(args, "yes", False),
                as_json=args.json,
                out=out,
            )
        if action == "rm" and args.platform is not None:
            build = headless.platform_builder(args.refs, args.platform, args.force, args.with_containers)
        elif action == "rm":
            build = headless.remove_builder(args.refs, args.force, args.with_containers, protection)
        elif args.policy:
            if args.filter or args.all:
                print(
                    "docker-sweep: --policy replaces --all and --filter; give one or the other",
                    file=sys.stderr,
                )
                return exit_codes.EXIT_USAGE
            build = headless.policy_builder(config.policy(args.policy), protection)
        else:
            build = headless.prune_builder(headless.make_prune_filters(args.filter, args.all), protection)
        if command == "plan":
            return headless.cmd_plan(engine, build, args.json, out)
        return headless.cmd_execute(
            engine,
            build,
            yes=args.yes,
            as_json=args.json,
            out=out,
            local_only_confirm=config.local_only.confirm,
            backup=_backup_callback(engine, config),
        )
    except FilterError as exc:
        print(f"docker-sweep: {exc}", file=sys.stderr)
        return exit_codes.EXIT_USAGE
    except ConfigError as exc:
        print(f"docker-sweep: {exc}", file=sys.stderr)
        return exit_codes.EXIT_CONFIG
    except EngineAddressError as exc:
        print(f"docker-sweep: {exc}", file=sys.stderr)
        return exit_codes.EXIT_USAGE
    except EngineError as exc:
        print(f"docker-sweep: {exc}", file=sys.stderr)
        return exit_codes.EXIT_ENGINE
    except KeyboardInterrupt:
        print("docker-sweep: interrupted", file=sys.stderr)
        return exit_codes.EXIT_INTERRUPTED
    finally:
        engine.close()
        if collector_was_on is not None:
            _resume_collector(collector_was_on, exiting=exiting)


def entry() -> None:
    """The console script: never ends in a traceback (set DOCKER_SWEEP_DEBUG=1 to see one)."""
    try:
        code = main(exiting=True)
    except BrokenPipeError:  # e.g. `docker-sweep images --json | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = exit_codes.EXIT_BROKEN_PIPE
    except Exception as exc:
        if os.environ.get("DOCKER_SWEEP_DEBUG"):
            raise
        print(
            f"docker-sweep: unexpected error: {type(exc).__name__}: {exc} "
            "(rerun with DOCKER_SWEEP_DEBUG=1 for details, and please report it)",
            file=sys.stderr,
        )
        code = exit_codes.EXIT_INTERNAL
    sys.exit(code)


if __name__ == "__main__":
    entry()
