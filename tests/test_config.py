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
        '[local_only]\nconfirm = false\nbackup = true\n'
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
        ("[policies.x]\nolder_than = \"7 days\"\n", "[policies.x] policy x: older_than '7 days'"),
        ("[policies.x]\ndescription = \"nothing\"\n", "sets no condition"),
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
    subprocess.run(["docker", "context", "create", "sweeptest", "--docker", f"host={engine.url}"],
                   check=True, capture_output=True, env={**__import__("os").environ})
    good = tmp_path / "good.toml"
    good.write_text('[engine]\ncontext = "sweeptest"\n')
    assert main(["--config", str(good), "df", "--json"]) == 0
    assert engine.url in capsys.readouterr().out
    # docker's current context (`docker context use`) is honoured too, with no docker-sweep config
    subprocess.run(["docker", "context", "use", "sweeptest"], check=True, capture_output=True,
                   env={**__import__("os").environ})
    monkeypatch.delenv("DOCKER_SWEEP_CONFIG", raising=False)
    assert main(["df", "--json"]) == 0
    assert engine.url in capsys.readouterr().out
    bad = tmp_path / "bad.toml"
    bad.write_text('[engine]\ncontext = "nosuch"\n')
    assert main(["--config", str(bad), "images"]) == 2
    assert "no docker context named 'nosuch'" in capsys.readouterr().err
