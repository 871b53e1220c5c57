"""Actor timers: in memory, owned by one activation, gone when it is deactivated.

Each fire takes the actor's turn and calls ``PUT /actors/{type}/{id}/method/timer/{name}``
with ``{"callback","data","dueTime","period"}``. A reply header
``X-DaprReminderCancel: true`` stops the timer, as do ``Rn/`` and ``ttl``.
"""
from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..errors import DaprError
from .runtime import Activation, ActorRuntime
from .schedule import first_fire, next_fire
from .timefmt import Period, TimeFormatError, parse_due_time, parse_period, parse_ttl

__all__ = ["TimerSpec", "parse_schedule", "Timers", "cancel_requested"]

log = logging.getLogger("tandem.sidecar.actors")


@dataclass(frozen=True)
class TimerSpec:
    name: str
    due: datetime
    period: Period
    expires: datetime | None
    due_text: str
    period_text: str
    data: Any = None
    callback: str = ""


def parse_schedule(body: dict[str, Any], code: str, now: datetime | None = None
                   ) -> tuple[datetime, Period, datetime | None]:
    """``dueTime``/``period``/``ttl`` → first fire, repetition, expiry; a clear 400 when malformed."""
    now = now or datetime.now(timezone.utc)
    try:
        due = parse_due_time(str(body.get("dueTime") or ""), now)
        period = parse_period(str(body.get("period") or ""))
        expires = parse_ttl(str(body.get("ttl") or ""), due)
    except TimeFormatError as exc:
        raise DaprError(400, code, f"invalid time in request: {exc}") from None
    if expires is not None and expires <= now:
        raise DaprError(400, code, "the ttl is already expired")
    return due, period, expires


def cancel_requested(headers: dict[str, str] | Any) -> bool:
    for key, value in dict(headers).items():
        if key.lower() == "x-daprremindercancel" and str(value).lower() == "true":
            return True
    return False


class Timers:
    """Create and delete timers on local activations."""

    def __init__(self, actors: ActorRuntime) -> None:
        self.actors = actors

    def create(self, activation: Activation, spec: TimerSpec) -> None:
        old = activation.timers.pop(spec.name, None)
        if old is not None:
            old.cancel()
        task = self.actors.spawn(self._run(activation, spec))
        activation.timers[spec.name] = task
        task.add_done_callback(lambda t: activation.timers.pop(spec.name, None)
                               if activation.timers.get(spec.name) is t else None)

    def delete(self, activation: Activation, name: str) -> None:
        task = activation.timers.pop(name, None)
        if task is not None:
            task.cancel()

    async def _run(self, activation: Activation, spec: TimerSpec) -> None:
        fire_at = first_fire(spec.due, spec.expires)
        fired = 0
        body: dict[str, Any] = {"callback": spec.callback, "data": spec.data,
                                "dueTime": spec.due_text, "period": spec.period_text}
        payload = json.dumps(body).encode()
        path = f"/actors/{activation.actor_type}/{activation.actor_id}/method/timer/{spec.name}"
        while fire_at is not None and not activation.closed:
            delay = (fire_at - datetime.now(timezone.utc)).total_seconds()
            if delay > 0:
                await asyncio.sleep(delay)
            if activation.closed:
                return
            try:
                reply = await self.actors.turn_call(activation.actor_type, activation.actor_id, path,
                                                    {"content-type": "application/json"}, payload,
                                                    pinned=activation)
            except DaprError as exc:
                log.warning("timer %s of %s failed: %s", spec.name, activation.key, exc.message)
                self.actors.observability.metrics.actor_timers_fired.inc(activation.actor_type, "false")
            else:
                if reply is None:
                    return
                self.actors.observability.metrics.actor_timers_fired.inc(activation.actor_type,
                                                                         str(reply.status == 200).lower())
                if cancel_requested(reply.headers):
                    return
                if reply.status != 200:
                    log.warning("timer %s of %s: the app answered %s", spec.name, activation.key, reply.status)
            fired += 1
            fire_at = next_fire(spec.period, fire_at, fired, spec.expires)
