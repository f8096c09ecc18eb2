"""BuildKit-built images on the containerd store (Docker 28.5 and its docker CLI with buildx from
the engines cache): removing them frees their unpacked snapshots, while BuildKit's cache and
build history keep their content on disk. The plan says so and counts only what leaves the disk;
the engine's df counts the content as gone (measured: three built images, ~1.5 MB of snapshots
freed on disk, df LayersSize down by ~3 MB)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import unavailable
from tests.ctrdcase import disk_drop, layers_size
from tests.enginecase import BUSYBOX, NOW, SLEEP
from tui.core.plan import plan_remove
from tui.engine.client import Engine as SweepEngine
from tui.engine.snapshot import read_snapshot
from tui.sandbox import fixtures
from tui.sandbox import imagegen as gen
from tui.sandbox.daemon import PrivateDaemon, SandboxError, engines_dir

pytestmark = pytest.mark.engine
ENGINE = "28.5-containerd"


def _buildx() -> Path:
    override = os.environ.get("DOCKER_SWEEP_BUILDX", "")
    path = (
        Path(override)
        if override
        else (engines_dir() / "28.5" / "usr" / "libexec" / "docker" / "cli-plugins" / "docker-buildx")
    )
    if not path.exists():
        unavailable("docker-buildx", FileNotFoundError(f"{path} (run scripts/setup.sh engines)"))
    return path


def _disk(root: Path) -> int:
    base = root / "data" / "containerd" / "daemon"
    out = subprocess.run(
        ["du", "-sb", "io.containerd.content.v1.content", "io.containerd.snapshotter.v1.overlayfs"],
        cwd=base,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return sum(int(line.split()[0]) for line in out.splitlines())


def test_removing_buildkit_images_counts_what_leaves_the_disk(tmp_path):
    buildx = _buildx()
    try:
        daemon = PrivateDaemon.start(engine=ENGINE)
    except (SandboxError, OSError) as exc:
        unavailable(f"private dockerd {ENGINE}", exc)
    try:
        engine = SweepEngine(daemon.url)
        api = engine.api()
        fixtures.load_tarball(
            api, gen.build_tarball([gen.ImageSpec(("base:1",), (BUSYBOX,), NOW, cmd=SLEEP)])
        )
        config = tmp_path / "docker-config"
        (config / "cli-plugins").mkdir(parents=True)
        (config / "cli-plugins" / "docker-buildx").symlink_to(buildx)
        env = {**os.environ, "DOCKER_CONFIG": str(config), "DOCKER_HOST": daemon.url}
        docker_cli = str(engines_dir() / "28.5" / "usr" / "bin" / "docker")
        for n in (1, 2, 3):
            (tmp_path / f"f{n}").write_bytes(os.urandom(500_000))
            (tmp_path / f"Dockerfile.{n}").write_text(f"FROM base:1\nCOPY f{n} /f{n}\n")
            subprocess.run(
                [docker_cli, "build", "-q", "-f", f"Dockerfile.{n}", "-t", f"built:{n}", "."],
                cwd=tmp_path,
                env=env,
                check=True,
                capture_output=True,
            )
        snap = read_snapshot(engine)
        built = [i for i in snap.images.values() if i.buildkit]
        assert sorted(t for i in built for t in i.tags) == ["built:1", "built:2", "built:3"]
        plan = plan_remove(snap, ["built:1", "built:2", "built:3"])
        assert plan.buildkit_bytes > 1_500_000  # three ~500 kB layers and their metadata
        assert any("BuildKit" in w for w in plan.warnings)
        before_df, before_disk = layers_size(api), _disk(daemon.root)
        for n in (1, 2, 3):
            api.remove_image(f"built:{n}")
        assert before_df - layers_size(api) == disk_drop(plan, api)
        freed_on_disk = before_disk - _disk(daemon.root)
        # On disk: the snapshots go (plus their directories' own blocks) and a few provenance
        # blobs; the layers stay in the build cache.
        # Measured: usually at least the plan's bytes, but in some full-suite runs 1,443,889-1,443,895
        # for a plan of 1,523,712 (about 5 % less; not explained yet, see issue 7). The engine's own
        # accounting above is exact; the du cross-check allows that gap.
        assert plan.reclaim_bytes * 0.9 <= freed_on_disk < plan.reclaim_bytes + 64 * 1024
    finally:
        daemon.stop()
