"""A real ``tandemd`` closes stalled half-sent requests and idle connections, as its flags say."""
from __future__ import annotations

import http.client
import socket
from collections.abc import Callable

import pytest

from support import Sidecar

StartSidecar = Callable[..., Sidecar]

pytestmark = pytest.mark.e2e

#: Far above the bounds set below: only a connection that is never closed fails a test.
PATIENCE = 30.0


def closed_by_server(sock: socket.socket) -> bool:
    sock.settimeout(PATIENCE)
    return sock.recv(1024) == b""


@pytest.mark.parametrize("how", ["flag", "env"])
def test_stalled_requests_are_cut_off_and_keep_alive_clients_served(tandemd: StartSidecar, how: str) -> None:
    if how == "flag":
        sidecar = tandemd({}, args=("--http-read-header-timeout", "0.5"))
    else:
        sidecar = tandemd({}, env={"TANDEM_HTTP_READ_HEADER_TIMEOUT": "0.5"})
    stalled = []
    for partial in (b"GET /v1.0/heal", b"POST /v1.0/state/s HTTP/1.1\r\nHost: x\r\n", b""):
        sock = socket.create_connection(("127.0.0.1", sidecar.http_port))
        sock.sendall(partial)
        stalled.append(sock)
    for sock in stalled:
        assert closed_by_server(sock)
        sock.close()

    client = http.client.HTTPConnection("127.0.0.1", sidecar.http_port, timeout=PATIENCE)
    try:
        for _ in range(3):
            client.request("GET", "/v1.0/healthz")
            assert client.getresponse().read() == b""
            first = client.sock
        client.request("GET", "/v1.0/metadata")
        reply = client.getresponse()
        assert reply.status == 200 and reply.read() and client.sock is first  # one connection throughout
    finally:
        client.close()


def test_idle_connections_are_closed_after_the_idle_timeout(tandemd: StartSidecar) -> None:
    sidecar = tandemd({}, args=("--http-idle-timeout", "0.5"))
    sock = socket.create_connection(("127.0.0.1", sidecar.http_port))
    sock.sendall(b"GET /v1.0/healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    sock.settimeout(PATIENCE)
    assert sock.recv(1024).startswith(b"HTTP/1.1 204")
    assert closed_by_server(sock)
    sock.close()
