"""The layering rules: core imports neither docker nor textual; the app never imports docker.

The whole layering is import-linter's contracts in pyproject.toml (`lint-imports`, also run by
scripts/test.sh); these tests repeat the core rules file by file, and run the contracts."""

from __future__ import annotations

import ast
import json
import os
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


#: The SDK and what it imports: none of it on a warm headless read of a unix-socket engine.
SDK_PACKAGES = ("docker", "requests", "urllib3")
_PROBE = (
    "import json, sys\n"
    "from tui.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "loaded = sorted(m for m in sys.modules if m.split('.')[0] in %r)\n"
    "print(json.dumps([code, loaded]), file=sys.stderr)\n"
)


@pytest.mark.classic_store  # the containerd store reads its per-image details through the SDK
def test_warm_headless_reads_of_a_unix_socket_import_no_sdk(engine, tmp_path):
    """``images``, ``df`` and ``plan prune`` on a warm layer cache: the version, facts, lists and
    df are read without the SDK (tui/engine/client.py, Engine.start_gets), and nothing else is
    needed, so docker and requests are not imported (they were a third of such a run)."""
    from tests.enginecase import STANDARD, seed
    from tui.exit_codes import EXIT_ENGINE, EXIT_PARTIAL

    seed(engine.api, engine.url, STANDARD, (("old-app", "myapp:1.5.0", False),))
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}

    def run(*args: str, expect: int = 0) -> list[str]:
        done = subprocess.run(
            [sys.executable, "-c", _PROBE % (SDK_PACKAGES,), "--host", engine.url, *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT.parent,
            timeout=300,
            check=False,
        )
        code, loaded = json.loads(done.stderr.strip().splitlines()[-1])
        assert code == expect, done.stderr
        return list(loaded)

    # the probe sees the SDK where it is used: a tcp:// engine is read through it (none listens here)
    assert "docker" in run("--host", "tcp://127.0.0.1:1", "images", "--json", expect=EXIT_ENGINE)
    # cold: the layers come from the store's files next to the engine (classic_disk), and fill the cache
    assert run("images", "--json") == []
    assert any(p.stat().st_size > 0 for p in (tmp_path / "cache").rglob("layers.jsonl"))
    assert run("images", "--json") == []
    assert run("df", "--json") == []
    assert run("plan", "prune", "--all", "--json", expect=EXIT_PARTIAL) == []  # old-app's image: blocked
