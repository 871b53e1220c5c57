"""The one firing rule of timers and reminders (Dapr's): a tick fires only strictly before the ttl's end."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from tandem.sidecar.actors.schedule import first_fire, fires_at, next_fire
from tandem.sidecar.actors.timefmt import parse_due_time, parse_period, parse_ttl

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _ticks(due: str, period: str, ttl: str) -> list[float]:
    """Every tick the schedule fires, in seconds after T0, by the shared rule."""
    start = parse_due_time(due, T0)
    expires = parse_ttl(ttl, start)
    tick, fired, seen = first_fire(start, expires), 0, []
    while tick is not None and len(seen) < 100:
        seen.append((tick - T0).total_seconds())
        fired += 1
        tick = next_fire(parse_period(period), tick, fired, expires)
    return seen


def test_a_tick_exactly_at_the_ttl_end_does_not_fire() -> None:
    assert _ticks("0s", "1s", "2s") == [0.0, 1.0]
    assert _ticks("0s", "2s", "4s") == [0.0, 2.0]
    assert _ticks("1s", "1s", "1s") == [1.0]  # the ttl counts from the first tick


def test_a_tick_before_the_end_fires() -> None:
    assert _ticks("0s", "1s", "2.5s") == [0.0, 1.0, 2.0]


def test_repetitions_and_ttl_whichever_ends_first() -> None:
    assert _ticks("0s", "R2/PT1S", "10s") == [0.0, 1.0]
    assert _ticks("0s", "R5/PT1S", "3s") == [0.0, 1.0, 2.0]
    assert _ticks("0s", "", "10s") == [0.0]


def test_a_first_tick_at_or_after_the_end_never_fires() -> None:
    assert first_fire(T0, T0) is None
    assert first_fire(T0, T0 - timedelta(seconds=1)) is None
    assert first_fire(T0, None) == T0
    assert fires_at(T0, None) and not fires_at(T0, T0)


def test_missed_ticks_can_be_passed_over_without_changing_the_end() -> None:
    period = parse_period("1s")
    late = next_fire(period, T0, 1, T0 + timedelta(seconds=5), skip_until=T0 + timedelta(seconds=3.5))
    assert late == T0 + timedelta(seconds=4)
    assert next_fire(period, T0, 1, T0 + timedelta(seconds=4), skip_until=T0 + timedelta(seconds=3.5)) is None


def test_the_reminder_loop_uses_the_same_rule() -> None:
    from tandem.sidecar.actors.reminders import Reminders
    from tandem.sidecar.components.placement import ReminderRecord

    start = T0.timestamp()
    record = ReminderRecord("T", "a", "r", period="2s", ttl="4s", expires=start + 4, next_fire=start + 2, fired=1)
    assert Reminders._next(record, now=start + 2.1) is None  # the tick at 4 s is the ttl's end
    record = ReminderRecord("T", "a", "r", period="2s", ttl="5s", expires=start + 5, next_fire=start + 2, fired=1)
    assert Reminders._next(record, now=start + 2.1) == start + 4
