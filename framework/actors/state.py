"""`ActorStateManager`: an actor's keys, read once per activation and saved once per turn.

Reads go to the sidecar (``GET /v1.0/actors/{type}/{id}/state/{key}``) the first time a key is
asked for and are cached while the actor stays active; the sidecar guarantees nobody else
writes them meanwhile. Writes only mark the cache. At the end of a turn that succeeded the
runtime sends every pending change as one transaction (``POST .../state``); when the turn
failed it drops the cache instead, so the next turn reads what was really saved.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from ..client import Client

__all__ = ["ActorStateManager"]

_MISSING: Any = object()


@dataclass
class _Entry:
    value: Any
    #: What the store holds for the key, as far as we know: True, False, or None (unknown).
    stored: bool | None
    pending: Literal["upsert", "delete"] | None = None


class ActorStateManager:
    """``await self.state.get(key, default)``, ``set``, ``remove``, ``contains``.

    Values are anything JSON can encode. A value read is the cached object itself: after
    changing it in place, call `set` again, or the change is not saved.
    """

    def __init__(self, client: Client, actor_type: str, actor_id: str) -> None:
        self._client = client
        self._type = actor_type
        self._id = actor_id
        self._cache: dict[str, _Entry] = {}

    async def get(self, key: str, default: Any = None) -> Any:
        """The value of `key`, or `default` when it has none."""
        entry = await self._load(key)
        return entry.value if entry.value is not _MISSING else default

    async def contains(self, key: str) -> bool:
        """Whether `key` has a value (counting changes of this turn)."""
        return (await self._load(key)).value is not _MISSING

    async def set(self, key: str, value: Any) -> None:
        """Give `key` a value; saved at the end of the turn."""
        _check_key(key)
        json.dumps(value)  # not JSON-encodable: fail here, not at the end of the turn
        entry = self._cache.get(key)
        stored = entry.stored if entry is not None else None
        self._cache[key] = _Entry(value, stored, "upsert")

    async def remove(self, key: str) -> None:
        """Remove `key` (nothing happens if it has no value); saved at the end of the turn."""
        _check_key(key)
        entry = self._cache.get(key)
        if entry is not None and entry.stored is False:
            self._cache[key] = _Entry(_MISSING, False)  # never saved: nothing to delete
        else:
            self._cache[key] = _Entry(_MISSING, None if entry is None else entry.stored, "delete")

    @property
    def pending(self) -> dict[str, Literal["upsert", "delete"]]:
        """The changes the next save will send, by key."""
        return {key: e.pending for key, e in self._cache.items() if e.pending is not None}

    async def save(self) -> None:
        """Send every pending change as one transaction (the runtime calls this after each turn)."""
        from ..client import TransactionOperation

        changed = [(key, e) for key, e in self._cache.items() if e.pending is not None]
        if not changed:
            return
        operations = [
            TransactionOperation.upsert(key, e.value) if e.pending == "upsert" else TransactionOperation.delete(key)
            for key, e in changed
        ]
        await self._client.save_actor_state(self._type, self._id, operations)
        for _, entry in changed:
            entry.stored = entry.pending == "upsert"
            entry.pending = None

    def drop(self) -> None:
        """Forget every cached value and pending change (after a failed turn)."""
        self._cache.clear()

    async def _load(self, key: str) -> _Entry:
        _check_key(key)
        entry = self._cache.get(key)
        if entry is None:
            found = await self._client.get_actor_state(self._type, self._id, key)
            value = _MISSING if found is None else found.json()
            entry = self._cache[key] = _Entry(value, found is not None)
        return entry


def _check_key(key: str) -> None:
    if not isinstance(key, str) or not key:
        raise ValueError(f"a state key must be a non-empty string, got {key!r}")
