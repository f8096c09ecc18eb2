"""Removing one platform of a multi-platform image (the containerd image store, API 1.50+).

``DELETE /images/{name}?force=1&platforms=<OCI platform JSON>`` (moby
``daemon/containerd/image_delete.go`` ``deleteImagePlatforms``). What the engine does, read from its
code and measured on Docker 28.5.2 (API 1.51) with images loaded from an OCI layout:

* ``force`` is required (without it: 400 "Content will be removed from all images referencing
  this variant. Use --force to force delete."). The name may be a tag, a digest reference or an id
  (prefix); no tag is removed, the image keeps its id (its index), the platform's manifest is then
  listed as not available.
* The engine walks the platform manifest's present blobs (manifest, config, layers) and deletes
  each from the content store, **whether or not another image or another platform reaches it**;
  the response is one ``Deleted: <manifest digest>`` line. The snapshots only that platform's
  config held go with it (containerd's collector); snapshots other images hold stay. Measured:
  removing the non-unpacked ``linux/arm64`` freed its 152,845 content bytes and /system/df
  LayersSize dropped by exactly that; removing the unpacked ``linux/amd64`` freed its 2,188,340
  content bytes + its own top snapshot (208,896), and the busybox layer blob it shared with two
  other images went too (their listed sizes fell; they still ran from their snapshots).
* The running or stopped containers of the image do not stop it (force is required): removing
  the platform a running container uses deletes that platform's content under it.
* The last present platform can go: the image stays, tagged, with no platform present (size 0).
* A platform the image lacks or has not present: 404 "... does not provide any platform".
* Below API 1.50 the ``platforms`` parameter is ignored: the call is a plain ``rmi --force`` (seen
  on 26.1.5, API 1.45: ``Untagged: multi:1``). So the plan refuses such engines.

So the plan predicts that line and those bytes, and blocks the cases where the engine would
delete more than the user asked: content other images or other platforms reach, a platform
containers may use, an engine or store where the parameter does nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from tui.core import containerd
from tui.core.classic import PredictedRefusal, Record
from tui.core.containerd_bytes import freed_snapshots
from tui.core.model import Container, Image, Snapshot, short_id
from tui.core.plan import Blocked, Plan, Step
from tui.core.views import display_name

#: The first API version whose image delete takes ``platforms`` (Docker Engine 28.x).
MIN_API = (1, 50)

_PLATFORM = re.compile(r"^([a-z0-9_]+)/([a-z0-9_]+)(?:/([a-z0-9_.]+))?$")
# containerd's normalisation (platforms.Normalize) for the variants it fills in
_DEFAULT_VARIANT = {"arm64": "v8", "arm": "v7"}


class PlatformError(ValueError):
    """A platform string that is not ``os/arch[/variant]``."""


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str = ""

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)

    def to_json(self) -> dict[str, str]:
        """The OCI platform object the engine's ``platforms`` parameter takes."""
        out = {"os": self.os, "architecture": self.architecture}
        if self.variant:
            out["variant"] = self.variant
        return out

    def matches(self, text: str) -> bool:
        """Whether a listed platform (``linux/arm64/v8``) is this one (variants normalised)."""
        try:
            other = parse_platform(text)
        except PlatformError:
            return False
        return (self.os, self.architecture, _variant(self)) == (
            other.os,
            other.architecture,
            _variant(other),
        )


def _variant(p: Platform) -> str:
    return p.variant or _DEFAULT_VARIANT.get(p.architecture, "")


def parse_platform(text: str) -> Platform:
    """``linux/arm64`` or ``linux/arm/v7`` (lower case, as ``docker image ls --tree`` shows)."""
    match = _PLATFORM.match(text.strip())
    if match is None:
        raise PlatformError(
            f"{text!r} is not a platform: give OS/ARCH or OS/ARCH/VARIANT, e.g. linux/arm64 or linux/arm/v7"
        )
    return Platform(match[1], match[2], match[3] or "")


def api_at_least(version: str, minimum: tuple[int, int] = MIN_API) -> bool:
    try:
        major, minor = (int(x) for x in version.split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= minimum


def platform_freed(snapshot: Snapshot, image_id: str, manifest: str) -> tuple[dict[str, int], list[str]]:
    """What removing the platform ``manifest`` of ``image_id`` deletes: its present content blobs
    (every one the manifest reaches, shared or not: the engine deletes them all) and the chains of
    the snapshots only that platform held (the image's unpacked stack, when it is this platform's)."""
    image = snapshot.images[image_id]
    blobs = dict(image.manifest_content.get(manifest, {}))
    chains: list[str] = []
    if image.manifest_unpacked.get(manifest, 0) > 0:
        others = [i for i in snapshot.images if i != image_id]
        chains = freed_snapshots(snapshot, others, snapshot.containers)
    return blobs, chains


def _sharers(snapshot: Snapshot, image: Image, manifest: str, blobs: Mapping[str, int]) -> list[str]:
    """Who else reaches one of ``blobs``: other images, and the image's other platforms."""
    out: list[str] = []
    for other in snapshot.images.values():
        if other.id != image.id and other.content is not None and any(d in other.content for d in blobs):
            out.append(display_name(other, with_id=True))
    for digest, platform, _, _ in image.manifests:
        if digest != manifest and any(d in image.manifest_content.get(digest, {}) for d in blobs):
            out.append(f"its platform {platform}")
    return out


def plan_remove_platform(snapshot: Snapshot, ref: str, platform: Platform) -> Plan:
    """The plan of removing ``platform`` of the image ``ref`` names (never more: see the module)."""
    description = f"remove platform {platform} of {ref}"

    def blocked(reason: str, message: str, image_id: str = "", users: tuple[Container, ...] = ()) -> Plan:
        return Plan(
            kind="rm", description=description, blocked=(Blocked(ref, image_id, reason, message, users),)
        )

    facts = snapshot.facts
    if not snapshot.containerd:
        kind = "Podman" if facts.image_store == "podman" else "the classic (graphdriver) image store"
        return blocked(
            "platforms not supported",
            f"{kind} keeps one platform per image: there is no platform to remove on its own; "
            "remove the image instead (docker-sweep rm REF)",
        )
    if not api_at_least(facts.api_version):
        return blocked(
            "engine too old",
            f"this engine (API {facts.api_version or 'unknown'}, Docker {facts.version or '?'}) cannot "
            "remove one platform; needs Docker 28+ (API 1.50): older engines ignore the platform "
            "and would remove the whole image",
        )
    store = containerd.ContainerdStore(snapshot)
    try:
        image_id = store.resolve(ref)
    except PredictedRefusal as exc:
        return blocked(exc.reason, exc.message)
    image = snapshot.images[image_id]
    name = display_name(image, with_id=True)
    kinds = [(d, p, a) for d, p, kind, a in image.manifests if kind == "image"]
    listed = ", ".join(p + ("" if a else " (not present)") for _, p, a in kinds) or "none listed"
    if len(kinds) < 2:
        return blocked(
            "not multi-platform",
            f"{name} is not a multi-platform image (platforms: {listed}); remove the whole image "
            f"instead: docker-sweep rm {ref}",
            image_id,
        )
    found = [(d, p, a) for d, p, a in kinds if platform.matches(p)]
    if not found:
        return blocked("platform not found", f"{name} has no {platform}; its platforms: {listed}", image_id)
    manifest, listed_as, available = found[0]
    if not available:
        return blocked(
            "platform not present",
            f"{listed_as} of {name} is not present locally: nothing to remove (its platforms: {listed})",
            image_id,
        )
    if manifest not in image.manifest_content:
        return blocked(
            "content not readable",
            "containerd's content store is not readable here, so what the engine would delete "
            "(the platform's blobs, shared or not) cannot be checked; run docker-sweep as a user "
            "who can read the engine's data root",
            image_id,
        )
    users = snapshot.containers_of(image_id)
    unpacked = image.manifest_unpacked.get(manifest, 0)
    if users and (unpacked > 0 or manifest not in image.manifest_unpacked):
        return blocked(
            "in use",
            f"{listed_as} of {name} is unpacked and container(s) use the image: the engine would "
            "delete the content under them (it does not check, even for a running container); "
            "remove the containers first",
            image_id,
            users,
        )
    blobs, chains = platform_freed(snapshot, image_id, manifest)
    if sharers := _sharers(snapshot, image, manifest, blobs):
        return blocked(
            "content shared",
            f"content of {listed_as} of {name} is also used by {', '.join(sharers)}: the engine "
            "deletes every blob of the platform, so it would be removed from them too",
            image_id,
        )
    warnings: list[str] = [
        f"removes only platform {listed_as} of {name} (manifest {short_id(manifest)}: "
        f"{len(blobs)} content blob(s)); the image keeps its id and tags"
    ]
    if not [1 for d, _, a in kinds if a and d != manifest]:
        warnings.append(
            f"{listed_as} is the last platform present: {name} stays with no platform to run; "
            f"`docker-sweep rm {ref}` removes the image itself"
        )
    if image.local_only:
        warnings.append(f"{name}: {image.provenance or 'local-only'}; so is its platform {listed_as}")
    step = Step(
        "delete_image",
        ref,
        image_id,
        force=True,
        expect=(Record("Deleted", manifest),),
        seen_refs=image.refs,
        seen_containers=tuple(c.id for c in users),
        platform=listed_as,  # the manifest's own platform: the engine matches it strictly
    )
    snapshot_bytes, unknown = snapshot.measure(chains)
    if sum(1 for v in image.manifest_unpacked.values() if v > 0) > 1 and unpacked > 0:
        unknown += 1  # which unpacked stack the image's layers are is not known
        warnings.append("several platforms are unpacked: the snapshots freed are not known exactly")
    content_bytes = sum(blobs.values())
    return Plan(
        kind="rm",
        description=description,
        steps=(step,),
        freed_layers=tuple(chains),
        reclaim_bytes=content_bytes + snapshot_bytes,
        warnings=tuple(warnings),
        force=False,
        layers_known=image.layers is not None,
        unknown_layers=unknown,
        content_bytes=content_bytes,
        snapshot_bytes=snapshot_bytes,
    )
