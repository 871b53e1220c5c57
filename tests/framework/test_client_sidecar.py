"""Client against a real ``tandemd`` (the `tandemd` fixture from tests/conftest.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from tandem import Client, SidecarError
from tandem.client import StateItem, TransactionOperation

pytestmark = pytest.mark.e2e

STORE = {"statestore": "state.in-memory"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def sidecar(tandemd: Callable[..., Any]) -> Any:
    return tandemd(STORE, app_id="clienttest")


def client_for(sidecar: Any, **kw: Any) -> Client:
    return Client(sidecar.url, api_token=kw.pop("api_token", ""), **kw)


@pytest.mark.anyio
async def test_save_get_delete_roundtrip(sidecar: Any) -> None:
    async with client_for(sidecar) as client:
        await client.save_state("statestore", "order-1", {"id": 1, "items": ["a", "b"]})
        await client.save_state("statestore", "greeting", "hello")
        got = await client.get_state("statestore", "order-1")
        assert got is not None
        assert (got.key, got.json()) == ("order-1", {"id": 1, "items": ["a", "b"]})
        assert got.etag
        text = await client.get_state("statestore", "greeting")
        assert text is not None
        assert (text.data, text.json(), text.text()) == (b'"hello"', "hello", '"hello"')

        await client.delete_state("statestore", "order-1")
        assert await client.get_state("statestore", "order-1") is None
        await client.delete_state("statestore", "never-existed")


@pytest.mark.anyio
async def test_keys_with_reserved_characters(sidecar: Any) -> None:
    async with client_for(sidecar) as client:
        for key in ("with space", "a?b#c", "üñí"):
            await client.save_state("statestore", key, key)
            got = await client.get_state("statestore", key)
            assert got is not None and got.json() == key


@pytest.mark.anyio
async def test_get_missing_is_none(sidecar: Any) -> None:
    async with client_for(sidecar) as client:
        assert await client.get_state("statestore", "missing") is None


@pytest.mark.anyio
async def test_etag_flow(sidecar: Any) -> None:
    async with client_for(sidecar) as client:
        await client.save_state("statestore", "counter", 1)
        first = await client.get_state("statestore", "counter")
        assert first is not None and first.etag
        await client.save_state("statestore", "counter", 2, etag=first.etag)
        second = await client.get_state("statestore", "counter")
        assert second is not None and second.json() == 2 and second.etag != first.etag

        with pytest.raises(SidecarError) as stale:
            await client.save_state("statestore", "counter", 3, etag=first.etag)
        assert (stale.value.status, stale.value.error_code) == (409, "ERR_STATE_SAVE")

        with pytest.raises(SidecarError) as stale_delete:
            await client.delete_state("statestore", "counter", etag=first.etag)
        assert (stale_delete.value.status, stale_delete.value.error_code) == (409, "ERR_STATE_DELETE")
        await client.delete_state("statestore", "counter", etag=second.etag)
        assert await client.get_state("statestore", "counter") is None


@pytest.mark.anyio
async def test_save_many_and_bulk_get(sidecar: Any) -> None:
    async with client_for(sidecar) as client:
        await client.save_states(
            "statestore", [StateItem("b1", {"n": 1}), StateItem("b2", [2]), StateItem("b3", "three")]
        )
        items = await client.get_bulk_state("statestore", ["b1", "b2", "b3", "nope"], parallelism=2)
        by_key = {item.key: item for item in items}
        assert set(by_key) == {"b1", "b2", "b3", "nope"}
        assert by_key["b1"].json() == {"n": 1}
        assert by_key["b2"].json() == [2]
        assert by_key["b3"].json() == "three"
        assert by_key["b1"].etag
        assert by_key["nope"].data is None and by_key["nope"].json() is None
        assert await client.get_bulk_state("statestore", []) == []


@pytest.mark.anyio
async def test_transaction(sidecar: Any) -> None:
    async with client_for(sidecar) as client:
        await client.save_state("statestore", "gone", "soon")
        await client.transact_state(
            "statestore",
            [TransactionOperation.upsert("t1", {"v": 1}), TransactionOperation.delete("gone")],
        )
        t1 = await client.get_state("statestore", "t1")
        assert t1 is not None and t1.json() == {"v": 1}
        assert await client.get_state("statestore", "gone") is None


@pytest.mark.anyio
async def test_unknown_store(sidecar: Any) -> None:
    async with client_for(sidecar) as client:
        with pytest.raises(SidecarError) as caught:
            await client.get_state("nostore", "k")
    assert (caught.value.status, caught.value.error_code) == (400, "ERR_STATE_STORE_NOT_FOUND")
    assert caught.value.message


@pytest.mark.anyio
async def test_api_token(tandemd: Callable[..., Any]) -> None:
    sidecar = tandemd(STORE, app_id="tokenapp", env={"DAPR_API_TOKEN": "t0ken"})
    port = str(sidecar.http_port)
    async with Client.from_env({"DAPR_HTTP_PORT": port, "DAPR_API_TOKEN": "t0ken"}) as client:
        await client.save_state("statestore", "k", "v")
        got = await client.get_state("statestore", "k")
        assert got is not None and got.json() == "v"
    async with Client.from_env({"DAPR_HTTP_PORT": port}) as anonymous:
        with pytest.raises(SidecarError) as caught:
            await anonymous.get_state("statestore", "k")
        assert (caught.value.status, caught.value.error_code) == (401, "ERR_HTTP_401")
        assert caught.value.message == "invalid api token"
        assert await anonymous.health() is True  # health checks need no token


@pytest.mark.anyio
async def test_from_env_reads_the_port_when_asked(sidecar: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DAPR_HTTP_ENDPOINT", raising=False)
    monkeypatch.delenv("DAPR_API_TOKEN", raising=False)
    monkeypatch.setenv("DAPR_HTTP_PORT", str(sidecar.http_port))
    async with Client.from_env() as client:
        assert client.base_url == sidecar.url
        await client.wait_for_sidecar(timeout=10)
        assert await client.health() is True
        assert await client.health(outbound=True) is True


@pytest.mark.anyio
async def test_metadata(sidecar: Any) -> None:
    async with client_for(sidecar) as client:
        await client.set_metadata("owner", "framework-tests")
        metadata = await client.get_metadata()
    assert metadata["id"] == "clienttest"
    assert metadata["extended"]["owner"] == "framework-tests"
    assert any(c["name"] == "statestore" for c in metadata["components"])


@pytest.mark.anyio
async def test_generic_request(sidecar: Any) -> None:
    async with client_for(sidecar) as client:
        resp = await client.request("GET", "/v1.0/metadata")
        assert resp.status == 200 and resp.json()["id"] == "clienttest"
        raw = await client.request("GET", "/v1.0/state/nostore/k", raise_for_status=False)
        assert raw.status == 400 and raw.json()["errorCode"] == "ERR_STATE_STORE_NOT_FOUND"


@pytest.mark.anyio
async def test_shutdown(sidecar: Any) -> None:
    async with client_for(sidecar) as client:
        await client.shutdown()
    for _ in range(200):
        if sidecar.process.poll() is not None:
            break
        await asyncio.sleep(0.05)
    assert sidecar.process.poll() is not None
