"""Tests for tui.core.reference, with cases taken from distribution/reference's Go tests."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from tui.core.reference import (
    InvalidReference,
    Reference,
    familiar_ref,
    normalize_ref,
    parse,
    parse_any_reference,
    parse_docker_ref,
    parse_named,
    parse_normalized_named,
    tag_name_only,
    trim_named,
    validate_digest,
    with_digest,
    with_tag,
)

F64 = "f" * 64
HEX64 = "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a"
REDIS_DGST = "sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c"
BUSYBOX_DGST = "sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582"

INVALID = "invalid reference format"
UPPER = "repository name must be lowercase"
TOO_LONG = "repository name must not be more than 255 characters"


# --- reference_test.go: TestReferenceParse (Parse, no normalization) ---------
# (input, name, domain, tag, digest)
PARSE_OK = [
    ("test_com", "test_com", "", None, None),
    ("test.com:tag", "test.com", "", "tag", None),
    ("test.com:5000", "test.com", "", "5000", None),
    ("test.com/repo:tag", "test.com/repo", "test.com", "tag", None),
    ("test:5000/repo", "test:5000/repo", "test:5000", None, None),
    ("test:5000/repo:tag", "test:5000/repo", "test:5000", "tag", None),
    (f"test:5000/repo@sha256:{F64}", "test:5000/repo", "test:5000", None, f"sha256:{F64}"),
    (f"test:5000/repo:tag@sha256:{F64}", "test:5000/repo", "test:5000", "tag", f"sha256:{F64}"),
    ("lowercase:Uppercase", "lowercase", "", "Uppercase", None),
    ("a/" * 127 + "a:tag-puts-this-over-max", "a/" * 127 + "a", "a", "tag-puts-this-over-max", None),
    ("sub-dom1.foo.com/bar/baz/quux", "sub-dom1.foo.com/bar/baz/quux", "sub-dom1.foo.com", None, None),
    (
        "b.gcr.io/test.example.com/my-app:test.example.com",
        "b.gcr.io/test.example.com/my-app",
        "b.gcr.io",
        "test.example.com",
        None,
    ),
    ("xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com/myimage", "xn--n3h.com", "xn--n3h.com", None),
    (
        f"xn--7o8h.com/myimage:xn--7o8h.com@sha256:{F64}",
        "xn--7o8h.com/myimage",
        "xn--7o8h.com",
        "xn--7o8h.com",
        f"sha256:{F64}",
    ),
    ("foo_bar.com:8080", "foo_bar.com", "", "8080", None),
    ("foo/foo_bar.com:8080", "foo/foo_bar.com", "foo", "8080", None),
    ("192.168.1.1", "192.168.1.1", "", None, None),
    ("192.168.1.1:5000", "192.168.1.1", "", "5000", None),
    ("192.168.1.1:5000/repo:5050", "192.168.1.1:5000/repo", "192.168.1.1:5000", "5050", None),
    ("[2001:db8::1]/repo", "[2001:db8::1]/repo", "[2001:db8::1]", None, None),
    ("[2001:db8:1:2:3:4:5:6]/repo:tag", "[2001:db8:1:2:3:4:5:6]/repo", "[2001:db8:1:2:3:4:5:6]", "tag", None),
    (
        f"[2001:db8::1]:5000/repo:tag@sha256:{F64}",
        "[2001:db8::1]:5000/repo",
        "[2001:db8::1]:5000",
        "tag",
        f"sha256:{F64}",
    ),
    ("[::1]:5000/repo", "[::1]:5000/repo", "[::1]:5000", None, None),
    ("example.com/" + "a" * 255 + ":tag", "example.com/" + "a" * 255, "example.com", "tag", None),
]

PARSE_ERR = [
    ("", "repository name must have at least one component"),
    (":justtag", INVALID),
    (f"@sha256:{F64}", INVALID),
    ("repo@sha256:" + "f" * 34, "invalid checksum digest length"),
    (f"validname@invaliddigest:{F64}", "unsupported digest algorithm"),
    ("Uppercase:tag", UPPER),
    ("test:5000/Uppercase/lowercase:tag", UPPER),
    ("domain/" + "a" * 256 + ":tag", TOO_LONG),
    ("aa/asdf$$^/aa", INVALID),
    ("[2001:db8::1]", INVALID),
    ("[2001:db8::1]:5000", INVALID),
    ("[2001:db8::1]:tag", INVALID),
    ("[fe80::1%eth0]:5000/repo", INVALID),
    ("[fe80::1%@invalidzone]:5000/repo", INVALID),
    ("busybox\n", INVALID),  # Go's $ never matches before a trailing newline
    ("repo@sha256:" + "F" * 64, "invalid checksum digest format"),
]


@pytest.mark.parametrize(("text", "name", "domain", "tag", "digest"), PARSE_OK)
def test_parse_valid(text: str, name: str, domain: str, tag: str | None, digest: str | None) -> None:
    ref = parse(text)
    assert ref == Reference(name, tag, digest)
    assert ref.string() == text
    assert ref.domain == domain


@pytest.mark.parametrize(("text", "message"), PARSE_ERR)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidReference) as exc:
        parse(text)
    assert str(exc.value) == message


# --- normalize_test.go: TestValidateReferenceName / TestValidateRemoteName ---
VALID_NAMES = [
    "docker/docker",
    "library/debian",
    "debian",
    "localhost/library/debian",
    "localhost/debian",
    "LOCALDOMAIN/library/debian",
    "LOCALDOMAIN/debian",
    "docker.io/docker/docker",
    "docker.io/library/debian",
    "docker.io/debian",
    "index.docker.io/docker/docker",
    "index.docker.io/library/debian",
    "index.docker.io/debian",
    "127.0.0.1:5000/docker/docker",
    "127.0.0.1:5000/library/debian",
    "127.0.0.1:5000/debian",
    "192.168.0.1",
    "192.168.0.1:80",
    "192.168.0.1:8/debian",
    "192.168.0.2:25000/debian",
    "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
    "[fc00::1]:5000/docker",
    "[fc00::1]:5000/docker/docker",
    "[fc00:1:2:3:4:5:6:7]:5000/library/debian",
    f"docker.io/{HEX64}",
    "Docker/docker",
    "DOCKER/docker",
    "docker-rules/docker",
    "docker---rules/docker",
    "doc/docker",
    "d/docker",
    "jess/t",
    "dock__er/docker",
]
INVALID_NAMES = [
    "https://github.com/docker/docker",
    "docker/Docker",
    "-docker",
    "-docker/docker",
    "-docker.io/docker/docker",
    "docker///docker",
    "docker.io/docker/Docker",
    "docker.io/docker///docker",
    "[fc00::1]",
    "[fc00::1]:5000",
    "fc00::1:5000/debian",
    "[fe80::1%eth0]:5000/debian",
    "[2001:db8:3:4::192.0.2.33]:5000/debian",
    HEX64,
    "docker-/docker",
    "-docker-/docker",
    "____/____",
    "_docker/_docker",
    "dock..er/docker",
    "dock_.er/docker",
    "dock-.er/docker",
    "docker/",
    "this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_" * 4 + "/docker",
]


@pytest.mark.parametrize("text", VALID_NAMES)
def test_valid_names(text: str) -> None:
    parse_normalized_named(text)


@pytest.mark.parametrize("text", INVALID_NAMES)
def test_invalid_names(text: str) -> None:
    with pytest.raises(InvalidReference):
        parse_normalized_named(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (HEX64, f"invalid repository name ({HEX64}), cannot specify 64-byte hexadecimal strings"),
        ("docker/Docker", f"{INVALID}: repository name (docker/Docker) must be lowercase"),
        ("Uppercase:tag", f"{INVALID}: repository name (library/Uppercase) must be lowercase"),
        ("docker.io/docker/Docker", f"{INVALID}: repository name (docker/Docker) must be lowercase"),
        ("docker///docker", INVALID),
        ("", INVALID),
        ("docker.io/" + "a" * 250, TOO_LONG),  # "library/" pushes the path over 255
    ],
)
def test_parse_normalized_named_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidReference) as exc:
        parse_normalized_named(text)
    assert str(exc.value) == message


# --- normalize_test.go: TestParseRepositoryInfo ------------------------------
# (path, familiar name, full name, ambiguous name, domain)
REPO_INFO = [
    ("fooo", "localhost/fooo", "localhost/fooo", "", "localhost"),
    ("fooo/bar", "localhost/fooo/bar", "localhost/fooo/bar", "", "localhost"),
    ("fooo", "LOCALDOMAIN/fooo", "LOCALDOMAIN/fooo", "", "LOCALDOMAIN"),
    ("fooo/bar", "fooo/bar", "docker.io/fooo/bar", "index.docker.io/fooo/bar", "docker.io"),
    ("library/ubuntu", "ubuntu", "docker.io/library/ubuntu", "library/ubuntu", "docker.io"),
    ("nonlibrary/ubuntu", "nonlibrary/ubuntu", "docker.io/nonlibrary/ubuntu", "", "docker.io"),
    ("other/library", "other/library", "docker.io/other/library", "", "docker.io"),
    (
        "private/moonbase",
        "127.0.0.1:8000/private/moonbase",
        "127.0.0.1:8000/private/moonbase",
        "",
        "127.0.0.1:8000",
    ),
    ("privatebase", "example.com/privatebase", "example.com/privatebase", "", "example.com"),
    (
        "privatebasee",
        "example.com:8000/privatebasee",
        "example.com:8000/privatebasee",
        "",
        "example.com:8000",
    ),
    (
        "library/ubuntu-12.04-base",
        "ubuntu-12.04-base",
        "docker.io/library/ubuntu-12.04-base",
        "index.docker.io/library/ubuntu-12.04-base",
        "docker.io",
    ),
    ("library/foo", "foo", "docker.io/library/foo", "docker.io/foo", "docker.io"),
    ("library/foo/bar", "library/foo/bar", "docker.io/library/foo/bar", "", "docker.io"),
    ("store/foo/bar", "store/foo/bar", "docker.io/store/foo/bar", "", "docker.io"),
    ("bar", "Foo/bar", "Foo/bar", "", "Foo"),
    ("bar", "FOO/bar", "FOO/bar", "", "FOO"),
]


@pytest.mark.parametrize(("path", "familiar", "full", "ambiguous", "domain"), REPO_INFO)
def test_repository_info(path: str, familiar: str, full: str, ambiguous: str, domain: str) -> None:
    for text in filter(None, (familiar, full, ambiguous)):
        ref = parse_normalized_named(text)
        assert ref.familiar_name() == familiar
        assert ref.string() == full
        assert ref.name == full
        assert ref.domain == domain
        assert ref.path == path
        assert (ref.tag, ref.digest) == (None, None)


# --- normalize_test.go: TestNormalizedSplitHostname --------------------------
@pytest.mark.parametrize(
    ("text", "domain", "path"),
    [
        ("test.com/foo", "test.com", "foo"),
        ("test_com/foo", "docker.io", "test_com/foo"),
        ("docker/migrator", "docker.io", "docker/migrator"),
        ("test.com:8080/foo", "test.com:8080", "foo"),
        ("test-com:8080/foo", "test-com:8080", "foo"),
        ("foo", "docker.io", "library/foo"),
        ("xn--n3h.com:18080/foo", "xn--n3h.com:18080", "foo"),
        ("docker.io/foo", "docker.io", "library/foo"),
        ("docker.io/library/foo/bar", "docker.io", "library/foo/bar"),
        ("index.docker.io/x", "docker.io", "library/x"),
        ("localhost/x", "localhost", "x"),
        ("localhost:5000/x", "localhost:5000", "x"),
        ("example.com/x", "example.com", "x"),
    ],
)
def test_normalized_split_hostname(text: str, domain: str, path: str) -> None:
    ref = parse_normalized_named(text)
    assert (ref.domain, ref.path) == (domain, path)


def test_tag_and_digest() -> None:
    short = "busybox:latest@sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa"
    ref = parse_normalized_named(short)
    assert ref.string() == "docker.io/library/" + short
    assert ref.tag == "latest"
    assert ref.digest == short.split("@")[1]
    assert ref.familiar() == short
    assert ref.familiar_name() == "busybox"
    assert trim_named(ref) == Reference("docker.io/library/busybox")
    assert tag_name_only(ref) is ref


# --- normalize_test.go: TestParseAnyReference --------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("redis", "docker.io/library/redis"),
        ("redis:latest", "docker.io/library/redis:latest"),
        ("docker.io/library/redis:latest", "docker.io/library/redis:latest"),
        (f"redis@{REDIS_DGST}", f"docker.io/library/redis@{REDIS_DGST}"),
        ("dmcgowan/myapp", "docker.io/dmcgowan/myapp"),
        ("docker.io/mcgowan/myapp:latest", "docker.io/mcgowan/myapp:latest"),
        (f"dmcgowan/myapp@{REDIS_DGST}", f"docker.io/dmcgowan/myapp@{REDIS_DGST}"),
        (REDIS_DGST[:-1], f"docker.io/library/{REDIS_DGST[:-1]}"),  # 63 hex: a tag
        (REDIS_DGST[7:-1], f"docker.io/library/{REDIS_DGST[7:-1]}"),
        ("dbcc1", "docker.io/library/dbcc1"),
    ],
)
def test_parse_any_reference_named(text: str, expected: str) -> None:
    ref = parse_any_reference(text)
    assert isinstance(ref, Reference)
    assert ref.string() == expected
    assert ref == parse(expected)


@pytest.mark.parametrize("text", [REDIS_DGST, REDIS_DGST[7:]])
def test_parse_any_reference_digest(text: str) -> None:
    assert parse_any_reference(text) == REDIS_DGST


# --- normalize_test.go: TestParseDockerRef -----------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("busybox", "docker.io/library/busybox:latest"),
        ("busybox:latest", "docker.io/library/busybox:latest"),
        (f"busybox@{BUSYBOX_DGST}", f"docker.io/library/busybox@{BUSYBOX_DGST}"),
        ("library/busybox", "docker.io/library/busybox:latest"),
        ("docker.io/busybox", "docker.io/library/busybox:latest"),
        ("docker.io/library/busybox", "docker.io/library/busybox:latest"),
        ("docker.io/busybox:latest", "docker.io/library/busybox:latest"),
        ("gcr.io/library/busybox", "gcr.io/library/busybox:latest"),
        (f"gcr.io/library/busybox:latest@{BUSYBOX_DGST}", f"gcr.io/library/busybox@{BUSYBOX_DGST}"),
    ],
)
def test_parse_docker_ref(text: str, expected: str) -> None:
    assert parse_docker_ref(text).string() == expected
    assert parse(expected).string() == expected


# --- reference_test.go: TestParseNamed --------------------------------------
@pytest.mark.parametrize(
    ("text", "domain", "path"),
    [
        ("test.com/foo", "test.com", "foo"),
        ("test:8080/foo", "test:8080", "foo"),
        ("docker.io/library/foo", "docker.io", "library/foo"),
        ("test_com/foo", None, None),
        ("test.com", None, None),
        ("foo", None, None),
        ("library/foo", None, None),
        ("docker.io/foo", None, None),
    ],
)
def test_parse_named(text: str, domain: str | None, path: str | None) -> None:
    if domain is None:
        with pytest.raises(InvalidReference, match="^repository name must be canonical$"):
            parse_named(text)
    else:
        ref = parse_named(text)
        assert (ref.domain, ref.path) == (domain, path)


def test_with_tag_and_digest() -> None:
    short = "sha256:1234567890098765432112345667890098765"  # only the regexp is checked
    ref = parse("test.com:8000/foo")
    assert with_tag(ref, "TAG5").string() == "test.com:8000/foo:TAG5"
    assert with_tag(with_digest(ref, short), "TAG5").string() == f"test.com:8000/foo:TAG5@{short}"
    latest = with_tag(ref, "latest")
    assert with_digest(latest, short).string() == f"test.com:8000/foo:latest@{short}"
    busybox = parse_normalized_named("busybox")
    with pytest.raises(InvalidReference, match="^invalid tag format$"):
        with_tag(busybox, "-foo")
    with pytest.raises(InvalidReference, match="^invalid digest format$"):
        with_digest(busybox, "foo")


@pytest.mark.parametrize(
    ("digest", "message"),
    [
        (f"sha256:{F64}", None),
        ("sha512:" + "a" * 128, None),
        ("sha256:" + "a" * 63, "invalid checksum digest length"),
        ("sha256:" + "A" * 64, "invalid checksum digest format"),
        ("sha256:" + "g" * 64, "invalid checksum digest format"),
        ("sha256", "invalid checksum digest format"),
        ("sha256:", "invalid checksum digest format"),
        ("md5:" + "a" * 32, "unsupported digest algorithm"),
        ("MD5:" + "a" * 32, "invalid checksum digest format"),
    ],
)
def test_validate_digest(digest: str, message: str | None) -> None:
    if message is None:
        validate_digest(digest)
    else:
        with pytest.raises(InvalidReference) as exc:
            validate_digest(digest)
        assert str(exc.value) == message


def test_convenience_helpers() -> None:
    assert normalize_ref("busybox") == "docker.io/library/busybox:latest"
    assert normalize_ref("user/app:1") == "docker.io/user/app:1"
    assert familiar_ref("docker.io/library/busybox") == "busybox:latest"
    assert familiar_ref("index.docker.io/user/app:1") == "user/app:1"
    assert familiar_ref("localhost:5000/app") == "localhost:5000/app:latest"
    dgst = f"localhost:5000/app@sha256:{F64}"
    assert familiar_ref(dgst) == dgst
    assert normalize_ref(dgst) == dgst
    ref = parse_normalized_named("localhost:5000/app")
    assert ref.familiar_name() == "localhost:5000/app"
    assert str(ref) == "localhost:5000/app"


def test_hex_name_is_not_familiar_round_trippable() -> None:
    # Go quirk: "docker.io/<64 hex>" is valid, but its familiar form is refused.
    ref = parse_normalized_named(f"docker.io/{HEX64}")
    assert ref.familiar() == HEX64
    with pytest.raises(InvalidReference):
        parse_normalized_named(ref.familiar())


# --- property tests ---------------------------------------------------------
_component = st.from_regex(r"[a-z0-9]{1,6}(?:(?:[._]|__|-{1,3})[a-z0-9]{1,6}){0,2}", fullmatch=True)
_path = st.lists(_component, min_size=1, max_size=3).map("/".join)
_domain = st.one_of(
    st.none(),
    st.sampled_from(["docker.io", "index.docker.io", "localhost", "localhost:5000", "Foo", "[::1]:5000"]),
    st.from_regex(r"[a-z0-9]{1,5}(?:-[a-z0-9]{1,5})?\.[a-z]{2,4}(?::[0-9]{1,5})?", fullmatch=True),
)
_tag = st.none() | st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True)
_digest = st.none() | st.from_regex(r"[0-9a-f]{64}", fullmatch=True).map("sha256:".__add__)


@st.composite
def _references(draw: st.DrawFn) -> str:
    domain, path, tag, digest = draw(_domain), draw(_path), draw(_tag), draw(_digest)
    text = f"{domain}/{path}" if domain else path
    text += f":{tag}" if tag else ""
    text += f"@{digest}" if digest else ""
    assume(len(text) < 200)
    return text


@given(_references())
def test_prop_string_round_trips(text: str) -> None:
    ref = parse_normalized_named(text)
    assert parse_normalized_named(ref.string()) == ref
    assert parse(ref.string()) == ref
    assert parse_named(ref.string()) == ref


def _familiar_is_ambiguous(ref: Reference) -> bool:
    """Go's own quirk: ``docker.io/0.0/x`` is familiar ``0.0/x``, which re-parses with domain 0.0."""
    first = ref.familiar_name().split("/")[0]
    return (
        ref.domain == "docker.io"
        and "/" in ref.familiar_name()
        and ("." in first or ":" in first or first == "localhost")
    )


@given(_references())
def test_prop_familiar_round_trips(text: str) -> None:
    ref = parse_normalized_named(text)
    assume(re.fullmatch(r"[a-f0-9]{64}", ref.familiar()) is None)
    assume(not _familiar_is_ambiguous(ref))
    assert parse_normalized_named(ref.familiar()) == ref
    assert parse_normalized_named(ref.familiar_name()) == trim_named(ref)


@given(_references())
def test_prop_normalize_idempotent(text: str) -> None:
    assume(not _familiar_is_ambiguous(parse_normalized_named(text)))
    normalized = normalize_ref(text)
    assert normalize_ref(normalized) == normalized
    familiar = familiar_ref(text)
    assert familiar_ref(familiar) == familiar
    assert normalize_ref(familiar) == normalized
    ref = parse(normalized)
    assert ref.tag is not None or ref.digest is not None


@given(st.text(alphabet=st.characters(codec="ascii"), max_size=80) | st.text(max_size=40))
def test_prop_only_reference_errors(text: str) -> None:
    for func in (parse, parse_normalized_named, parse_any_reference, normalize_ref):
        try:
            result = func(text)
        except InvalidReference:
            continue
        if isinstance(result, Reference):
            assert parse(result.string()) == result
