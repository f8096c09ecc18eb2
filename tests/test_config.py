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
        ("[engine]\ntimeout = 'x'\n", "[engine] timeout must be a int"),
        ("[ui]\nconfirm = 1\n", "[ui] confirm must be a bool"),
        ("[ui]\ndefault_sort = 'bytes'\n", "default_sort must be one of"),
        ("[other]\n", "unknown section [other]"),
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
