"""What ``docker load`` says it loaded: the ``Loaded image: REF`` and ``Loaded image ID: ID`` lines.

Classic-store quirk (seen on dockerd 20.10): tags come as ``Loaded image: repo:tag``, but
``Loaded image ID: sha256:…`` lines appear only when the *last* image in the archive is untagged,
and then for every image, tagged or not; an untagged image that is not last is not reported at all.
"""

from __future__ import annotations

_PREFIXES = ("Loaded image: ", "Loaded image ID: ")


def loaded_images(stream: str) -> list[str]:
    """The references and image IDs reported in ``stream`` (one progress line's ``stream`` text,
    which may hold several lines), in the engine's order."""
    found: list[str] = []
    for text in stream.splitlines():
        for prefix in _PREFIXES:
            if text.startswith(prefix):
                found.append(text.removeprefix(prefix).strip())
    return found
