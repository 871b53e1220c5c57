"""`Client.get_secret` / `get_bulk_secret` against a recording HTTP server: paths, replies, errors."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest
from aiohttp import test_utils, web

from tandem import Client, SidecarError

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclasses.dataclass
class Recorder:
    url: str = ""
    status: int = 200
    body: bytes = b"{}"
    paths: list[str] = dataclasses.field(default_factory=list)


@pytest.fixture
async def recorder() -> AsyncIterator[Recorder]:
    rec = Recorder()

    async def handle(request: web.Request) -> web.Response:
        rec.paths.append(request.raw_path)
        return web.Response(status=rec.status, body=rec.body, content_type="application/json")

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", handle)
    server = test_utils.TestServer(app, host="127.0.0.1")
    await server.start_server()
    rec.url = str(server.make_url("")).rstrip("/")
    yield rec
    await server.close()


async def test_get_secret_path_metadata_and_reply(recorder: Recorder) -> None:
    recorder.body = b'{"user":"u","password":"p"}'
    async with Client(recorder.url, api_token="") as client:
        assert await client.get_secret("my store", "db:conn/1", {"version_id": "2"}) == {"user": "u", "password": "p"}
        assert await client.get_secret("s", "n") == {"user": "u", "password": "p"}
    assert recorder.paths == ["/v1.0/secrets/my%20store/db%3Aconn%2F1?metadata.version_id=2", "/v1.0/secrets/s/n"]


async def test_no_content_is_an_empty_secret(recorder: Recorder) -> None:
    recorder.status, recorder.body = 204, b""
    async with Client(recorder.url, api_token="") as client:
        assert await client.get_secret("s", "n") == {}
        assert await client.get_bulk_secret("s") == {}


async def test_get_bulk_secret(recorder: Recorder) -> None:
    recorder.body = b'{"a":{"a":"1"},"db":{"user":"u","password":"p"}}'
    async with Client(recorder.url, api_token="") as client:
        assert await client.get_bulk_secret("store", metadata={"k": "v"}) == {
            "a": {"a": "1"}, "db": {"user": "u", "password": "p"}}
    assert recorder.paths == ["/v1.0/secrets/store/bulk?metadata.k=v"]


@pytest.mark.parametrize("status,code", [
    (401, "ERR_SECRET_STORE_NOT_FOUND"), (403, "ERR_PERMISSION_DENIED"), (500, "ERR_SECRET_GET"),
])
async def test_errors_raise_sidecar_error(recorder: Recorder, status: int, code: str) -> None:
    recorder.status, recorder.body = status, f'{{"errorCode":"{code}","message":"m"}}'.encode()
    async with Client(recorder.url, api_token="") as client:
        for call in (client.get_secret("s", "n"), client.get_bulk_secret("s")):
            with pytest.raises(SidecarError) as caught:
                await call
            assert (caught.value.status, caught.value.error_code) == (status, code)
