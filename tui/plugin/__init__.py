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
  JSON of :func:`tui.plugin.metadata.metadata` on stdout. ``SchemaVersion`` and ``Vendor`` are mandatory.
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

:func:`tui.plugin.invocation.plugin_main` turns such an argv into docker-sweep's own: what follows
``sweep``, plus the engine endpoint that the global options select, resolved exactly as the docker
CLI resolves it (:func:`tui.engine.contexts.context_name`: ``-H``; else ``--context``; else
``DOCKER_HOST``; else ``DOCKER_CONTEXT``; else the ``currentContext`` of the config dir's
``config.json``; a context's ``Host`` is read from the
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

The modules, one job each: :mod:`~tui.plugin.metadata` (what the CLI asks first),
:mod:`~tui.plugin.docker_flags` (docker's global options), :mod:`~tui.plugin.endpoint` (the endpoint
they select), :mod:`~tui.plugin.cli_socket` (the CLI's stop signal), :mod:`~tui.plugin.invocation`
(one run, put together) and :mod:`~tui.plugin.install` (``docker-sweep install-plugin``).
"""

from __future__ import annotations

PLUGIN_NAME = "sweep"  # `docker sweep`; the plugin executable is `docker-sweep`


class PluginError(Exception):
    """Installing the plugin or reading the docker options failed; ``str()`` is for the user."""
