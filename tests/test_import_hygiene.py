"""The layering rules: core imports neither docker nor textual; the app never imports docker.

The whole layering is import-linter's contracts in pyproject.toml (`lint-imports`, also run by
scripts/test.sh); these tests repeat the core rules file by file, and run the contracts."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "tui"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", sorted((ROOT / "core").rglob("*.py")), ids=lambda p: p.name)
def test_core_is_pure(path: Path) -> None:
    found = _imports(path)
    assert not {"docker", "textual", "requests", "tui.engine", "tui.app"} & found


@pytest.mark.parametrize("path", sorted((ROOT / "app").rglob("*.py")), ids=lambda p: p.name)
def test_app_never_imports_docker(path: Path) -> None:
    assert not {"docker", "requests"} & _imports(path)


# the seeding fixtures talk to the engine through the SDK (not through tui.engine, the code under test)
SDK_CLIENTS = {"fixtures.py", "demo_seed.py"}


@pytest.mark.parametrize("path", sorted((ROOT / "sandbox").rglob("*.py")), ids=lambda p: p.name)
def test_sandbox_daemons_and_images_need_no_sdk(path: Path) -> None:
    found = _imports(path)
    assert "textual" not in found
    if path.name not in SDK_CLIENTS:
        assert "docker" not in found


@pytest.mark.parametrize("path", sorted((ROOT / "engine").rglob("*.py")), ids=lambda p: p.name)
def test_engine_uses_neither_sandbox_nor_config(path: Path) -> None:
    banned = ("tui.sandbox", "tui.config", "tui.app", "textual")
    found = {name for name in _imports(path) if name.startswith(banned)}
    assert not found


def test_import_linter_contracts_are_kept() -> None:
    """`lint-imports` with the contracts in pyproject.toml (the layering, the docker/textual rules)."""
    lint = Path(sys.executable).with_name("lint-imports")
    if not lint.exists():
        pytest.fail(f"{lint} is missing: install the test extras (pip install -e '.[test]')")
    done = subprocess.run(
        [str(lint), "--no-cache"], cwd=ROOT.parent, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout
