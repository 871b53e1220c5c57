"""``/v1.0/state/{store}``: save, get, bulk get, delete, transaction; alpha query (spec §2)."""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..blocks.state import StateBlock, merged
from ..components.state import (
    Concurrency,
    Consistency,
    DeleteRequest,
    GetRequest,
    SetRequest,
    StateFeature,
    TransactionOp,
)
from ..components.state_query import QueryItem, parse_query
from ..components.wire import compact_json, string_map
from ..components.wire import field as _field
from ..errors import DaprError
from .responses import json_response, no_content, query_metadata, read_json

__all__ = ["routes"]

_JSON_HEADERS = {"content-type": "application/json"}


def routes(block: StateBlock) -> list[Route]:
    # Each route checks its store before reading the body: Dapr reports an unknown store first.
    async def save(request: Request) -> Response:
        block.check(request.path_params["store"])
        body = await read_json(request)
        if not isinstance(body, list):
            raise DaprError(400, "ERR_MALFORMED_REQUEST",
                            "failed deserializing HTTP body: expected a JSON array of state items")
        extra = query_metadata(request)
        items = [_set_request(item, extra, i) for i, item in enumerate(body)]
        await block.save(request.path_params["store"], items)
        return no_content()

    async def get(request: Request) -> Response:
        found = await block.get(request.path_params["store"], GetRequest(
            key=request.path_params["key"], metadata=query_metadata(request),
            consistency=_consistency(request.query_params.get("consistency")),
        ))
        if found is None:
            return no_content()
        headers = dict(_JSON_HEADERS)
        if found.etag is not None:
            headers["etag"] = found.etag
        for k, v in found.metadata.items():
            headers[f"metadata.{k}"] = v
        return Response(found.data, headers=headers)

    async def bulk_get(request: Request) -> Response:
        block.check(request.path_params["store"])
        body = await read_json(request)
        if not isinstance(body, dict):
            raise DaprError(400, "ERR_MALFORMED_REQUEST", "failed deserializing HTTP body: expected an object")
        keys = _field(body, "keys") or []
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise DaprError(400, "ERR_MALFORMED_REQUEST", "\"keys\" must be a list of strings")
        meta = merged(_string_map(_field(body, "metadata"), "metadata"), query_metadata(request))
        items = await block.bulk_get(request.path_params["store"],
                                     [GetRequest(key=k, metadata=meta) for k in keys])
        return json_response([_bulk_item(item) for item in items])

    async def delete(request: Request) -> Response:
        etag = request.headers.get("if-match") or None
        await block.delete(request.path_params["store"], DeleteRequest(
            key=request.path_params["key"], etag=etag, metadata=query_metadata(request),
            concurrency=_concurrency(request.query_params.get("concurrency")),
            consistency=_consistency(request.query_params.get("consistency")),
        ))
        return no_content()

    async def transaction(request: Request) -> Response:
        block.check(request.path_params["store"], StateFeature.TRANSACTIONAL)
        body = await read_json(request)
        if not isinstance(body, dict):
            raise DaprError(400, "ERR_MALFORMED_REQUEST", "failed deserializing HTTP body: expected an object")
        shared = merged(_string_map(_field(body, "metadata"), "metadata"), query_metadata(request))
        operations = _field(body, "operations") or []
        if not isinstance(operations, list):
            raise DaprError(400, "ERR_MALFORMED_REQUEST", "\"operations\" must be a list")
        ops = [_operation(op, shared, i) for i, op in enumerate(operations)]
        await block.transact(request.path_params["store"], ops)
        return no_content()

    async def query(request: Request) -> Response:
        block.check(request.path_params["store"], StateFeature.QUERY_API)
        body = await read_json(request)
        try:
            parsed = parse_query(body)
        except ValueError as exc:
            raise DaprError(400, "ERR_MALFORMED_REQUEST", f"failed parsing query: {exc}") from None
        page = await block.query(request.path_params["store"], replace(parsed, metadata=query_metadata(request)))
        if not page.results:
            return no_content()  # Dapr answers an empty result with 204, not an empty list
        out: dict[str, Any] = {"results": [_query_item(item) for item in page.results]}
        if page.token:
            out["token"] = page.token
        if page.metadata:
            out["metadata"] = dict(page.metadata)
        return json_response(out)

    return [
        Route("/v1.0-alpha1/state/{store}/query", query, methods=["POST", "PUT"]),
        Route("/v1.0/state/{store}", save, methods=["POST", "PUT"]),
        Route("/v1.0/state/{store}/bulk", bulk_get, methods=["POST", "PUT"]),
        Route("/v1.0/state/{store}/transaction", transaction, methods=["POST", "PUT"]),
        Route("/v1.0/state/{store}/{key:path}", get, methods=["GET"]),
        Route("/v1.0/state/{store}/{key:path}", delete, methods=["DELETE"]),
    ]


def _string_map(value: Any, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise DaprError(400, "ERR_MALFORMED_REQUEST", f"{what} must be an object of strings")
    return string_map(value) or {}


def _key(item: Mapping[str, Any], where: str) -> str:
    key = _field(item, "key")
    if not isinstance(key, str) or key == "":
        raise DaprError(400, "ERR_MALFORMED_REQUEST", f"{where}: \"key\" is a required field")
    return key


def _etag(item: Mapping[str, Any]) -> str | None:
    etag = _field(item, "etag")
    if etag is None or etag == "":
        return None
    return etag if isinstance(etag, str) else json.dumps(etag)


def _options(item: Mapping[str, Any]) -> tuple[Concurrency | None, Consistency | None]:
    options = _field(item, "options") or {}
    if not isinstance(options, dict):
        raise DaprError(400, "ERR_MALFORMED_REQUEST", "options must be an object")
    return _concurrency(_field(options, "concurrency")), _consistency(_field(options, "consistency"))


def _set_request(item: Any, extra: Mapping[str, str], index: int) -> SetRequest:
    where = f"item {index}"
    if not isinstance(item, dict):
        raise DaprError(400, "ERR_MALFORMED_REQUEST", f"{where}: expected an object with key and value")
    metadata = merged(_string_map(_field(item, "metadata"), "metadata"), extra)
    concurrency, consistency = _options(item)
    value = _field(item, "value")
    return SetRequest(
        key=_key(item, where),
        value=compact_json(value),
        etag=_etag(item), metadata=metadata, concurrency=concurrency, consistency=consistency,
        ttl=_ttl(metadata),
    )


def _operation(op: Any, shared: Mapping[str, str], index: int) -> TransactionOp:
    where = f"operation {index}"
    if not isinstance(op, dict):
        raise DaprError(400, "ERR_MALFORMED_REQUEST", f"{where}: expected an object")
    kind = _field(op, "operation")
    request = _field(op, "request")
    if kind not in ("upsert", "delete"):
        raise DaprError(400, "ERR_NOT_SUPPORTED_STATE_OPERATION", f"operation type {kind} not supported")
    if not isinstance(request, dict):
        raise DaprError(400, "ERR_MALFORMED_REQUEST", f"{where}: \"request\" must be an object")
    if kind == "upsert":
        return _set_request(request, shared, index)
    concurrency, consistency = _options(request)
    return DeleteRequest(
        key=_key(request, where), etag=_etag(request),
        metadata=merged(_string_map(_field(request, "metadata"), "metadata"), shared),
        concurrency=concurrency, consistency=consistency,
    )


def _ttl(metadata: Mapping[str, str]) -> int | None:
    raw = metadata.get("ttlInSeconds")
    if raw is None or raw == "":
        return None
    try:
        ttl = int(raw)
    except ValueError:
        raise DaprError(500, "ERR_STATE_SAVE", f"failed to parse ttlInSeconds: {raw!r} is not an integer") from None
    if ttl < -1:
        raise DaprError(400, "ERR_MALFORMED_REQUEST", f"ttlInSeconds must be -1 or more, got {ttl}")
    return ttl


def _concurrency(value: Any) -> Concurrency | None:
    if value is None or value == "":
        return None
    try:
        return Concurrency(value)
    except ValueError:
        raise DaprError(400, "ERR_MALFORMED_REQUEST",
                        f"invalid concurrency {value!r}: use first-write or last-write") from None


def _consistency(value: Any) -> Consistency | None:
    if value is None or value == "":
        return None
    try:
        return Consistency(value)
    except ValueError:
        raise DaprError(400, "ERR_MALFORMED_REQUEST",
                        f"invalid consistency {value!r}: use strong or eventual") from None


def _json_data(data: bytes) -> Any:
    """A stored value as JSON, or as text when it is not JSON (binary values)."""
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return data.decode("utf-8", "replace")


def _bulk_item(item: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"key": item.key}
    if item.data is not None:
        out["data"] = _json_data(item.data)
    if item.etag:
        out["etag"] = item.etag
    if item.metadata:
        out["metadata"] = dict(item.metadata)
    if item.error:
        out["error"] = item.error
    return out


def _query_item(item: QueryItem) -> dict[str, Any]:
    out: dict[str, Any] = {"key": item.key, "data": _json_data(item.data)}
    if item.etag:
        out["etag"] = item.etag
    if item.error:
        out["error"] = item.error
    return out
