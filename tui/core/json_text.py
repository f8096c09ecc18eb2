"""``json.dumps`` of many small values from one encoder made once.

``json.dumps`` with arguments (or of anything but a string) builds a new encoder per call; writing
a thousand images' rows or checking a thousand cache lines is then mostly that. The C encoder
(``json.encoder.c_make_encoder``) is a private interface: it is used only where it gives
``json.dumps``'s exact text on a probe, otherwise the plain call is.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

_CONSTANTS = {True: "true", False: "false", None: "null"}
_EMPTY: dict[type, str] = {list: "[]", tuple: "[]", dict: "{}"}


def fast_dumps(
    *, sort_keys: bool = False, separators: tuple[str, str] = (", ", ": ")
) -> Callable[[Any], str]:
    """A function giving ``json.dumps(obj, sort_keys=..., separators=...)`` for non-circular values."""
    item_sep, key_sep = separators

    def plain(obj: Any) -> str:
        return json.dumps(obj, sort_keys=sort_keys, separators=separators)

    from json import encoder

    make = getattr(encoder, "c_make_encoder", None)
    if make is None:  # no C accelerator
        return plain
    ascii_text = encoder.encode_basestring_ascii

    def default(obj: Any) -> Any:
        raise TypeError(f"Object of type {obj.__class__.__name__} is not JSON serializable")

    try:
        # json.dumps's own arguments (ensure_ascii, no indent, allow_nan), without the
        # circular-reference table: the values are engine answers and rows made just before
        c_encode = make(None, default, ascii_text, None, key_sep, item_sep, sort_keys, False, True)

        def fast(obj: Any) -> str:
            if isinstance(obj, str):
                return ascii_text(obj)
            if obj is True or obj is False or obj is None:
                return _CONSTANTS[obj]
            if type(obj) is int:
                return int.__repr__(obj)  # what the encoder writes for an int
            if not obj and type(obj) in _EMPTY:  # rows hold many: no encoder call for them
                return _EMPTY[type(obj)]
            return "".join(c_encode(obj, 0))

        probe = {"b": [1, 2.5, None, True, "é\n"], "a": {"c": -3}}
        scalars: tuple[Any, ...] = (True, False, None, 0, -12, 1 << 70, [], (), {}, 0.0, "")
        if fast(probe) == plain(probe) and all(fast(x) == plain(x) for x in scalars):
            return fast
    except Exception:  # noqa: BLE001 - another Python's signature
        pass
    return plain
