"""``POST|PUT /v1.0/bindings/{name}``: output bindings (spec §4.1).

The body is ``{"data": <any JSON>, "metadata": {str: str}, "operation": str}``,
read the way Dapr's Go decoder reads it (field names in any case, ``null``
fields empty). ``data`` reaches the binding re-encoded as Go's ``json.Marshal``
writes it — so a JSON string ``"hi"`` arrives as the 4 bytes ``"hi"``, quotes
included, and a missing ``data`` as ``null``. The binding's response metadata
comes back as ``metadata.<k>`` headers, on errors too.
"""
from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import strictjson
from ..blocks.bindings import BindingsBlock, OutputBindingError
from ..errors import DaprError
from ..tracecontext import for_next_hop
from .responses import error_response, no_content

__all__ = ["go_marshal", "routes"]

_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


def routes(block: BindingsBlock) -> list[Route]:
    async def invoke(request: Request) -> Response:
        name = request.path_params["name"]
        data, metadata, operation = _parse(await request.body())
        try:
            payload = go_marshal(data).encode()
        except (RecursionError, ValueError) as exc:
            raise DaprError(500, "ERR_MALFORMED_REQUEST_DATA", f"can't serialize request data field: {exc}") from None
        metadata["traceparent"], tracestate = for_next_hop(request.scope)
        if tracestate:
            metadata["tracestate"] = tracestate
        try:
            answer, response_metadata = await block.invoke_output(name, operation, payload, metadata)
        except OutputBindingError as exc:
            failed = error_response(exc)
            _add_metadata_headers(failed, exc.response_metadata)
            return failed
        if answer is None:
            reply = no_content()
        else:
            reply = Response(answer, status_code=200, media_type="application/json")
        _add_metadata_headers(reply, response_metadata)
        return reply

    return [Route("/v1.0/bindings/{name}", invoke, methods=["POST", "PUT"])]


def _malformed(problem: str) -> DaprError:
    return DaprError(400, "ERR_MALFORMED_REQUEST", f"failed deserializing HTTP body: {problem}")


def _float64(text: str) -> float | int:
    """Go decodes numbers as float64: one out of its range makes the request malformed."""
    value: float | int = int(text) if text.lstrip("-").isdigit() else float(text)
    try:
        finite = math.isfinite(float(value))
    except OverflowError:
        finite = False
    if not finite:
        raise ValueError(f"json: cannot unmarshal number {text} into Go value of type float64")
    return value


def _parse(body: bytes) -> tuple[Any, dict[str, str], str]:
    """``(data, metadata, operation)`` from the body; Dapr's 400 when Go's decoder would refuse it."""
    try:
        # Lone surrogates are let through: ``go_marshal`` replaces them with U+FFFD, as Go does.
        parsed = strictjson.loads(body, number=_float64, lone_surrogates=True)
    except strictjson.InvalidJson as exc:
        raise _malformed(str(exc)) from None
    if parsed is None:
        return None, {}, ""
    if not isinstance(parsed, dict):
        raise _malformed(f"json: cannot unmarshal {_go_kind(parsed)} into Go value of type OutputBindingRequest")
    fields: dict[str, Any] = {}
    for key, value in parsed.items():  # Go matches field names case-insensitively; the last one wins
        if key.lower() in ("data", "metadata", "operation"):
            fields[key.lower()] = value
    operation = fields.get("operation")
    if operation is not None and not isinstance(operation, str):
        raise _malformed(f"json: cannot unmarshal {_go_kind(operation)} into Go struct field "
                         "OutputBindingRequest.operation of type string")
    metadata = fields.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise _malformed(f"json: cannot unmarshal {_go_kind(metadata)} into Go struct field "
                         "OutputBindingRequest.metadata of type map[string]string")
    for value in (metadata or {}).values():
        if value is not None and not isinstance(value, str):
            raise _malformed(f"json: cannot unmarshal {_go_kind(value)} into Go struct field "
                             "OutputBindingRequest.metadata of type string")
    data = fields.get("data")  # its lone surrogates are replaced when it is marshalled again
    return (data, {_go_text(k): _go_text(v or "") for k, v in (metadata or {}).items()},
            _go_text(operation or ""))


def _go_text(text: str) -> str:
    """A decoded string as Go holds it: each lone surrogate replaced with U+FFFD."""
    return _SURROGATE.sub("\ufffd", text)


def _go_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _add_metadata_headers(response: Response, metadata: Mapping[str, str]) -> None:
    for key, value in metadata.items():
        if not _HEADER_NAME.match(f"metadata.{key}") or any(c in value for c in "\r\n\0"):
            continue
        try:
            value.encode("latin-1")
        except UnicodeEncodeError:
            continue
        response.headers.append(f"metadata.{key}", value)


# -- Go's json.Marshal of a decoded interface{} -------------------------------------------

_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_GO_ESCAPED = re.compile("[<>&\u2028\u2029]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def go_marshal(value: Any) -> str:
    """``value`` as Go writes it: compact, keys sorted, HTML characters escaped, numbers as float64."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _go_string(value)
    if isinstance(value, (int, float)):
        return _go_number(float(value))
    if isinstance(value, list):
        return "[" + ",".join(go_marshal(item) for item in value) + "]"
    if isinstance(value, dict):
        items = sorted((_SURROGATE.sub("\ufffd", str(k)), v) for k, v in value.items())
        return "{" + ",".join(f"{_go_string(k)}:{go_marshal(v)}" for k, v in items) + "}"
    raise ValueError(f"json: unsupported type: {type(value).__name__}")


def _go_string(text: str) -> str:
    encoded = json.dumps(_SURROGATE.sub("\ufffd", text), ensure_ascii=False)
    return _GO_ESCAPED.sub(lambda m: _GO_ESCAPES[m.group()], encoded)


def _go_number(number: float) -> str:
    """strconv's shortest float64 form, as encoding/json picks it."""
    if not math.isfinite(number):
        raise ValueError(f"json: unsupported value: {number}")
    if number == 0:
        return "-0" if math.copysign(1.0, number) < 0 else "0"
    magnitude = abs(number)
    if magnitude < 1e-6 or magnitude >= 1e21:
        mantissa, exponent = repr(number).split("e")  # repr is exponential this far out
        sign, digits = exponent[0], exponent[1:].lstrip("0") or "0"
        return f"{mantissa}e{sign}{digits.zfill(2) if sign == '+' else digits}"
    text = repr(number)
    if "e" in text:
        text = format(Decimal(text), "f")
    return text[:-2] if text.endswith(".0") else text
