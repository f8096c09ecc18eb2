"""TLS to a real dockerd on tcp://127.0.0.1 with certificates made here (openssl CLI).

The daemon runs with ``--tlsverify``: it only talks to clients whose certificate its CA signed.
Every way of naming the host (``--host``, ``[engine] host``, ``DOCKER_HOST``) must use the TLS
settings (``DOCKER_TLS_VERIFY``/``DOCKER_CERT_PATH``, ``--tlsverify`` and friends, ``[engine] tls``),
as the docker CLI does; a wrong CA on either side is refused with a clear message.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import certifi
import pytest

from tests.conftest import SESSION_ENGINE, unavailable
from tests.test_plugin import Docker, docker_clis, needs_cli  # noqa: F401 (docker_clis: the fixture)
from tui import exit_codes
from tui.cli import main
from tui.engine.client import Engine, EngineAddressError
from tui.sandbox.daemon import PrivateDaemon, SandboxError

TLS_ENV = (
    "DOCKER_HOST",
    "DOCKER_TLS",
    "DOCKER_TLS_VERIFY",
    "DOCKER_CERT_PATH",
    "DOCKER_CONTEXT",
    "DOCKER_SWEEP_CONFIG",
)


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=120)


def _ca(d: Path, name: str) -> None:
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        f"/CN={name}",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout",
        f"{name}-key.pem",
        "-out",
        f"{name}.pem",
        cwd=d,
    )


def _signed(d: Path, ca: str, name: str, ext: str) -> None:
    (d / f"{name}.ext").write_text(ext + "keyUsage=critical,digitalSignature,keyEncipherment\n")
    _openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        f"/CN={name}",
        "-keyout",
        f"{name}-key.pem",
        "-out",
        f"{name}.csr",
        cwd=d,
    )
    _openssl(
        "x509",
        "-req",
        "-in",
        f"{name}.csr",
        "-CA",
        f"{ca}.pem",
        "-CAkey",
        f"{ca}-key.pem",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        f"{name}.ext",
        "-out",
        f"{name}.pem",
        cwd=d,
    )


def _cert_dir(d: Path, ca: str, cert: str) -> Path:
    """A DOCKER_CERT_PATH-style directory: ca.pem, cert.pem, key.pem."""
    out = d / f"{cert}-dir"
    out.mkdir()
    shutil.copy(d / f"{ca}.pem", out / "ca.pem")
    shutil.copy(d / f"{cert}.pem", out / "cert.pem")
    shutil.copy(d / f"{cert}-key.pem", out / "key.pem")
    return out


class TLSEngine:
    def __init__(self, daemon: PrivateDaemon, url: str, certs: Path) -> None:
        self.daemon, self.url, self.certs = daemon, url, certs
        self.good = certs / "client-dir"  # CA = the daemon's CA, client cert signed by it
        self.wrong_client = certs / "rogue-dir"  # right CA, client cert signed by another CA
        self.wrong_ca = certs / "client-wrongca-dir"  # a CA that did not sign the daemon's cert


@pytest.fixture(scope="module")
def tls_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TLSEngine]:
    if shutil.which("openssl") is None:
        unavailable("openssl CLI", FileNotFoundError("openssl"))
    certs = tmp_path_factory.mktemp("certs")
    _ca(certs, "ca")
    _ca(certs, "otherca")
    _signed(certs, "ca", "server", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    _signed(certs, "ca", "client", "extendedKeyUsage=clientAuth\n")
    _signed(certs, "otherca", "rogue", "extendedKeyUsage=clientAuth\n")
    _cert_dir(certs, "ca", "client")
    rogue = _cert_dir(certs, "ca", "rogue")
    assert (rogue / "ca.pem").read_text() == (certs / "ca.pem").read_text()
    wrong_ca = certs / "client-wrongca-dir"
    shutil.copytree(certs / "client-dir", wrong_ca)
    shutil.copy(certs / "otherca.pem", wrong_ca / "ca.pem")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"tcp://127.0.0.1:{port}"
    try:
        daemon = PrivateDaemon.start(
            engine=SESSION_ENGINE,
            extra_args=[
                "-H",
                url,
                "--tlsverify",
                "--tlscacert",
                str(certs / "ca.pem"),
                "--tlscert",
                str(certs / "server.pem"),
                "--tlskey",
                str(certs / "server-key.pem"),
            ],
        )
    except (SandboxError, OSError) as exc:
        unavailable("private dockerd with TLS", exc)
    yield TLSEngine(daemon, url, certs)
    daemon.stop()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for key in TLS_ENV:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker-config"))
    return monkeypatch


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.engine
def test_tls_env_applies_to_host_flag_config_and_docker_host(
    tls_engine: TLSEngine, env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env.setenv("DOCKER_TLS_VERIFY", "1")
    env.setenv("DOCKER_CERT_PATH", str(tls_engine.good))
    # a CA bundle for other HTTPS clients must not replace the engine's CA (psf/requests#3829)
    env.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    # --host (plain HTTP before the fix: the daemon answered 400 "HTTP request to an HTTPS server")
    code, out, err = run(capsys, "--host", tls_engine.url, "df", "--json")
    assert code == 0, err
    assert isinstance(json.loads(out), dict) and "warning" not in err
    # [engine] host
    config = tmp_path / "c.toml"
    config.write_text(f'[engine]\nhost = "{tls_engine.url}"\n')
    code, out, err = run(capsys, "--config", str(config), "df", "--json")
    assert code == 0, err
    # DOCKER_HOST (worked before too)
    env.setenv("DOCKER_HOST", tls_engine.url)
    code, out, err = run(capsys, "df", "--json")
    assert code == 0, err
    assert Engine(tls_engine.url).uses_tls and Engine().uses_tls


@pytest.mark.engine
def test_tls_flags_and_config_keys(
    tls_engine: TLSEngine, env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tls_engine.good
    code, _, err = run(
        capsys,
        "--host",
        tls_engine.url,
        "--tlsverify",
        "--tlscacert",
        str(good / "ca.pem"),
        "--tlscert",
        str(good / "cert.pem"),
        "--tlskey",
        str(good / "key.pem"),
        "df",
        "--json",
    )
    assert code == 0, err
    # DOCKER_CERT_PATH supplies the files the flags do not name
    env.setenv("DOCKER_CERT_PATH", str(good))
    code, _, err = run(capsys, "--host", tls_engine.url, "--tlsverify", "df", "--json")
    assert code == 0, err
    env.delenv("DOCKER_CERT_PATH")
    config = tmp_path / "c.toml"
    config.write_text(f'[engine]\nhost = "{tls_engine.url}"\ntls = "verify"\ncert_path = "{good}"\n')
    code, _, err = run(capsys, "--config", str(config), "df", "--json")
    assert code == 0, err
    # --no-tlsverify with an explicit "off" in the config: plain HTTP, which this daemon refuses
    config.write_text(f'[engine]\nhost = "{tls_engine.url}"\ntls = "off"\n')
    code, _, err = run(capsys, "--config", str(config), "df", "--json")
    assert code == exit_codes.EXIT_ENGINE
    assert "speaks TLS" in err and "--tlsverify" in err


@pytest.mark.engine
def test_client_certificate_from_another_ca_is_refused(
    tls_engine: TLSEngine, env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env.setenv("DOCKER_TLS_VERIFY", "1")
    env.setenv("DOCKER_CERT_PATH", str(tls_engine.wrong_client))
    code, out, err = run(capsys, "--host", tls_engine.url, "images", "--json")
    assert code == exit_codes.EXIT_ENGINE and out == ""
    assert "TLS connection to the Docker engine at" in err
    assert "refused docker-sweep's client certificate" in err and "Traceback" not in err


@pytest.mark.engine
def test_engine_certificate_from_another_ca_is_refused(
    tls_engine: TLSEngine, env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env.setenv("DOCKER_TLS_VERIFY", "1")
    env.setenv("DOCKER_CERT_PATH", str(tls_engine.wrong_ca))
    code, out, err = run(capsys, "--host", tls_engine.url, "images", "--json")
    assert code == exit_codes.EXIT_ENGINE and out == ""
    assert "is not signed by the CA docker-sweep trusts" in err


def test_missing_certificate_files_are_a_clear_error(
    env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env.setenv("DOCKER_TLS_VERIFY", "1")
    env.setenv("DOCKER_CERT_PATH", str(tmp_path / "nonexistent"))
    code, _, err = run(capsys, "--host", "tcp://127.0.0.1:2376", "images")
    assert code == exit_codes.EXIT_USAGE
    assert f"certificate directory {tmp_path / 'nonexistent'} (from DOCKER_CERT_PATH) does not exist" in err
    env.setenv("DOCKER_HOST", "tcp://127.0.0.1:2376")
    code, _, err = run(capsys, "images")
    assert code == exit_codes.EXIT_USAGE and "DOCKER_CERT_PATH" in err
    env.delenv("DOCKER_CERT_PATH")
    env.delenv("DOCKER_TLS_VERIFY")
    code, _, err = run(capsys, "--tlsverify", "--tlscacert", str(tmp_path / "ca.pem"), "images")
    assert code == exit_codes.EXIT_USAGE and f"{tmp_path / 'ca.pem'} (from --tlscacert)" in err


def test_tls_settings_do_not_apply_to_sockets(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env.setenv("DOCKER_TLS_VERIFY", "1")
    env.setenv("DOCKER_CERT_PATH", str(tmp_path / "nonexistent"))
    engine = Engine("unix:///run/nothing.sock")
    assert not engine.uses_tls and engine.insecure_warning() is None


def test_plain_tcp_off_this_machine_is_warned_about(
    env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for host in ("tcp://127.0.0.1:2375", "tcp://localhost:2375", "tcp://[::1]:2375", "unix:///x.sock"):
        assert Engine(host).insecure_warning() is None
    for host in ("tcp://192.0.2.1:2375", "tcp://docker.example:2375", "192.0.2.1:2375"):
        warning = Engine(host).insecure_warning()
        assert warning is not None and "without TLS" in warning
    (tmp_path / "c").mkdir()
    for pem in ("ca.pem", "cert.pem", "key.pem"):
        (tmp_path / "c" / pem).write_text("")
    assert Engine("tcp://192.0.2.1:2376", tls=None).insecure_warning() is not None
    env.setenv("DOCKER_TLS_VERIFY", "1")
    env.setenv("DOCKER_CERT_PATH", str(tmp_path / "c"))
    assert Engine("tcp://192.0.2.1:2376").insecure_warning() is None
    env.delenv("DOCKER_TLS_VERIFY")
    # the CLI prints it on stderr before connecting (TEST-NET-1 does not answer: a short timeout)
    config = tmp_path / "c.toml"
    config.write_text('[engine]\nhost = "tcp://192.0.2.1:2375"\ntimeout = 1\n')
    code, out, err = run(capsys, "--config", str(config), "images", "--json")
    assert code == exit_codes.EXIT_ENGINE and out == ""
    assert err.startswith("docker-sweep: warning: tcp://192.0.2.1:2375 is plain TCP without TLS")


@pytest.mark.parametrize(
    ("host", "fragment"),
    [
        ("tcp://127.0.0.1:99999", "the port '99999' is not a port number (1-65535)"),
        ("tcp://127.0.0.1:-1", "the port '-1' is not a port number"),
        ("tcp://[::1", "unterminated or empty IPv6 address"),
        ("tcp://::1:2375", "needs brackets"),
        ("garbage", "'garbage' is not an engine address"),
        ("http://127.0.0.1:2375", "unsupported scheme 'http://'"),
        ("tcp://127.0.0.1:", "port after ':' is missing"),
    ],
)
def test_bad_host_is_a_usage_error_not_a_crash(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], host: str, fragment: str
) -> None:
    code, out, err = run(capsys, "--host", host, "images")
    assert code == exit_codes.EXIT_USAGE and out == ""
    assert fragment in err and "unexpected error" not in err and "Traceback" not in err
    env.setenv("DOCKER_HOST", host)
    code, _, err = run(capsys, "images")
    assert code == exit_codes.EXIT_USAGE and fragment in err
    with pytest.raises(EngineAddressError):
        Engine(host)


def test_docker_cli_host_forms(env: pytest.MonkeyPatch) -> None:
    assert Engine("tcp://127.0.0.1").host == "tcp://127.0.0.1:2375"
    assert Engine("127.0.0.1:2375").host == "tcp://127.0.0.1:2375"
    assert Engine("tcp://[::1]:2376").host == "tcp://[::1]:2376"
    assert Engine("ssh://me@box").host == "ssh://me@box"


# --- `docker sweep` through the real docker CLI, on the TLS engine ------------------------------


@needs_cli
@pytest.mark.engine
def test_docker_cli_tls_reaches_the_plugin(tls_engine: TLSEngine, tmp_path: Path) -> None:
    """What `docker` itself accepts for TLS works for `docker sweep` too: flags, env, a TLS context."""
    docker = Docker(tmp_path)
    good = tls_engine.good
    flags = [
        "--tlsverify",
        "--tlscacert",
        str(good / "ca.pem"),
        "--tlscert",
        str(good / "cert.pem"),
        "--tlskey",
        str(good / "key.pem"),
    ]
    assert docker("-H", tls_engine.url, *flags, "version", "--format", "{{.Server.Version}}").stdout.strip()
    done = docker("-H", tls_engine.url, *flags, "sweep", "images", "--json")
    assert isinstance(json.loads(done.stdout), list)
    done = docker(
        "-H",
        tls_engine.url,
        "sweep",
        "df",
        "--json",
        env={"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(good)},
    )
    assert isinstance(json.loads(done.stdout), dict)
    docker(
        "context",
        "create",
        "tlsctx",
        "--docker",
        f"host={tls_engine.url},ca={good / 'ca.pem'},cert={good / 'cert.pem'},key={good / 'key.pem'}",
    )
    done = docker("--context", "tlsctx", "sweep", "images", "--json")
    assert isinstance(json.loads(done.stdout), list)
    # the wrong client certificate: refused by the engine, said so, nothing on stdout
    bad = tls_engine.wrong_client
    done = docker(
        "-H",
        tls_engine.url,
        "--tlsverify",
        "--tlscacert",
        str(bad / "ca.pem"),
        "--tlscert",
        str(bad / "cert.pem"),
        "--tlskey",
        str(bad / "key.pem"),
        "sweep",
        "images",
        "--json",
        check=False,
    )
    assert done.returncode == exit_codes.EXIT_ENGINE and done.stdout == ""
    assert "refused docker-sweep's client certificate" in done.stderr
