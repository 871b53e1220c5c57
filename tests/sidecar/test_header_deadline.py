"""The header-read bound on both of uvicorn's parsers, in-process over real sockets."""
from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from tandem.sidecar.http_timeouts import protocol_class

pytestmark = pytest.mark.anyio

BOUND = 0.3
#: How long a test waits for the server to close a connection: far above BOUND, so only a hang fails it.
PATIENCE = 30.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    assert scope["type"] == "http"
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture(params=["httptools", "h11"])
async def port(request: pytest.FixtureRequest) -> AsyncIterator[int]:
    if request.param == "httptools":
        pytest.importorskip("httptools")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(
        hello, http=protocol_class(BOUND, prefer_httptools=request.param == "httptools"), lifespan="off",
        log_config=None, timeout_keep_alive=60))
    serving = asyncio.ensure_future(server.serve([sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    yield sock.getsockname()[1]
    server.should_exit = True
    await serving


async def closed_by_server(reader: asyncio.StreamReader) -> bool:
    """True once the server closed the connection (end of stream); raises TimeoutError if it never does."""
    return await asyncio.wait_for(reader.read(), PATIENCE) == b""


async def test_half_a_request_line_is_cut_off(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /v1.0/heal")
    assert await closed_by_server(reader)
    writer.close()


async def test_headers_that_never_end_are_cut_off(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n")
    assert await closed_by_server(reader)
    writer.close()


async def test_a_connection_that_sends_nothing_is_cut_off(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    assert await closed_by_server(reader)
    writer.close()


async def test_a_keep_alive_client_idle_longer_than_the_bound_keeps_its_connection(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for _ in range(2):
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200") and await reader.readexactly(2) == b"ok"
        await asyncio.sleep(BOUND * 3)  # idle between requests: the idle timeout's business, not this bound's
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
    writer.close()


async def test_the_next_request_on_a_kept_connection_is_bound_too(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await reader.readuntil(b"\r\n\r\n")
    await reader.readexactly(2)
    writer.write(b"GET / HT")
    assert await closed_by_server(reader)
    writer.close()
