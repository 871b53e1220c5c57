"""Read request JSON the way every part of the sidecar can keep it: one parser for every route.

Python's ``json`` accepts more than JSON: ``NaN`` and ``±Infinity``, and
``1e400`` read as infinity (each served back later as invalid JSON); lone
UTF-16 surrogates such as ``"\\ud800"`` (which no UTF-8 store can encode); and
nesting as deep as the interpreter's stack (a ``RecursionError`` wherever the
value is walked again). Each is refused here, at the door, with an
:class:`InvalidJson` saying what was wrong, so that a value that reached a
building block can be stored, served and re-encoded everywhere.
"""
from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

__all__ = ["MAX_DEPTH", "InvalidJson", "loads"]

#: Deepest nesting accepted (Go's decoder allows 10000, more than Python's stack): well inside the
#: interpreter's recursion limit, so that every later walk of the value (``json.dumps`` for
#: envelopes and replies, the query filter, Go's marshalling for bindings) is safe too.
MAX_DEPTH = 256
#: A ``\uD800``–``\uDFFF`` escape in the raw text: only then can a parsed string hold a surrogate
#: (UTF-8 input cannot encode one), so most bodies skip the walk below.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class InvalidJson(ValueError):
    """The body is not JSON that every store and every peer can keep."""


def _constant(name: str) -> Any:
    # Go's decoder's words, so that a client sees the same message from Dapr and from us.
    raise InvalidJson(f"invalid character {name[0]!r} looking for beginning of value ({name} is not JSON)")


def _float64(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400: Python reads inf, which would be written back as Infinity
        raise InvalidJson(f"json: cannot unmarshal number {text} into Go value of type float64")
    return value


def loads(body: bytes, *, number: Callable[[str], Any] | None = None,
          lone_surrogates: bool = False) -> Any:
    """``body`` as JSON; :class:`InvalidJson` (a ``ValueError``) when it is not, or not storable.

    ``number`` reads every number (as ``parse_int``/``parse_float``); ``lone_surrogates``
    lets them through, for a caller that replaces them itself as Go does.
    """
    try:
        value = json.loads(body, parse_constant=_constant, parse_int=number, parse_float=number or _float64)
    except InvalidJson:
        raise
    except RecursionError:
        raise InvalidJson(f"nested too deeply (the limit is {MAX_DEPTH} levels)") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidJson(str(exc)) from None
    surrogates = not lone_surrogates and _SURROGATE_ESCAPE.search(body) is not None
    if surrogates or body.count(b"[") + body.count(b"{") > MAX_DEPTH:
        _check(value, surrogates)
    return value


def _check(value: Any, surrogates: bool) -> None:
    """Walk ``value`` without recursion: refuse over-deep nesting and lone surrogates."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            if surrogates and _SURROGATE.search(item):
                raise InvalidJson(_lone_surrogate(item))
            continue
        if not isinstance(item, (dict, list)):
            continue
        if depth > MAX_DEPTH:
            raise InvalidJson(f"nested too deeply (the limit is {MAX_DEPTH} levels)")
        if isinstance(item, dict):
            for key, member in item.items():
                pending.append((key, depth))
                pending.append((member, depth + 1))
        else:
            pending.extend((member, depth + 1) for member in item)


def _lone_surrogate(text: str) -> str:
    found = _SURROGATE.search(text)
    code = ord(found.group()) if found else 0
    return f"lone UTF-16 surrogate \\u{code:04x} in a string: not valid Unicode"
