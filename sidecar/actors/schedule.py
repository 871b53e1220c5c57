"""When timers and reminders fire: one rule for both, Dapr's.

Dapr's actor runtime (``Reminder.NextTick``/``TickExecuted``, shared by its timers
and its state-store reminders) fires a tick only while the tick falls *strictly
before* the expiry: a tick exactly at the ``ttl``'s end does not fire, and neither
does a first tick at or after it. ``Rn/`` stops after n fires. The same schedule
given to a timer and to a reminder therefore fires the same number of times.
"""
from __future__ import annotations

from datetime import datetime

from .timefmt import Period

__all__ = ["fires_at", "first_fire", "next_fire"]


def fires_at(tick: datetime, expires: datetime | None) -> bool:
    """Whether a tick scheduled at ``tick`` fires: only before the expiry (none: always)."""
    return expires is None or tick < expires


def first_fire(due: datetime, expires: datetime | None) -> datetime | None:
    """The first tick, or None when the ttl ends at or before it."""
    return due if fires_at(due, expires) else None


def next_fire(period: Period, tick: datetime, fired: int, expires: datetime | None,
              skip_until: datetime | None = None) -> datetime | None:
    """The tick after ``tick`` once ``fired`` ticks have fired, or None when the schedule is over.

    ``skip_until``: ticks at or before it are passed over (a reminder whose hosts
    were all down does not replay each missed tick; it fires once, then goes on).
    """
    if period.one_shot or (period.repetitions is not None and fired >= period.repetitions):
        return None
    following = period.after(tick)
    while skip_until is not None and following <= skip_until:
        following = period.after(following)
    return following if fires_at(following, expires) else None
