"""State routes validate as Dapr does: the store, then its features, then the body."""
from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from tandem.sidecar.api import state as api
from tandem.sidecar.api.responses import error_response
from tandem.sidecar.blocks.base import LoadedComponent
from tandem.sidecar.blocks.state import StateBlock
from tandem.sidecar.components.base import ComponentMetadata
from tandem.sidecar.components.state import StateFeature
from tandem.sidecar.drivers.memory_state import MemoryStateStore
from tandem.sidecar.errors import DaprError

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class PlainStore(MemoryStateStore):
    """A real in-memory store that declares neither transactions nor query (as many Dapr stores do)."""

    def features(self) -> frozenset[str]:
        return frozenset({StateFeature.ETAG.value})


async def _dapr_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DaprError)
    return error_response(exc)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    block = StateBlock("app")
    driver = PlainStore()
    metadata = ComponentMetadata(name="plain", type="state.in-memory")
    await driver.init(metadata)
    block.add(LoadedComponent(metadata, driver))
    app = Starlette(routes=api.routes(block), exception_handlers={DaprError: _dapr_error})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sidecar") as client:
        yield client
    await driver.close()


@pytest.mark.parametrize(("path", "reason"), [
    ("/v1.0/state/plain/transaction", "DAPR_STATE_TRANSACTIONS_NOT_SUPPORTED"),
    ("/v1.0-alpha1/state/plain/query", "DAPR_STATE_QUERYING_NOT_SUPPORTED"),
])
async def test_a_missing_feature_is_reported_before_a_malformed_body(client: httpx.AsyncClient, path: str,
                                                                     reason: str) -> None:
    reply = await client.post(path, content=b"{not json")
    assert reply.status_code == 500
    body = reply.json()
    assert body["errorCode"] == "ERR_STATE_STORE_NOT_SUPPORTED" and body["details"][0]["reason"] == reason


@pytest.mark.parametrize("path", ["/v1.0/state/nosuch", "/v1.0/state/nosuch/bulk", "/v1.0/state/nosuch/transaction",
                                  "/v1.0-alpha1/state/nosuch/query"])
async def test_an_unknown_store_is_reported_before_a_malformed_body(client: httpx.AsyncClient, path: str) -> None:
    reply = await client.post(path, content=b"{not json")
    assert reply.status_code == 400 and reply.json()["errorCode"] == "ERR_STATE_STORE_NOT_FOUND"


async def test_a_known_store_with_a_malformed_body_is_malformed(client: httpx.AsyncClient) -> None:
    reply = await client.post("/v1.0/state/plain", content=b"{not json")
    assert reply.status_code == 400 and reply.json()["errorCode"] == "ERR_MALFORMED_REQUEST"
