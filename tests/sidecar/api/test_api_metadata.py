"""The metadata API on the in-process sidecar: assembled from what each block describes."""
from __future__ import annotations

import pytest

from tandem.sidecar.testing import InProcessSidecar

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_components_are_listed_with_what_their_blocks_use_of_them() -> None:
    components = {"statestore": "state.in-memory", "pubsub": "pubsub.in-memory", "locks": "lock.in-memory",
                  "out": {"type": "bindings.localstorage", "metadata": {"rootPath": ".", "direction": "output"}}}
    async with InProcessSidecar(app_id="shop", components=components) as sidecar, sidecar.http() as http:
        doc = (await http.get("/v1.0/metadata")).json()
    listed = {c["name"]: (c["type"], c["capabilities"]) for c in doc["components"]}
    assert listed["statestore"][0] == "state.in-memory"
    assert {"ETAG", "TRANSACTIONAL", "ACTOR"} <= set(listed["statestore"][1])  # ACTOR: the state block's word
    assert listed["out"] == ("bindings.localstorage", ["OUTPUT_BINDING"])  # only the side `direction` keeps
    assert listed["locks"][0] == "lock.in-memory" and listed["pubsub"][0] == "pubsub.in-memory"
    assert doc["id"] == "shop" and doc["subscriptions"] == []
    assert doc["actorRuntime"]["runtimeStatus"] == "RUNNING" and doc["actors"] == []


async def test_the_document_keeps_its_keys_in_dapr_order() -> None:
    async with InProcessSidecar() as sidecar, sidecar.http() as http:
        doc = (await http.get("/v1.0/metadata")).json()
    assert list(doc) == ["id", "runtimeVersion", "enabledFeatures", "components", "subscriptions", "extended",
                         "plugins", "actors", "actorRuntime"]


async def test_extended_attributes_are_set_with_put() -> None:
    async with InProcessSidecar() as sidecar, sidecar.http() as http:
        assert (await http.put("/v1.0/metadata/team", content=b"payments")).status_code == 204
        extended = (await http.get("/v1.0/metadata")).json()["extended"]
    assert extended["team"] == "payments" and "daprRuntimeVersion" in extended


async def test_a_second_actor_state_store_is_refused_at_start_naming_both() -> None:
    from tandem.sidecar.runtime import StartupError

    flagged = {"type": "state.in-memory", "metadata": {"actorStateStore": "true"}}
    with pytest.raises(StartupError, match="actorStateStore is already set on 'one'"):
        async with InProcessSidecar(components={"one": flagged, "two": flagged}):
            pass
