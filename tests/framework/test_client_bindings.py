"""`Client.invoke_binding` against a recording HTTP server: the request, the typed result, errors."""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import AsyncIterator

import pytest
from aiohttp import test_utils, web

from tandem import Client, SidecarError
from tandem.client import BindingResult

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclasses.dataclass
class Recorder:
    url: str = ""
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    seen: list[tuple[str, str, bytes]] = dataclasses.field(default_factory=list)


@pytest.fixture
async def recorder() -> AsyncIterator[Recorder]:
    rec = Recorder()

    async def handle(request: web.Request) -> web.Response:
        rec.seen.append((request.method, request.raw_path, await request.read()))
        return web.Response(status=rec.status, body=rec.body, headers=rec.headers)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    server = test_utils.TestServer(app, host="127.0.0.1")
    await server.start_server()
    rec.url = str(server.make_url("")).rstrip("/")
    yield rec
    await server.close()


async def test_result_carries_data_and_metadata(recorder: Recorder) -> None:
    recorder.body = b'{"fileName":"a.txt"}'
    recorder.headers = {"metadata.statuscode": "201", "metadata.X-Thing": "x", "other": "no"}
    async with Client(recorder.url, api_token="") as client:
        result = await client.invoke_binding("my files", "create", {"n": 1}, {"fileName": "a.txt"})
    assert isinstance(result, BindingResult)
    assert result.data == b'{"fileName":"a.txt"}' and result.json() == {"fileName": "a.txt"}
    assert result.metadata["statusCode"] == "201" and result.metadata["x-thing"] == "x"
    assert "other" not in result.metadata
    method, path, body = recorder.seen[0]
    assert (method, path) == ("POST", "/v1.0/bindings/my%20files")
    assert json.loads(body) == {"data": {"n": 1}, "operation": "create", "metadata": {"fileName": "a.txt"}}


async def test_no_content_is_no_data(recorder: Recorder) -> None:
    recorder.status = 204
    async with Client(recorder.url, api_token="") as client:
        result = await client.invoke_binding("files", "delete", metadata={"fileName": "a"})
    assert (result.data, result.json(), dict(result.metadata)) == (None, None, {})
    assert json.loads(recorder.seen[0][2])["data"] is None


async def test_bytes_go_as_base64(recorder: Recorder) -> None:
    async with Client(recorder.url, api_token="") as client:
        await client.invoke_binding("files", "create", b"\x00\xff")
    assert json.loads(recorder.seen[0][2])["data"] == base64.b64encode(b"\x00\xff").decode()


async def test_errors_raise(recorder: Recorder) -> None:
    recorder.status = 500
    recorder.body = b'{"errorCode":"ERR_INVOKE_OUTPUT_BINDING","message":"couldn\'t find output binding x"}'
    async with Client(recorder.url, api_token="") as client:
        with pytest.raises(SidecarError) as failed:
            await client.invoke_binding("x", "create")
    assert (failed.value.status, failed.value.error_code) == (500, "ERR_INVOKE_OUTPUT_BINDING")
