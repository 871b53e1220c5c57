"""{{ cookiecutter.project_name }}: a Tandem service (app id ``{{ cookiecutter.app_id }}``).

Run it beside its sidecar with ``make run`` (the command is in README.md). The sidecar
calls the handlers below{% if cookiecutter.with_actor == "yes" %} and hosts the actor{% endif %}; the app reaches the sidecar's API through its one
`tandem.Client`, which a handler gets by taking a parameter annotated `Client`.
"""
from __future__ import annotations

import logging
{%- if cookiecutter.with_method == "yes" %}
from dataclasses import dataclass
{%- endif %}
from typing import Any

from tandem import {% if cookiecutter.with_actor == "yes" %}Actor, {% endif %}App{% if cookiecutter.with_method == "yes" %}, Client{% endif %}{% if cookiecutter.with_actor == "yes" %}, actor_method{% endif %}

APP_ID = "{{ cookiecutter.app_id }}"
{%- if cookiecutter.with_method == "yes" %}
STATE_STORE = "statestore"  # components/statestore.yaml
{%- endif %}
PUBSUB = "pubsub"  # components/pubsub.yaml
TOPIC = "orders"
{%- if cookiecutter.with_binding == "yes" %}
CRON = "cron"  # components/cron.yaml
{%- endif %}

log = logging.getLogger(APP_ID)
app = App(app_id=APP_ID)

#: Events the handlers have seen, newest last (a stand-in for real work; the tests read them).
seen: list[dict[str, Any]] = []
{%- if cookiecutter.with_method == "yes" %}


@dataclass
class Greeting:
    """The body of ``POST /greet``; one that does not fit is answered 400 before `greet` runs."""

    name: str = "world"


@app.method("greet")
async def greet(greeting: Greeting | None, client: Client) -> dict[str, Any]:
    """``POST /greet {"name": ...}``: count the greetings of each name in the state store."""
    name = (greeting or Greeting()).name
    key = f"greetings-{name}"
    previous = await client.get_state(STATE_STORE, key)
    count = (previous.json() if previous else 0) + 1
    # The ETag makes a concurrent greeting of the same name fail instead of being lost.
    await client.save_state(STATE_STORE, key, count, etag=previous.etag if previous else None)
    return {"greeting": f"Hello, {name}!", "count": count}
{%- endif %}
{%- if cookiecutter.with_topic == "yes" %}


@app.topic(PUBSUB, TOPIC)
async def on_order(order: Any) -> None:
    """A message published to ``orders`` on ``pubsub``; raising makes the sidecar redeliver it."""
    log.info("order received: %r", order)
    seen.append({"topic": TOPIC, "data": order})
{%- endif %}
{%- if cookiecutter.with_binding == "yes" %}


@app.binding(CRON)
async def on_tick(body: bytes) -> None:
    """The ``cron`` input binding fired (every 10s by default, see components/cron.yaml)."""
    log.info("tick")
    seen.append({"binding": CRON})
{%- endif %}
{%- if cookiecutter.with_actor == "yes" %}


@app.actor
class Counter(Actor):
    """A virtual actor: one per id, activated on first use, one call at a time.

    Call it with ``client.actor("Counter", "c1").call("increment", 5)``; its state is saved
    in the actor state store (components/statestore.yaml) when each call returns.
    """

    @actor_method
    async def increment(self, by: int) -> int:
        value = int(await self.state.get("value", 0)) + by
        await self.state.set("value", value)
        return value

    @actor_method
    async def current(self) -> int:
        return int(await self.state.get("value", 0))
{%- endif %}


if __name__ == "__main__":
    app.run()  # uvicorn on $APP_PORT (set by `tandem run --app-port`), 127.0.0.1
