"""Persistent reminders: one record each in the placement store, fired by exactly one sidecar.

Every hosting sidecar polls for due reminders of its types and keeps those whose
actor its ring says it owns. Before firing it advances the record's next fire
time with a compare-and-set, so a tick two sidecars both see (views briefly
disagreeing, or a restart) fires once. A fire takes the actor's turn (activating
it) and calls ``PUT /actors/{type}/{id}/method/remind/{name}``; a reply header
``X-DaprReminderCancel: true`` deletes the reminder.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import datetime, timezone
from typing import Any

from ..components.placement import PlacementError, ReminderRecord
from ..errors import DaprError
from .runtime import ActorRuntime
from .schedule import fires_at, next_fire
from .timefmt import format_rfc3339, parse_period
from .timers import cancel_requested, parse_schedule

__all__ = ["Reminders"]

log = logging.getLogger("tandem.sidecar.actors")

_BATCH = 500
_FIRE_ATTEMPTS = 3


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, timezone.utc)


def _expiry(record: ReminderRecord) -> datetime | None:
    return None if record.expires is None else _utc(record.expires)


class Reminders:
    def __init__(self, actors: ActorRuntime, poll_interval: float = 0.25) -> None:
        self.actors = actors
        self.poll_interval = poll_interval
        self._task: asyncio.Task[None] | None = None
        self._firing: set[tuple[str, str, str]] = set()

    @property
    def _namespace(self) -> str:
        return self.actors.placement.namespace

    def start(self) -> None:
        if self._task is None:
            self._task = self.actors.spawn(self._loop())

    # -- the API -------------------------------------------------------------------------
    async def create(self, actor_type: str, actor_id: str, name: str, body: dict[str, Any]) -> None:
        now = datetime.now(timezone.utc)
        due, _, expires = parse_schedule(body, "ERR_ACTOR_REMINDER_CREATE", now)  # the period is re-read at each fire
        data = body.get("data")
        record = ReminderRecord(
            actor_type=actor_type, actor_id=actor_id, name=name, due_time=str(body.get("dueTime") or ""),
            period=str(body.get("period") or ""), ttl=str(body.get("ttl") or ""),
            data=None if data is None else json.dumps(data), registered=now.timestamp(),
            expires=expires.timestamp() if expires else None, next_fire=due.timestamp(), fired=0,
            namespace=self._namespace,
        )
        try:
            await self.actors.placement.store.save_reminder(record)
        except PlacementError as exc:
            raise DaprError(500, "ERR_ACTOR_REMINDER_CREATE", f"error creating actor reminder: {exc}") from None

    async def get(self, actor_type: str, actor_id: str, name: str) -> dict[str, Any] | None:
        try:
            record = await self.actors.placement.store.get_reminder(self._namespace, actor_type, actor_id, name)
        except PlacementError as exc:
            raise DaprError(500, "ERR_ACTOR_REMINDER_GET", f"error getting actor reminder: {exc}") from None
        if record is None:
            return None
        doc: dict[str, Any] = {"actorID": actor_id, "actorType": actor_type, "name": name}
        if record.due_time:
            doc["dueTime"] = record.due_time
        if record.period:
            doc["period"] = record.period
        if record.data is not None:
            doc["data"] = json.loads(record.data)
        doc["registeredTime"] = format_rfc3339(_utc(record.registered))
        if record.expires is not None:
            doc["expirationTime"] = format_rfc3339(_utc(record.expires))
        return doc

    async def delete(self, actor_type: str, actor_id: str, name: str) -> None:
        try:
            await self.actors.placement.store.delete_reminder(self._namespace, actor_type, actor_id, name)
        except PlacementError as exc:
            raise DaprError(500, "ERR_ACTOR_REMINDER_DELETE", f"error deleting actor reminder: {exc}") from None

    # -- firing --------------------------------------------------------------------------
    async def _loop(self) -> None:
        while True:
            try:
                backlog = await self.poll() >= _BATCH
            except PlacementError as exc:
                log.warning("reminders: %s", exc)
                backlog = False
            # A full batch means more are due: go again at once (after letting fires start).
            await asyncio.sleep(0 if backlog else self.poll_interval)

    async def poll(self) -> int:
        """Fire what is due and ours; returns how many of ours were due (at most one batch)."""
        hosted = self.actors.hosted
        if not hosted or not self.actors.placement.hosting:
            return 0
        now = time.time()
        due = await self.actors.placement.store.due_reminders(self._namespace, hosted, now, _BATCH)
        ours = [r for r in due if r.key not in self._firing
                and self.actors.placement.is_me(self.actors.placement.owner(r.actor_type, r.actor_id))]
        if ours:
            won = await self.actors.placement.store.advance_reminders(
                [(record, self._next(record, now), record.fired + 1) for record in ours])
            for record, took in zip(ours, won, strict=True):
                # not took: another sidecar took this tick; a first tick at or past the ttl is dropped unfired
                if took and fires_at(_utc(record.next_fire), _expiry(record)):
                    self._firing.add(record.key)
                    self.actors.spawn(self._fire(record))
        return len(ours)

    @staticmethod
    def _next(record: ReminderRecord, now: float) -> float | None:
        """The fire after this one, or None when this is the last (one-shot, ``Rn`` reached, ``ttl`` over)."""
        following = next_fire(parse_period(record.period), _utc(record.next_fire), record.fired + 1, _expiry(record),
                              skip_until=_utc(now))  # missed ticks while no host ran are not replayed one by one
        return None if following is None else following.timestamp()

    async def _fire(self, record: ReminderRecord) -> None:
        body: dict[str, Any] = {"dueTime": record.due_time, "period": record.period}
        payload = json.dumps(body).encode()
        if record.data is not None:  # raw JSON as registered, spliced in verbatim
            payload = payload[:-1] + b', "data": ' + record.data.encode() + b"}"
        path = f"/actors/{record.actor_type}/{record.actor_id}/method/remind/{record.name}"
        try:
            for attempt in range(_FIRE_ATTEMPTS):
                try:
                    reply = await self.actors.turn_call(record.actor_type, record.actor_id, path,
                                                        {"content-type": "application/json"}, payload)
                except DaprError as exc:
                    log.warning("reminder %s of %s/%s failed (attempt %d): %s", record.name, record.actor_type,
                                record.actor_id, attempt + 1, exc.message)
                    await asyncio.sleep(0.5 * (attempt + 1))
                    continue
                assert reply is not None
                self.actors.observability.metrics.actor_reminders_fired.inc(record.actor_type,
                                                                            str(reply.status == 200).lower())
                if cancel_requested(reply.headers):
                    await self.delete(record.actor_type, record.actor_id, record.name)
                elif reply.status != 200:
                    log.warning("reminder %s of %s/%s: the app answered %s", record.name, record.actor_type,
                                record.actor_id, reply.status)
                return
        finally:
            self._firing.discard(record.key)
