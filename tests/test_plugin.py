"""docker-sweep as a docker CLI plugin: argv translation, endpoint resolution, install, and the real CLI.

The end-to-end tests run the real docker CLIs (28.5 from the engines cache that scripts/setup.sh fills,
20.10 at /usr/bin/docker from Debian 12's docker.io) against a plugin in a private DOCKER_CONFIG. Its
wrapper runs TEST_ENTRY, which applies :func:`tui.plugin.invocation.plugin_main` and then calls
:func:`tui.cli.main` the way the wiring in ``main()`` does; the installed wrapper is tested too.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import uuid
from importlib.metadata import version
from pathlib import Path

import pytest

import tui.cli
from tests.conftest import unavailable
from tests.enginecase import data_layer, spec
from tui import exit_codes
from tui.cli import command_names
from tui.engine.contexts import DEFAULT_HOST
from tui.plugin import PLUGIN_NAME, PluginError
from tui.plugin.cli_socket import watch_cli_socket
from tui.plugin.docker_flags import parse_docker_globals
from tui.plugin.endpoint import context_endpoint
from tui.plugin.install import WRAPPER_MARKER, install_plugin, wrapper_script
from tui.plugin.invocation import REEXEC_ENV, plugin_main
from tui.plugin.metadata import metadata
from tui.sandbox import fixtures
from tui.sandbox import imagegen as gen
from tui.sandbox.daemon import engines_dir, setup_command

NEW_CLI = str(engines_dir() / "28.5" / "usr" / "bin" / "docker")  # 28.5 (docker-cli from Debian forky)
OLD_CLI = "/usr/bin/docker"  # 20.10 (Debian 12's docker.io)
CLIS = [pytest.param(NEW_CLI, id="cli28.5"), pytest.param(OLD_CLI, id="cli20.10")]
DESCRIPTION = "Browse and prune images exactly and safely"
FOO_HOST = "unix:///run/foo/docker.sock"
TLS_HOST = "tcp://10.0.0.9:2376"


# --- a private context store ------------------------------------------------------------------


def add_context(
    config_dir: Path, name: str, host: str, *, skip_tls_verify: bool = False, tls_files: bool = False
) -> None:
    """A context as `docker context create` stores it (checked against the real CLI below)."""
    digest = hashlib.sha256(name.encode()).hexdigest()
    meta = config_dir / "contexts" / "meta" / digest
    meta.mkdir(parents=True, exist_ok=True)
    (meta / "meta.json").write_text(
        json.dumps(
            {
                "Name": name,
                "Metadata": {},
                "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": skip_tls_verify}},
            }
        )
    )
    if tls_files:
        tls = config_dir / "contexts" / "tls" / digest / "docker"
        tls.mkdir(parents=True, exist_ok=True)
        for pem in ("ca.pem", "cert.pem", "key.pem"):
            (tls / pem).write_text("-----BEGIN-----\n")


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A docker config dir with contexts foo (unix), tls (TCP + TLS files), insecure (skip-verify)."""
    cfg = tmp_path / "dockercfg"
    add_context(cfg, "foo", FOO_HOST)
    add_context(cfg, "tls", TLS_HOST, tls_files=True)
    add_context(cfg, "insecure", TLS_HOST, skip_tls_verify=True)
    add_context(cfg, "sock", "unix:///run/s.sock", skip_tls_verify=True, tls_files=True)
    return cfg


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty HOME (no ~/.docker), so nothing of the real user's config leaks in."""
    path = tmp_path / "home"
    path.mkdir()
    return path


def translate(argv: list[str], env: dict[str, str] | None = None) -> tuple[list[str], str | None] | int:
    return plugin_main(argv, env or {}, commands=command_names, watch_socket=False)


# --- metadata ---------------------------------------------------------------------------------


def test_metadata_fields() -> None:
    meta = metadata()
    assert meta["SchemaVersion"] == "0.1.0" and meta["Vendor"] == "docker-sweep"
    assert meta["Version"] == version("docker-sweep")
    assert meta["ShortDescription"] == DESCRIPTION
    assert PLUGIN_NAME == "sweep"


def test_metadata_subcommand_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert plugin_main(["docker-cli-plugin-metadata"], {}, commands=command_names) == 0
    assert json.loads(capsys.readouterr().out) == metadata()


# --- argv translation -------------------------------------------------------------------------

HOST_FORMS = [
    (["sweep"], [], None),
    (["sweep", "images", "--json"], ["images", "--json"], None),
    (["-H", "unix:///x.sock", "sweep", "images", "--json"], ["images", "--json"], "unix:///x.sock"),
    (["--host", "unix:///x.sock", "sweep", "df"], ["df"], "unix:///x.sock"),
    (["--host=unix:///x.sock", "sweep", "df"], ["df"], "unix:///x.sock"),
    (["-Hunix:///x.sock", "sweep"], [], "unix:///x.sock"),
    (["-H=unix:///x.sock", "sweep"], [], "unix:///x.sock"),
    (["-D", "-H", "tcp://10.0.0.1:2375", "sweep", "df"], ["df"], "tcp://10.0.0.1:2375"),
    (["-DH", "unix:///x.sock", "sweep"], [], "unix:///x.sock"),
    (["-H", "", "sweep"], [], DEFAULT_HOST),
    (["-l", "debug", "sweep", "df"], ["df"], None),
    (["--log-level=debug", "-D", "sweep", "df"], ["df"], None),
    (["--log-level", "warn", "--debug", "sweep", "df"], ["df"], None),
    (["-Dl", "debug", "sweep"], [], None),
    (["-ldebug", "sweep"], [], None),
    (["--debug=false", "sweep"], [], None),
    (["-D=true", "sweep"], [], None),
    (["--", "sweep", "df"], ["df"], None),
    (["-D", "--", "sweep", "df"], ["df"], None),
    # after `sweep` everything is docker-sweep's, its own --config and --host included
    (["sweep", "--config", "my.toml", "images"], ["--config", "my.toml", "images"], None),
    (["-H", "unix:///a", "sweep", "--host", "unix:///b", "df"], ["--host", "unix:///b", "df"], "unix:///a"),
    (["sweep", "rm", "-H", "sweep"], ["rm", "-H", "sweep"], None),
    # TLS options are passed on as docker-sweep's own (which, like docker, ignores them for sockets)
    (["--tls", "-H", "unix:///x.sock", "sweep"], ["--tls"], "unix:///x.sock"),
    (
        ["--tlsverify", "--tlscacert", "/c.pem", "-H", "ssh://me@box", "sweep"],
        ["--tlsverify", "--tlscacert=/c.pem"],
        "ssh://me@box",
    ),
    (["-H", "tcp://10.0.0.1:2375", "--tls=false", "sweep"], ["--no-tls"], "tcp://10.0.0.1:2375"),
    (["--tlsverify=false", "-H", "tcp://h:1", "sweep", "df"], ["--no-tlsverify", "df"], "tcp://h:1"),
]


@pytest.mark.parametrize(
    ("argv", "args", "host"), HOST_FORMS, ids=lambda v: shlex.join(v) if isinstance(v, list) else None
)
def test_translation(argv: list[str], args: list[str], host: str | None) -> None:
    assert translate(argv) == (args, host)


@pytest.mark.parametrize(
    "argv",
    [
        ["-c", "foo", "sweep", "df"],
        ["--context", "foo", "sweep", "df"],
        ["--context=foo", "sweep", "df"],
        ["-cfoo", "sweep", "df"],
        ["-D", "-c", "foo", "-l", "info", "sweep", "df"],
    ],
)
def test_context_forms(argv: list[str], store: Path, home: Path) -> None:
    assert translate(argv, {"DOCKER_CONFIG": str(store), "HOME": str(home)}) == (["df"], FOO_HOST)


def test_config_dir_option_is_consumed_and_used(store: Path, home: Path) -> None:
    """docker's --config DIR is docker's config dir (never docker-sweep's --config TOML)."""
    env = {"HOME": str(home)}
    assert translate(["--config", str(store), "-c", "foo", "sweep", "df"], env) == (["df"], FOO_HOST)
    assert translate([f"--config={store}", "--context=foo", "sweep"], env) == ([], FOO_HOST)
    # no context given: the currentContext of DIR/config.json
    (store / "config.json").write_text(json.dumps({"currentContext": "foo"}))
    assert translate(["--config", str(store), "sweep", "images"], env) == (["images"], FOO_HOST)
    # an explicit config dir without a current context means the default socket, not docker-sweep's guess
    assert translate(["--config", str(home), "sweep"], env) == ([], DEFAULT_HOST)
    # ... unless DOCKER_HOST picks the endpoint, which docker-sweep reads itself
    assert translate(["--config", str(store), "sweep"], {**env, "DOCKER_HOST": "unix:///h"}) == ([], None)


def test_context_from_the_environment(store: Path, home: Path) -> None:
    env = {"DOCKER_CONFIG": str(store), "HOME": str(home)}
    assert translate(["sweep", "df"], {**env, "DOCKER_CONTEXT": "foo"}) == (["df"], FOO_HOST)
    # DOCKER_HOST beats DOCKER_CONTEXT, --context beats both, -H beats DOCKER_CONTEXT
    both = {**env, "DOCKER_CONTEXT": "foo", "DOCKER_HOST": "unix:///h"}
    assert translate(["sweep", "df"], both) == (["df"], None)
    assert translate(["-c", "foo", "sweep", "df"], {**env, "DOCKER_HOST": "unix:///h"}) == (["df"], FOO_HOST)
    assert translate(["-H", "unix:///x", "sweep"], {**env, "DOCKER_CONTEXT": "foo"}) == ([], "unix:///x")
    # the current context of the usual config dir is left to docker-sweep (it reads its TLS files too)
    (store / "config.json").write_text(json.dumps({"currentContext": "tls"}))
    assert translate(["sweep", "df"], env) == (["df"], None)


def test_default_context(store: Path, home: Path) -> None:
    env = {"DOCKER_CONFIG": str(store), "HOME": str(home)}
    (store / "config.json").write_text(json.dumps({"currentContext": "foo"}))
    assert translate(["-c", "default", "sweep"], env) == ([], DEFAULT_HOST)
    assert translate(["-c", "default", "sweep"], {**env, "DOCKER_HOST": "unix:///h"}) == ([], None)
    assert translate(["sweep"], {**env, "DOCKER_CONTEXT": "default"}) == ([], DEFAULT_HOST)


def test_home_docker_dir_is_the_default_config_dir(home: Path) -> None:
    add_context(home / ".docker", "foo", FOO_HOST)
    assert translate(["-c", "foo", "sweep"], {"HOME": str(home)}) == ([], FOO_HOST)


def expect_error(
    capsys: pytest.CaptureFixture[str], argv: list[str], env: dict[str, str], *words: str
) -> str:
    assert translate(argv, env) == exit_codes.EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("docker-sweep: ")
    for word in words:
        assert word in err
    return err


def test_unknown_context(store: Path, home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = {"DOCKER_CONFIG": str(store), "HOME": str(home)}
    expect_error(
        capsys, ["-c", "nosuch", "sweep", "df"], env, "no docker context named 'nosuch'", "docker context ls"
    )
    expect_error(capsys, ["sweep"], {**env, "DOCKER_CONTEXT": "nosuch"}, "no docker context named 'nosuch'")
    bad = store / "contexts" / "meta" / hashlib.sha256(b"broken").hexdigest()
    bad.mkdir(parents=True)
    (bad / "meta.json").write_text("{")
    expect_error(capsys, ["-c", "broken", "sweep"], env, "cannot read")


def test_conflicting_and_repeated_hosts(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = {"DOCKER_CONFIG": str(store)}
    expect_error(capsys, ["-H", "unix:///a", "-c", "foo", "sweep"], env, "both --host and --context")
    expect_error(capsys, ["-H", "unix:///a", "-H", "unix:///b", "sweep"], env, "only one -H")


def test_tls_options_are_passed_on(store: Path, home: Path) -> None:
    env = {"DOCKER_CONFIG": str(store), "HOME": str(home)}
    assert translate(["--tlsverify", "-H", TLS_HOST, "sweep", "df"], env) == (["--tlsverify", "df"], TLS_HOST)
    assert translate(["--tls", "--tlscert", "/c.pem", "--tlskey=/k.pem", "-H", TLS_HOST, "sweep"], env) == (
        ["--tls", "--tlscert=/c.pem", "--tlskey=/k.pem"],
        TLS_HOST,
    )
    # DOCKER_TLS_VERIFY / DOCKER_TLS: docker-sweep reads them itself, for -H as for DOCKER_HOST
    assert translate(["-H", TLS_HOST, "sweep"], {**env, "DOCKER_TLS_VERIFY": "1"}) == ([], TLS_HOST)
    tls_env = {**env, "DOCKER_HOST": TLS_HOST, "DOCKER_TLS_VERIFY": "1"}
    assert translate(["--tlscacert", "/ca.pem", "--tlsverify", "sweep"], tls_env) == (
        ["--tlsverify", "--tlscacert=/ca.pem"],
        None,
    )
    # a named context's TLS material, as docker-sweep options; docker's own TLS options are ignored
    tls_dir = store / "contexts" / "tls" / hashlib.sha256(b"tls").hexdigest() / "docker"
    assert translate(["-c", "tls", "--tls=false", "sweep", "df"], env) == (
        [
            "--tlsverify",
            f"--tlscacert={tls_dir / 'ca.pem'}",
            f"--tlscert={tls_dir / 'cert.pem'}",
            f"--tlskey={tls_dir / 'key.pem'}",
            "df",
        ],
        TLS_HOST,
    )
    assert translate(["--context", "insecure", "sweep"], env) == (["--no-tlsverify"], TLS_HOST)


def test_tls_that_docker_sweep_reads_itself(store: Path, home: Path) -> None:
    env = {"DOCKER_CONFIG": str(store), "HOME": str(home)}
    # DOCKER_HOST + DOCKER_TLS_VERIFY/DOCKER_CERT_PATH: docker-sweep's own resolution handles them
    tls_env = {**env, "DOCKER_HOST": TLS_HOST, "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": "/certs"}
    assert translate(["sweep", "df"], tls_env) == (["df"], None)
    assert translate(["-D", "sweep", "df"], tls_env) == (["df"], None)
    # TLS material on a socket context is irrelevant, as in docker
    assert translate(["-c", "sock", "sweep"], env) == ([], "unix:///run/s.sock")
    # plain TCP
    add_context(store, "plain", "tcp://10.0.0.1:2375")
    assert translate(["-c", "plain", "sweep"], env) == ([], "tcp://10.0.0.1:2375")


@pytest.mark.parametrize(
    ("argv", "args"),
    [
        (["help", "sweep"], ["--help"]),
        (["help", "sweep", "images"], ["images", "--help"]),
        (["--help", "sweep"], ["--help"]),
        (["-h", "sweep", "plan", "prune"], ["plan", "prune", "--help"]),
        (["sweep", "--help"], ["--help"]),
        (["sweep", "rm", "--", "-x"], ["rm", "--", "-x"]),
        (["-h", "sweep", "rm", "--", "-x"], ["rm", "--help", "--", "-x"]),
    ],
)
def test_help(argv: list[str], args: list[str]) -> None:
    assert translate(argv) == (args, None)


def test_help_needs_no_valid_endpoint(store: Path) -> None:
    assert translate(["-c", "nosuch", "help", "sweep"], {"DOCKER_CONFIG": str(store)}) == (["--help"], None)


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["images", "--json"],
        ["--config", "x.toml", "images"],
        ["--host", "unix:///x", "df"],
        ["--version"],
        ["--bogus", "images"],
        ["-H"],
        ["help"],
        ["help", "images"],
        ["--config", "sweep"],
        ["plan", "rm", "sweep"],
    ],
)
@pytest.mark.parametrize("reexec", [False, True])
def test_standalone_argv_is_unchanged(argv: list[str], reexec: bool) -> None:
    env = {REEXEC_ENV: "/usr/bin/docker"} if reexec else {}
    assert translate(argv, env) == (argv, None)


def test_unparsable_docker_options_in_a_plugin_run(capsys: pytest.CaptureFixture[str]) -> None:
    env = {REEXEC_ENV: "/usr/local/bin/docker"}
    expect_error(capsys, ["--new-docker-flag", "sweep", "df"], env, "--new-docker-flag")
    expect_error(capsys, ["--tls=maybe", "sweep"], env, "not a boolean")
    # without the docker CLI's environment the same argv is not ours to judge
    assert translate(["--new-docker-flag", "sweep", "df"]) == (["--new-docker-flag", "sweep", "df"], None)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-H"], "needs an argument"),
        (["--context"], "needs an argument"),
        (["-x", "sweep"], "'x'"),
        (["--tls=2", "sweep"], "not a boolean"),
        (["-D="], "'='"),
        (["--nope=1"], "--nope"),
    ],
)
def test_parse_errors(argv: list[str], message: str) -> None:
    with pytest.raises(PluginError, match=re.escape(message)):
        parse_docker_globals(argv)


def test_parse_details() -> None:
    opts, rest = parse_docker_globals(["-Dl", "warn", "--tlscacert=/ca", "--config", "/d", "-", "x"])
    assert (opts.debug, opts.log_level, opts.tlscacert, opts.config) == (True, "warn", "/ca", "/d")
    assert rest == ["-", "x"] and opts.tls_options_given and opts.tls is None


def test_translated_argv_parses_and_is_stable(store: Path) -> None:
    """The result parses with docker-sweep's parser; translating it again changes nothing (so calling
    plugin_main twice, in a wrapper and in main(), is harmless)."""
    env = {"DOCKER_CONFIG": str(store), REEXEC_ENV: "docker"}
    for argv in (
        ["-H", "unix:///x", "sweep", "images", "--json"],
        ["-c", "foo", "sweep", "--config", "my.toml", "df"],
    ):
        res = translate(argv, env)
        assert not isinstance(res, int)
        args, host = res
        final = ["--host", host, *args] if host else args
        ns = tui.cli.build_parser().parse_args(final)
        assert ns.host == host and ns.command in {"images", "df"}
        assert translate(final, env) == (final, None)


def test_completion(capsys: pytest.CaptureFixture[str]) -> None:
    assert translate(["__complete", "sweep", ""]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == ":4" and {"images", "df", "plan", "rm", "prune", "tui"} <= set(lines)
    assert translate(["__complete", "sweep", "pr"]) == 0
    assert capsys.readouterr().out.splitlines() == ["prune", ":4"]
    assert translate(["__complete", "sweep", "rm", ""]) == 0
    assert capsys.readouterr().out.splitlines() == [":4"]


# --- the CLI's plugin socket ------------------------------------------------------------------


def test_watch_cli_socket_calls_back_when_the_cli_closes_it() -> None:
    name = f"docker_cli_test_{uuid.uuid4().hex}"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind("\0" + name)
    server.listen(1)
    closed = threading.Event()
    try:
        assert watch_cli_socket("@" + name, closed.set)
        conn, _ = server.accept()
        assert not closed.wait(0.2)
        conn.close()
        assert closed.wait(5)
    finally:
        server.close()
    assert not watch_cli_socket(None)
    assert not watch_cli_socket("@" + name, closed.set)  # nobody listening


# --- install_plugin ---------------------------------------------------------------------------


def test_install_into_docker_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "cfg"))
    path = install_plugin()
    assert path == tmp_path / "cfg" / "cli-plugins" / "docker-sweep"
    assert os.access(path, os.X_OK) and path.stat().st_mode & 0o777 == 0o755
    text = path.read_text()
    assert text.startswith("#!/bin/sh\n") and WRAPPER_MARKER in text
    assert f'exec {shlex.quote(os.path.abspath(sys.executable))} -P -m tui "$@"' in text
    # idempotent: same file, untouched
    before = path.stat()
    assert install_plugin() == path
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert [p.name for p in path.parent.iterdir()] == ["docker-sweep"]  # no temp files left


def test_install_default_is_home_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKER_CONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert install_plugin() == tmp_path / ".docker" / "cli-plugins" / "docker-sweep"


def test_install_replaces_own_wrapper_but_not_foreign_files(tmp_path: Path) -> None:
    path = tmp_path / "docker-sweep"
    path.write_text(f'#!/bin/sh\n{WRAPPER_MARKER}\nexec /old/python -m tui "$@"\n')
    assert install_plugin(tmp_path) == path and "/old/python" not in path.read_text()
    path.write_text("#!/bin/sh\necho someone else's\n")
    with pytest.raises(PluginError, match="not written by docker-sweep"):
        install_plugin(tmp_path)
    assert "someone else" in path.read_text()
    assert install_plugin(tmp_path, force=True) == path and WRAPPER_MARKER in path.read_text()
    path.unlink()
    path.symlink_to("/bin/true")
    with pytest.raises(PluginError, match="not written by docker-sweep"):
        install_plugin(tmp_path)
    install_plugin(tmp_path, force=True)
    assert not path.is_symlink() and WRAPPER_MARKER in path.read_text()


def test_install_errors(tmp_path: Path) -> None:
    afile = tmp_path / "file"
    afile.write_text("")
    with pytest.raises(PluginError, match="not a directory"):
        install_plugin(afile)
    with pytest.raises(PluginError, match="cannot create"):
        install_plugin(afile / "sub")
    (tmp_path / "d" / "docker-sweep").mkdir(parents=True)
    with pytest.raises(PluginError, match="is a directory"):
        install_plugin(tmp_path / "d")
    with pytest.raises(PluginError, match="not an executable file"):
        install_plugin(tmp_path, executable=str(tmp_path / "nope"))
    for bad in ("/bin/false", "/bin/true"):
        with pytest.raises(PluginError, match="cannot import docker-sweep"):
            install_plugin(tmp_path, executable=bad)
    assert not (tmp_path / "docker-sweep").exists()


def test_installed_wrapper_runs_docker_sweep_from_anywhere(tmp_path: Path) -> None:
    """The wrapper starts this docker-sweep, even in a directory with a ``tui`` package of its own."""
    path = install_plugin(tmp_path / "plugins")
    decoy = tmp_path / "work" / "tui"
    decoy.mkdir(parents=True)
    (decoy / "__init__.py").write_text("raise SystemExit('decoy tui imported')\n")
    (decoy / "__main__.py").write_text("raise SystemExit('decoy tui imported')\n")
    done = subprocess.run(
        [str(path), "--version"], cwd=decoy.parent, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"docker-sweep {version('docker-sweep')}"


def test_wrapper_script_with_pythonpath() -> None:
    text = wrapper_script("/opt/py thon/bin/python", "/src/docker sweep")
    assert "PYTHONPATH='/src/docker sweep'\"${PYTHONPATH:+:$PYTHONPATH}\"\nexport PYTHONPATH\n" in text
    assert text.endswith("exec '/opt/py thon/bin/python' -P -m tui \"$@\"\n")


# --- end to end with the real docker CLI --------------------------------------------------------

# What the wrapper runs: the translation, then docker-sweep's main() (or, for tests, a report of it).
TEST_ENTRY = """
import json, os, sys, time
from tui.cli import command_names
from tui.plugin.invocation import plugin_main
res = plugin_main(sys.argv[1:], os.environ, commands=command_names)
if isinstance(res, int):
    sys.exit(res)
args, host = res
mode = os.environ.get("SWEEP_TEST_MODE")
if mode:
    try:
        print(json.dumps({"args": args, "host": host}), flush=True)
        if mode == "wait":
            time.sleep(60)
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(0)
from tui.cli import main
sys.exit(main((["--host", host] if host else []) + args))
"""


@pytest.fixture
def docker_clis() -> None:
    """Both docker CLIs are there (else skip, or fail with ``CI=true``)."""
    for cli in (NEW_CLI, OLD_CLI):
        if not os.access(cli, os.X_OK):
            unavailable("docker CLI", f"{cli} is missing; set it up: {setup_command()}")


needs_cli = pytest.mark.usefixtures("docker_clis")


def write_test_plugin(plugins: Path) -> Path:
    plugins.mkdir(parents=True, exist_ok=True)
    path = plugins / "docker-sweep"
    path.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -P -c {shlex.quote(TEST_ENTRY)} "$@"\n')
    path.chmod(0o755)
    return path


class Docker:
    """Runs a docker CLI with a private HOME and DOCKER_CONFIG holding the test plugin."""

    def __init__(self, tmp_path: Path) -> None:
        self.home = tmp_path / "home"
        self.config = tmp_path / "dockercfg"
        self.home.mkdir()
        write_test_plugin(self.config / "cli-plugins")
        drop = {
            "DOCKER_HOST",
            "DOCKER_CONTEXT",
            "DOCKER_TLS",
            "DOCKER_TLS_VERIFY",
            "DOCKER_CERT_PATH",
            "DOCKER_SWEEP_CONFIG",
            "SWEEP_TEST_MODE",
        }
        self.env = {k: v for k, v in os.environ.items() if k not in drop}
        self.env.update(
            HOME=str(self.home),
            DOCKER_CONFIG=str(self.config),
            XDG_CONFIG_HOME=str(self.home / ".config"),
            NO_COLOR="1",
        )

    def __call__(
        self, *args: str, cli: str = NEW_CLI, env: dict[str, str] | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [cli, *args],
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        if check:
            assert done.returncode == 0, f"{args}: {done.returncode}\n{done.stdout}\n{done.stderr}"
        return done

    def echo(self, *args: str, cli: str = NEW_CLI) -> dict[str, object]:
        """What the plugin got, translated: ``{"args": [...], "host": ...}``."""
        out = self(*args, cli=cli, env={"SWEEP_TEST_MODE": "echo"}).stdout
        result: dict[str, object] = json.loads(out)
        return result


@pytest.fixture
def docker(tmp_path: Path) -> Docker:
    return Docker(tmp_path)


@needs_cli
@pytest.mark.parametrize("cli", CLIS)
def test_docker_lists_the_plugin(docker: Docker, cli: str) -> None:
    meta = docker("docker-cli-plugin-metadata", cli=str(docker.config / "cli-plugins" / "docker-sweep"))
    assert json.loads(meta.stdout) == metadata()
    helptext = docker("--help", cli=cli).stdout
    assert re.search(rf"^\s+sweep\*\s+{re.escape(DESCRIPTION)}", helptext, re.M), helptext
    info = docker("info", "--format", "{{json .ClientInfo.Plugins}}", cli=cli, check=False)
    plugins = {p["Name"]: p for p in json.loads(info.stdout.strip().splitlines()[0])}
    sweep = plugins["sweep"]
    assert "Err" not in sweep, sweep
    assert (sweep["Vendor"], sweep["Version"], sweep["ShortDescription"]) == (
        "docker-sweep",
        version("docker-sweep"),
        DESCRIPTION,
    )


@needs_cli
@pytest.mark.parametrize("cli", CLIS)
def test_docker_passes_global_options_the_way_we_read_them(docker: Docker, cli: str) -> None:
    add_context(docker.config, "foo", FOO_HOST)
    assert docker.echo("sweep", "images", "--json", cli=cli) == {"args": ["images", "--json"], "host": None}
    assert docker.echo("-H", "unix:///x.sock", "sweep", "df", cli=cli) == {
        "args": ["df"],
        "host": "unix:///x.sock",
    }
    assert docker.echo("--host=unix:///y", "-D", "-l", "debug", "sweep", cli=cli)["host"] == "unix:///y"
    assert docker.echo("-Dl", "debug", "--context", "foo", "sweep", "df", cli=cli) == {
        "args": ["df"],
        "host": FOO_HOST,
    }
    assert docker.echo(
        "--config", str(docker.config), "-c", "foo", "sweep", "--config", "x.toml", cli=cli
    ) == {"args": ["--config", "x.toml"], "host": FOO_HOST}
    assert docker.echo("help", "sweep", "images", cli=cli) == {"args": ["images", "--help"], "host": None}


@needs_cli
def test_docker_help_and_errors_through_the_plugin(docker: Docker) -> None:
    done = docker("help", "sweep")
    assert "usage: docker-sweep" in done.stdout and "images" in done.stdout
    done = docker("sweep", "df", "--help")
    assert "usage: docker-sweep df" in done.stdout
    done = docker("--context", "nosuch", "sweep", "df", check=False)
    assert done.returncode == exit_codes.EXIT_USAGE
    assert "docker-sweep: no docker context named 'nosuch'" in done.stderr
    done = docker("--tlsverify", "-H", TLS_HOST, "sweep", "df", check=False)
    assert (
        done.returncode == exit_codes.EXIT_USAGE and "ca.pem" in done.stderr and "--tlscacert" in done.stderr
    )
    done = docker("__complete", "sweep", "im")
    assert done.stdout.splitlines() == ["images", ":4"]


@needs_cli
def test_docker_context_store_layout_matches(docker: Docker) -> None:
    """Contexts made by the real CLI resolve, TLS ones with their TLS (so add_context is faithful)."""
    docker("context", "create", "real", "--docker", f"host={FOO_HOST}")
    docker("context", "create", "insecure", "--docker", f"host={TLS_HOST},skip-tls-verify=true")
    env = {"DOCKER_CONFIG": str(docker.config), "HOME": str(docker.home)}
    assert context_endpoint("real", docker.config) == (FOO_HOST, [])
    assert translate(["-c", "real", "sweep"], env) == ([], FOO_HOST)
    assert context_endpoint("insecure", docker.config) == (TLS_HOST, ["--no-tlsverify"])


@needs_cli
def test_cli_socket_stops_the_plugin(docker: Docker) -> None:
    """28.x: SIGTERM to `docker sweep …` (stdout not a terminal) closes the plugin socket; we stop."""
    proc = subprocess.Popen(
        [NEW_CLI, "-H", "unix:///nonexistent.sock", "sweep", "prune"],
        env={**docker.env, "SWEEP_TEST_MODE": "wait"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert json.loads(proc.stdout.readline()) == {"args": ["prune"], "host": "unix:///nonexistent.sock"}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == exit_codes.EXIT_INTERRUPTED
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


PLUGIN_IMAGE = spec(("sweep-plugin:1",), (data_layer("plugin", 200_000),))


def load_plugin_image(engine) -> str:
    fixtures.load_tarball(engine.api, gen.build_tarball([PLUGIN_IMAGE]))
    return gen.image_id(PLUGIN_IMAGE)


def assert_lists_plugin_image(stdout: str, image_id: str) -> None:
    rows = {r["id"]: r for r in json.loads(stdout)}
    assert set(rows) == {image_id}
    assert rows[image_id]["tags"] == ["sweep-plugin:1"]


@pytest.mark.classic_store
@needs_cli
@pytest.mark.parametrize("cli", CLIS)
def test_docker_host_sweep_images_json(clean_engine, docker: Docker, cli: str) -> None:
    image_id = load_plugin_image(clean_engine)
    done = docker("-H", clean_engine.url, "sweep", "images", "--json", cli=cli)
    assert_lists_plugin_image(done.stdout, image_id)


@pytest.mark.classic_store
@needs_cli
def test_docker_context_sweep_images_json(clean_engine, docker: Docker) -> None:
    """A context made by `docker context create` (names need 2+ characters), picked several ways."""
    image_id = load_plugin_image(clean_engine)
    docker("context", "create", "st", "--docker", f"host={clean_engine.url}")
    assert_lists_plugin_image(docker("--context", "st", "sweep", "images", "--json").stdout, image_id)
    assert_lists_plugin_image(docker("-c", "st", "sweep", "images", "--json", cli=OLD_CLI).stdout, image_id)
    # docker --config DIR with DIR's current context, DOCKER_CONFIG unset: the plugin reads DIR itself
    (docker.config / "config.json").write_text(json.dumps({"currentContext": "st"}))
    env = {k: v for k, v in docker.env.items() if k != "DOCKER_CONFIG"}
    done = subprocess.run(
        [NEW_CLI, "--config", str(docker.config), "sweep", "images", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert_lists_plugin_image(done.stdout, image_id)
    # DOCKER_CONTEXT (which docker-sweep alone does not read)
    (docker.config / "config.json").unlink()
    assert_lists_plugin_image(
        docker("sweep", "images", "--json", env={"DOCKER_CONTEXT": "st"}).stdout, image_id
    )
    # `docker context use st`, no options: docker-sweep's own resolution finds the current context
    docker("context", "use", "st")
    assert_lists_plugin_image(docker("sweep", "images", "--json").stdout, image_id)


@pytest.mark.classic_store
@needs_cli
def test_installed_plugin_end_to_end(clean_engine, docker: Docker) -> None:
    """The real wrapper from install_plugin, through the wiring in tui.cli.main."""
    install_plugin(docker.config / "cli-plugins", force=True)
    helptext = docker("--help").stdout
    assert re.search(rf"^\s+sweep\*\s+{re.escape(DESCRIPTION)}", helptext, re.M), helptext
    image_id = load_plugin_image(clean_engine)
    assert_lists_plugin_image(docker("-H", clean_engine.url, "sweep", "images", "--json").stdout, image_id)
    docker("context", "create", "st", "--docker", f"host={clean_engine.url}")
    assert_lists_plugin_image(docker("--context", "st", "sweep", "images", "--json").stdout, image_id)
    done = docker("--context", "nosuch", "sweep", "df", check=False)
    assert done.returncode == exit_codes.EXIT_USAGE and "no docker context named 'nosuch'" in done.stderr
