"""The time formats of Dapr's actor timers and reminders.

``dueTime``, ``period`` and ``ttl`` arrive as Go durations (``1m30s``, and the
``0h5m0s0ms0μs`` form other SDKs send), ISO 8601 durations (``PT10S``,
``R5/PT1S``: repeat five times), or RFC 3339 instants. Months and years in ISO
periods are calendar steps, so they are kept apart from the fixed-length part.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from dateutil.relativedelta import relativedelta

from ..components.values import go_duration_seconds

__all__ = [
    "TimeFormatError", "Period", "parse_go_duration", "parse_due_time", "parse_period",
    "parse_ttl", "format_go_duration", "format_rfc3339",
]


class TimeFormatError(ValueError):
    """A time field that none of the accepted forms matches."""


_ISO = re.compile(
    r"P(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?"
)


def parse_go_duration(text: str) -> timedelta:
    """Parse Go's ``time.ParseDuration`` form (signed, units ns … h, concatenated)."""
    try:
        return timedelta(seconds=go_duration_seconds(text))
    except ValueError:
        raise TimeFormatError(f"invalid duration {text!r}") from None


def format_go_duration(delta: timedelta) -> str:
    """Go's ``Duration.String()`` for whole and fractional seconds, e.g. ``1h0m0s``, ``1.5s``."""
    total = delta.total_seconds()
    if total == 0:
        return "0s"
    sign = "-" if total < 0 else ""
    total = abs(total)
    if total < 1:
        return f"{sign}{total * 1000:g}ms"
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    text = f"{seconds:.9f}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{sign}{int(hours)}h{int(minutes)}m{text}"
    if minutes:
        return f"{sign}{int(minutes)}m{text}"
    return sign + text


def format_rfc3339(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Period:
    """A reminder's repetition: a calendar step (months/years) plus a fixed step, and a count."""

    fixed: timedelta = timedelta(0)
    calendar: relativedelta | None = None
    repetitions: int | None = None  # None: forever (or until ttl)

    @property
    def one_shot(self) -> bool:
        return self.fixed == timedelta(0) and self.calendar is None

    def after(self, moment: datetime) -> datetime:
        """The fire time one period after ``moment``."""
        return moment + self.calendar + self.fixed if self.calendar is not None else moment + self.fixed


def _iso(text: str) -> tuple[timedelta, relativedelta | None] | None:
    match = _ISO.fullmatch(text)
    if match is None or text in ("P", "PT") or text.endswith("T"):
        return None
    parts = {k: v for k, v in match.groupdict().items() if v is not None}
    fixed = timedelta(
        weeks=int(parts.get("weeks", 0)), days=int(parts.get("days", 0)), hours=int(parts.get("hours", 0)),
        minutes=int(parts.get("minutes", 0)), seconds=float(parts.get("seconds", 0)),
    )
    years, months = int(parts.get("years", 0)), int(parts.get("months", 0))
    calendar = relativedelta(years=years, months=months) if years or months else None
    return fixed, calendar


def _rfc3339(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if "T" not in text.upper() or moment.tzinfo is None:
        return None
    return moment


def _truncate(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def _moment(text: str, base: datetime, what: str) -> datetime:
    """A Go or ISO 8601 duration after ``base``, or an RFC 3339 instant (whole seconds)."""
    try:
        return base + parse_go_duration(text)
    except TimeFormatError:
        pass
    iso = _iso(text)
    if iso is not None:
        fixed, calendar = iso
        return (base + calendar if calendar else base) + fixed
    moment = _rfc3339(text)
    if moment is not None:
        return _truncate(moment)
    raise TimeFormatError(f"unsupported {what} format {text!r}")


def parse_due_time(text: str | None, now: datetime) -> datetime:
    """When a timer or reminder first fires: a delay from ``now`` or an absolute time."""
    return _moment(text, now, "time/duration") if text else now


def parse_period(text: str | None) -> Period:
    """A repetition: Go duration, or ISO 8601 ``[Rn/]P…``; empty means fire once."""
    if not text:
        return Period()
    try:
        fixed = parse_go_duration(text)
    except TimeFormatError:
        pass
    else:
        if fixed < timedelta(0):
            raise TimeFormatError(f"negative period {text!r}")
        return Period(fixed=fixed)
    repetitions: int | None = None
    body = text
    if text.startswith("R"):
        count, sep, rest = text[1:].partition("/")
        if not sep or not count.isdigit():
            raise TimeFormatError(f"unsupported duration format {text!r}")
        repetitions = int(count)
        if repetitions == 0:
            raise TimeFormatError(f"repetitions must be greater than 0 in {text!r}")
        body = rest
    iso = _iso(body)
    if iso is None:
        raise TimeFormatError(f"unsupported duration format {text!r}")
    fixed, calendar = iso
    return Period(fixed=fixed, calendar=calendar, repetitions=repetitions)


def parse_ttl(text: str | None, due: datetime) -> datetime | None:
    """The expiry of a timer or reminder: a duration after ``due``, or an absolute time."""
    return _moment(text, due, "ttl") if text else None
