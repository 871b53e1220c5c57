"""``placement.redis``: actor membership, claims and reminders on Redis, for sidecars on many machines.

Chosen automatically beside a ``state.redis`` actor state store (same
connection metadata). Layout, all under ``tandem||placement||<namespace>``:

* ``…||hosts``: a hash, host id → JSON host row with its ``expires`` time;
* ``…||claim||<type>||<id>``: the host id holding an actor, and ``…||held||<host id>``:
  the set of claim keys a host holds (so a graceful leave frees them at once);
* ``…||reminder||<type>||<id>||<name>``: one JSON record per reminder, and
  ``…||due||<type>``: a sorted set of those keys scored by next fire time.

Claiming and advancing a reminder are Lua scripts, so the liveness check of a
claim's holder and the compare-and-set of a tick are atomic on the server.
Times are the sidecars' wall clocks: keep them in sync (NTP), as for any lease.
"""
from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict

from tandem.sidecar.components.placement import HostInfo, PlacementError, PlacementStore, ReminderRecord

from .component import RedisComponent
from .connection import translate

__all__ = ["RedisPlacementStore"]

# KEYS: claim key, hosts hash, held set. ARGV: host id, now. Returns the live holder, or nil once claimed.
_CLAIM = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then
  local row = redis.call('HGET', KEYS[2], holder)
  if row then
    local expires = cjson.decode(row)['expires']
    if expires and tonumber(expires) >= tonumber(ARGV[2]) then return holder end
  end
end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[3], KEYS[1])
return false
"""

# KEYS: held set, claim keys... ARGV: host id. Deletes only the claims this host holds.
_RELEASE = """
for i = 2, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then redis.call('DEL', KEYS[i]) end
  redis.call('SREM', KEYS[1], KEYS[i])
end
return 0
"""

# KEYS: record key, due zset. ARGV: expected score, new score ('' = delete), new record.
_ADVANCE = """
local score = redis.call('ZSCORE', KEYS[2], KEYS[1])
if not score or tonumber(score) ~= tonumber(ARGV[1]) then return 0 end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[3])
  redis.call('ZADD', KEYS[2], ARGV[2], KEYS[1])
end
return 1
"""


def _base(namespace: str) -> str:
    return f"tandem||placement||{namespace}"


def _reminder_key(namespace: str, actor_type: str, actor_id: str, name: str) -> str:
    return f"{_base(namespace)}||reminder||{actor_type}||{actor_id}||{name}"


def _due_key(namespace: str, actor_type: str) -> str:
    return f"{_base(namespace)}||due||{actor_type}"


class RedisPlacementStore(RedisComponent, PlacementStore):
    error = PlacementError
    label = "redis placement store"
    scripts = (_CLAIM, _RELEASE, _ADVANCE)

    def __init__(self) -> None:
        self._namespaces: dict[str, str] = {}  # host id -> namespace, for our own hosts' leave

    # membership
    async def heartbeat(self, host: HostInfo, ttl: float) -> None:
        settings, client = self.connection()
        self._namespaces[host.host_id] = host.namespace
        row = json.dumps({**asdict(host), "types": list(host.types), "expires": time.time() + ttl})
        with translate(PlacementError, "placement heartbeat", settings):
            await client.hset(f"{_base(host.namespace)}||hosts", host.host_id, row)

    async def leave(self, host_id: str) -> None:
        settings, client = self.connection()
        namespace = self._namespaces.pop(host_id, None)
        if namespace is None:
            return  # never heartbeated through this store: nothing of it to remove
        held = f"{_base(namespace)}||held||{host_id}"
        with translate(PlacementError, "placement leave", settings):
            claims = await client.smembers(held)
            if claims:
                await self.script(_RELEASE)(keys=[held, *claims], args=[host_id], client=client)
            await client.delete(held)
            await client.hdel(f"{_base(namespace)}||hosts", host_id)

    async def live_hosts(self, namespace: str) -> list[HostInfo]:
        settings, client = self.connection()
        with translate(PlacementError, "placement hosts", settings):
            rows = await client.hgetall(f"{_base(namespace)}||hosts")
        now = time.time()
        hosts = []
        stale = []
        for host_id, raw in rows.items():
            row = json.loads(raw)
            if row["expires"] >= now:
                hosts.append(HostInfo(row["host_id"], row["app_id"], row["address"], tuple(row["types"]),
                                      row["namespace"], row["pid"]))
            elif row["expires"] < now - 3600:
                stale.append(host_id)
        if stale:  # hosts long gone
            with translate(PlacementError, "placement cleanup", settings):
                await client.hdel(f"{_base(namespace)}||hosts", *stale)
        return sorted(hosts, key=lambda h: h.host_id)

    # claims
    async def claim(self, namespace: str, actor_key: str, host_id: str) -> str | None:
        settings, client = self.connection()
        with translate(PlacementError, f"claim {actor_key}", settings):
            holder = await self.script(_CLAIM)(keys=[f"{_base(namespace)}||claim||{actor_key}", f"{_base(namespace)}||hosts",
                                             f"{_base(namespace)}||held||{host_id}"],
                                       args=[host_id, repr(time.time())], client=client)
        return holder.decode() if holder else None

    async def release(self, namespace: str, actor_keys: Sequence[str], host_id: str) -> None:
        if not actor_keys:
            return
        settings, client = self.connection()
        with translate(PlacementError, "release claims", settings):
            await self.script(_RELEASE)(keys=[f"{_base(namespace)}||held||{host_id}",
                                      *(f"{_base(namespace)}||claim||{k}" for k in actor_keys)],
                                args=[host_id], client=client)

    # reminders
    async def save_reminder(self, record: ReminderRecord) -> None:
        settings, client = self.connection()
        key = _reminder_key(record.namespace, *record.key)
        with translate(PlacementError, "save reminder", settings):
            async with client.pipeline(transaction=True) as pipe:
                pipe.set(key, record.to_json())
                pipe.zadd(_due_key(record.namespace, record.actor_type), {key: record.next_fire})
                await pipe.execute()

    async def get_reminder(self, namespace: str, actor_type: str, actor_id: str, name: str) -> ReminderRecord | None:
        settings, client = self.connection()
        with translate(PlacementError, "get reminder", settings):
            raw = await client.get(_reminder_key(namespace, actor_type, actor_id, name))
        return ReminderRecord.from_json(raw) if raw else None

    async def delete_reminder(self, namespace: str, actor_type: str, actor_id: str, name: str) -> None:
        settings, client = self.connection()
        key = _reminder_key(namespace, actor_type, actor_id, name)
        with translate(PlacementError, "delete reminder", settings):
            async with client.pipeline(transaction=True) as pipe:
                pipe.delete(key)
                pipe.zrem(_due_key(namespace, actor_type), key)
                await pipe.execute()

    async def due_reminders(self, namespace: str, types: Sequence[str], now: float,
                            limit: int) -> list[ReminderRecord]:
        settings, client = self.connection()
        found: list[ReminderRecord] = []
        with translate(PlacementError, "due reminders", settings):
            for actor_type in types:
                keys = await client.zrangebyscore(_due_key(namespace, actor_type), "-inf", now, start=0, num=limit)
                if keys:
                    found += [ReminderRecord.from_json(raw) for raw in await client.mget(keys) if raw]
        return sorted(found, key=lambda r: r.next_fire)[:limit]

    async def advance_reminder(self, record: ReminderRecord, next_fire: float | None, fired: int) -> bool:
        return (await self.advance_reminders([(record, next_fire, fired)]))[0]

    async def advance_reminders(self, ticks: Sequence[tuple[ReminderRecord, float | None, int]]) -> list[bool]:
        """Every tick's compare-and-set script in one pipelined round trip (each still atomic on its own)."""
        settings, client = self.connection()
        with translate(PlacementError, "advance reminders", settings):
            async with client.pipeline(transaction=False) as pipe:
                for record, next_fire, fired in ticks:
                    updated = "" if next_fire is None else record.to_json(next_fire=next_fire, fired=fired)
                    await self.script(_ADVANCE)(keys=[_reminder_key(record.namespace, *record.key),
                                              _due_key(record.namespace, record.actor_type)],
                                        args=[repr(record.next_fire), "" if next_fire is None else repr(next_fire),
                                              updated], client=pipe)
                replies = await pipe.execute()
        return [bool(r) for r in replies]
