"""The engine endpoint that docker's global options select, as docker-sweep's ``--host`` and TLS options.

Which context applies is decided by :func:`tui.engine.contexts.context_name`, the one copy of the
docker CLI's rule (docker-sweep's own :class:`tui.engine.client.Engine` uses it too); this module only
turns the chosen context or host into docker-sweep's command-line options.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from tui.engine import contexts
from tui.plugin import PluginError
from tui.plugin.docker_flags import DockerGlobals


def context_endpoint(name: str, config_dir: Path) -> tuple[str, list[str]]:
    """The endpoint of context ``name`` and docker-sweep's TLS options for its TLS material.

    Raises :class:`PluginError` if there is no such context.
    """
    try:
        context = contexts.read_context(name, config_dir)
    except contexts.ContextError as exc:
        raise PluginError(str(exc)) from None
    host = context.host
    tcp = contexts.uses_tls(host if "://" in host else f"tcp://{host}")  # a bare HOST:PORT is TCP
    if not tcp or (context.tls_dir is None and not context.skip_tls_verify):
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

    A ``None`` host means "let docker-sweep resolve it itself" (by the same rule): nothing on the
    command line (nor ``DOCKER_CONTEXT``) chose the endpoint, or it is ``DOCKER_HOST``. Raises
    :class:`PluginError`.
    """
    if opts.host_count > 1:
        raise PluginError("specify only one -H")
    if opts.host is not None and opts.context:
        raise PluginError("conflicting options: cannot specify both --host and --context")
    chosen_here = opts.context or opts.host is not None or opts.config is not None
    if not chosen_here and not environ.get("DOCKER_CONTEXT"):
        return None, tls_options(opts)  # the current context of the usual config dir, or the default socket
    config_dir = contexts.docker_config_dir(environ, opts.config)
    name = contexts.context_name(
        host_given=opts.host is not None, context=opts.context, environ=environ, config_dir=config_dir
    )
    if name != "default":
        return context_endpoint(name, config_dir)
    if opts.host is not None:
        return opts.host or contexts.DEFAULT_HOST, tls_options(opts)
    return (None if environ.get("DOCKER_HOST") else contexts.DEFAULT_HOST), tls_options(opts)
