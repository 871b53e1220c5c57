"""Parsing of the value formats Dapr users write: Go durations, sizes, booleans.

Component metadata values are strings; drivers read them through
:class:`~tandem.sidecar.components.base.ComponentMetadata`, which uses these.
"""
from __future__ import annotations

import re

__all__ = ["go_duration_seconds", "parse_bool", "parse_duration", "parse_size"]

_GO_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_SECONDS = {
    "ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?|[kmgt]|[KMGT]B|)\s*$")
_SIZE_FACTORS = {
    "": 1, "k": 1000, "K": 1000, "M": 1000**2, "G": 1000**3, "T": 1000**4,
    "KB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4,
    "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4,
}


def parse_bool(value: str | bool | None, default: bool = False) -> bool:
    """Parse a boolean the way Go's strconv.ParseBool does (plus yes/no/on/off)."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    text = value.strip().lower()
    if text == "":
        return default
    if text in ("1", "t", "true", "yes", "y", "on"):
        return True
    if text in ("0", "f", "false", "no", "n", "off"):
        return False
    raise ValueError(f"not a boolean: {value!r}")


def go_duration_seconds(text: str) -> float:
    """Seconds for Go's ``time.ParseDuration`` syntax (``1m30s``, ``-250ms``, ``0h5m0s0ms0μs``, ``0``).

    The one Go-duration parser of the sidecar: component metadata (through
    :func:`parse_duration`) and the actor API's ``dueTime``/``period``/``ttl``
    (``actors.timefmt``) both read durations with it. Raises ``ValueError``.
    """
    body = text.strip()
    sign = 1.0
    if body[:1] in ("+", "-"):
        sign = -1.0 if body[0] == "-" else 1.0
        body = body[1:]
    if body == "0":
        return 0.0
    total, pos = 0.0, 0
    for match in _GO_DURATION_PART.finditer(body):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(body) or pos == 0:
        raise ValueError(f"not a duration: {text!r} (use Go syntax such as 5s, 1m30s, 250ms)")
    return sign * total


def parse_duration(value: str | int | float, *, bare_unit: float = 1e-3) -> float:
    """Return seconds for a Go duration (``1m30s``, ``250ms``) or a bare number.

    A bare number is read in ``bare_unit`` seconds: Dapr reads bare integers as
    milliseconds in most component fields, so that is the default.
    """
    if isinstance(value, (int, float)):
        return float(value) * bare_unit
    text = value.strip()
    if not text:
        raise ValueError("empty duration")
    try:
        return float(text) * bare_unit
    except ValueError:
        pass
    return go_duration_seconds(value)


def parse_size(value: str | int) -> int:
    """Parse a byte size: ``4194304``, ``4Mi``, ``16M``, ``512Ki``, ``2MB``."""
    if isinstance(value, int):
        return value
    match = _SIZE.match(value)
    if not match:
        raise ValueError(f"not a size: {value!r} (use e.g. 4Mi, 16M or a number of bytes)")
    number, unit = match.groups()
    return int(float(number) * _SIZE_FACTORS[unit])
