"""``bindings.cron``: an input binding that fires on a schedule (spec §4.3).

``schedule`` takes what Dapr's parser (robfig/cron, seconds optional) takes:
5 fields (minute hour day-of-month month day-of-week), 6 fields (seconds
first), the descriptors ``@yearly`` ``@annually`` ``@monthly`` ``@weekly``
``@daily`` ``@midnight`` ``@hourly``, ``@every <Go duration>`` (whole seconds,
at least one), and a ``CRON_TZ=Area/City`` (or ``TZ=``) prefix; without it the
schedule runs in local time. Field arithmetic is croniter's.

Each tick sends the app an empty event with Dapr's metadata: ``timeZone``
(``Local``, as Dapr reports it) and ``readTimeUTC`` (Go's ``time.Time.String()``).
A tick that comes while the app is still handling the previous one is skipped,
so a slow app never has ticks piling up.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from ..components.base import ComponentMetadata, MetadataError
from ..components.bindings import BindingEvent, EventHandler, InputBinding
from ..components.values import parse_duration

__all__ = ["CronBinding", "Schedule", "go_time_string", "parse_schedule"]

log = logging.getLogger("tandem.sidecar.bindings.cron")

_DESCRIPTORS = {
    "@yearly": "0 0 0 1 1 *", "@annually": "0 0 0 1 1 *", "@monthly": "0 0 0 1 * *",
    "@weekly": "0 0 0 * * 0", "@daily": "0 0 0 * * *", "@midnight": "0 0 0 * * *", "@hourly": "0 0 * * * *",
}
#: One item of a field list: ``*``, ``?``, a number or a three-letter name, maybe a range, maybe a step.
_FIELD_ITEM = re.compile(r"^(\*|\?|[0-9]+|[A-Za-z]{3})(-([0-9]+|[A-Za-z]{3}))?(/[0-9]+)?$")


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule: a cron expression (seconds first) or a fixed ``@every`` delay."""

    expression: str | None = None
    every: int | None = None
    #: None: local time.
    zone: ZoneInfo | None = None

    def next_after(self, moment: float) -> float:
        """The first firing time (epoch seconds) strictly after ``moment``."""
        if self.every is not None:
            return math.floor(moment) + self.every  # robfig: whole seconds from the last one
        assert self.expression is not None
        start = datetime.fromtimestamp(moment, self.zone) if self.zone else datetime.fromtimestamp(moment)
        nxt: datetime = croniter(self.expression, start, second_at_beginning=True).get_next(datetime)
        return nxt.timestamp()  # a naive result is local time, which .timestamp() assumes


def parse_schedule(spec: str) -> Schedule:
    """Parse like Dapr's cron binding; ValueError naming the problem."""
    text = spec.strip()
    zone: ZoneInfo | None = None
    if text.startswith(("CRON_TZ=", "TZ=")):
        name, _, rest = text.partition("=")[2].partition(" ")
        if not rest.strip():
            raise ValueError("missing schedule after the time zone")
        zone = _zone(name)
        text = rest.strip()
    if text.startswith("@every "):
        return Schedule(every=_every(text[len("@every "):].strip()), zone=zone)
    if text.startswith("@"):
        if text not in _DESCRIPTORS:
            raise ValueError(f"unrecognized descriptor: {text}")
        return Schedule(expression=_DESCRIPTORS[text], zone=zone)
    fields = text.split()
    if len(fields) not in (5, 6):
        raise ValueError(f"expected 5 to 6 fields, found {len(fields)}: {text}")
    if len(fields) == 5:
        fields.insert(0, "0")
    for field in fields:
        for item in field.split(","):
            if not _FIELD_ITEM.match(item):
                raise ValueError(f"unsupported field item {item!r} in {text!r}")
    expression = " ".join(fields)
    if not croniter.is_valid(expression, second_at_beginning=True):
        raise ValueError(f"a field is out of range or malformed in {text!r}")
    return Schedule(expression=expression, zone=zone)


def _zone(name: str) -> ZoneInfo | None:
    if name == "Local":
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"provided bad location {name}: unknown time zone {name}") from None


def _every(value: str) -> int:
    """robfig's ``@every``: a Go duration, rounded down to whole seconds, at least one."""
    if re.fullmatch(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)", value) and float(value) != 0:
        raise ValueError(f'failed to parse duration @every {value}: time: missing unit in duration "{value}"')
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise ValueError(f"failed to parse duration @every {value}: {exc}") from None
    return max(1, math.floor(seconds))


def go_time_string(epoch_ns: int) -> str:
    """Go's ``time.Time.String()`` for a UTC time: ``2026-11-23 21:40:00.123456789 +0000 UTC``."""
    seconds, nanos = divmod(epoch_ns, 1_000_000_000)
    stamp = datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    fraction = f".{nanos:09d}".rstrip("0") if nanos else ""
    return f"{stamp}{fraction} +0000 UTC"


class CronBinding(InputBinding):
    """Fires ``handler`` on the schedule, one tick at a time."""

    def __init__(self) -> None:
        self._name = ""
        self._spec = ""
        self._schedule: Schedule | None = None
        self._task: asyncio.Task[None] | None = None

    async def init(self, metadata: ComponentMetadata) -> None:
        self._name = metadata.name
        self._spec = metadata.require("schedule")
        try:
            self._schedule = parse_schedule(self._spec)
        except ValueError as exc:
            raise MetadataError(f"invalid schedule format '{self._spec}': {exc}") from None

    async def read(self, handler: EventHandler) -> None:
        if self._schedule is None:
            raise RuntimeError("cron binding read before init")
        if self._task is not None:
            raise RuntimeError(f"cron binding {self._name} is already reading")
        self._task = asyncio.ensure_future(self._run(self._schedule, handler))

    async def _run(self, schedule: Schedule, handler: EventHandler) -> None:
        due = schedule.next_after(time.time())
        while True:
            while (wait := due - time.time()) > 0:  # the loop's clock may wake us a hair early
                await asyncio.sleep(wait)
            event = BindingEvent(b"", {"timeZone": "Local", "readTimeUTC": go_time_string(time.time_ns())})
            try:
                await handler(event)
            except Exception as exc:  # the app's failure is reported by the runtime; the schedule goes on
                log.debug("cron %s: tick not taken: %s", self._name, exc)
            # Ticks that came due while the handler ran are skipped, not queued.
            due = schedule.next_after(max(due, time.time()))

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def close(self) -> None:
        await self.stop()
