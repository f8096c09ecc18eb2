"""Private, throw-away ``dockerd`` and ``docker-registry`` processes (stdlib only).

Each service lives in a directory of its own (``root``: config, data, log, sockets). ``stop()``
ends the process and whatever it left (containerd, shims, container processes), unmounts all
under ``root`` and deletes it. If the caller forgets ``stop()``, an :mod:`atexit` hook (registered
by the first ``start()``) calls it; if the starting process dies without ``atexit`` (``kill -9``),
a watchdog process does the same. ``stop_at_exit=False`` / ``survive_crash=True`` turn these off
(:func:`cleanup_root` stops such a service later). This file runs as that watchdog too.
"""

from __future__ import annotations

import atexit
import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Self

INSTALL_HINT = "apt-get install -y docker.io"
SYSTEM_DOCKERD = "/usr/sbin/dockerd"  # Debian 12's docker.io: 20.10, classic store
DEFAULT_ENGINE = "20.10"
ENGINES_ENV = "DOCKER_SWEEP_ENGINES"  # overrides the engines cache dir (<repo>/.engines)
REGISTRY_BINARY = "/usr/bin/docker-registry"
_SUN_PATH_MAX = 107  # sizeof(sockaddr_un.sun_path) - 1 on Linux
_DEEPEST_SOCKET = "exec/containerd/containerd.sock.ttrpc"
_STOP_GRACE = 20.0  # bounds dockerd's own clean shutdown before SIGKILL
_OWNED_PROGRAMS = ("dockerd", "containerd", "docker-registry", "docker-proxy", "runc", "podman", "conmon")
_SOCKETS = ("docker.sock", "podman.sock")  # a sandbox's API socket, directly under its root
_CONTAINER_DIRS = ("data/containers", "data/overlay-containers")  # dockerd's, Podman's
_DOCKERD_FLAGS = ("--bridge=none", "--iptables=false", "--ip6tables=false")

_live: list[_Service] = []
_lock = threading.Lock()
_atexit_registered = False


class SandboxError(Exception):
    """A private daemon or registry could not be started or stopped."""


def stop_all_started() -> None:
    """Stop every service started in this process with ``stop_at_exit=True`` (newest first).

    Registered with :mod:`atexit` by the first ``start()``; safe to call at any time.
    """
    with _lock:
        services = list(reversed(_live))
    for service in services:
        try:
            service.stop()
        except Exception as exc:  # keep stopping the others
            print(f"tui.sandbox: {exc}", file=sys.stderr)


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, socket_path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._socket_path = socket_path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._socket_path)
        self.sock = sock


def unix_get(
    socket_path: str | Path, path: str, *, timeout: float = 5.0, method: str = "GET"
) -> tuple[int, bytes]:
    """``GET path`` (or ``method``) over HTTP on a unix socket; returns ``(status, body)``."""
    conn = _UnixConnection(str(socket_path), timeout)
    try:
        conn.request(method, path, headers={"Host": "docker"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


# --- processes, mounts, directories (shared by stop(), the watchdog and cleanup_root) ---------


def _stat(pid: int | str) -> tuple[str, int]:
    """(state, ppid) of a process; ("", 0) if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode(errors="replace")
    except OSError:
        return "", 0
    fields = stat[stat.rfind(")") + 2 :].split()
    return fields[0], int(fields[1])


def _alive(pid: int) -> bool:
    return _stat(pid)[0] not in ("", "Z", "X")


def _argv(pid: int | str) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().decode(errors="replace").split("\0")
    except OSError:
        return []


def _uses_root(argv: Sequence[str], root: str) -> bool:
    """Whether argv is one of our programs (dockerd, containerd, shims, registry) using root."""
    program = os.path.basename(argv[0]) if argv else ""
    return program.startswith(_OWNED_PROGRAMS) and any(root + "/" in a for a in argv[1:])


def _kill(pids: Sequence[int], sig: int, wait: float) -> bool:
    """Send ``sig`` to ``pids``; True once all are gone, False after ``wait`` seconds."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
    deadline = time.monotonic() + wait
    while any(_alive(p) for p in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _leftover_pids(root: str, container_ids: Sequence[str]) -> list[int]:
    """Our programs using ``root``, all their descendants, and processes in the cgroups of the
    sandbox's containers (in case their shim is already gone)."""
    me, found, children = os.getpid(), set[int](), dict[int, list[int]]()
    pids = [int(n) for n in os.listdir("/proc") if n.isdigit()]
    for pid in pids:
        state, ppid = _stat(pid)
        children.setdefault(ppid, []).append(pid)
        if state not in ("", "Z", "X") and _uses_root(_argv(pid), root):
            found.add(pid)
        if container_ids:
            with contextlib.suppress(OSError), open(f"/proc/{pid}/cgroup") as f:
                if any(cid in f.read() for cid in container_ids):
                    found.add(pid)
    stack = list(found)
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return sorted(p for p in found if p != me and _alive(p))


def _mounts_under(root: str) -> list[str]:
    """Mount points at or below ``root``, deepest (and most recently stacked) first."""
    points: list[str] = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), line.split(" ")[4])
            if point == root or point.startswith(root + "/"):
                points.append(point)
    return sorted(reversed(points), key=lambda p: p.count("/"), reverse=True)


def _teardown(root: str, pid: int | None, remove: bool) -> None:
    """Stop ``pid`` (if it still uses ``root``) and everything else the sandbox left running,
    unmount everything below ``root``, and if ``remove`` delete it."""
    ours = pid is not None and _alive(pid) and _uses_root(_argv(pid), root)
    for name in _SOCKETS:
        if ours and Path(root, name).exists():
            _kill_containers(Path(root, name))  # else dockerd waits 10 s per running container
    if ours and pid is not None and not _kill([pid], signal.SIGTERM, _STOP_GRACE):
        _kill([pid], signal.SIGKILL, 5)
    container_ids: list[str] = []
    for directory in _CONTAINER_DIRS:
        with contextlib.suppress(OSError):
            container_ids += [n for n in os.listdir(f"{root}/{directory}") if len(n) == 64]
    for _ in range(5):
        pids = _leftover_pids(root, container_ids)
        if not pids or _kill(pids, signal.SIGKILL, 5):
            break
    for _ in range(5):
        points = _mounts_under(root)
        for point in points:
            subprocess.run(["umount", "-l", point], capture_output=True, check=False)
        if not points:
            break
    if remove and os.path.lexists(root):
        shutil.rmtree(root, ignore_errors=True)
        if os.path.lexists(root):
            raise SandboxError(f"could not remove {root} (still mounted or busy?)")


def cleanup_root(root: str | Path, *, remove: bool = True) -> None:
    """Stop whatever a (possibly detached) sandbox in ``root`` still runs and delete ``root``.

    The service's pid is read from ``root/service.pid``: use this for services started with
    ``survive_crash=True`` by a process that is gone.
    """
    real = os.path.realpath(root)
    pid: int | None = None
    with contextlib.suppress(OSError, ValueError):
        pid = int(Path(real, "service.pid").read_text().strip())
    _teardown(real, pid, remove)


def _kill_containers(socket_path: Path) -> None:
    """Kill every running container of a sandbox daemon. dockerd's shutdown waits for each running
    container's own stop timeout (10 s by default, whatever --shutdown-timeout says)."""
    with contextlib.suppress(OSError, http.client.HTTPException, ValueError):
        containers = json.loads(unix_get(socket_path, "/containers/json", timeout=5)[1])
        for container in containers:
            unix_get(socket_path, f"/containers/{container['Id']}/kill", method="POST")


def _watchdog_main(root: str, pid: str) -> int:
    """Wait for EOF on stdin (the parent is gone), then tear the sandbox down."""
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)
    while sys.stdin.buffer.read(65536):
        pass
    try:
        _teardown(root, int(pid), remove=True)
    except Exception:  # nobody is left to tell: leave a note next to root
        import traceback

        Path(f"{root}.watchdog-error.log").write_text(traceback.format_exc())
        return 1
    return 0


# --- engines ---------------------------------------------------------------------------------


class EngineSpec:
    """One engine of the test matrix: a dockerd version and an image store.

    ``version`` "20.10" is the system's ``/usr/sbin/dockerd``; any other is read from the engines
    cache (``<engines dir>/<version>/usr/{bin,sbin}``, see :func:`engines_dir`), extracted there by
    ``scripts/setup.sh``. ``store`` is "classic" (graph driver) or "containerd" (image store).
    """

    def __init__(self, version: str, store: str) -> None:
        self.version, self.store = version, store
        self.name = version if store == "classic" else f"{version}-{store}"

    @property
    def bundled(self) -> bool:
        """Whether the engine comes from the engines cache (not the system's dockerd)."""
        return self.version != DEFAULT_ENGINE

    def daemon_config(self) -> dict[str, object]:
        """The daemon.json that selects the store (engines older than 24 know no such feature)."""
        if not self.bundled:
            return {}
        return {"features": {"containerd-snapshotter": self.store == "containerd"}}

    def __repr__(self) -> str:
        return f"EngineSpec({self.name!r})"


ENGINES = {spec.name: spec for spec in (
    EngineSpec("20.10", "classic"),
    EngineSpec("28.5", "classic"),
    EngineSpec("28.5", "containerd"),
    EngineSpec("26.1", "containerd"),
)}  # fmt: skip


def engine_spec(name: str) -> EngineSpec:
    """The matrix engine called ``name`` ("20.10", "28.5", "28.5-containerd", "26.1-containerd")."""
    try:
        return ENGINES[name]
    except KeyError:
        known = ", ".join(ENGINES)
        raise SandboxError(f"unknown engine {name!r}; known engines: {known}") from None


def engines_dir() -> Path:
    """Where the extracted engines live: ``$DOCKER_SWEEP_ENGINES`` or ``<repo>/.engines``."""
    override = os.environ.get(ENGINES_ENV, "").strip()
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / ".engines"


def setup_command() -> str:
    """The command that downloads and extracts the engines of the matrix."""
    script = Path(__file__).resolve().parents[2] / "scripts" / "setup.sh"
    prefix = f"{ENGINES_ENV}={os.environ[ENGINES_ENV]} " if os.environ.get(ENGINES_ENV) else ""
    return f"{prefix}bash {script}"


def engine_program(spec: EngineSpec) -> tuple[str, dict[str, str]]:
    """(dockerd path, environment) that start ``spec``: a cache engine's own ``usr/bin`` and
    ``usr/sbin`` come first on PATH, so it runs its own containerd, shims and docker-init."""
    env = dict(os.environ)
    if not spec.bundled:
        if not os.access(SYSTEM_DOCKERD, os.X_OK):
            raise SandboxError(f"{SYSTEM_DOCKERD} is missing; install it (as root): {INSTALL_HINT}")
        return SYSTEM_DOCKERD, env
    home = engines_dir() / spec.version
    dockerd = home / "usr" / "sbin" / "dockerd"
    if not os.access(dockerd, os.X_OK) or not os.access(home / "usr/bin/containerd", os.X_OK):
        raise SandboxError(
            f"engine {spec.name} is not set up ({dockerd} is missing); download it into "
            f"{engines_dir()} (as root, nothing is installed system-wide): {setup_command()}"
        )
    env["PATH"] = os.pathsep.join([str(home / "usr/bin"), str(home / "usr/sbin"), env.get("PATH", "")])
    return str(dockerd), env


def _store_of(info: object) -> str:
    """ "containerd" if ``/info`` reports the containerd snapshotter as the driver, else "classic"."""
    status = info.get("DriverStatus") if isinstance(info, dict) else None
    for pair in status or ():
        if isinstance(pair, list) and pair[:1] == ["driver-type"] and "snapshotter" in str(pair[1:]):
            return "containerd"
    return "classic"


# --- services --------------------------------------------------------------------------------


def _make_root(root: Path | None, prefix: str) -> Path:
    if root is None:
        base = tempfile.gettempdir()
        base = base if len(base) <= 40 else "/tmp"  # keep unix socket paths short
        return Path(tempfile.mkdtemp(prefix=prefix, dir=base)).resolve()
    Path(root).mkdir(parents=True, exist_ok=True)
    return Path(root).resolve()


def _spawn(
    cmd: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start ``cmd`` in a session of its own (a terminal's Ctrl-C does not reach it)."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            env=None if env is None else {**os.environ, **env},
        )


class _Service:
    """One process running from its own directory; see the module docstring."""

    _what = "service"

    def __init__(self, root: Path, proc: subprocess.Popen[bytes], log_path: Path) -> None:
        self.root, self.log_path, self.pid, self._proc = root, log_path, proc.pid, proc
        self._watchdog: subprocess.Popen[bytes] | None = None
        self._stopped = False
        self._stop_lock = threading.Lock()
        (root / "service.pid").write_text(f"{proc.pid}\n")

    def _arm(self, *, survive_crash: bool, stop_at_exit: bool) -> None:
        global _atexit_registered
        if not survive_crash:
            argv = [sys.executable, "-I", os.path.abspath(__file__), "--watchdog"]
            self._watchdog = subprocess.Popen(
                [*argv, str(self.root), str(self.pid)],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        if stop_at_exit:
            with _lock:
                _live.append(self)
                if not _atexit_registered:
                    atexit.register(stop_all_started)
                    _atexit_registered = True

    def _wait_ready(self, ready: Callable[[], bool], timeout: float) -> str:
        """Poll ``ready`` until true; return "" or why we gave up."""
        deadline = time.monotonic() + timeout
        while self._proc.poll() is None:
            with contextlib.suppress(OSError, http.client.HTTPException):
                if ready():
                    return ""
            if time.monotonic() > deadline:
                return f"did not answer within {timeout:g} s"
            time.sleep(0.05)
        return f"exited with status {self._proc.returncode}"

    def _failed(self, reason: str) -> SandboxError:
        tail = self.log_tail()
        with contextlib.suppress(SandboxError):
            self.stop()
        return SandboxError(f"{self._what} in {self.root} {reason}; log tail:\n{tail}")

    def log_tail(self, lines: int = 25) -> str:
        """The last ``lines`` lines of the service's log ("" if there is none)."""
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    @property
    def running(self) -> bool:
        """Whether the service process is still running."""
        return not self._stopped and self._proc.poll() is None

    def stop(self, *, remove: bool = True) -> None:
        """Terminate the service and everything it started, unmount, delete ``root``.

        Idempotent. ``remove=False`` keeps the directory (e.g. to read the log).
        """
        with self._stop_lock:
            if self._stopped:
                return
            self._stopped = True
            if self._watchdog is not None:
                self._watchdog.kill()
                self._watchdog.wait()
                if self._watchdog.stdin is not None:
                    self._watchdog.stdin.close()
            with _lock:
                if self in _live:
                    _live.remove(self)
            if self._proc.poll() is None:
                self._before_stop()
                self._proc.terminate()
                try:
                    self._proc.wait(_STOP_GRACE)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait()
            _teardown(str(self.root), None, remove)

    def _before_stop(self) -> None:
        """Hook run while the service still runs, just before it gets SIGTERM."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<{type(self).__name__} pid={self.pid} root={self.root} {state}>"


class _EngineService(_Service):
    """A service with a Docker-compatible API on ``socket_path`` (dockerd, Podman's service)."""

    socket_path: Path

    def _before_stop(self) -> None:
        _kill_containers(self.socket_path)

    def ping(self) -> bool:
        """Whether ``GET /_ping`` answers 200 OK."""
        status, body = unix_get(self.socket_path, "/_ping", timeout=2)
        return status == 200 and body.strip() == b"OK"

    def get_json(self, path: str, *, timeout: float = 30) -> object:
        """``GET path`` on the engine's API and decode the JSON answer."""
        status, body = unix_get(self.socket_path, path, timeout=timeout)
        if status != 200:
            raise SandboxError(f"GET {path} answered {status}: {body[:200]!r}")
        return json.loads(body)


class PrivateDaemon(_EngineService):
    """A private ``dockerd`` (with its own containerd), no networking, listening on a unix socket.

    Attributes: ``root``, ``socket_path``, ``url`` (``unix://…``), ``log_path``, ``pid``, and what
    was started: ``engine`` (the :class:`EngineSpec`), ``engine_name`` ("28.5-containerd"),
    ``store`` ("classic" or "containerd", as the running daemon reports it) and ``version``
    (the daemon's own ``/version``, e.g. "28.5.2").
    """

    _what = "dockerd"

    def __init__(
        self, root: Path, proc: subprocess.Popen[bytes], log_path: Path, spec: EngineSpec | None = None
    ) -> None:
        super().__init__(root, proc, log_path)
        self.socket_path = root / "docker.sock"
        self.url = f"unix://{self.socket_path}"
        self.engine = spec or ENGINES[DEFAULT_ENGINE]
        self.engine_name = self.engine.name
        self.store = self.engine.store
        self.version = ""

    @classmethod
    def start(
        cls,
        root: Path | None = None,
        *,
        engine: str = DEFAULT_ENGINE,
        timeout: float = 60,
        survive_crash: bool = False,
        stop_at_exit: bool = True,
        extra_args: Sequence[str] = (),
    ) -> PrivateDaemon:
        """Start ``dockerd`` in ``root`` (a new temp dir if None) and wait until ``/_ping`` is OK.

        ``engine``: one of :data:`ENGINES` ("20.10": the system's dockerd, classic store;
        "28.5", "28.5-containerd", "26.1-containerd": from the engines cache, see
        :func:`engines_dir`). A missing engine raises :class:`SandboxError` naming the set-up
        command. ``survive_crash=True``: no watchdog, the daemon outlives a crash of this process.
        ``stop_at_exit=False``: not stopped by :func:`stop_all_started` / at interpreter exit.
        Raises :class:`SandboxError` (with the daemon log's tail) if it cannot start, or if it
        runs another image store than ``engine`` names.
        """
        spec = engine_spec(engine)
        dockerd, env = engine_program(spec)
        if os.geteuid() != 0:
            raise SandboxError("dockerd needs root; run as root (or skip the engine tests)")
        if root is not None and len(f"{Path(root).resolve()}/{_DEEPEST_SOCKET}") > _SUN_PATH_MAX:
            raise SandboxError(f"root {root} is too long for unix socket paths; use a shorter one")
        root = _make_root(root, "dsb-")
        (root / "daemon.json").write_text(json.dumps(spec.daemon_config()) + "\n")
        cmd = [dockerd, "--config-file", f"{root}/daemon.json", "--data-root", f"{root}/data"]
        cmd += ["--exec-root", f"{root}/exec", "-H", f"unix://{root}/docker.sock"]
        cmd += ["--pidfile", f"{root}/docker.pid", "--shutdown-timeout", "2", *_DOCKERD_FLAGS]
        log = root / "dockerd.log"
        daemon = cls(root, _spawn([*cmd, *extra_args], log, env), log, spec)
        daemon._arm(survive_crash=survive_crash, stop_at_exit=stop_at_exit)
        reason = daemon._wait_ready(daemon.ping, timeout)
        if reason:
            raise daemon._failed(reason)
        try:
            version = daemon.get_json("/version")
            daemon.store = _store_of(daemon.get_json("/info"))
        except (OSError, http.client.HTTPException, ValueError, SandboxError) as exc:
            raise daemon._failed(f"did not describe itself ({exc})") from None
        daemon.version = str(version.get("Version", "")) if isinstance(version, dict) else ""
        if daemon.store != spec.store or not daemon.version.startswith(spec.version + "."):
            got = f"dockerd {daemon.version or '?'} with the {daemon.store} store"
            raise daemon._failed(f"runs {got}, not engine {spec.name}")
        return daemon


_REGISTRY_CONFIG = """\
version: 0.1
log: {{level: warn, accesslog: {{disabled: true}}}}
storage: {{filesystem: {{rootdirectory: "{data}"}}, delete: {{enabled: true}}}}
http: {{addr: "127.0.0.1:{port}"}}
"""


class PrivateRegistry(_Service):
    """A private plain-HTTP registry on 127.0.0.1 (``host`` = ``"127.0.0.1:PORT"``, ``url``).

    Engines treat 127.0.0.0/8 as an insecure registry by default, so pushing needs no setup.
    """

    _what = "docker-registry"

    def __init__(self, root: Path, proc: subprocess.Popen[bytes], log: Path, port: int) -> None:
        super().__init__(root, proc, log)
        self.port = port
        self.host = f"127.0.0.1:{port}"
        self.url = f"http://{self.host}"

    @classmethod
    def start(
        cls,
        root: Path | None = None,
        *,
        timeout: float = 30,
        survive_crash: bool = False,
        stop_at_exit: bool = True,
    ) -> PrivateRegistry:
        """Start ``docker-registry`` with filesystem storage in ``root``; wait for ``/v2/``."""
        if not os.access(REGISTRY_BINARY, os.X_OK):
            hint = "apt-get install -y docker-registry"
            raise SandboxError(f"{REGISTRY_BINARY} is missing; install it (as root): {hint}")
        root = _make_root(root, "dreg-")
        log, config = root / "registry.log", root / "config.yml"
        for attempt in range(3):  # the free port can be taken between probe and bind
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                port = int(probe.getsockname()[1])
            config.write_text(_REGISTRY_CONFIG.format(data=root / "data", port=port))
            registry = cls(root, _spawn([REGISTRY_BINARY, "serve", str(config)], log), log, port)
            registry._arm(survive_crash=survive_crash, stop_at_exit=stop_at_exit)
            reason = registry._wait_ready(registry.ping, timeout)
            if not reason:
                return registry
            if registry.running or attempt == 2:
                raise registry._failed(reason)
            registry.stop(remove=False)
        raise AssertionError("unreachable")

    def ping(self) -> bool:
        """Whether ``GET /v2/`` answers 200."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            conn.request("GET", "/v2/")
            return conn.getresponse().status == 200
        finally:
            conn.close()


if __name__ == "__main__" and sys.argv[1:2] == ["--watchdog"]:
    sys.exit(_watchdog_main(sys.argv[2], sys.argv[3]))
