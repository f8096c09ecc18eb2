"""The demo store as data: the images and containers ``docker-sweep demo`` seeds (stdlib only).

A small but realistic store (about 62 MB of distinct layers, all content deterministic):

* ``myapp:1.5.0`` and ``myapp:2.0.0`` (+ ``myapp:latest``), weeks apart, sharing a ~30 MB base
  (busybox + a "rootfs" layer) and each with its own dependency and code layers;
* ``myapp-dev:feature-login``, labelled ``env=dev``, sharing the base *and* 2.0.0's dependency layer;
* ``web/nginx:1.25`` (+ ``web/nginx:stable``) and ``postgres:16``, on the busybox layer only;
* an old ``myapp`` build that lost its tag: a dangling ``<none>:<none>`` image on the shared base.

``web/nginx`` and ``postgres`` come "from a registry" (:data:`DEMO_PULLED`: pushed through the
demo's own registry, so they have a ``RepoDigests`` entry); the myapp images are local-only.
Containers: a stopped (exited) one holding ``myapp:1.5.0`` and a running one from ``postgres:16``.
Every image starts with a static busybox (``/bin/busybox``), so its containers really run.
Dates are relative to a ``now`` the caller passes, so the app shows "3 weeks ago" and the like.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from tui.sandbox.imagegen import FileSpec, ImageSpec, LayerSpec, busybox_files

KB = 1_000
REFERENCE_NOW = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)
"""The ``now`` of :data:`DEMO_IMAGES` (a fixed date: same IDs in every process)."""

RUNNING_CMD = ("/bin/busybox", "sleep", "100000")
"""The command of the demo's running containers."""
EXITED_CMD = ("/bin/busybox", "true")
"""The command of the demo's stopped containers (started once; they exit with status 0)."""

DEMO_CONTAINERS: tuple[tuple[str, str, bool], ...] = (
    ("myapp-v1-migrate", "myapp:1.5.0", False),
    ("postgres", "postgres:16", True),
)
"""``(container name, image reference, running)`` for every demo container."""

DEMO_PULLED: tuple[str, ...] = ("web/nginx:1.25", "postgres:16")
"""Demo images that are pushed through the demo's own registry (127.0.0.1), so they carry a real
registry digest (``RepoDigests``) and can be pulled back, like images pulled from a registry on a real
host; the other demo images stay local-only (built or loaded here)."""

_SOURCE = "https://git.example.com/acme/myapp"


def _layer(comment: str, seed: str, files: Mapping[str, int]) -> LayerSpec:
    """A layer of pseudo-random files (``path -> size``) seeded by ``seed``."""
    specs = tuple(FileSpec(path, size, seed=seed) for path, size in sorted(files.items()))
    return LayerSpec(specs, comment)


def _busybox() -> LayerSpec:
    return LayerSpec(busybox_files(), "ADD busybox /bin/ # buildkit")


_ROOTFS = _layer("ADD rootfs.tar.xz / # buildkit", "rootfs-bookworm", {
    "usr/lib/x86_64-linux-gnu/libc.so.6": 1_922 * KB,
    "usr/lib/x86_64-linux-gnu/libcrypto.so.3": 4_710 * KB,
    "usr/lib/x86_64-linux-gnu/libssl.so.3": 699 * KB,
    "usr/lib/x86_64-linux-gnu/libstdc++.so.6": 2_396 * KB,
    "usr/lib/x86_64-linux-gnu/libsqlite3.so.0": 1_408 * KB,
    "usr/bin/perl": 3_812 * KB,
    "usr/share/locale/locale-archive": 1_690 * KB,
    "var/lib/dpkg/status": 612 * KB,
    "usr/local/lib/python3.12/lib-dynload/_ssl.so": 1_031 * KB,
    "usr/local/lib/libpython3.12.so.1.0": 5_870 * KB,
    "usr/local/lib/python3.12/stdlib.zip": 3_944 * KB,
    "usr/local/bin/python3.12": 17 * KB,
})  # fmt: skip
_BASE_EMPTY = (
    (2, "ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8"),
    (2, "ENV PYTHONUNBUFFERED=1"),
    (2, "WORKDIR /app"),
)


def _deps(version: str, site_packages: int) -> LayerSpec:
    return _layer(
        "RUN /bin/sh -c pip install --no-cache-dir -r requirements.txt # buildkit",
        f"myapp-deps-{version}",
        {
            "usr/local/lib/python3.12/site-packages/sqlalchemy/cyextension.so": site_packages // 3,
            "usr/local/lib/python3.12/site-packages/pydantic_core/_core.so": site_packages // 2,
            "usr/local/lib/python3.12/site-packages/uvicorn.pyz": site_packages // 6,
        },
    )


def _code(version: str, size: int) -> LayerSpec:
    return _layer("COPY . /app # buildkit", f"myapp-code-{version}", {
        "app/myapp.pyz": size - 24 * KB,
        "app/static/app.css": 24 * KB,
    })  # fmt: skip


def _myapp_labels(version: str, revision: str) -> dict[str, str]:
    return {
        "org.opencontainers.image.title": "myapp",
        "org.opencontainers.image.version": version,
        "org.opencontainers.image.revision": revision,
        "org.opencontainers.image.source": _SOURCE,
        "com.example.team": "payments",
    }


def _myapp(
    tags: tuple[str, ...],
    created: datetime,
    deps: LayerSpec,
    extra: tuple[LayerSpec, ...],
    labels: dict[str, str],
) -> ImageSpec:
    """An image of the myapp family: busybox, the shared rootfs, deps, then ``extra`` layers."""
    return ImageSpec(
        tags,
        (_busybox(), _ROOTFS, deps, *extra),
        created,
        labels=labels,
        cmd=("/bin/busybox", "httpd", "-f", "-p", "8000", "-h", "/app/static"),
        empty_history=(
            *_BASE_EMPTY,
            (3 + len(extra), "EXPOSE map[8000/tcp:{}]"),
            (3 + len(extra), 'CMD ["/bin/busybox" "httpd" "-f" "-p" "8000"]'),
        ),
    )


def demo_images(now: datetime) -> tuple[ImageSpec, ...]:
    """The demo images, created at fixed offsets before ``now`` (naive = UTC).

    The dangling image comes last: the engine then reports every loaded ID (see
    :func:`tui.sandbox.fixtures.load_tarball`).
    """
    now = (now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)).replace(microsecond=0)

    def ago(days: int, hours: int = 0, minutes: int = 0) -> datetime:
        return now - timedelta(days=days, hours=hours, minutes=minutes)

    deps_v1, deps_v2 = _deps("1.5", 3_200 * KB), _deps("2.0", 3_800 * KB)
    app_v1 = _myapp(
        ("myapp:1.5.0",),
        ago(45, 3, 17),
        deps_v1,
        (_code("1.5.0", 640 * KB),),
        _myapp_labels("1.5.0", "3f9c2ab"),
    )
    app_v2 = _myapp(
        ("myapp:2.0.0", "myapp:latest"),
        ago(4, 6, 2),
        deps_v2,
        (_code("2.0.0", 710 * KB),),
        _myapp_labels("2.0.0", "b81e07d"),
    )
    dev_tools = _layer("RUN /bin/sh -c pip install --no-cache-dir pytest debugpy ipython # buildkit",
                       "myapp-devtools", {
                           "usr/local/lib/python3.12/site-packages/debugpy/_vendored.zip": 1_650 * KB,
                           "usr/local/lib/python3.12/site-packages/IPython.pyz": 880 * KB,
                       })  # fmt: skip
    dev = _myapp(
        ("myapp-dev:feature-login",),
        ago(1, 20, 41),
        deps_v2,
        (dev_tools, _code("feature-login", 730 * KB)),
        {**_myapp_labels("2.1.0-dev", "e4d90c1"), "env": "dev", "com.example.branch": "feature/login"},
    )
    old_build = _myapp(
        (),
        ago(63, 1, 48),
        _deps("1.4", 3_100 * KB),
        (_code("1.5.0-rc1", 520 * KB),),
        _myapp_labels("1.5.0-rc1", "9a0d4e2"),
    )
    web = ImageSpec(
        ("web/nginx:1.25", "web/nginx:stable"),
        (_busybox(),
         _layer("RUN /bin/sh -c set -x && apk add --no-cache nginx=1.25.5-r0 # buildkit", "nginx-1.25.5", {
             "usr/sbin/nginx": 1_380 * KB,
             "usr/lib/libpcre2-8.so.0": 640 * KB,
             "usr/lib/libz.so.1": 100 * KB,
             "usr/lib/nginx/modules/ngx_http_perl_module.so": 3_250 * KB,
             "usr/share/nginx/html/index.html": 615,
         }),
         _layer("COPY nginx.conf /etc/nginx/nginx.conf # buildkit", "nginx-conf", {
             "etc/nginx/nginx.conf": 2_870,
             "etc/nginx/conf.d/default.conf": 1_093,
         })),
        ago(26, 9, 5),
        labels={"maintainer": "NGINX Docker Maintainers <docker-maint@nginx.com>",
                "org.opencontainers.image.version": "1.25.5", "com.example.role": "web"},
        cmd=("/bin/busybox", "httpd", "-f", "-p", "80"),
        empty_history=((3, "EXPOSE map[80/tcp:{}]"), (3, "STOPSIGNAL SIGQUIT"),
                       (3, 'CMD ["nginx" "-g" "daemon off;"]')),
    )  # fmt: skip
    db = ImageSpec(
        ("postgres:16",),
        (_busybox(),
         _layer("RUN /bin/sh -c apk add --no-cache postgresql16=16.3-r0 # buildkit", "postgres-16.3", {
             "usr/libexec/postgresql16/postgres": 9_120 * KB,
             "usr/lib/postgresql16/plpgsql.so": 262 * KB,
             "usr/share/postgresql16/postgres.bki": 1_043 * KB,
             "usr/share/postgresql16/timezonesets/Default": 28 * KB,
         }),
         _layer("COPY docker-entrypoint.sh /usr/local/bin/ # buildkit", "postgres-entrypoint", {
             "usr/local/bin/docker-entrypoint.sh": 12_148,
         })),
        ago(12, 14, 30),
        labels={"org.opencontainers.image.title": "postgres", "org.opencontainers.image.version": "16.3",
                "com.example.role": "db"},
        cmd=RUNNING_CMD,
        empty_history=((1, "ENV PGDATA=/var/lib/postgresql/data"), (3, 'VOLUME ["/var/lib/postgresql/data"]'),
                       (3, "EXPOSE map[5432/tcp:{}]"), (3, 'CMD ["postgres"]')),
    )  # fmt: skip
    return (app_v1, app_v2, dev, web, db, old_build)


def __getattr__(name: str) -> tuple[ImageSpec, ...]:
    """``DEMO_IMAGES``: :func:`demo_images` at :data:`REFERENCE_NOW`, built on first use (it reads
    ``/bin/busybox``, so importing this module needs no busybox)."""
    if name == "DEMO_IMAGES":
        images = demo_images(REFERENCE_NOW)
        globals()["DEMO_IMAGES"] = images
        return images
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
