"""Config loading: defaults, env var, clear errors naming file, key and expectation."""

from __future__ import annotations

import pytest

from tui.cli import main
from tui.config import ConfigError, load_config


def test_missing_default_file_gives_defaults(tmp_path, monkeypatch):
    monkeypatch.delenv("DOCKER_SWEEP_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    config = load_config()
    assert config.ui.default_sort == "size" and config.engine.host == ""


def test_values_and_env_var(tmp_path, monkeypatch):
    path = tmp_path / "c.toml"
    path.write_text('[engine]\nhost = "unix:///x.sock"\n[ui]\ndefault_sort = "created"\nconfirm = false\n')
    monkeypatch.setenv("DOCKER_SWEEP_CONFIG", str(path))
    config = load_config()
    assert config.engine.host == "unix:///x.sock" and config.ui.default_sort == "created"
    assert config.ui.confirm is False and config.path == path


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[engine\n", "invalid TOML"),
        ("[engine]\nhots = 1\n", "unknown key 'hots' in [engine]"),
        ("[engine]\ntimeout = 'x'\n", "line 2: [engine] timeout must be a whole number"),
        ("[ui]\nconfirm = 1\n", "[ui] confirm must be true or false"),
        ("[ui]\ndefault_sort = 'bytes'\n", "default_sort must be one of"),
        ("[other]\n", "unknown section [other]"),
        ("[ui]\ntheme = 'pink'\n", "line 2: [ui] theme 'pink' is not a theme; expected one of"),
        ("[ui]\ncolumns = ['name', 'bogus']\n", "line 2: [ui] columns must be distinct names"),
    ],
)
def test_errors_name_file_and_key(tmp_path, text, fragment):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value) and fragment in str(info.value)


def test_cli_reports_bad_config_without_traceback(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text("[engine]\nhots = 1\n")
    assert main(["--config", str(path), "images"]) == 5
    err = capsys.readouterr().err
    assert "unknown key 'hots'" in err and "Traceback" not in err
    assert main(["--config", str(tmp_path / "none.toml"), "images"]) == 5


def test_protect_policies_backup_sections(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(
        '[protect]\nimages = ["postgres:*", "sha256:0123*"]\nlabels = ["keep=true"]\n'
        "[local_only]\nconfirm = false\nbackup = true\n"
        '[backup]\ndir = "/tmp/bk"\nmax_size = "2GB"\n'
        '[policies.ci]\nkeep_last = 3\nolder_than = "7d"\nrepositories = ["myapp", "team/*"]\n'
    )
    config = load_config(path)
    assert config.protection().images == ("postgres:*", "sha256:0123*")
    assert config.local_only.backup and not config.local_only.confirm
    assert config.backup_max_bytes() == 2_000_000_000 and str(config.backup_dir()) == "/tmp/bk"
    policy = config.policy("ci")
    assert policy.keep_last == 3 and policy.repositories == ("myapp", "team/*")
    with pytest.raises(ConfigError, match="no policy named 'nope'.*known policies: ci"):
        config.policy("nope")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('[protect]\nimages = "postgres:*"\n', "line 2: [protect] images must be a list of strings"),
        ('[protect]\nimages = ["bad pattern"]\n', "[protect] image pattern 'bad pattern'"),
        ('[protect]\nlabels = ["=x"]\n', "label selector '=x'"),
        ('[backup]\nmax_size = "lots"\n', "line 2: [backup] max_size: 'lots' is not a size"),
        ('[policies.x]\nolder_than = "7 days"\n', "[policies.x] policy x: older_than '7 days'"),
        ('[policies.x]\ndescription = "nothing"\n', "sets no condition"),
        ("[policies.x]\nkeep_lats = 3\n", "line 2: unknown key 'keep_lats' in [policies.x]"),
    ],
)
def test_section_errors(tmp_path, text, fragment):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert fragment in str(info.value) and str(path) in str(info.value)


def test_example_config_parses_with_its_policies_enabled(tmp_path):
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "config.example.toml").read_text()
    assert load_config(Path(__file__).resolve().parent.parent / "config.example.toml").policies == {}
    import re

    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("# [policies."))
    enabled = "\n".join(
        line[2:] if i >= start and re.match(r"# (\[policies|\w+ = )", line) else line
        for i, line in enumerate(lines)
    )
    path = tmp_path / "enabled.toml"
    path.write_text(enabled)
    config = load_config(path)
    assert set(config.policies) == {"keep-three", "old-dev", "dangling"}
    assert config.policy("keep-three").keep_last == 3


def test_engine_context_from_config(engine, tmp_path, monkeypatch, capsys):
    import subprocess

    docker_config = tmp_path / "docker"
    monkeypatch.setenv("DOCKER_CONFIG", str(docker_config))
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    subprocess.run(
        ["docker", "context", "create", "sweeptest", "--docker", f"host={engine.url}"],
        check=True,
        capture_output=True,
        env={**__import__("os").environ},
    )
    good = tmp_path / "good.toml"
    good.write_text('[engine]\ncontext = "sweeptest"\n')
    assert main(["--config", str(good), "df", "--json"]) == 0
    assert engine.url in capsys.readouterr().out
    # docker's current context (`docker context use`) is honoured too, with no docker-sweep config
    subprocess.run(
        ["docker", "context", "use", "sweeptest"],
        check=True,
        capture_output=True,
        env={**__import__("os").environ},
    )
    monkeypatch.delenv("DOCKER_SWEEP_CONFIG", raising=False)
    assert main(["df", "--json"]) == 0
    assert engine.url in capsys.readouterr().out
    bad = tmp_path / "bad.toml"
    bad.write_text('[engine]\ncontext = "nosuch"\n')
    assert main(["--config", str(bad), "images"]) == 2
    assert "no docker context named 'nosuch'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[engine]\ntimeout = 0\n", "line 2: [engine] timeout must be a whole number of seconds from 1 to"),
        ("[engine]\ntimeout = -5\n", "[engine] timeout must be a whole number of seconds from 1 to 86400"),
        (f"[engine]\ntimeout = {2**63 - 1}\n", "[engine] timeout must be a whole number of seconds"),
        (f"[engine]\ntimeout = {2**63}\n", "[engine] timeout must be a whole number of seconds"),
        ("[engine]\nlong_timeout = -1\n", "line 2: [engine] long_timeout must be a whole number of seconds"),
        (
            '[engine]\nhost = "garbage"\n',
            "line 2: [engine] host: 'garbage' is not an engine address; "
            "expected unix:///path/docker.sock, tcp://HOST:PORT",
        ),
        ('[engine]\nhost = "tcp://127.0.0.1:99999"\n', "[engine] host: 'tcp://127.0.0.1:99999': the port"),
        ('[engine]\nhost = "tcp://[::1"\n', "[engine] host: 'tcp://[::1': unterminated"),
        ('[engine]\ntls = "yes"\n', "line 2: [engine] tls must be one of 'verify', 'no-verify', 'off'"),
        ('[engine]\ncert_path = "/nonexistent/certs"\n', "[engine] cert_path must be a directory"),
        ('[backup]\nmax_size = "-5GB"\n', "line 2: [backup] max_size: '-5GB' is not a size"),
        ('[backup]\nmax_size = "1e999GB"\n', "[backup] max_size: '1e999GB' is not a size"),
        ('[backup]\nmax_size = "nanGB"\n', "[backup] max_size: 'nanGB' is not a size"),
        ('[backup]\nmax_size = "2000000EB"\n', "is not a size"),
        ('[backup]\nmax_size = "9999999TB"\n', "larger than 1 EiB"),
    ],
)
def test_values_that_would_fail_later_are_refused_at_load(tmp_path, capsys, text, fragment):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value) and fragment in str(info.value)
    assert main(["--config", str(path), "images"]) == 5
    err = capsys.readouterr().err
    assert fragment in err and "unexpected error" not in err


def test_good_engine_values_load(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(
        f'[engine]\nhost = "tcp://[::1]:2376"\ntimeout = 1\nlong_timeout = 86400\n'
        f'tls = "verify"\ncert_path = "{tmp_path}"\n[backup]\nmax_size = "1.5GiB"\n'
    )
    config = load_config(path)
    assert (config.engine.timeout, config.engine.long_timeout, config.engine.tls) == (1, 86400, "verify")
    assert config.backup_max_bytes() == int(1.5 * 1024**3)


def test_invalid_utf8_is_a_config_error(tmp_path, capsys):
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'[protect]\nimages = ["caf\xe9:*"]\n')
    assert main(["--config", str(path), "images"]) == 5
    err = capsys.readouterr().err
    assert f"{path}: line 2: not UTF-8 text (byte 0xe9" in err and "unexpected error" not in err


def test_only_regular_files_of_sane_size_are_read(tmp_path, capsys):
    import os
    import threading

    # /dev/zero would be read forever (memory without bound); it is refused before any read
    assert main(["--config", "/dev/zero", "images"]) == 5
    assert "/dev/zero: not a regular file" in capsys.readouterr().err
    # a FIFO with no writer would block the open forever; it is refused at once
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    result: list[int] = []
    worker = threading.Thread(
        target=lambda: result.append(main(["--config", str(fifo), "images"])), daemon=True
    )
    worker.start()
    worker.join(60)
    if worker.is_alive():  # unblock the hung open so the test run can finish
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        worker.join(10)
        pytest.fail("--config on a FIFO blocked")
    assert result == [5] and "not a regular file" in capsys.readouterr().err
    assert main(["--config", str(tmp_path), "images"]) == 5
    assert "a directory" in capsys.readouterr().err
    big = tmp_path / "big.toml"
    big.write_text("# padding\n" * 110_000)
    assert main(["--config", str(big), "images"]) == 5
    assert "larger than 1024 KiB" in capsys.readouterr().err
    monkey = tmp_path / "env.toml"
    os.mkfifo(monkey)
    os.environ["DOCKER_SWEEP_CONFIG"] = str(monkey)
    try:
        with pytest.raises(ConfigError, match="not a regular file"):
            load_config()
    finally:
        del os.environ["DOCKER_SWEEP_CONFIG"]
