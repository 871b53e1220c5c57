"""Dapr's actor time formats: Go durations, ISO 8601 durations with repetitions, RFC 3339 times."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tandem.sidecar.actors.timefmt import (
    TimeFormatError,
    format_go_duration,
    parse_due_time,
    parse_go_duration,
    parse_period,
    parse_ttl,
)

NOW = datetime(2026, 1, 31, 12, 0, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(("text", "seconds"), [
    ("1m", 60), ("1h30m", 5400), ("0h5m0s0ms0μs", 300), ("0h0m3s0ms0µs", 3), ("1.5s", 1.5), ("250ms", 0.25),
    ("100us", 0.0001), ("0", 0), ("-2s", -2), ("1h0m0s", 3600),
])
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_go_duration(text).total_seconds() == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "1", "1x", "m", "1m x", "PT1S"])
def test_bad_go_durations(text: str) -> None:
    with pytest.raises(TimeFormatError):
        parse_go_duration(text)


@pytest.mark.parametrize(("delta", "text"), [
    (timedelta(hours=1), "1h0m0s"), (timedelta(minutes=5), "5m0s"), (timedelta(seconds=1.5), "1.5s"),
    (timedelta(0), "0s"), (timedelta(milliseconds=250), "250ms"),
])
def test_format_go_duration_round_trips(delta: timedelta, text: str) -> None:
    assert format_go_duration(delta) == text
    assert parse_go_duration(text) == delta


def test_due_time_forms() -> None:
    assert parse_due_time("", NOW) == NOW
    assert parse_due_time("10s", NOW) == NOW + timedelta(seconds=10)
    assert parse_due_time("PT10S", NOW) == NOW + timedelta(seconds=10)
    assert parse_due_time("P1DT2H", NOW) == NOW + timedelta(days=1, hours=2)
    assert parse_due_time("2026-02-01T00:00:00Z", NOW) == datetime(2026, 2, 1, tzinfo=timezone.utc)
    assert parse_due_time("2026-02-01T01:00:00.750+01:00", NOW) == datetime(2026, 2, 1, tzinfo=timezone.utc)
    with pytest.raises(TimeFormatError):
        parse_due_time("tomorrow", NOW)
    with pytest.raises(TimeFormatError):
        parse_due_time("2026-02-01", NOW)  # a date without a time is not RFC 3339


def test_periods() -> None:
    assert parse_period("").one_shot
    assert parse_period("5s").fixed == timedelta(seconds=5) and parse_period("5s").repetitions is None
    every = parse_period("R5/PT10S")
    assert (every.fixed, every.repetitions) == (timedelta(seconds=10), 5)
    monthly = parse_period("P1M")
    assert monthly.after(NOW) == datetime(2026, 2, 28, 12, tzinfo=timezone.utc)  # a calendar month
    assert parse_period("P1Y2M3W4DT5H6M7S").after(NOW) == datetime(2027, 3, 31, 12, tzinfo=timezone.utc) + \
        timedelta(weeks=3, days=4, hours=5, minutes=6, seconds=7)
    for bad in ("R0/PT1S", "R/PT1S", "Rx/PT1S", "P", "PT", "every day", "-1s"):
        with pytest.raises(TimeFormatError):
            parse_period(bad)


def test_ttl_forms() -> None:
    due = NOW + timedelta(seconds=5)
    assert parse_ttl("", due) is None
    assert parse_ttl("1m", due) == due + timedelta(minutes=1)
    assert parse_ttl("PT1M", due) == due + timedelta(minutes=1)
    assert parse_ttl("2026-03-01T00:00:00Z", due) == datetime(2026, 3, 1, tzinfo=timezone.utc)
    with pytest.raises(TimeFormatError):
        parse_ttl("never", due)
