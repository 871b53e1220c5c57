"""Conformance suite for ``placement.*`` drivers (the contract in :mod:`tandem.sidecar.components.placement`).

Subclass :class:`PlacementStoreConformance` under a ``Test…`` name and define:

``placement_store`` (fixture, required)
    Yields an *initialised* :class:`~tandem.sidecar.components.placement.PlacementStore`
    and closes it afterwards. Every test works in its own namespace
    (``conformance-placement-<uuid>``), so one shared server is fine.

Semantics checked: a heartbeat makes a host live for ``ttl`` seconds and
``leave`` drops it with its claims; a claim held by a live host is refused to
others and granted again once that host has expired; ``release`` drops only the
caller's claims; reminders are one record each, listed when due (earliest first,
only of the asked types and namespace), and ``advance_reminder`` is a
compare-and-set on the fire time, so of two sidecars advancing the same tick
exactly one wins.
"""
from __future__ import annotations

import time

import anyio
import pytest

from ..components.placement import HostInfo, PlacementStore, ReminderRecord
from . import ConformanceSuite, unique

__all__ = ["PlacementStoreConformance"]


class PlacementStoreConformance(ConformanceSuite):
    """The placement contract as tests; see the module docstring for the fixture."""

    @pytest.fixture
    def placement_store(self) -> PlacementStore:
        pytest.fail(f"{type(self).__name__} must define a 'placement_store' fixture")

    @staticmethod
    def host(namespace: str, name: str = "a", types: tuple[str, ...] = ("Counter",)) -> HostInfo:
        return HostInfo(host_id=unique(name), app_id="app", address=f"127.0.0.1:{hash(name) % 60000}",
                        types=types, namespace=namespace, pid=1)

    @staticmethod
    def reminder(namespace: str, actor_id: str, next_fire: float, actor_type: str = "Counter",
                 name: str = "r") -> ReminderRecord:
        return ReminderRecord(actor_type=actor_type, actor_id=actor_id, name=name, due_time="1s", period="2s",
                              data='{"x": 1}', registered=time.time(), next_fire=next_fire, namespace=namespace)

    async def test_heartbeat_makes_a_host_live_until_ttl(self, placement_store: PlacementStore) -> None:
        ns = unique("placement")
        a, b = self.host(ns, "a"), self.host(ns, "b", ("Counter", "Other"))
        await placement_store.heartbeat(a, 60)
        await placement_store.heartbeat(b, 0.3)
        live = await placement_store.live_hosts(ns)
        assert {h.host_id: h.types for h in live} == {a.host_id: ("Counter",), b.host_id: ("Counter", "Other")}
        assert next(h for h in live if h.host_id == a.host_id) == a
        assert await placement_store.live_hosts(unique("placement")) == []
        await anyio.sleep(0.6)
        assert [h.host_id for h in await placement_store.live_hosts(ns)] == [a.host_id]
        await placement_store.leave(a.host_id)
        assert await placement_store.live_hosts(ns) == []
        await placement_store.leave(b.host_id)  # an expired host's row goes too

    async def test_a_live_claim_is_exclusive(self, placement_store: PlacementStore) -> None:
        ns = unique("placement")
        a, b = self.host(ns, "a"), self.host(ns, "b")
        await placement_store.heartbeat(a, 60)
        await placement_store.heartbeat(b, 60)
        assert await placement_store.claim(ns, "Counter||1", a.host_id) is None
        assert await placement_store.claim(ns, "Counter||1", a.host_id) is None  # idempotent for its holder
        assert await placement_store.claim(ns, "Counter||1", b.host_id) == a.host_id
        await placement_store.release(ns, ["Counter||1"], b.host_id)  # not b's to release
        assert await placement_store.claim(ns, "Counter||1", b.host_id) == a.host_id
        await placement_store.release(ns, ["Counter||1"], a.host_id)
        assert await placement_store.claim(ns, "Counter||1", b.host_id) is None
        await placement_store.leave(a.host_id)
        await placement_store.leave(b.host_id)

    async def test_a_claim_of_an_expired_or_departed_host_can_be_taken(self, placement_store: PlacementStore) -> None:
        ns = unique("placement")
        a, b, c = self.host(ns, "a"), self.host(ns, "b"), self.host(ns, "c")
        await placement_store.heartbeat(a, 0.3)
        await placement_store.heartbeat(b, 60)
        await placement_store.heartbeat(c, 60)
        assert await placement_store.claim(ns, "Counter||x", a.host_id) is None
        assert await placement_store.claim(ns, "Counter||y", c.host_id) is None
        assert await placement_store.claim(ns, "Counter||x", b.host_id) == a.host_id
        await anyio.sleep(0.6)
        assert await placement_store.claim(ns, "Counter||x", b.host_id) is None
        await placement_store.leave(c.host_id)  # a graceful leave frees its claims at once
        assert await placement_store.claim(ns, "Counter||y", b.host_id) is None
        await placement_store.leave(b.host_id)
        await placement_store.leave(a.host_id)

    async def test_claims_are_per_namespace(self, placement_store: PlacementStore) -> None:
        ns1, ns2 = unique("placement"), unique("placement")
        a, b = self.host(ns1, "a"), self.host(ns2, "b")
        await placement_store.heartbeat(a, 60)
        await placement_store.heartbeat(b, 60)
        assert await placement_store.claim(ns1, "Counter||1", a.host_id) is None
        assert await placement_store.claim(ns2, "Counter||1", b.host_id) is None
        await placement_store.leave(a.host_id)
        await placement_store.leave(b.host_id)

    async def test_reminders_are_records_listed_when_due(self, placement_store: PlacementStore) -> None:
        ns = unique("placement")
        now = time.time()
        late = self.reminder(ns, "late", now - 1)
        early = self.reminder(ns, "early", now - 5)
        future = self.reminder(ns, "future", now + 60)
        other = self.reminder(ns, "other", now - 3, actor_type="Other")
        for record in (late, early, future, other):
            await placement_store.save_reminder(record)
        elsewhere = self.reminder(unique("placement"), "elsewhere", now - 9)
        await placement_store.save_reminder(elsewhere)
        due = await placement_store.due_reminders(ns, ["Counter"], now, 10)
        assert [r.actor_id for r in due] == ["early", "late"]
        assert due[0] == early
        both = await placement_store.due_reminders(ns, ["Counter", "Other"], now, 2)
        assert [r.actor_id for r in both] == ["early", "other"]
        assert await placement_store.get_reminder(ns, "Counter", "future", "r") == future
        await placement_store.delete_reminder(ns, "Counter", "future", "r")
        assert await placement_store.get_reminder(ns, "Counter", "future", "r") is None
        for record in (late, early, other, elsewhere):
            await placement_store.delete_reminder(record.namespace, record.actor_type, record.actor_id, record.name)
        assert await placement_store.due_reminders(ns, ["Counter", "Other"], now + 120, 10) == []

    async def test_saving_a_reminder_again_replaces_it(self, placement_store: PlacementStore) -> None:
        ns = unique("placement")
        now = time.time()
        await placement_store.save_reminder(self.reminder(ns, "a", now - 1))
        await placement_store.save_reminder(self.reminder(ns, "a", now + 60))
        assert await placement_store.due_reminders(ns, ["Counter"], now, 10) == []
        await placement_store.delete_reminder(ns, "Counter", "a", "r")

    async def test_advancing_a_tick_is_compare_and_set(self, placement_store: PlacementStore) -> None:
        ns = unique("placement")
        now = time.time()
        record = self.reminder(ns, "cas", now - 1)
        await placement_store.save_reminder(record)
        seen_by_a = (await placement_store.due_reminders(ns, ["Counter"], now, 10))[0]
        seen_by_b = (await placement_store.due_reminders(ns, ["Counter"], now, 10))[0]
        assert await placement_store.advance_reminder(seen_by_a, now + 2, 1) is True
        assert await placement_store.advance_reminder(seen_by_b, now + 2, 1) is False
        stored = await placement_store.get_reminder(ns, "Counter", "cas", "r")
        assert stored is not None and (stored.next_fire, stored.fired, stored.data) == (now + 2, 1, '{"x": 1}')
        assert await placement_store.due_reminders(ns, ["Counter"], now, 10) == []
        assert await placement_store.advance_reminder(stored, None, 2) is True  # the last tick deletes it
        assert await placement_store.get_reminder(ns, "Counter", "cas", "r") is None
        assert await placement_store.advance_reminder(stored, None, 2) is False

    async def test_advancing_many_ticks_at_once(self, placement_store: PlacementStore) -> None:
        ns = unique("placement")
        now = time.time()
        records = [self.reminder(ns, f"many-{i}", now - 1) for i in range(3)]
        for record in records:
            await placement_store.save_reminder(record)
        stale = records[1]
        assert await placement_store.advance_reminder(stale, now + 5, 1) is True  # someone else's tick
        won = await placement_store.advance_reminders([(records[0], now + 2, 1), (stale, now + 2, 1),
                                                       (records[2], None, 1)])
        assert won == [True, False, True]
        first = await placement_store.get_reminder(ns, "Counter", "many-0", "r")
        second = await placement_store.get_reminder(ns, "Counter", "many-1", "r")
        assert first is not None and first.next_fire == now + 2
        assert second is not None and second.next_fire == now + 5
        assert await placement_store.get_reminder(ns, "Counter", "many-2", "r") is None
        for name in ("many-0", "many-1"):
            await placement_store.delete_reminder(ns, "Counter", name, "r")
