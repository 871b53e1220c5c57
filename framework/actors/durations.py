"""Durations and times as the actor API writes them.

The sidecar parses Go durations (``1h0m0s``, ``1.5s``), ISO 8601 durations (``PT10S``,
``R5/PT1M``) and RFC 3339 times. Python code passes `timedelta`, seconds as a number, an aware
`datetime` (an absolute due time or expiry) or a string, which goes through untouched, so every
form the sidecar accepts stays reachable.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TypeAlias

__all__ = ["Duration", "TimeSpec", "go_duration", "wire_time"]

#: What a duration option accepts: a `timedelta`, seconds, or a string sent as is.
Duration: TypeAlias = timedelta | int | float | str
#: A due time or TTL may also be an absolute, timezone-aware `datetime`.
TimeSpec: TypeAlias = timedelta | int | float | str | datetime

_SECOND = 1_000_000_000
_MINUTE = 60 * _SECOND


def go_duration(value: timedelta | int | float) -> str:
    """Format like Go's ``time.Duration.String``: ``1h0m0s``, ``1m30.5s``, ``250ms``, ``0s``."""
    ns = _nanoseconds(value)
    if ns == 0:
        return "0s"
    sign, u = ("-" if ns < 0 else ""), abs(ns)
    if u < _SECOND:  # Go switches to smaller units below one second
        if u < 1_000:
            return f"{sign}{u}ns"
        if u < 1_000_000:
            return f"{sign}{_fraction(u, 1_000)}\u00b5s"
        return f"{sign}{_fraction(u, 1_000_000)}ms"
    text = f"{_fraction(u % _MINUTE, _SECOND)}s"
    minutes = u // _MINUTE
    if minutes:
        text = f"{minutes % 60}m{text}"
        if minutes >= 60:
            text = f"{minutes // 60}h{text}"
    return sign + text


def wire_time(value: TimeSpec | None, what: str, *, absolute: bool = True) -> str | None:
    """The string the sidecar gets for `value` (None: leave the field out).

    `absolute`: whether an RFC 3339 time is meaningful here (due time, TTL; not a period).
    """
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, datetime):
        if not absolute:
            raise TypeError(f"{what} must be a duration, not a point in time")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"{what}: give a timezone-aware datetime")
        return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, bool) or not isinstance(value, (timedelta, int, float)):
        raise TypeError(f"{what} must be a timedelta, seconds or a string, got {type(value).__name__}")
    if _nanoseconds(value) < 0:
        raise ValueError(f"{what} must not be negative")
    return go_duration(value)


def _nanoseconds(value: timedelta | int | float) -> int:
    if isinstance(value, timedelta):
        return ((value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds) * 1_000
    return int(round(value * _SECOND))


def _fraction(amount: int, unit: int) -> str:
    """``amount / unit`` in decimal, trailing zeros (and a bare point) left out."""
    whole, rest = divmod(amount, unit)
    if not rest:
        return str(whole)
    digits = str(rest).rjust(len(str(unit)) - 1, "0").rstrip("0")
    return f"{whole}.{digits}"
