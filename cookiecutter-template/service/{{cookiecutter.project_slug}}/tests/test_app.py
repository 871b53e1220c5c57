"""Tests of the app: its handlers called directly, then the app beside a real sidecar.

`tandem_app` (Tandem's pytest plugin) starts the app in-process with its own ``tandemd``
on free ports and stops both after the test.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tandem.testing import RunningService, await_for

import app as service

pytestmark = pytest.mark.anyio

COMPONENTS = Path(__file__).resolve().parents[1] / "components"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _fresh_seen() -> None:
    service.seen.clear()


@pytest.fixture
def components(tmp_path: Path) -> Path:
    """The project's own components, with their SQLite files in `tmp_path` and a faster schedule."""
    folder = tmp_path / "components"
    folder.mkdir()
    for source in COMPONENTS.glob("*.yaml"):
        text = source.read_text().replace("./.tandem/", f"{tmp_path.as_posix()}/")
        (folder / source.name).write_text(text.replace("@every 10s", "@every 1s"))
    return folder


@pytest.fixture
def running(tandem_app: Callable[..., RunningService], components: Path) -> RunningService:
    return tandem_app(service.app, app_id=service.APP_ID, components=components)


def test_the_app_is_built() -> None:
    assert service.app.app_id == service.APP_ID
{%- if cookiecutter.with_topic == "yes" %}
    assert [(s["pubsubname"], s["topic"]) for s in service.app.subscriptions()] == [(service.PUBSUB, service.TOPIC)]
{%- else %}
    assert service.app.subscriptions() == []
{%- endif %}
{%- if cookiecutter.with_actor == "yes" %}
    assert service.app.app_config()["entities"] == ["Counter"]
{%- else %}
    assert service.app.app_config() == {"entities": []}
{%- endif %}
{%- if cookiecutter.with_method == "yes" %}


async def test_greet_counts_in_the_state_store(running: RunningService) -> None:
    name = f"test-{uuid.uuid4().hex}"
    async with running.client() as client:
        first = await client.invoke_method(service.APP_ID, "greet", {"name": name})
        second = await client.invoke_method(service.APP_ID, "greet", {"name": name})
        assert first.json() == {"greeting": f"Hello, {name}!", "count": 1}
        assert second.json()["count"] == 2
        stored = await client.get_state(service.STATE_STORE, f"greetings-{name}")
    assert stored is not None and stored.json() == 2


async def test_a_greeting_that_does_not_fit_is_refused(running: RunningService) -> None:
    async with running.client() as client:
        reply = await client.invoke(service.APP_ID, "greet", {"name": 5})
    assert reply.status == 400 and reply.json()["errorCode"] == "ERR_MALFORMED_REQUEST"
    assert "field 'name': expected str" in reply.json()["message"]
{%- endif %}
{%- if cookiecutter.with_topic == "yes" %}


async def test_on_order_records_the_order() -> None:
    await service.on_order({"id": 1})
    assert service.seen == [{"topic": service.TOPIC, "data": {"id": 1}}]


async def test_a_published_order_reaches_the_handler(running: RunningService) -> None:
    order: dict[str, Any] = {"id": uuid.uuid4().hex}
    async with running.client() as client:
        await client.publish(service.PUBSUB, service.TOPIC, order)
    await await_for(lambda: {"topic": service.TOPIC, "data": order} in service.seen, what="the order")
{%- endif %}
{%- if cookiecutter.with_binding == "yes" %}


async def test_on_tick_records_the_tick() -> None:
    await service.on_tick(b"")
    assert service.seen == [{"binding": service.CRON}]


async def test_the_cron_binding_calls_the_handler(running: RunningService) -> None:
    await await_for(lambda: {"binding": service.CRON} in service.seen, timeout=15, what="a cron tick")
{%- endif %}
{%- if cookiecutter.with_actor == "yes" %}


async def test_the_counter_actor_keeps_its_count(running: RunningService) -> None:
    counter_id = f"test-{uuid.uuid4().hex}"
    async with running.client() as client:
        counter = client.actor("Counter", counter_id)
        assert await counter.increment(2) == 2
        assert await counter.call("increment", 3) == 5
        assert await counter.current() == 5
        other = client.actor("Counter", f"{counter_id}-other")
        assert await other.current() == 0
{%- endif %}
