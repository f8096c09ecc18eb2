"""``docker-sweep install-plugin``: the wrapper script that makes docker-sweep ``docker sweep``."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from tui.engine import contexts
from tui.plugin import PLUGIN_NAME, PluginError

WRAPPER_MARKER = "# docker-sweep: docker CLI plugin wrapper"


def plugins_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where the docker CLI looks first: ``$DOCKER_CONFIG/cli-plugins`` or ``~/.docker/cli-plugins``."""
    return contexts.docker_config_dir(os.environ if environ is None else environ) / "cli-plugins"


_IMPORT_CHECK = "import tui.plugin.install, sys; sys.stdout.write(tui.plugin.install.__file__)"


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
    ok = done.returncode == 0 and done.stdout.endswith(os.path.join("plugin", "install.py"))
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
        pythonpath = str(Path(__file__).resolve().parents[2])  # the directory holding tui/
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
