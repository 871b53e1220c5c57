"""State routes on the in-process sidecar: the runtime, the API and an in-memory store, no process."""
from __future__ import annotations

import pytest

from tandem.sidecar.components.state import GetRequest, StateStore
from tandem.sidecar.testing import InProcessSidecar

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_save_get_delete_round_trip() -> None:
    async with InProcessSidecar() as sidecar, sidecar.http() as http:
        saved = await http.post("/v1.0/state/statestore", json=[{"key": "order", "value": {"id": 7}}])
        assert saved.status_code == 204
        got = await http.get("/v1.0/state/statestore/order")
        assert got.status_code == 200 and got.json() == {"id": 7} and got.headers["etag"]
        assert (await http.delete("/v1.0/state/statestore/order")).status_code == 204
        assert (await http.get("/v1.0/state/statestore/order")).status_code == 204


async def test_first_write_with_a_stale_etag_is_409() -> None:
    async with InProcessSidecar() as sidecar, sidecar.http() as http:
        await http.post("/v1.0/state/statestore", json=[{"key": "k", "value": 1}])
        stale = [{"key": "k", "value": 2, "etag": "999", "options": {"concurrency": "first-write"}}]
        answer = await http.post("/v1.0/state/statestore", json=stale)
        assert answer.status_code == 409 and answer.json()["errorCode"] == "ERR_STATE_SAVE"


async def test_an_unknown_store_is_400_state_store_not_found() -> None:
    async with InProcessSidecar() as sidecar, sidecar.http() as http:
        answer = await http.get("/v1.0/state/nowhere/k")
        assert answer.status_code == 400 and answer.json()["errorCode"] == "ERR_STATE_STORE_NOT_FOUND"


async def test_keys_are_prefixed_with_the_app_id_in_the_store() -> None:
    async with InProcessSidecar(app_id="shop") as sidecar, sidecar.http() as http:
        await http.post("/v1.0/state/statestore", json=[{"key": "cart", "value": "full"}])
        (store,) = [c.driver for c in sidecar.runtime.components if c.name == "statestore"]
        assert isinstance(store, StateStore)
        assert await store.get(GetRequest("shop||cart")) is not None
