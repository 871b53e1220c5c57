"""The Lua scripts of the Redis components, loaded once per client (``SCRIPT LOAD`` + ``EVALSHA``).

Kept apart from the Python so the server-side semantics can be read in one place.
"""
from __future__ import annotations

__all__ = ["LOCK_UNLOCK", "PUBSUB_FORGET_CONSUMER", "PUBSUB_RECLAIM", "STATE_GET", "STATE_WRITE"]

#: Read keys in Dapr's layout. Per key: ``false`` (absent), or ``{kind, data, version, pttl}`` where kind is
#: ``h`` (Dapr hash), ``s`` (plain string, no ETag), ``j`` (RedisJSON document ``{"data","version"}``, read
#: whole), or ``x`` (any other type; ``data`` holds the type name).
STATE_GET = """
local out = {}
for i, key in ipairs(KEYS) do
  local t = redis.call("TYPE", key)["ok"]
  if t == "none" then
    out[i] = false
  elseif t == "hash" then
    local v = redis.call("HMGET", key, "data", "version")
    out[i] = {"h", v[1], v[2], redis.call("PTTL", key)}
  elseif t == "string" then
    out[i] = {"s", redis.call("GET", key), false, redis.call("PTTL", key)}
  elseif t == "ReJSON-RL" then
    out[i] = {"j", redis.call("JSON.GET", key), false, redis.call("PTTL", key)}
  else
    out[i] = {"x", t, false, -1}
  end
end
return out
"""

#: Conditional sets and deletes in Dapr's hash layout ``{data, version[, first-write]}``.
#:
#: ARGV[1] is ``all`` (a transaction: every operation is validated against the state the earlier ones
#: leave, then all are applied, or none when one fails) or ``each`` (independent operations, one reply
#: per operation). ARGV[2] is ``1`` when an expected version given for a key that has none (absent, or
#: not a hash) is a mismatch, ``0`` when it is accepted (Dapr's Redis store). Then five arguments per
#: operation, whose key is KEYS[i]: kind (``set``/``del``), expected version (``""`` for none), data,
#: first-write (``1``/``0``) and TTL (``""`` leave as is, ``0`` remove, N expire in N seconds).
#:
#: A stored version must equal the expected one; first-write without an expected version refuses a
#: key that has a version. Validation happens before any write, so a script error never leaves half
#: a transaction behind. Replies: ``all`` → the number of operations, or an error ``TANDEM_MISMATCH``
#: / ``TANDEM_INVALID`` naming the operation; ``each`` → per operation ``""`` or that error text.
STATE_WRITE = """
local mode, strict = ARGV[1], ARGV[2] == "1"
local seen = {}
local function load(key)
  local s = seen[key]
  if s == nil then
    local t = redis.call("TYPE", key)["ok"]
    s = {t = t, v = false}
    if t == "hash" then
      s.v = redis.call("HGET", key, "version")
    end
    seen[key] = s
  end
  return s
end
local function check(i)
  local base = 2 + (i - 1) * 5
  local key, kind, expected, first = KEYS[i], ARGV[base + 1], ARGV[base + 2], ARGV[base + 4]
  local s = load(key)
  if s.v and not tonumber(s.v) then
    return "TANDEM_INVALID " .. i .. " stored version of " .. key .. " is not an integer"
  end
  if expected ~= "" then
    if s.v and s.v ~= expected then
      return "TANDEM_MISMATCH " .. i .. " etag mismatch for key " .. key
    elseif not s.v and strict then
      return "TANDEM_MISMATCH " .. i .. " etag given for missing key " .. key
    end
  elseif kind == "set" and first == "1" and s.v then
    return "TANDEM_MISMATCH " .. i .. " first-write: key " .. key .. " already exists"
  end
  if kind == "set" then
    seen[key] = {t = "hash", v = tostring((tonumber(s.v) or 0) + 1)}
  else
    seen[key] = {t = "none", v = false}
  end
  return nil
end
local function apply(i)
  local base = 2 + (i - 1) * 5
  local key, kind, data, first, ttl = KEYS[i], ARGV[base + 1], ARGV[base + 3], ARGV[base + 4], ARGV[base + 5]
  if kind == "del" then
    redis.call("DEL", key)
    return
  end
  local t = redis.call("TYPE", key)["ok"]
  if t ~= "hash" and t ~= "none" then
    redis.call("DEL", key)
  end
  redis.call("HSET", key, "data", data)
  if first == "1" then
    redis.call("HSET", key, "first-write", 0)
  end
  redis.call("HINCRBY", key, "version", 1)
  if ttl == "0" then
    redis.call("PERSIST", key)
  elseif ttl ~= "" then
    redis.call("EXPIRE", key, ttl)
  end
end
local n = #KEYS
if mode == "all" then
  for i = 1, n do
    local err = check(i)
    if err then
      return redis.error_reply(err)
    end
  end
  for i = 1, n do
    apply(i)
  end
  return n
end
local out = {}
for i = 1, n do
  local err = check(i)
  if err then
    out[i] = err
  else
    apply(i)
    out[i] = ""
  end
end
return out
"""

#: Dapr's unlock: 1 released, -1 no such lock, -2 held by someone else.
LOCK_UNLOCK = """
local v = redis.call("GET", KEYS[1])
if v == false then
  return -1
end
if v ~= ARGV[1] then
  return -2
end
return redis.call("DEL", KEYS[1])
"""

#: Remove a consumer from a group only if it holds no pending entry (``XGROUP DELCONSUMER`` would drop
#: them): KEYS[1] stream, ARGV[1] group, ARGV[2] consumer. Returns 1 when removed.
PUBSUB_FORGET_CONSUMER = """
local ok, pending = pcall(redis.call, "XPENDING", KEYS[1], ARGV[1], "-", "+", 1, ARGV[2])
if not ok or #pending > 0 then
  return 0
end
redis.call("XGROUP", "DELCONSUMER", KEYS[1], ARGV[1], ARGV[2])
return 1
"""

#: Take back a message this consumer still holds, to retry it after its handler failed: ``XCLAIM`` with
#: min-idle 0 (which counts a delivery) only if the entry is pending for this consumer, so a message that
#: another subscriber claimed meanwhile is left to it. KEYS[1] stream, ARGV group, consumer, id.
#: Returns the ``XCLAIM`` reply (empty when the entry was deleted), or ``false`` when not ours.
PUBSUB_RECLAIM = """
local p = redis.call("XPENDING", KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1, ARGV[2])
if #p == 0 then
  return false
end
return redis.call("XCLAIM", KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3])
"""
