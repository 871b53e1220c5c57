"""The actor building block as the API sees it: names checked, Dapr's errors, one object to hold.

Bundles the runtime (placement, activations, turns), timers, reminders and
state so the HTTP layer stays a thin translation of paths and bodies.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from ..components.state import GetResponse
from ..errors import DaprError
from .reminders import Reminders
from .runtime import ActorReply, ActorRuntime
from .state import ActorState
from .timers import Timers, TimerSpec, parse_schedule

__all__ = ["Actors", "check_name"]

_BAD_NAME = re.compile(r"[/\\#?\x00-\x1f\x7f]")


def check_name(what: str, value: str) -> str:
    """Dapr refuses ``/ \\ # ?``, control characters, ``.`` and ``..`` in actor types, ids and names."""
    if not value or value in (".", "..") or _BAD_NAME.search(value):
        raise DaprError(400, "ERR_BAD_REQUEST", f"invalid {what}: {value!r}")
    return value


class Actors:
    def __init__(self, runtime: ActorRuntime, state: ActorState | None) -> None:
        self.runtime = runtime
        self.state = state
        self.timers = Timers(runtime)
        self.reminders = Reminders(runtime)

    async def host(self, app_config: dict[str, Any]) -> None:
        await self.runtime.host(app_config)
        if self.runtime.hosted:
            self.reminders.start()

    async def close(self) -> None:
        await self.runtime.close()

    def _require_state(self) -> ActorState:
        if self.state is None:
            raise DaprError(500, "ERR_ACTOR_RUNTIME_NOT_FOUND",
                            'the actor state store is not configured: mark one state store with '
                            'actorStateStore: "true"')
        return self.state

    def _require_active(self, actor_type: str, actor_id: str) -> None:
        if (actor_type, actor_id) not in self.runtime.active:
            raise DaprError(400, "ERR_ACTOR_INSTANCE_MISSING",
                            f"actor instance is missing: {actor_type}/{actor_id} is not active on this sidecar")

    def _require_hosted(self, actor_type: str, code: str) -> None:
        if actor_type not in self.runtime.hosted:
            raise DaprError(403, code, f"actor type {actor_type!r} is not hosted by app {self.runtime.app_id!r}")

    # invoke
    async def invoke(self, actor_type: str, actor_id: str, method: str, headers: dict[str, str],
                     body: bytes) -> ActorReply:
        check_name("actor type", actor_type)
        check_name("actor id", actor_id)
        return await self.runtime.invoke(actor_type, actor_id, method, headers, body)

    # state
    async def save_state(self, actor_type: str, actor_id: str, doc: Any) -> None:
        state = self._require_state()
        self._require_active(actor_type, actor_id)
        await state.transact(actor_type, actor_id, doc)

    async def get_state(self, actor_type: str, actor_id: str, key: str) -> GetResponse | None:
        state = self._require_state()
        if actor_type not in self.runtime.hosted:
            raise DaprError(400, "ERR_ACTOR_INSTANCE_MISSING",
                            f"actor instance is missing: type {actor_type!r} is not hosted on this sidecar")
        return await state.get(actor_type, actor_id, key)

    # reminders
    async def create_reminder(self, actor_type: str, actor_id: str, name: str, body: dict[str, Any]) -> None:
        self._require_state()
        self._require_hosted(actor_type, "ERR_ACTOR_REMINDER_NON_HOSTED")
        await self.reminders.create(actor_type, actor_id, check_name("reminder name", name), body)

    async def get_reminder(self, actor_type: str, actor_id: str, name: str) -> dict[str, Any] | None:
        self._require_hosted(actor_type, "ERR_ACTOR_REMINDER_NON_HOSTED")
        return await self.reminders.get(actor_type, actor_id, name)

    async def delete_reminder(self, actor_type: str, actor_id: str, name: str) -> None:
        self._require_hosted(actor_type, "ERR_ACTOR_REMINDER_NON_HOSTED")
        await self.reminders.delete(actor_type, actor_id, name)

    # timers
    async def create_timer(self, actor_type: str, actor_id: str, name: str, body: dict[str, Any]) -> None:
        check_name("timer name", name)
        activation = self.runtime.active.get((actor_type, actor_id))
        if activation is None:
            raise DaprError(400, "ERR_ACTOR_INSTANCE_MISSING",
                            f"cannot create timer for {actor_type}/{actor_id}: actor not active on this sidecar")
        now = datetime.now(timezone.utc)
        due, period, expires = parse_schedule(body, "ERR_ACTOR_TIMER_CREATE", now)
        self.timers.create(activation, TimerSpec(
            name=name, due=due, period=period, expires=expires, due_text=str(body.get("dueTime") or ""),
            period_text=str(body.get("period") or ""), data=body.get("data"),
            callback=str(body.get("callback") or ""),
        ))

    async def delete_timer(self, actor_type: str, actor_id: str, name: str) -> None:
        activation = self.runtime.active.get((actor_type, actor_id))
        if activation is not None:
            self.timers.delete(activation, name)

    def metadata(self) -> list[dict[str, Any]]:
        return [{"type": t, "count": n} for t, n in self.runtime.counts().items()]
