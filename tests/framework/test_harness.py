"""The service test harness (``tandem.testing`` and the ``tandem_app`` / ``tandem_component`` fixtures)."""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tandem import App, Client, CloudEvent
from tandem.testing import RunningService, StateStoreConformance, await_for, free_port, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

StartApp = Callable[..., RunningService]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_in_process_app_is_invoked_through_its_sidecar(tandem_app: StartApp) -> None:
    app = App()

    @app.method("hello")
    def hello(body: dict[str, Any]) -> dict[str, Any]:
        return {"hello": body["name"], "sidecar": os.environ["DAPR_HTTP_ENDPOINT"]}

    service = tandem_app(app, app_id="greeter", components={})
    assert os.environ["DAPR_HTTP_PORT"] == str(service.http_port)
    async with service.client() as client:
        reply = await client.invoke("greeter", "hello", {"name": "ada"})
    assert reply.status == 200, reply.body
    assert reply.json() == {"hello": "ada", "sidecar": service.sidecar_url}
    assert "listening on" in service.log()


async def test_published_event_reaches_the_topic_handler(tandem_app: StartApp) -> None:
    app = App()
    seen: list[Any] = []

    @app.topic("pubsub", "orders")
    async def orders(event: CloudEvent) -> None:
        seen.append(event.data)

    service = tandem_app(app, app_id="orders")  # the default sqlite state store and pub/sub
    async with service.client() as client:
        await client.publish("pubsub", "orders", {"id": 7})
        assert await await_for(lambda: seen, timeout=15, what="the order event") == [{"id": 7}]


async def test_two_apps_invoke_each_other_by_app_id(tandem_app: StartApp) -> None:
    front, back = App(), App()

    @back.method("double")
    def double(body: dict[str, int]) -> dict[str, int]:
        return {"n": body["n"] * 2}

    @front.method("relay")
    async def relay(body: dict[str, int]) -> Any:
        async with Client.from_env() as client:
            reply = await client.invoke_method("back", "double", body)
        return reply.json()

    back_service = tandem_app(back, app_id="back", components={})
    front_service = tandem_app(front, app_id="front", components={})
    async with front_service.client() as client:
        reply = await client.invoke("front", "relay", {"n": 21})
    assert reply.json() == {"n": 42}, reply.body
    async with back_service.client() as client:  # back's sidecar reaches front by its app id
        assert (await client.invoke("front", "relay", {"n": 1})).json() == {"n": 2}


async def test_module_attr_app_runs_as_a_subprocess(tandem_app: StartApp, tmp_path: Path) -> None:
    (tmp_path / "svc_under_test.py").write_text(
        "import os\n"
        "from tandem import App\n"
        "app = App()\n"
        "@app.method('whoami', methods='GET')\n"
        "def whoami() -> dict:\n"
        "    return {'app': os.environ['APP_ID'], 'pid': os.getpid(), 'sidecar': os.environ['DAPR_HTTP_PORT']}\n"
    )
    service = tandem_app("svc_under_test:app", app_id="sub", components={"kv": "state.in-memory"},
                         env={"PYTHONPATH": str(tmp_path)})
    assert service.app_process is not None
    async with service.client() as client:
        reply = await client.invoke("sub", "whoami", http_verb="GET")
        assert reply.status == 200, reply.body + service.app_log().encode()
        body = reply.json()
    assert body["app"] == "sub" and body["pid"] != os.getpid()
    assert body["sidecar"] == str(service.http_port)
    service.stop()
    assert service.app_process.poll() is not None and service.sidecar.poll() is not None


async def test_tandem_component_builds_an_in_memory_store(tandem_component: Any) -> None:
    from tandem.sidecar.components.state import StateStore

    document = "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: kv}\n" \
               "spec: {type: state.in-memory, version: v1, metadata: []}\n"
    async with tandem_component(document, StateStore) as store:
        assert isinstance(store, StateStore)


def test_helpers() -> None:
    assert wait_for(lambda: 3, what="three") == 3
    with pytest.raises(AssertionError, match="the impossible"):
        wait_for(lambda: 0, timeout=0.1, what="the impossible")
    assert 0 < free_port() < 65536
    assert StateStoreConformance.__name__ == "StateStoreConformance"
