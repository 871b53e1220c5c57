"""Actor state in the store marked ``actorStateStore``, under Dapr's keys.

Keys are ``<appId>||<type>||<id>||<key>``, so a store written by Dapr reads the
same here. A transaction is one all-or-nothing store transaction and is only
accepted for an actor active on this sidecar (its turn is what serialises it).
"""
from __future__ import annotations

import json
from typing import Any

from ..components.state import (
    DeleteRequest,
    GetRequest,
    GetResponse,
    SetRequest,
    StateError,
    StateStore,
    TransactionOp,
)
from ..errors import DaprError

__all__ = ["ActorState", "parse_operations"]


def parse_operations(doc: Any, prefix: str, ttl_allowed: bool) -> list[TransactionOp]:
    """Dapr's ``[{"operation": "upsert"|"delete", "request": {...}}]`` → store operations."""
    if not isinstance(doc, list):
        raise DaprError(400, "ERR_MALFORMED_REQUEST", "the body must be a JSON array of operations")
    ops: list[TransactionOp] = []
    for index, item in enumerate(doc):
        if not isinstance(item, dict) or not isinstance(item.get("request"), dict):
            raise DaprError(400, "ERR_MALFORMED_REQUEST", f"operation {index}: expected {{operation, request}}")
        request = item["request"]
        key = request.get("key")
        if not isinstance(key, str) or not key:
            raise DaprError(400, "ERR_MALFORMED_REQUEST", f"operation {index}: request.key is required")
        etag = request.get("etag")
        etag = str(etag) if etag not in (None, "") else None
        metadata = {str(k): str(v) for k, v in (request.get("metadata") or {}).items()}
        name = str(item.get("operation", "")).lower()
        if name == "upsert":
            ttl = None
            if "ttlInSeconds" in metadata:
                if not ttl_allowed:
                    raise DaprError(400, "ERR_MALFORMED_REQUEST",
                                    "ttlInSeconds is not supported without the ActorStateTTL feature")
                try:
                    ttl = int(metadata["ttlInSeconds"])
                except ValueError:
                    raise DaprError(400, "ERR_MALFORMED_REQUEST",
                                    f"operation {index}: ttlInSeconds must be an integer") from None
            value = json.dumps(request.get("value"), separators=(",", ":")).encode()
            ops.append(SetRequest(prefix + key, value, etag=etag, metadata=metadata, ttl=ttl))
        elif name == "delete":
            ops.append(DeleteRequest(prefix + key, etag=etag, metadata=metadata))
        else:
            raise DaprError(400, "ERR_MALFORMED_REQUEST",
                            f"operation {index}: unknown operation {item.get('operation')!r} (upsert or delete)")
    return ops


class ActorState:
    def __init__(self, app_id: str, store_name: str, driver: StateStore, ttl_allowed: bool = False) -> None:
        self.app_id = app_id
        self.store_name = store_name
        self.driver = driver
        self.ttl_allowed = ttl_allowed

    def prefix(self, actor_type: str, actor_id: str) -> str:
        return f"{self.app_id}||{actor_type}||{actor_id}||"

    async def transact(self, actor_type: str, actor_id: str, doc: Any) -> None:
        prefix = self.prefix(actor_type, actor_id)
        partition = {"partitionKey": prefix[:-2]}
        ops = [
            (SetRequest(op.key, op.value, etag=op.etag, metadata={**partition, **op.metadata}, ttl=op.ttl)
             if isinstance(op, SetRequest) else
             DeleteRequest(op.key, etag=op.etag, metadata={**partition, **op.metadata}))
            for op in parse_operations(doc, prefix, self.ttl_allowed)
        ]
        if not ops:
            return
        try:
            await self.driver.transact(ops)
        except StateError as exc:
            raise DaprError(500, "ERR_ACTOR_STATE_TRANSACTION_SAVE",
                            f"error saving actor transaction state: {exc}") from None

    async def get(self, actor_type: str, actor_id: str, key: str) -> GetResponse | None:
        prefix = self.prefix(actor_type, actor_id)
        try:
            return await self.driver.get(GetRequest(prefix + key, metadata={"partitionKey": prefix[:-2]}))
        except StateError as exc:
            raise DaprError(500, "ERR_ACTOR_STATE_GET", f"error getting actor state: {exc}") from None
