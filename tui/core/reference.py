"""Docker image reference grammar and normalization.

A pure-Python port of the behaviour of ``github.com/distribution/reference``
(``regexp.go``, ``reference.go``, ``normalize.go``, ``helpers.go``) together
with the digest validation it delegates to ``github.com/opencontainers/go-digest``.

Grammar::

    reference        := name [ ":" tag ] [ "@" digest ]
    name             := [domain '/'] remote-name
    domain           := host [':' port-number]
    host             := domain-name | IPv4address | \\[ IPv6address \\]
    domain-name      := domain-component ['.' domain-component]*
    domain-component := /([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/
    path-component   := /[a-z0-9]+/ [separator /[a-z0-9]+/]*
    separator        := /[_.]|__|[-]+/
    tag              := /[\\w][\\w.-]{0,127}/
    digest           := algorithm ":" /[0-9a-fA-F]{32,}/
    identifier       := /[a-f0-9]{64}/

Go anchors its expressions with ``^...$``; here every match uses
:func:`re.fullmatch` (Go's ``$`` never matches before a trailing newline) and
``re.ASCII`` (Go's ``\\w`` is ASCII-only).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property, lru_cache

__all__ = [
    "DEFAULT_DOMAIN",
    "DEFAULT_TAG",
    "REPOSITORY_NAME_TOTAL_LENGTH_MAX",
    "Reference",
    "InvalidReference",
    "familiar_ref",
    "normalize_ref",
    "parse",
    "parse_any_reference",
    "parse_docker_ref",
    "parse_named",
    "parse_normalized_named",
    "repository_of",
    "split_tag",
    "tag_name_only",
    "trim_named",
    "validate_digest",
    "with_digest",
    "with_tag",
]

REPOSITORY_NAME_TOTAL_LENGTH_MAX = 255
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
DEFAULT_DOMAIN = "docker.io"
OFFICIAL_REPO_PREFIX = "library/"
DEFAULT_TAG = "latest"

# Error strings, identical to the Go sentinel errors.
ERR_REFERENCE_INVALID_FORMAT = "invalid reference format"
ERR_TAG_INVALID_FORMAT = "invalid tag format"
ERR_DIGEST_INVALID_FORMAT = "invalid digest format"
ERR_NAME_CONTAINS_UPPERCASE = "repository name must be lowercase"
ERR_NAME_EMPTY = "repository name must have at least one component"
ERR_NAME_TOO_LONG = f"repository name must not be more than {REPOSITORY_NAME_TOTAL_LENGTH_MAX} characters"
ERR_NAME_NOT_CANONICAL = "repository name must be canonical"
# go-digest errors.
ERR_CHECKSUM_INVALID_FORMAT = "invalid checksum digest format"
ERR_CHECKSUM_INVALID_LENGTH = "invalid checksum digest length"
ERR_DIGEST_UNSUPPORTED = "unsupported digest algorithm"

# Hex length of each digest algorithm available in a Docker binary (go-digest).
DIGEST_ALGORITHMS: dict[str, int] = {"sha256": 64, "sha384": 96, "sha512": 128}

# --- regexp.go -------------------------------------------------------------
_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = _DOMAIN_COMPONENT + r"(?:\." + _DOMAIN_COMPONENT + r")*"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN_AND_PORT = r"(?:" + _DOMAIN_NAME + "|" + _IPV6 + r")(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9A-Fa-f]{32,}"
_PATH_COMPONENT = _ALNUM + r"(?:" + _SEPARATOR + _ALNUM + r")*"
_REMOTE_NAME = _PATH_COMPONENT + r"(?:/" + _PATH_COMPONENT + r")*"
_NAME = r"(?:" + _DOMAIN_AND_PORT + r"/)?" + _REMOTE_NAME

_REFERENCE_RE = re.compile(r"(" + _NAME + r")(?::(" + _TAG + r"))?(?:@(" + _DIGEST + r"))?", re.ASCII)
_NAME_RE = re.compile(r"(?:(" + _DOMAIN_AND_PORT + r")/)?(" + _REMOTE_NAME + r")", re.ASCII)
_TAG_RE = re.compile(_TAG, re.ASCII)
_DIGEST_RE = re.compile(_DIGEST, re.ASCII)
_IDENTIFIER_RE = re.compile(r"[a-f0-9]{64}", re.ASCII)
# go-digest's DigestRegexp, used to tell "unsupported" from "malformed".
_GO_DIGEST_RE = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+", re.ASCII)
_LOWER_HEX_RE = re.compile(r"[a-f0-9]+", re.ASCII)


class InvalidReference(ValueError):
    """A string is not a valid image reference; the message matches the Go error."""


#: Parsed references are immutable values: the parsers below remember recent answers, so a store
#: of 20,000 images does not re-run the regular expressions for every plan.
_CACHE_SIZE = 1 << 17


@lru_cache(maxsize=_CACHE_SIZE)
def _split_domain(name: str) -> tuple[str, str]:
    """Split a name into (domain, path) like Go's ``splitDomain``."""
    match = _NAME_RE.fullmatch(name)
    if match is None:
        return "", name
    return match.group(1) or "", match.group(2)


def _join(domain: str, path: str) -> str:
    return f"{domain}/{path}" if domain else path


@dataclass(frozen=True)
class Reference:
    """A named image reference with an optional tag and digest.

    Build instances with the ``parse*`` functions; fields are not re-validated.
    """

    name: str
    tag: str | None = None
    digest: str | None = None

    @property
    def domain(self) -> str:
        """Registry part of the name (``""`` if none), e.g. ``docker.io``."""
        return _split_domain(self.name)[0]

    @property
    def path(self) -> str:
        """Repository path without the domain, e.g. ``library/busybox``."""
        return _split_domain(self.name)[1]

    def string(self) -> str:
        """Full reference as Go's ``String()``: ``name[:tag][@digest]``."""
        return self._format(self.name)

    def familiar_name(self) -> str:
        """Name with ``docker.io/`` and an official ``library/`` prefix removed."""
        return _familiar_name(self.name)

    def familiar(self) -> str:
        """Go's ``FamiliarString``: the familiar name plus tag and digest."""
        return self._familiar

    @cached_property
    def _familiar(self) -> str:
        # Remembered on the (immutable) instance: a prune plan of 20,000 images asks it for every
        # reference it removes; the parsers' cache hands out the same instances.
        return self._format(self.familiar_name())

    def _format(self, name: str) -> str:
        tag = f":{self.tag}" if self.tag else ""
        digest = f"@{self.digest}" if self.digest else ""
        return name + tag + digest

    def __str__(self) -> str:
        return self.string()


@lru_cache(maxsize=_CACHE_SIZE)
def _familiar_name(name: str) -> str:
    domain, path = _split_domain(name)
    if domain == DEFAULT_DOMAIN:
        domain = ""
        if path.startswith(OFFICIAL_REPO_PREFIX):
            remainder = path[len(OFFICIAL_REPO_PREFIX) :]
            if "/" not in remainder:
                path = remainder
    return _join(domain, path)


def validate_digest(digest: str) -> None:
    """Validate ``algorithm:hex`` like go-digest's ``Digest.Validate``."""
    algorithm, sep, encoded = digest.partition(":")
    if not sep or not encoded:
        raise InvalidReference(ERR_CHECKSUM_INVALID_FORMAT)
    size = DIGEST_ALGORITHMS.get(algorithm)
    if size is None:
        if _GO_DIGEST_RE.fullmatch(digest) is None:
            raise InvalidReference(ERR_CHECKSUM_INVALID_FORMAT)
        raise InvalidReference(ERR_DIGEST_UNSUPPORTED)
    if len(encoded) != size:
        raise InvalidReference(ERR_CHECKSUM_INVALID_LENGTH)
    if _LOWER_HEX_RE.fullmatch(encoded) is None:
        raise InvalidReference(ERR_CHECKSUM_INVALID_FORMAT)


def parse(s: str) -> Reference:
    """Go ``Parse``: syntactic parse with no normalization (``busybox`` stays as is)."""
    if s == "":
        raise InvalidReference(ERR_NAME_EMPTY)
    match = _REFERENCE_RE.fullmatch(s)
    if match is None:
        lowered = s.lower()
        if lowered != s and _REFERENCE_RE.fullmatch(lowered) is not None:
            raise InvalidReference(ERR_NAME_CONTAINS_UPPERCASE)
        raise InvalidReference(ERR_REFERENCE_INVALID_FORMAT)
    name, tag, digest = match.group(1), match.group(2), match.group(3)
    domain, path = _split_domain(name)
    if len(path) > REPOSITORY_NAME_TOTAL_LENGTH_MAX:
        raise InvalidReference(ERR_NAME_TOO_LONG)
    if digest:
        validate_digest(digest)
    return Reference(_join(domain, path), tag or None, digest or None)


def _split_docker_domain(name: str) -> tuple[str, str]:
    """Go ``splitDockerDomain``: pick the registry, defaulting to Docker Hub."""
    maybe_domain, sep, maybe_remote = name.partition("/")
    if not sep:
        return DEFAULT_DOMAIN, OFFICIAL_REPO_PREFIX + name
    if maybe_domain == LEGACY_DEFAULT_DOMAIN:
        domain, remote = DEFAULT_DOMAIN, maybe_remote
    elif (
        maybe_domain == "localhost"
        or "." in maybe_domain
        or ":" in maybe_domain
        or maybe_domain.lower() != maybe_domain
    ):
        domain, remote = maybe_domain, maybe_remote
    else:
        domain, remote = DEFAULT_DOMAIN, name
    if domain == DEFAULT_DOMAIN and "/" not in remote:
        remote = OFFICIAL_REPO_PREFIX + remote
    return domain, remote


@lru_cache(maxsize=_CACHE_SIZE)
def parse_normalized_named(s: str) -> Reference:
    """Go ``ParseNormalizedNamed``: expand a familiar name (no ``:latest`` added)."""
    if _IDENTIFIER_RE.fullmatch(s) is not None:
        raise InvalidReference(f"invalid repository name ({s}), cannot specify 64-byte hexadecimal strings")
    domain, remainder = _split_docker_domain(s)
    remote = remainder.split(":", 1)[0]
    if remote.lower() != remote:
        raise InvalidReference(
            f"{ERR_REFERENCE_INVALID_FORMAT}: repository name ({remote}) must be lowercase"
        )
    return parse(f"{domain}/{remainder}")


def parse_named(s: str) -> Reference:
    """Go ``ParseNamed``: like :func:`parse_normalized_named` but ``s`` must be canonical."""
    ref = parse_normalized_named(s)
    if ref.string() != s:
        raise InvalidReference(ERR_NAME_NOT_CANONICAL)
    return ref


@lru_cache(maxsize=_CACHE_SIZE)
def parse_any_reference(s: str) -> Reference | str:
    """Go ``ParseAnyReference``: an image ID or digest yields the digest string."""
    if _IDENTIFIER_RE.fullmatch(s) is not None:
        return f"sha256:{s}"
    try:
        validate_digest(s)
    except InvalidReference:
        return parse_normalized_named(s)
    return s


def parse_docker_ref(s: str) -> Reference:
    """Go ``ParseDockerRef``: normalize, add ``latest``, drop the tag if digested."""
    ref = parse_normalized_named(s)
    if ref.tag is not None and ref.digest is not None:
        return Reference(ref.name, None, ref.digest)
    return tag_name_only(ref)


def with_tag(ref: Reference, tag: str) -> Reference:
    """Go ``WithTag``: return ``ref`` with ``tag`` (keeping any digest)."""
    if _TAG_RE.fullmatch(tag) is None:
        raise InvalidReference(ERR_TAG_INVALID_FORMAT)
    return Reference(ref.name, tag, ref.digest)


def with_digest(ref: Reference, digest: str) -> Reference:
    """Go ``WithDigest``: return ``ref`` with ``digest`` (keeping any tag)."""
    if _DIGEST_RE.fullmatch(digest) is None:
        raise InvalidReference(ERR_DIGEST_INVALID_FORMAT)
    return Reference(ref.name, ref.tag, digest)


def tag_name_only(ref: Reference) -> Reference:
    """Go ``TagNameOnly``: add tag ``latest`` when there is neither tag nor digest."""
    if ref.tag is None and ref.digest is None:
        return with_tag(ref, DEFAULT_TAG)
    return ref


def trim_named(ref: Reference) -> Reference:
    """Go ``TrimNamed``: drop any tag and digest."""
    return Reference(ref.name)


def normalize_ref(s: str) -> str:
    """Fully qualified form of ``s``, e.g. ``busybox`` -> ``docker.io/library/busybox:latest``."""
    return tag_name_only(parse_normalized_named(s)).string()


def familiar_ref(s: str) -> str:
    """Familiar form of ``s`` with ``latest`` added: ``docker.io/busybox`` -> ``busybox:latest``."""
    return tag_name_only(parse_normalized_named(s)).familiar()


def split_tag(ref: str) -> tuple[str, str]:
    """``host:5000/repo:tag`` -> ``("host:5000/repo", "tag")``; no tag -> ``(ref, "latest")``.

    A plain split of a ``repo:tag`` the engine reported (``RepoTags``), without validation or
    normalization: the tag is what follows the last ``:`` unless that ``:`` is a registry port.
    """
    repo, sep, tag = ref.rpartition(":")
    if not sep or "/" in tag:
        return ref, DEFAULT_TAG
    return repo, tag


def repository_of(ref: str) -> str:
    """The repository of a ``repo:tag`` (see :func:`split_tag`)."""
    return split_tag(ref)[0]
