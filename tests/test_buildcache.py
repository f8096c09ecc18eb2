"""Build cache pruning against a real BuildKit cache: the plan's records and bytes are exactly what
``POST /build/prune`` deletes and reports (SpaceReclaimed), for the default, ``all``, ``until`` and
``keep-storage``; and the headless ``prune --build-cache``.

BuildKit cache comes from a BuildKit build: the docker CLI of Debian's docker.io (20.10) builds with
BuildKit built in (``DOCKER_BUILDKIT=1``); a classic build leaves no build cache.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time

import pytest

from tests.conftest import session_store
from tui.core.buildcache import BuildCachePrune, parse_size, plan_build_cache_prune
from tui.core.filters import FilterError, parse_until
from tui.core.usage import human_size, summarize
from tui.engine.buildcache import prune_build_cache, read_build_cache
from tui.engine.client import Engine

DOCKER_CLI = "/usr/bin/docker"  # Debian docker.io's CLI: BuildKit built in


@pytest.fixture
def buildkit(engine, tmp_path):
    """A function building ``tag`` from a two-layer Dockerfile of ``sizes`` random bytes."""
    if not os.access(DOCKER_CLI, os.X_OK) or shutil.which("dockerd") is None:
        message = f"{DOCKER_CLI} (docker.io's CLI with BuildKit) is missing: apt-get install -y docker.io"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    engine.api.prune_builds(all=True)

    def build(tag: str, sizes: tuple[int, ...]) -> None:
        context = tmp_path / tag.replace(":", "_")
        context.mkdir()
        lines = ["FROM scratch"]
        for i, size in enumerate(sizes):
            (context / f"f{i}").write_bytes(os.urandom(size))
            lines.append(f"COPY f{i} /f{i}")
        (context / "Dockerfile").write_text("\n".join(lines) + "\n")
        env = {"DOCKER_BUILDKIT": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
        done = subprocess.run(
            [DOCKER_CLI, "-H", engine.url, "build", "-q", "-t", tag, str(context)],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr

    return build


def _check(engine, prune: BuildCachePrune) -> int:
    records = read_build_cache(Engine(engine.url))
    plan = plan_build_cache_prune(records, prune)
    result = prune_build_cache(Engine(engine.url), prune)
    assert sorted(result.deleted) == sorted(r.id for r in plan.delete), (records, time.time())
    assert result.reclaimed_bytes == plan.reclaim_bytes
    return result.reclaimed_bytes


@pytest.mark.docker_only(reason="Podman's compat API has no build cache (/build/prune is 404)")
def test_default_then_all_match_the_engine(engine, buildkit):
    buildkit("bc:1", (100_000, 200_000))
    buildkit("bc:2", (50_000,))
    engine.api.remove_image("bc:2")  # its cache records are no longer shared with an image
    records = read_build_cache(Engine(engine.url))
    assert any(r.shared for r in records) and any(not r.shared for r in records)
    freed = _check(engine, BuildCachePrune())
    assert freed >= 100_000 + 200_000 + 50_000  # the sources of both builds and bc:2's layer
    freed_all = _check(engine, BuildCachePrune(all=True))  # bc:1's shared layer records
    # the classic store's records hold the layers' file bytes; the containerd store's their
    # compressed and unpacked forms (613,849 seen on 28.5), whatever the plan says must match
    assert freed_all == 300_000 if session_store() == "classic" else freed_all >= 300_000
    assert read_build_cache(Engine(engine.url)) == []


@pytest.mark.docker_only(reason="Podman's compat API has no build cache (/build/prune is 404)")
def test_until_and_keep_storage_match_the_engine(engine, buildkit):
    buildkit("bc:3", (300_000,))
    time.sleep(2)
    buildkit("bc:4", (120_000,))
    recent = BuildCachePrune(all=True, until=parse_until("1h", time.time()))
    assert _check(engine, recent) == 0  # everything was used within the hour
    # keep-storage: the engine picks among the candidates by its own accounting; the plan is the
    # upper bound and the engine's bytes are the sizes of the records it deleted
    records = read_build_cache(Engine(engine.url))
    plan = plan_build_cache_prune(records, BuildCachePrune(all=True, keep_storage=1000))
    assert not plan.exact
    result = prune_build_cache(Engine(engine.url), plan.prune)
    sizes = {r.id: r.size for r in plan.delete}
    assert result.deleted and set(result.deleted) <= set(sizes)
    assert result.reclaimed_bytes == sum(sizes[i] for i in result.deleted)


@pytest.mark.docker_only(reason="Podman's compat API has no build cache (/build/prune is 404)")
def test_headless_prune_build_cache(engine, buildkit, capsys):
    from tui.cli import main

    buildkit("bc:5", (70_000,))
    engine.api.remove_image("bc:5")
    capsys.readouterr()
    assert main(["--host", engine.url, "plan", "prune", "--build-cache", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["reclaim_bytes"] > 70_000 and plan["delete"]
    assert main(["--host", engine.url, "prune", "--build-cache", "--filter", "label=x"]) == 2
    assert "only until" in capsys.readouterr().err
    assert main(["--host", engine.url, "prune", "--build-cache", "--yes", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["reclaimed_bytes"] == plan["reclaim_bytes"]
    assert sorted(result["deleted"]) == sorted(r["id"] for r in plan["delete"])


@pytest.mark.docker_only(reason="Podman's compat API has no build cache (/build/prune is 404)")
def test_df_says_what_the_engine_counts_beyond_images_and_containers(clean_engine, buildkit, capsys):
    """The containerd store's df LayersSize counts every snapshot of the snapshotter, the build
    cache's too (measured: 225,280 bytes left with no image and no container after a one-COPY
    build, until the build cache was pruned). ``df`` says how many bytes that is instead of
    claiming the images hold them; the classic store's LayersSize counts image layers only."""
    from tests.enginecase import engine_major, layers_size
    from tui.cli import main

    engine = clean_engine

    def df(text: bool = False):
        capsys.readouterr()
        assert main(["--host", engine.url, "df", *(() if text else ("--json",))]) == 0
        out = capsys.readouterr().out
        return out if text else json.loads(out)

    containerd = session_store() == "containerd"
    buildkit("gap:1", (100_000,))
    data = df()
    gap = data["engine_unattributed_bytes"]
    if containerd and engine_major(engine.api) >= 28:  # 26: LayersSize counts no content
        assert data["rows"][0]["size"] + gap == layers_size(engine.api)
    engine.api.remove_image("gap:1")
    data = df()
    gap = data["engine_unattributed_bytes"]
    assert data["rows"][0]["size"] == 0  # no image, no container
    cache = sum(r.size for r in read_build_cache(Engine(engine.url)))
    if not containerd:
        assert gap is None and layers_size(engine.api) == 0
    else:  # all of LayersSize is the build cache's snapshots, part of the build cache's bytes
        assert gap == layers_size(engine.api) and 100_000 < gap < cache
        assert f"{gap} bytes) that no image or container holds (the build cache's" in df(text=True)
    engine.api.prune_builds(all=True)
    data = df()
    assert layers_size(engine.api) == 0
    assert data["engine_unattributed_bytes"] == (0 if containerd else None)
    assert "no image or container holds" not in df(text=True)


@pytest.mark.docker_only(reason="Podman's compat API has no build cache (/build/prune is 404)")
async def test_df_pane_says_what_the_engine_counts_beyond_images_and_containers(engine, buildkit):
    from tests.enginecase import engine_major, layers_size, seed
    from tests.pilot import loaded, make_app, wait_for
    from tui.app.widgets.df_pane import DfPane

    seed(engine.api, engine.url)
    buildkit("gap:2", (60_000,))
    engine.api.remove_image("gap:2")  # its build cache's snapshots stay
    app = make_app(engine.url)
    async with app.run_test(size=(160, 36)) as pilot:
        screen = await loaded(pilot)
        pane = screen.query_one("#df", DfPane)
        if session_store() != "containerd":  # the classic store's LayersSize: image layers only
            await wait_for(pilot, lambda: "Engine " in str(pane.content))
            assert "not in any image/container" not in str(pane.content)
            return
        await wait_for(pilot, lambda: "not in any image/container" in str(pane.content))
        summary = summarize(screen.snapshot)
        gap = summary.engine_unattributed
        assert gap is not None and gap > 60_000
        assert f"engine df +{human_size(gap)} not in any" in str(pane.content)
        if engine_major(engine.api) >= 28:  # 26: LayersSize counts no content
            assert summary.rows[0].size + gap == layers_size(engine.api)


def test_sizes_parse_or_fail_clearly():
    assert parse_size("512MB") == 512_000_000 and parse_size("2GiB") == 2 * 1024**3
    assert parse_size("1000") == 1000
    with pytest.raises(FilterError, match="invalid size"):
        parse_size("lots")


def _build(
    docker_cli: str, url: str, tag: str, sizes: tuple[int, ...], tmp_path, env: dict[str, str]
) -> None:
    context = tmp_path / tag.replace(":", "_")
    context.mkdir()
    lines = ["FROM scratch"]
    for i, size in enumerate(sizes):
        (context / f"f{i}").write_bytes(os.urandom(size))
        lines.append(f"COPY f{i} /f{i}")
    (context / "Dockerfile").write_text("\n".join(lines) + "\n")
    done = subprocess.run(
        [docker_cli, "-H", url, "build", "-q", "-t", tag, str(context)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr


@pytest.fixture
def buildx_28(start_daemon, tmp_path):
    """A private 28.5 engine (classic store) and a function building on it with docker-buildx (the
    BuildKit builder in the daemon, driver "docker"), as a current docker CLI does."""
    from tests.conftest import unavailable
    from tui.sandbox.daemon import engines_dir

    cli = engines_dir() / "28.5" / "usr" / "bin" / "docker"
    buildx = engines_dir() / "28.5" / "usr" / "libexec" / "docker" / "cli-plugins" / "docker-buildx"
    if not buildx.exists() or not cli.exists():
        unavailable("docker-buildx 28.5", FileNotFoundError(f"{buildx} (run scripts/setup.sh engines)"))
    daemon = start_daemon(engine="28.5")
    config = tmp_path / "docker-config"
    (config / "cli-plugins").mkdir(parents=True)
    (config / "cli-plugins" / "docker-buildx").symlink_to(buildx)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "DOCKER_CONFIG": str(config)}

    def build(tag: str, sizes: tuple[int, ...]) -> None:
        _build(str(cli), daemon.url, tag, sizes, tmp_path, env)

    build.url = daemon.url  # type: ignore[attr-defined]
    return build


def test_buildx_28_default_all_and_until_match_the_engine(buildx_28):
    """Docker 28.5 with buildx: the plan's records and bytes are the engine's CachesDeleted and
    SpaceReclaimed."""
    url = buildx_28.url
    engine = Engine(url)
    buildx_28("bx:1", (150_000, 250_000))
    buildx_28("bx:2", (60_000,))
    engine.api().remove_image("bx:2")
    records = read_build_cache(engine)
    assert any(r.shared for r in records) and any(not r.shared for r in records)

    class _Url:
        def __init__(self, url: str) -> None:
            self.url = url

    assert _check(_Url(url), BuildCachePrune(all=True, until=parse_until("1h", time.time()))) == 0
    freed = _check(_Url(url), BuildCachePrune())
    assert freed >= 150_000 + 250_000 + 60_000
    assert _check(_Url(url), BuildCachePrune(all=True)) == 400_000  # bx:1's two shared layer records
    assert read_build_cache(engine) == []


def test_buildx_28_df_shows_the_private_and_the_shared_build_cache(buildx_28, capsys):
    """The Build Cache row counts the records no image shares (as ``docker system df``); the
    records shared with images are on disk too and are said apart, so the whole cache (what
    ``docker buildx du`` totals) is visible. Checked against the engine's own records."""
    from tui.cli import main

    url = buildx_28.url
    buildx_28("bxdf:1", (150_000, 250_000))
    buildx_28("bxdf:2", (60_000,))
    Engine(url).api().remove_image("bxdf:2")
    records = Engine(url).api().df()["BuildCache"]
    private = sum(r["Size"] for r in records if not r["Shared"])
    shared = sum(r["Size"] for r in records if r["Shared"])
    assert private >= 60_000 and shared >= 400_000  # bxdf:2's record; bxdf:1's two layers
    capsys.readouterr()
    assert main(["--host", url, "df", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    row = next(r for r in data["rows"] if r["type"] == "Build Cache")
    assert (row["size"], data["build_cache_shared_bytes"]) == (private, shared)
    assert main(["--host", url, "df"]) == 0
    text = capsys.readouterr().out
    assert f"also {human_size(shared)} ({shared} bytes) in records shared with images" in text
    assert f"all records together: {human_size(private + shared)}" in text


async def test_buildx_28_app_flow_matches_space_reclaimed(buildx_28):
    """Preview → confirm → streamed log on Docker 28.5 (buildx): the total the log reports is the
    engine's SpaceReclaimed, and it is the preview's byte count."""
    from tests.pilot import loaded, log_text, make_app, wait_for
    from tui.app.screens.buildcache import BuildCacheConfirm, BuildCacheDialog

    buildx_28("bx:3", (80_000, 40_000))  # kept: its layers are shared records, which --all deletes too
    app = make_app(buildx_28.url)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await loaded(pilot)
        await pilot.press("b")
        await wait_for(pilot, lambda: isinstance(app.screen, BuildCacheDialog))
        await pilot.press("a")
        await pilot.pause()
        plan = app.screen.plan
        assert plan is not None and plan.exact and plan.reclaim_bytes >= 120_000
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, BuildCacheConfirm))
        assert f"{plan.reclaim_bytes:,} bytes" in str(app.screen.query_one("#confirm-plan").content)
        await pilot.press("y")
        await wait_for(pilot, lambda: "Total reclaimed space" in log_text(screen))
        text = log_text(screen)
        assert "Re-reading the build cache before pruning" in text
        assert f"({plan.reclaim_bytes:,} bytes) · {len(plan.delete)} build cache record(s)" in text
        assert text.count("Deleted build cache object") == len(plan.delete)
        assert "Not in the plan" not in text
    assert read_build_cache(Engine(buildx_28.url)) == []


@pytest.mark.docker_only(reason="Podman's compat API has no build cache (/build/prune is 404)")
async def test_app_build_cache_flow_by_keys(engine, buildkit):
    from tests.enginecase import seed
    from tests.pilot import loaded, log_text, make_app, wait_for
    from tui.app.screens.buildcache import BuildCacheConfirm, BuildCacheDialog

    seed(engine.api, engine.url)  # the app shows a store with images (the engine may be empty)
    buildkit("bc:6", (90_000,))
    engine.api.remove_image("bc:6")
    app = make_app(engine.url)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await loaded(pilot)
        await pilot.press("b")
        # mounted: seen under load, the screen was current before its widgets were (no focus yet)
        await wait_for(pilot, lambda: isinstance(app.screen, BuildCacheDialog) and app.screen.focused)
        dialog = app.screen
        assert dialog.focused is not None and dialog.focused.id == "bc-mode"
        plan = plan_build_cache_prune(dialog.records, BuildCachePrune())
        assert plan.reclaim_bytes > 90_000 and dialog.plan == plan
        assert f"{plan.reclaim_bytes:,} bytes" in str(dialog.query_one("#bc-preview").content)
        await pilot.press("y")  # continue: nothing deleted yet
        await wait_for(pilot, lambda: isinstance(app.screen, BuildCacheConfirm))
        assert app.screen.focused is not None and app.screen.focused.id == "bcc-ok"
        assert len(read_build_cache(Engine(engine.url))) == plan.total_records
        await pilot.press("y")
        await wait_for(pilot, lambda: "Total reclaimed space" in log_text(screen))
        assert f"({plan.reclaim_bytes:,} bytes)" in log_text(screen)
        assert log_text(screen).count("Deleted build cache object") == len(plan.delete)
    assert read_build_cache(Engine(engine.url)) == []


@pytest.mark.docker_only(reason="Podman's compat API has no build cache (/build/prune is 404)")
async def test_app_refuses_when_the_build_cache_changed_since_the_preview(engine, buildkit):
    """A build between the preview and the confirmation: nothing is deleted, the log says why."""
    from tests.enginecase import seed
    from tests.pilot import loaded, log_text, make_app, wait_for
    from tui.app.screens.buildcache import BuildCacheConfirm, BuildCacheDialog

    seed(engine.api, engine.url)  # the app shows a store with images (the engine may be empty)
    buildkit("bc:7", (30_000,))
    engine.api.remove_image("bc:7")
    app = make_app(engine.url)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await loaded(pilot)
        await pilot.press("b")
        await wait_for(pilot, lambda: isinstance(app.screen, BuildCacheDialog))
        await pilot.press("a", "y")
        await wait_for(pilot, lambda: isinstance(app.screen, BuildCacheConfirm))
        buildkit("bc:8", (20_000,))  # the cache grows behind the confirm screen
        before = sorted(r.id for r in read_build_cache(Engine(engine.url)))
        await pilot.press("y")
        await wait_for(pilot, lambda: "build cache prune" in log_text(screen))
        text = log_text(screen)
        assert "Error: build cache prune: the build cache changed since the preview" in text
        assert "Nothing was deleted" in text and "Deleted build cache object" not in text
        assert "Total reclaimed space" not in text
    assert sorted(r.id for r in read_build_cache(Engine(engine.url))) == before


@pytest.mark.docker_only(reason="Podman's compat API has no build cache (/build/prune is 404)")
def test_headless_refuses_when_the_build_cache_changed(engine, buildkit):
    from tui.engine.buildcache import BuildCacheChanged, prune_build_cache_as_planned

    buildkit("bc:9", (25_000,))
    plan = plan_build_cache_prune(read_build_cache(Engine(engine.url)), BuildCachePrune(all=True))
    buildkit("bc:10", (15_000,))
    before = sorted(r.id for r in read_build_cache(Engine(engine.url)))
    with pytest.raises(BuildCacheChanged, match="changed since the preview: the cache holds"):
        prune_build_cache_as_planned(Engine(engine.url), plan)
    assert sorted(r.id for r in read_build_cache(Engine(engine.url))) == before


def test_changes_since_names_what_changed():
    from tui.core.buildcache import CacheRecord, changes_since

    a = CacheRecord("a" * 25, "regular", 100, in_use=False, shared=False, last_used=10)
    b = CacheRecord("b" * 25, "regular", 200, in_use=False, shared=True, last_used=20)
    plan = plan_build_cache_prune([a, b], BuildCachePrune())
    assert [r.id for r in plan.delete] == [a.id]
    assert changes_since(plan, [b, a]) == []  # order does not matter
    busy = CacheRecord(a.id, "regular", 100, in_use=True, shared=False, last_used=10)
    assert changes_since(plan, [busy, b]) == ["would no longer delete aaaaaaaaaaaa"]
    grown = CacheRecord(a.id, "regular", 150, in_use=False, shared=False, last_used=10)
    changes = changes_since(plan, [grown, b])
    assert changes[0].startswith("the cache holds 2 record(s), 350 bytes (the preview saw 2, 300 bytes)")
    assert changes[1] == "size changed for aaaaaaaaaaaa"
    c = CacheRecord("c" * 25, "regular", 5, in_use=False, shared=False, last_used=30)
    assert changes_since(plan, [a, b, c])[1] == "would now also delete cccccccccccc"
