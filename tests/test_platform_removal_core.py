"""The pure plan of removing one platform (`rm --platform`): platform strings, the engines and
stores that cannot do it, and what the engine's real behaviour (tests/test_containerd_platform_removal.py)
makes the plan block. No engine needed."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

import pytest

from tests.storegen import container, digest, make_image
from tui.core.model import EngineFacts, Snapshot
from tui.core.platform_removal import (
    Platform,
    PlatformError,
    api_at_least,
    parse_platform,
    plan_remove_platform,
)

NEW = EngineFacts(version="28.5.2", api_version="1.51", image_store="containerd")
AMD_M, ARM_M = digest("manifest:amd"), digest("manifest:arm")
AMD_BLOBS = {AMD_M: 400, digest("cfg:amd"): 300, digest("layer:busybox"): 2_000, digest("layer:amd"): 100}
ARM_BLOBS = {ARM_M: 410, digest("cfg:arm"): 310, digest("layer:arm"): 150}


def multi(unpacked_arm=0, arm_present=True):
    image = make_image("multi", [("busybox", 2_000), ("amd", 100)], tags=("multi:1",))
    return replace(
        image,
        content=MappingProxyType({image.id: 600, **AMD_BLOBS, **(ARM_BLOBS if arm_present else {})}),
        manifests=((AMD_M, "linux/amd64", "image", True), (ARM_M, "linux/arm64/v8", "image", arm_present)),
        manifest_content=MappingProxyType(
            {
                AMD_M: MappingProxyType(AMD_BLOBS),
                **({ARM_M: MappingProxyType(ARM_BLOBS)} if arm_present else {}),
            }
        ),
        manifest_unpacked=MappingProxyType({AMD_M: 2_100, ARM_M: unpacked_arm}),
    )


def test_platform_strings():
    assert parse_platform("linux/arm/v7") == Platform("linux", "arm", "v7")
    assert parse_platform("linux/arm64").to_json() == {"os": "linux", "architecture": "arm64"}
    assert parse_platform("linux/arm64").matches("linux/arm64/v8")  # containerd's normalisation
    assert not parse_platform("linux/arm/v6").matches("linux/arm/v7")
    assert parse_platform("linux/arm").matches("linux/arm/v7")
    for bad in ("linux", "arm64", "linux/arm64/v8/x", "Linux/AMD64", ""):
        with pytest.raises(PlatformError, match="is not a platform: give OS/ARCH"):
            parse_platform(bad)
    assert api_at_least("1.50") and api_at_least("1.51") and not api_at_least("1.45")
    assert not api_at_least("")


def test_plan_predicts_the_manifest_line_and_its_content_only():
    image = multi()
    plan = plan_remove_platform(Snapshot([image], (), NEW), "multi:1", parse_platform("linux/arm64"))
    assert not plan.blocked
    assert [str(r) for s in plan.steps for r in s.expect] == [f"Deleted: {ARM_M}"]
    assert plan.steps[0].platform == "linux/arm64/v8" and plan.steps[0].force  # as the index lists it
    assert plan.untag == () and plan.delete == ()
    assert plan.content_bytes == plan.reclaim_bytes == sum(ARM_BLOBS.values())
    assert plan.snapshot_bytes == 0
    assert plan.local_only_deletes(Snapshot([image], (), NEW)) == [image.id]  # asks the second yes


@pytest.mark.parametrize(
    ("facts", "reason", "text"),
    [
        (replace(NEW, api_version="1.45", version="26.1.5"), "engine too old", "this engine (API 1.45"),
        (replace(NEW, image_store="classic"), "platforms not supported", "classic (graphdriver)"),
        (replace(NEW, image_store="podman"), "platforms not supported", "Podman keeps one platform"),
    ],
)
def test_engines_and_stores_that_cannot_are_refused(facts, reason, text):
    plan = plan_remove_platform(Snapshot([multi()], (), facts), "multi:1", parse_platform("linux/arm64"))
    assert [b.reason for b in plan.blocked] == [reason] and text in plan.blocked[0].message
    assert plan.empty


def test_blocked_cases():
    image = multi()
    other = replace(
        make_image("other", [("busybox", 2_000)], tags=("other:1",)),
        content=MappingProxyType({digest("manifest:other"): 400, digest("layer:busybox"): 2_000}),
        manifests=((digest("manifest:other"), "linux/amd64", "image", True),),
    )
    snap = Snapshot([image, other], (container("user", image, "running"),), NEW)
    amd = parse_platform("linux/amd64")
    plan = plan_remove_platform(snap, "multi:1", amd)
    assert [b.reason for b in plan.blocked] == ["in use"] and plan.blocked[0].containers[0].name == "user"
    plan = plan_remove_platform(Snapshot([image, other], (), NEW), "multi:1", amd)
    assert [b.reason for b in plan.blocked] == ["content shared"] and "other:1" in plan.blocked[0].message
    plan = plan_remove_platform(snap, "other:1", amd)
    assert [b.reason for b in plan.blocked] == ["not multi-platform"]
    assert "docker-sweep rm other:1" in plan.blocked[0].message
    plan = plan_remove_platform(snap, "multi:1", parse_platform("linux/s390x"))
    assert [b.reason for b in plan.blocked] == ["platform not found"]
    plan = plan_remove_platform(
        Snapshot([multi(arm_present=False)], (), NEW), "multi:1", parse_platform("linux/arm64")
    )
    assert [b.reason for b in plan.blocked] == ["platform not present"]
    # a not-unpacked platform is no container's: not blocked by the container
    assert not plan_remove_platform(snap, "multi:1", parse_platform("linux/arm64")).blocked
    # an unpacked one may be: blocked
    unpacked = Snapshot([multi(unpacked_arm=500)], snap.containers, NEW)
    assert [
        b.reason for b in plan_remove_platform(unpacked, "multi:1", parse_platform("linux/arm64")).blocked
    ] == ["in use"]


def test_unreadable_content_store_is_blocked():
    image = replace(multi(), manifest_content=MappingProxyType({}))
    plan = plan_remove_platform(Snapshot([image], (), NEW), "multi:1", parse_platform("linux/arm64"))
    assert [b.reason for b in plan.blocked] == ["content not readable"]
