"""``/v1.0/bindings/{name}`` in-process: Go's reading of the body and re-encoding of ``data``, headers, statuses."""
from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from tandem.sidecar.api import bindings as api
from tandem.sidecar.api.responses import error_response
from tandem.sidecar.blocks.base import LoadedComponent
from tandem.sidecar.blocks.bindings import BindingsBlock
from tandem.sidecar.components.base import ComponentMetadata
from tandem.sidecar.components.bindings import BindingError, InvokeRequest, InvokeResponse, OutputBinding
from tandem.sidecar.errors import DaprError

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Recorder(OutputBinding):
    def __init__(self) -> None:
        self.seen: list[InvokeRequest] = []

    async def init(self, metadata: ComponentMetadata) -> None:
        pass

    def operations(self) -> Sequence[str]:
        return ["echo", "nothing", "fail"]

    async def invoke(self, request: InvokeRequest) -> InvokeResponse | None:
        self.seen.append(request)
        if request.operation == "fail":
            raise BindingError("received status code 503", {"statusCode": "503", "Retry-After": "5"})
        if request.operation == "nothing":
            return None
        return InvokeResponse(request.data, {"statusCode": "200", "bad": "new\nline"})


@pytest.fixture
async def client() -> Any:
    recorder = Recorder()
    block = BindingsBlock("app")
    block.add(LoadedComponent(ComponentMetadata("out", "bindings.fake"), recorder))

    async def dapr_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DaprError)
        return error_response(exc)

    app = Starlette(routes=api.routes(block), exception_handlers={DaprError: dapr_error})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sidecar") as http:
        http.recorder = recorder  # type: ignore[attr-defined]
        yield http


@pytest.mark.parametrize(("data", "wire"), [
    ("hi", b'"hi"'),  # a JSON string reaches the binding with its quotes
    ({"b": 1, "a": [True, None]}, b'{"a":[true,null],"b":1}'),
    ("<&>\u2028é", b'"\\u003c\\u0026\\u003e\\u2028\xc3\xa9"'),
    (1.0, b"1"), (1e21, b"1e+21"), (1e-7, b"1e-7"), (0.000015, b"0.000015"), (12345678901234567890,
                                                                            b"12345678901234567000"),
])
async def test_data_is_reencoded_as_go_does(client: Any, data: Any, wire: bytes) -> None:
    reply = await client.post("/v1.0/bindings/out", json={"operation": "echo", "data": data})
    assert reply.status_code == 200 and reply.content == wire
    assert reply.headers["content-type"] == "application/json"
    assert client.recorder.seen[-1].data == wire


async def test_request_fields_as_gos_decoder_reads_them(client: Any) -> None:
    reply = await client.put("/v1.0/bindings/out", content=b'{"OPERATION":"echo","Metadata":{"k":"v","n":null}}',
                             headers={"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                                      "tracestate": "a=b"})
    assert reply.status_code == 200 and reply.content == b"null"  # a missing data is null
    seen = client.recorder.seen[-1]
    assert (seen.operation, seen.metadata["k"], seen.metadata["n"]) == ("echo", "v", "")
    assert seen.metadata["traceparent"].startswith("00-0af7651916cd43dd8448eb211c80319c-")
    assert seen.metadata["tracestate"] == "a=b"
    assert reply.headers["metadata.statuscode"] == "200" and "metadata.bad" not in reply.headers


async def test_no_answer_is_204_and_errors_keep_metadata_headers(client: Any) -> None:
    reply = await client.post("/v1.0/bindings/out", json={"operation": "nothing"})
    assert (reply.status_code, reply.content) == (204, b"")
    reply = await client.post("/v1.0/bindings/out", json={"operation": "fail"})
    assert reply.status_code == 500
    assert reply.json() == {"errorCode": "ERR_INVOKE_OUTPUT_BINDING",
                            "message": "error invoking output binding out: received status code 503"}
    assert (reply.headers["metadata.statuscode"], reply.headers["metadata.retry-after"]) == ("503", "5")


@pytest.mark.parametrize(("body", "problem"), [
    (b"", "Expecting value"),
    (b"{", "Expecting property name"),
    (b"[]", "cannot unmarshal array into Go value of type OutputBindingRequest"),
    (b'"x"', "cannot unmarshal string"),
    (b'{"operation":1}', "OutputBindingRequest.operation of type string"),
    (b'{"operation":"echo","metadata":[]}', "OutputBindingRequest.metadata of type map[string]string"),
    (b'{"operation":"echo","metadata":{"a":1}}', "cannot unmarshal number"),
    (b'{"operation":"echo","data":NaN}', "invalid character 'N'"),
    (b'{"operation":"echo","data":1e400}', "cannot unmarshal number 1e400 into Go value of type float64"),
])
async def test_malformed_bodies_are_400(client: Any, body: bytes, problem: str) -> None:
    reply = await client.post("/v1.0/bindings/out", content=body)
    assert reply.status_code == 400
    error = reply.json()
    assert error["errorCode"] == "ERR_MALFORMED_REQUEST"
    assert error["message"].startswith("failed deserializing HTTP body: ") and problem in error["message"]
    assert client.recorder.seen == []


async def test_lone_surrogates_become_u_fffd_everywhere_as_in_go(client: Any) -> None:
    body = b'{"operation":"echo","data":"a\\ud800","metadata":{"k\\udc00":"v\\ud800"}}'
    reply = await client.post("/v1.0/bindings/out", content=body)
    assert reply.status_code == 200 and reply.content == '"a\ufffd"'.encode()
    assert client.recorder.seen[-1].metadata["k\ufffd"] == "v\ufffd"
    reply = await client.post("/v1.0/bindings/out", content=b'{"operation":"x\\ud800"}')
    assert reply.status_code == 500  # Dapr's code for an operation the binding lacks, named readably
    assert "operation x\ufffd" in reply.json()["message"]


async def test_null_body_is_an_empty_request(client: Any) -> None:
    reply = await client.post("/v1.0/bindings/out", content=b"null")
    assert reply.status_code == 500
    assert json.loads(reply.content)["message"] == ("error invoking output binding out: "
                                                    "operation field is missing from request")


def test_go_marshal_details() -> None:
    assert api.go_marshal(-0.0) == "-0"
    assert api.go_marshal({"é": 1, "a": 2, "Z": 3}) == '{"Z":3,"a":2,"é":1}'
    assert api.go_marshal([1e20, 1.5e300, 5e-324]) == "[100000000000000000000,1.5e+300,5e-324]"
    assert api.go_marshal("\x00\x1f\u007f") == '"\\u0000\\u001f\u007f"'
