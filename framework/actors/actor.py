"""`Actor`, the base class of virtual actors, and the `actor_method` marker.

An actor is one object per (type, id), created on its first call and kept while it is in
use. The sidecar lets it run one turn at a time (a method call, a timer or a reminder), so
its code never races with itself. State lives in `self.state` and is saved at the end of
every turn that succeeded.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, overload

from .calls import ActorReminder
from .durations import TimeSpec
from .state import ActorStateManager

if TYPE_CHECKING:
    from ..client import Client

__all__ = ["Actor", "CancelReminder", "actor_method"]

F = TypeVar("F", bound=Callable[..., Any])

_MARK = "__tandem_actor_method__"
# Dapr refuses these in actor types, ids and timer/reminder names.
_BAD_NAME = re.compile(r"[/\\#?\x00-\x1f\x7f]")


class CancelReminder(Exception):
    """Raise (or return) from a reminder or timer callback to stop it (``X-DaprReminderCancel``)."""


@overload
def actor_method(func: F, /) -> F: ...
@overload
def actor_method(*, name: str | None = None) -> Callable[[F], F]: ...


def actor_method(func: Callable[..., Any] | None = None, /, *, name: str | None = None) -> Any:
    """Mark a method of an `Actor` as callable through the sidecar (``@actor_method`` or
    ``@actor_method(name="Other")``); the function is returned unchanged.

    The request body is the argument, decoded from JSON: a method with one parameter gets
    the whole value, one with several takes a JSON object of keyword arguments or a JSON
    array of positional ones; no body, no argument. The result is sent back as JSON.
    """
    if name is not None:
        check_name(name, "actor method name")

    def mark(target: F) -> F:
        if not callable(target):
            raise TypeError("@actor_method decorates a method")
        setattr(target, _MARK, name or target.__name__)
        return target

    return mark if func is None else mark(func)


class Actor:
    """Subclass it; mark the methods callers may use with `actor_method`.

    `actor_type` is the class name unless the class sets it. The runtime creates instances
    as ``cls(actor_id, client)``; a subclass that takes over ``__init__`` must pass both on.
    Hooks (`on_activate`, `on_deactivate`, `receive_reminder`) may be sync or async.
    Changes to `state` made in `on_deactivate` are not saved: the actor is already leaving.
    """

    actor_type: ClassVar[str] = "Actor"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "actor_type" not in cls.__dict__:
            cls.actor_type = cls.__name__
        check_name(cls.actor_type, "actor type")

    def __init__(self, actor_id: str, client: Client) -> None:
        self.id = actor_id
        #: The sidecar client of the runtime; ``self.client.actor(type, id)`` calls other actors.
        self.client = client
        self.state = ActorStateManager(client, self.actor_type, actor_id)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.actor_type}/{self.id}>"

    # -- hooks --------------------------------------------------------------------------

    async def on_activate(self) -> None:
        """Runs before the first turn of an activation (inside that turn)."""

    async def on_deactivate(self) -> None:
        """Runs when the sidecar deactivates the actor (idle, moved, shutting down)."""

    async def receive_reminder(self, name: str, data: Any, due_time: str | None, period: str | None) -> Any:
        """A reminder registered with `register_reminder` is due; raise `CancelReminder` to stop it."""
        raise NotImplementedError(
            f"actor type {self.actor_type!r} got reminder {name!r} but does not override receive_reminder"
        )

    # -- timers and reminders -----------------------------------------------------------

    async def register_timer(
        self, name: str, callback: str | Callable[..., Any], due_time: TimeSpec | None = None,
        period: TimeSpec | None = None, data: Any = None, ttl: TimeSpec | None = None,
    ) -> None:
        """Call `callback` (a method of this actor, or its name) with `data` after `due_time`,
        then every `period`. Timers live in memory and stop when the actor is deactivated."""
        check_name(name, "timer name")
        method = callback if isinstance(callback, str) else _method_name(self, callback)
        if callback_target(type(self), method) is None:
            raise ValueError(f"{type(self).__name__} has no public method {method!r} to call back")
        await self.client.register_actor_timer(self.actor_type, self.id, name, callback=method,
                                               due_time=due_time, period=period, ttl=ttl, data=data)

    async def unregister_timer(self, name: str) -> None:
        await self.client.unregister_actor_timer(self.actor_type, self.id, name)

    async def register_reminder(
        self, name: str, data: Any = None, due_time: TimeSpec | None = None,
        period: TimeSpec | None = None, ttl: TimeSpec | None = None,
    ) -> None:
        """A persistent reminder: `receive_reminder` runs after `due_time`, then every `period`
        (none: once); it survives deactivation and sidecar restarts. `ttl` ends it."""
        check_name(name, "reminder name")
        await self.client.register_actor_reminder(self.actor_type, self.id, name, due_time=due_time,
                                                  period=period, ttl=ttl, data=data)

    async def unregister_reminder(self, name: str) -> None:
        await self.client.unregister_actor_reminder(self.actor_type, self.id, name)

    async def get_reminder(self, name: str) -> ActorReminder | None:
        return await self.client.get_actor_reminder(self.actor_type, self.id, name)


# -- used by the runtime ----------------------------------------------------------------


def check_name(value: str, what: str) -> None:
    """Refuse what the sidecar would refuse, early and with the reason."""
    if not isinstance(value, str) or not value or value in (".", "..") or _BAD_NAME.search(value):
        raise ValueError(f"invalid {what} {value!r}: it must be non-empty, not '.' or '..', "
                         "and hold no '/', '\\', '#', '?' or control characters")


def method_table(cls: type[Actor]) -> dict[str, str]:
    """Wire name → attribute name of every `actor_method` of `cls` (inherited ones too)."""
    table: dict[str, str] = {}
    for attr in dir(cls):
        wire = getattr(getattr(cls, attr, None), _MARK, None)
        if not isinstance(wire, str):
            continue
        if wire in table:
            raise ValueError(f"{cls.__name__}: methods {table[wire]!r} and {attr!r} are both "
                             f"exposed as {wire!r}")
        table[wire] = attr
    return table


def callback_target(cls: type[Actor], name: str) -> str | None:
    """The attribute a timer callback `name` designates: an actor method's wire name, else a
    public method of the class (never a private one)."""
    table = method_table(cls)
    if name in table:
        return table[name]
    if name.startswith("_") or not inspect.isfunction(getattr(cls, name, None)):
        return None
    return name


def _method_name(actor: Actor, callback: Callable[..., Any]) -> str:
    if getattr(callback, "__self__", None) is not actor:
        raise ValueError("a timer callback must be a method of this actor (or its name)")
    return str(getattr(callback, "__name__", ""))
