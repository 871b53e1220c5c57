"""Client without a sidecar: configuration from the environment, errors, wire items."""

from __future__ import annotations

import base64
import dataclasses
import json
import pickle
import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import test_utils, web
from tandem import Client, SidecarError, SidecarUnavailable
from tandem.client import BulkPublishEntry, BulkPublishFailure, StateItem, TransactionOperation


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("DAPR_HTTP_ENDPOINT", "DAPR_HTTP_PORT", "DAPR_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_environment_is_read_when_asked_not_at_import(clean_env: pytest.MonkeyPatch) -> None:
    assert Client().base_url == "http://127.0.0.1:3500"
    clean_env.setenv("DAPR_HTTP_PORT", "3999")
    clean_env.setenv("DAPR_API_TOKEN", "s3cret")
    client = Client.from_env()
    assert (client.base_url, client.api_token) == ("http://127.0.0.1:3999", "s3cret")
    assert Client().base_url == "http://127.0.0.1:3999"


def test_endpoint_wins_over_port(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("DAPR_HTTP_PORT", "3999")
    clean_env.setenv("DAPR_HTTP_ENDPOINT", "http://sidecar.local:8080/")
    assert Client().base_url == "http://sidecar.local:8080"


def test_explicit_arguments_and_env_mapping(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("DAPR_API_TOKEN", "from-env")
    assert Client("http://h:1").api_token == "from-env"
    assert Client("http://h:1", api_token="").api_token is None
    client = Client.from_env({"DAPR_HTTP_PORT": "4000"})
    assert (client.base_url, client.api_token) == ("http://127.0.0.1:4000", None)
    with pytest.raises(ValueError, match="DAPR_HTTP_PORT"):
        Client.from_env({"DAPR_HTTP_PORT": "http"})


def test_error_from_dapr_json() -> None:
    body = (
        b'{"errorCode":"ERR_STATE_STORE_NOT_FOUND","message":"state store nope is not found",'
        b'"details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"DAPR_STATE_NOT_FOUND"}]}'
    )
    err = SidecarError.from_response(400, body)
    assert (err.status, err.error_code) == (400, "ERR_STATE_STORE_NOT_FOUND")
    assert err.message == "state store nope is not found"
    assert err.details[0]["reason"] == "DAPR_STATE_NOT_FOUND"
    assert "ERR_STATE_STORE_NOT_FOUND" in str(err)


def test_error_from_other_bodies() -> None:
    plain = SidecarError.from_response(401, b"invalid api token\n")
    assert (plain.status, plain.error_code, plain.message, plain.details) == (
        401,
        "ERR_HTTP_401",
        "invalid api token",
        [],
    )
    app_json = SidecarError.from_response(422, b'{"detail":"bad"}')
    assert (app_json.error_code, app_json.message) == ("ERR_HTTP_422", '{"detail":"bad"}')
    assert SidecarError.from_response(502, b"\xff").error_code == "ERR_HTTP_502"


def test_errors_form_one_tree_and_pickle() -> None:
    unavailable = SidecarUnavailable("no route to host")
    assert isinstance(unavailable, SidecarError)
    assert (unavailable.status, unavailable.error_code) == (0, "ERR_SIDECAR_UNAVAILABLE")
    for err in (unavailable, SidecarError(409, "ERR_STATE_SAVE", "etag mismatch", [{"a": 1}])):
        copy = pickle.loads(pickle.dumps(err))
        assert type(copy) is type(err)
        assert (copy.status, copy.error_code, copy.message, copy.details) == (
            err.status,
            err.error_code,
            err.message,
            err.details,
        )


@pytest.mark.anyio
async def test_unreachable_sidecar() -> None:
    async with Client(f"http://127.0.0.1:{closed_port()}", api_token="", timeout=5) as client:
        with pytest.raises(SidecarUnavailable) as caught:
            await client.get_state("statestore", "k")
        assert caught.value.status == 0
        assert await client.health() is False
        with pytest.raises(SidecarUnavailable, match="not ready"):
            await client.wait_for_sidecar(timeout=0.2, interval=0.05)


@pytest.mark.anyio
async def test_aclose_is_idempotent_and_client_reopens() -> None:
    client = Client(f"http://127.0.0.1:{closed_port()}", api_token="")
    await client.aclose()
    assert await client.health() is False
    await client.aclose()
    await client.aclose()


def test_state_item_wire_format() -> None:
    item = StateItem(
        "k",
        {"a": 1},
        etag="3",
        metadata={"contentType": "application/json"},
        concurrency="first-write",
        consistency="strong",
        ttl_in_seconds=60,
    )
    assert item.to_wire() == {
        "key": "k",
        "value": {"a": 1},
        "etag": "3",
        "metadata": {"contentType": "application/json", "ttlInSeconds": "60"},
        "options": {"concurrency": "first-write", "consistency": "strong"},
    }
    assert StateItem("k").to_wire() == {"key": "k", "value": None}


def test_transaction_operation_wire_format() -> None:
    assert TransactionOperation.upsert("a", [1]).to_wire() == {
        "operation": "upsert",
        "request": {"key": "a", "value": [1]},
    }
    assert TransactionOperation.delete("b", etag="7").to_wire() == {
        "operation": "delete",
        "request": {"key": "b", "etag": "7"},
    }


# -- what goes on the wire, checked against a recording HTTP server ----------------------


@dataclasses.dataclass
class Recorder:
    """Records each request and answers with `status`/`body`/`headers` (a test double)."""

    url: str = ""
    status: int = 204
    body: bytes = b""
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    seen: list[tuple[str, str, dict[str, str], bytes]] = dataclasses.field(default_factory=list)


@pytest.fixture
async def recorder() -> AsyncIterator[Recorder]:
    rec = Recorder()

    async def handle(request: web.Request) -> web.Response:
        rec.seen.append((request.method, request.raw_path, dict(request.headers), await request.read()))
        return web.Response(status=rec.status, body=rec.body, headers=rec.headers)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    server = test_utils.TestServer(app, host="127.0.0.1")
    await server.start_server()
    rec.url = str(server.make_url("")).rstrip("/")
    yield rec
    await server.close()


@pytest.mark.anyio
async def test_token_header_and_state_paths(recorder: Recorder) -> None:
    async with Client(recorder.url, api_token="tok") as client:
        await client.delete_state("my store", "a/b?", etag="5", concurrency="first-write", metadata={"m": "1"})
    method, path, headers, _ = recorder.seen[0]
    assert method == "DELETE"
    assert path == "/v1.0/state/my%20store/a%2Fb%3F?metadata.m=1&concurrency=first-write"
    assert headers["dapr-api-token"] == "tok"
    assert headers["If-Match"] == "5"


@pytest.mark.anyio
async def test_get_state_reads_etag_and_metadata_headers(recorder: Recorder) -> None:
    recorder.status, recorder.body = 200, b'{"a":1}'
    recorder.headers = {"ETag": "9", "metadata.ttlExpireTime": "2030-01-01T00:00:00Z"}
    async with Client(recorder.url, api_token="") as client:
        got = await client.get_state("s", "k", consistency="strong")
    assert got is not None
    assert (got.etag, got.json(), dict(got.metadata)) == ("9", {"a": 1}, {"ttlExpireTime": "2030-01-01T00:00:00Z"})
    assert recorder.seen[0][1] == "/v1.0/state/s/k?consistency=strong"
    assert "dapr-api-token" not in recorder.seen[0][2]


@pytest.mark.anyio
async def test_invoke_publish_and_binding_wire_format(recorder: Recorder) -> None:
    async with Client(recorder.url, api_token="") as client:
        await client.invoke_method("orders", "/orders/42", {"a": 1}, http_verb="put", params={"x": "1"})
        await client.publish_event("pubsub", "eu/orders", "hi", metadata={"rawPayload": "true"})
        await client.publish_event("pubsub", "bin", b"\x00")
        await client.invoke_binding("out", "create", {"b": 2}, {"k": "v"})
    (m1, p1, h1, b1), (m2, p2, h2, b2), (_, _, h3, b3), (m4, p4, _, b4) = recorder.seen
    assert (m1, p1, h1["Content-Type"], json.loads(b1)) == (
        "PUT",
        "/v1.0/invoke/orders/method/orders/42?x=1",
        "application/json",
        {"a": 1},
    )
    assert (m2, p2, b2) == ("POST", "/v1.0/publish/pubsub/eu/orders?metadata.rawPayload=true", b"hi")
    assert h2["Content-Type"].startswith("text/plain")
    assert (h3["Content-Type"], b3) == ("application/octet-stream", b"\x00")
    assert (m4, p4) == ("POST", "/v1.0/bindings/out")
    assert json.loads(b4) == {"data": {"b": 2}, "operation": "create", "metadata": {"k": "v"}}


@pytest.mark.anyio
async def test_invoked_app_error_raises_the_same_error_type(recorder: Recorder) -> None:
    recorder.status, recorder.body = 503, b'{"errorCode":"ERR_APP_HANDLER","message":"ValueError in handler"}'
    async with Client(recorder.url, api_token="") as client:
        with pytest.raises(SidecarError) as caught:
            await client.invoke_method("orders", "boom")
    assert (caught.value.status, caught.value.error_code) == (503, "ERR_APP_HANDLER")


@pytest.mark.anyio
async def test_invoke_returns_the_apps_reply_whatever_its_status(recorder: Recorder) -> None:
    recorder.status, recorder.body, recorder.headers = 404, b'{"detail":"no such order"}', {"X-App": "1"}
    async with Client(recorder.url, api_token="tok") as client:
        reply = await client.invoke(
            "orders", "orders/7", http_verb="get", headers={"X-Trace": "t"}, query=[("a", "1"), ("a", "2")]
        )
        await client.invoke("orders", "raw", b"\x01", query="x=1&y=%2F", content_type="application/x-thing")
        await client.invoke("orders", "/typed", {"a": 1}, headers={"content-type": "application/vnd+json"})
    assert (reply.status, reply.ok, reply.headers["X-App"]) == (404, False, "1")
    assert reply.json() == {"detail": "no such order"}
    assert (reply.error_code, reply.invocation_failed) == (None, False)
    with pytest.raises(SidecarError) as caught:
        reply.raise_for_status()
    assert (caught.value.status, caught.value.error_code) == (404, "ERR_HTTP_404")
    (m1, p1, h1, b1), (m2, p2, h2, b2), (m3, p3, h3, b3) = recorder.seen
    assert (m1, p1) == ("GET", "/v1.0/invoke/orders/method/orders/7?a=1&a=2")
    assert (h1["X-Trace"], h1["dapr-api-token"], b1) == ("t", "tok", b"")
    assert "Content-Type" not in h1
    assert (m2, p2) == ("POST", "/v1.0/invoke/orders/method/raw?x=1&y=%2F")
    assert (h2["Content-Type"], b2) == ("application/x-thing", b"\x01")
    assert (p3, h3["Content-Type"]) == ("/v1.0/invoke/orders/method/typed", "application/vnd+json")
    assert json.loads(b3) == {"a": 1}


@pytest.mark.anyio
async def test_invoke_tells_a_failed_invocation_from_the_apps_error(recorder: Recorder) -> None:
    recorder.status = 500
    recorder.body = b'{"errorCode":"ERR_DIRECT_INVOKE","message":"failed to invoke, id: orders, err: no route"}'
    async with Client(recorder.url, api_token="") as client:
        failed = await client.invoke("orders", "neworder", {"a": 1})
        recorder.body = b"app crashed"
        app_error = await client.invoke("orders", "neworder", {"a": 1})
        recorder.status, recorder.body = 201, b'{"errorCode":"ERR_DIRECT_INVOKE"}'
        created = await client.invoke("orders", "neworder")
    assert (failed.status, failed.error_code, failed.invocation_failed) == (500, "ERR_DIRECT_INVOKE", True)
    with pytest.raises(SidecarError, match="failed to invoke, id: orders") as caught:
        failed.raise_for_status()
    assert caught.value.error_code == "ERR_DIRECT_INVOKE"
    assert (app_error.status, app_error.error_code, app_error.invocation_failed) == (500, None, False)
    assert (created.ok, created.invocation_failed, created.raise_for_status()) == (True, False, created)


@pytest.mark.anyio
async def test_a_given_session_is_used_and_left_open(recorder: Recorder) -> None:
    async with aiohttp.ClientSession() as session:
        async with Client(recorder.url, api_token="", session=session) as client:
            await client.set_metadata("k", "v")
        assert not session.closed
    assert recorder.seen[0][:2] == ("PUT", "/v1.0/metadata/k")
    assert recorder.seen[0][3] == b"v"


# -- pub/sub ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_publish_encodes_data_by_type(recorder: Recorder) -> None:
    envelope = {"id": "o-1", "source": "shop", "specversion": "1.0", "type": "order.created", "data": {"n": 1}}
    async with Client(recorder.url, api_token="tok") as client:
        await client.publish("pubsub", "orders", {"orderId": 1})
        await client.publish("pubsub", "orders", [1, 2])
        await client.publish("pubsub", "orders", "hello")
        await client.publish("pubsub", "orders", b"\x00\x01")
        await client.publish("pubsub", "orders", 42)
        await client.publish("pubsub", "orders", envelope, content_type="application/cloudevents+json")
        await client.publish("pubsub", "orders", "<a/>", content_type="application/xml")
    sent = [(h.get("Content-Type"), b) for _, _, h, b in recorder.seen]
    assert sent == [
        ("application/json", b'{"orderId":1}'),
        ("application/json", b"[1,2]"),
        ("text/plain", b"hello"),
        ("application/octet-stream", b"\x00\x01"),
        ("application/json", b"42"),
        ("application/cloudevents+json", json.dumps(envelope, separators=(",", ":")).encode()),
        ("application/xml", b"<a/>"),
    ]
    assert {(m, p) for m, p, _, _ in recorder.seen} == {("POST", "/v1.0/publish/pubsub/orders")}
    assert all(h["dapr-api-token"] == "tok" for _, _, h, _ in recorder.seen)


@pytest.mark.anyio
async def test_publish_metadata_raw_payload_and_topic_with_slashes(recorder: Recorder) -> None:
    async with Client(recorder.url, api_token="") as client:
        await client.publish("my pubsub", "eu/orders?x", {"a": 1}, metadata={"ttlInSeconds": "60"}, raw_payload=True)
        await client.publish_event("pubsub", "t", "hi", metadata={"cloudevent.id": "id-1"})
        await client.publish("pubsub", "t", None)
    (m1, p1, _, _), (_, p2, h2, b2), (_, _, h3, b3) = recorder.seen
    assert (m1, p1) == (
        "POST", "/v1.0/publish/my%20pubsub/eu/orders%3Fx?metadata.ttlInSeconds=60&metadata.rawPayload=true"
    )
    assert (p2, h2["Content-Type"], b2) == ("/v1.0/publish/pubsub/t?metadata.cloudevent.id=id-1", "text/plain", b"hi")
    assert (h3["Content-Type"], b3) == ("application/json", b"null")


@pytest.mark.anyio
async def test_publish_errors_raise_sidecar_error(recorder: Recorder) -> None:
    recorder.status = 404
    recorder.body = b'{"errorCode":"ERR_PUBSUB_NOT_FOUND","message":"pubsub nope is not found","details":[]}'
    async with Client(recorder.url, api_token="") as client:
        with pytest.raises(SidecarError) as caught:
            await client.publish("nope", "orders", {})
        recorder.status, recorder.body = 403, b'{"errorCode":"ERR_PUBSUB_FORBIDDEN","message":"topic secret"}'
        with pytest.raises(SidecarError) as forbidden:
            await client.publish_event("pubsub", "secret", {})
    assert (caught.value.status, caught.value.error_code) == (404, "ERR_PUBSUB_NOT_FOUND")
    assert (forbidden.value.status, forbidden.value.error_code) == (403, "ERR_PUBSUB_FORBIDDEN")


@pytest.mark.anyio
async def test_bulk_publish_wire_format(recorder: Recorder) -> None:
    entries = [
        {"orderId": 1},
        "text",
        b"\x00\xff",
        BulkPublishEntry({"id": "x", "source": "s", "specversion": "1.0", "type": "t", "data": 1}, entry_id="ce",
                         content_type="application/cloudevents+json", metadata={"k": "v"}),
    ]
    async with Client(recorder.url, api_token="") as client:
        failed = await client.bulk_publish("pubsub", "a/b", entries, metadata={"maxBulkPubBytes": "1000"})
    assert failed == []
    ((method, path, headers, body),) = recorder.seen
    assert (method, path) == ("POST", "/v1.0-alpha1/publish/bulk/pubsub/a/b?metadata.maxBulkPubBytes=1000")
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == [
        {"entryId": "0", "event": {"orderId": 1}, "contentType": "application/json"},
        {"entryId": "1", "event": "text", "contentType": "text/plain"},
        {"entryId": "2", "event": base64.b64encode(b"\x00\xff").decode(), "contentType": "application/octet-stream"},
        {"entryId": "ce", "event": {"id": "x", "source": "s", "specversion": "1.0", "type": "t", "data": 1},
         "contentType": "application/cloudevents+json", "metadata": {"k": "v"}},
    ]


@pytest.mark.anyio
async def test_bulk_publish_returns_failed_entries_and_raises_other_errors(recorder: Recorder) -> None:
    recorder.status = 500
    recorder.body = json.dumps({
        "failedEntries": [{"entryId": "b", "error": "broker down"}], "errorCode": "ERR_PUBSUB_PUBLISH_MESSAGE",
    }).encode()
    second = BulkPublishEntry({"n": 2}, entry_id="b")
    async with Client(recorder.url, api_token="") as client:
        failed = await client.bulk_publish("pubsub", "t", [BulkPublishEntry({"n": 1}, entry_id="a"), second])
        assert failed == [BulkPublishFailure("b", "broker down", second)]

        recorder.status = 404
        recorder.body = b'{"errorCode":"ERR_PUBSUB_NOT_FOUND","message":"pubsub nope is not found"}'
        with pytest.raises(SidecarError) as caught:
            await client.bulk_publish("nope", "t", [1])
        assert caught.value.error_code == "ERR_PUBSUB_NOT_FOUND"

        with pytest.raises(ValueError, match="used twice"):
            await client.bulk_publish("pubsub", "t", [BulkPublishEntry(1, entry_id="1"), 2])
