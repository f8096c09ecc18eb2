"""The docker SDK's private methods docker-sweep relies on: here and nowhere else.

docker-py 7 has no public call for ``GET /images/get`` with several ``names``: ``APIClient.get_image``
takes one image, and an archive saved by id alone holds no tags (a restored backup would come back
untagged). So :func:`image_archive` uses the three private ``APIClient`` methods that ``get_image``
itself is built on: ``_url``, ``_get`` and ``_raise_for_status``. ``tests/test_sdk_pins.py`` checks
that they still exist with these signatures and still behave so, and fails loudly when a docker
release changes them (``pyproject.toml`` keeps ``docker<8`` for the same reason).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol, cast

import docker


class _Response(Protocol):
    def iter_content(self, chunk_size: int, decode_unicode: bool) -> Iterator[bytes]: ...

    def close(self) -> None: ...


#: The private methods used, by name (the pin test checks exactly these).
PRIVATE_METHODS = ("_url", "_get", "_raise_for_status")


@contextlib.contextmanager
def image_archive(api: docker.APIClient, names: Sequence[str], chunk_size: int) -> Iterator[Iterator[bytes]]:
    """``GET /images/get?names=…`` (``docker save n1 n2 …``) as a stream of ``chunk_size`` chunks.

    Raises ``docker.errors.APIError`` (``NotFound`` for a missing image) like the public calls.
    """
    # getattr: types-docker declares none of the private methods (and they are not API).
    url = cast(Callable[[str], str], getattr(api, "_url"))("/images/get")  # noqa: B009
    get = cast(Callable[..., _Response], getattr(api, "_get"))  # noqa: B009
    raise_for_status = cast(Callable[[_Response], None], getattr(api, "_raise_for_status"))  # noqa: B009
    response = get(url, params={"names": list(names)}, stream=True)
    with contextlib.closing(response):
        raise_for_status(response)
        yield response.iter_content(chunk_size, False)
