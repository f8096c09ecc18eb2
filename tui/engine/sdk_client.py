"""docker-sweep's ``docker.APIClient``: imported only when a command needs the SDK.

:mod:`tui.engine.client` reads a unix-socket engine's version, facts and lists without the SDK
(importing it is a good part of a headless command's run); everything else, and every endpoint that
is not a unix socket (ssh://, tcp://, TLS, contexts), goes through the client made here.
"""

from __future__ import annotations

from typing import Any

import docker
import docker.errors


class APIClient(docker.APIClient):
    """``docker.APIClient`` whose TLS CA is the one it was given.

    requests lets ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` replace a session's ``verify`` on every
    request (psf/requests#3829), so with either set the engine's certificate would be checked
    against that bundle instead of ``--tlscacert``/``ca.pem``, and refused.
    """

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any) -> Any:
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if verify is None:
            settings["verify"] = self.verify
        return settings

    server_version: dict[str, Any] | None = None

    def _retrieve_server_version(self) -> Any:
        """``version="auto"``: read ``/version`` once and keep the whole answer (the engine's
        facts need it too; no second request)."""
        try:
            version = self.version(api_version=False)
            api_version = version["ApiVersion"]
        except KeyError as exc:  # the SDK's own messages
            raise docker.errors.DockerException(
                'Invalid response from docker daemon: key "ApiVersion" is missing.'
            ) from exc
        except Exception as exc:
            raise docker.errors.DockerException(f"Error while fetching server API version: {exc}") from exc
        self.server_version = version
        return api_version


def keep_alive(client: Any) -> Any:
    """Make ``client`` reuse its connections and skip per-request environment lookups.

    docker-py's unix-socket and named-pipe adapters key their connection pools by the whole
    request URL, so every new path (``/images/<id>/json``) opens a new connection; here they are
    keyed by the endpoint, so one kept-alive connection serves every request. For these local
    transports (and ssh) HTTP proxies and ``.netrc`` do not apply, so ``trust_env`` is turned off:
    requests then stops re-reading the proxy environment on every call. TCP endpoints keep
    requests' defaults (proxies and CA bundles from the environment may matter there).
    """
    if str(client.base_url).startswith("http+docker://"):
        client.trust_env = False
    adapter = getattr(client, "_custom_adapter", None)
    if adapter is not None and type(adapter).__name__ in ("UnixHTTPAdapter", "NpipeHTTPAdapter"):
        get_connection = adapter.get_connection
        key = str(client.base_url)

        def pooled(url: str, proxies: Any = None) -> Any:
            return get_connection(key, proxies)

        adapter.get_connection = pooled
    return client
