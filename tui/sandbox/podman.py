"""A private, throw-away Podman API service (``podman system service``), stdlib only.

Like :class:`tui.sandbox.daemon.PrivateDaemon` (and stopped, cleaned up and watched the same way,
by the helpers there): everything lives in one directory ``root``:

* ``podman.sock`` — the Docker-compatible (and libpod) API socket,
* ``data`` / ``run`` / ``tmp`` — the storage graph root, run root and libpod tmp dir,
* ``containers.conf``, ``storage.conf``, ``registries.conf`` — private configuration, passed with
  ``CONTAINERS_CONF`` / ``CONTAINERS_STORAGE_CONF`` / ``CONTAINERS_REGISTRIES_CONF`` so that nothing
  of the system's ``/etc/containers`` (aliases, additional image stores, ...) applies,
* ``networks`` — the (unused) network config dir.

Containers get no network (``netns = "none"``), the cgroupfs manager, and low ``nofile``/``nproc``
ulimits: Podman (as root) raises both to 1,048,576 by default, which a restricted host (a container
or VM with a lower hard limit) refuses with ``error setting rlimit type 7: operation not permitted``.
Rootful Podman still creates an empty ``/run/containers/networks`` (netavark's fixed run dir).
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from tui.sandbox.daemon import (
    SandboxError,
    _EngineService,
    _make_root,
    _spawn,
)

INSTALL_HINT = "apt-get install -y podman"

_CONTAINERS_CONF = """\
[containers]
netns = "none"
default_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]
log_driver = "k8s-file"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{root}/tmp/events.log"
tmp_dir = "{root}/tmp"
static_dir = "{root}/data/libpod"
volume_path = "{root}/data/volumes"
image_copy_tmp_dir = "{root}/tmp"

[network]
network_config_dir = "{root}/networks"
"""

_STORAGE_CONF = """\
[storage]
driver = "overlay"
runroot = "{root}/run"
graphroot = "{root}/data"
"""

_REGISTRIES_CONF = """\
unqualified-search-registries = []
short-name-mode = "permissive"
"""


def _limit(kind: int, wanted: int) -> int:
    """``wanted``, or the hard limit if that is lower (a container cannot be given more)."""
    hard = resource.getrlimit(kind)[1]
    return wanted if hard == resource.RLIM_INFINITY or hard >= wanted else int(hard)


class PrivatePodman(_EngineService):
    """``podman system service`` with private storage and configuration, on a unix socket.

    Attributes: ``root``, ``socket_path``, ``url`` (``unix://…``), ``log_path``, ``pid``.
    """

    _what = "podman"

    def __init__(self, root: Path, proc: subprocess.Popen[bytes], log_path: Path) -> None:
        super().__init__(root, proc, log_path)
        self.socket_path = root / "podman.sock"
        self.url = f"unix://{self.socket_path}"

    @classmethod
    def start(
        cls,
        root: Path | None = None,
        *,
        timeout: float = 60,
        survive_crash: bool = False,
        stop_at_exit: bool = True,
        extra_args: Sequence[str] = (),
    ) -> PrivatePodman:
        """Start the service in ``root`` (a new temp dir if None) and wait for ``/_ping``.

        Same options as :meth:`PrivateDaemon.start`; raises :class:`SandboxError` (with the log's
        tail) if Podman is missing or does not start.
        """
        podman = shutil.which("podman")
        if podman is None:
            raise SandboxError(f"podman is not on PATH; install it (as root): {INSTALL_HINT}")
        if os.geteuid() != 0:
            raise SandboxError("the Podman sandbox runs rootful; run as root (or skip these tests)")
        root = _make_root(root, "dpm-")
        for sub in ("data", "run", "tmp", "networks"):
            (root / sub).mkdir(exist_ok=True)
        nofile = _limit(resource.RLIMIT_NOFILE, 1024)
        nproc = _limit(resource.RLIMIT_NPROC, 4096)
        conf = {
            "CONTAINERS_CONF": (
                "containers.conf",
                _CONTAINERS_CONF.format(root=root, nofile=nofile, nproc=nproc),
            ),
            "CONTAINERS_STORAGE_CONF": ("storage.conf", _STORAGE_CONF.format(root=root)),
            "CONTAINERS_REGISTRIES_CONF": ("registries.conf", _REGISTRIES_CONF),
        }
        env = {"TMPDIR": str(root / "tmp")}
        for var, (name, text) in conf.items():
            (root / name).write_text(text)
            env[var] = str(root / name)
        cmd = [
            podman,
            "--root",
            f"{root}/data",
            "--runroot",
            f"{root}/run",
            "--storage-driver",
            "overlay",
            "--cgroup-manager",
            "cgroupfs",
            "--events-backend",
            "file",
            "--tmpdir",
            f"{root}/tmp",
            "--network-config-dir",
            f"{root}/networks",
            "--volumepath",
            f"{root}/data/volumes",
            *extra_args,
            "system",
            "service",
            "--time=0",
            f"unix://{root}/podman.sock",
        ]
        log = root / "podman.log"
        service = cls(root, _spawn(cmd, log, env), log)
        service._arm(survive_crash=survive_crash, stop_at_exit=stop_at_exit)
        reason = service._wait_ready(service.ping, timeout)
        if reason:
            raise service._failed(reason)
        return service
