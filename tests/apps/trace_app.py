"""A Tandem service for the tracing tests: it passes a call down a chain of apps and publishes at the end.

    APP_ID=b DAPR_HTTP_PORT=... python trace_app.py PORT RECORD_FILE

``POST /chain`` with ``{"next": ["c"], "topic": "traced"}`` invokes ``chain`` on the first
app of ``next`` (passing the rest on) through the sidecar; at the end of the chain it
publishes ``{"from": <app id>}`` to ``pubsub``/``topic``. App ``x`` subscribes to
``pubsub``/``to-x``. Every handler appends ``{"app", "route", "traceparent"}`` to
RECORD_FILE: the trace context current while it ran. No tracing code beyond that line:
continuing the trace and carrying it on is the framework's job.
"""
from __future__ import annotations

import json
import os
import sys
from typing import Any

import uvicorn

from tandem import App, Client, CloudEvent
from tandem.tracing import current_traceparent

PORT, RECORD = int(sys.argv[1]), sys.argv[2]
APP_ID = os.environ["APP_ID"]
app = App(app_id=APP_ID)
client = Client()


def record(route: str) -> None:
    with open(RECORD, "a") as out:
        out.write(json.dumps({"app": APP_ID, "route": route, "traceparent": current_traceparent()}) + "\n")


@app.method("chain")
async def chain(body: dict[str, Any]) -> dict[str, Any]:
    record("chain")
    rest = list(body.get("next") or [])
    if rest:
        reply = await client.invoke(rest[0], "chain", {**body, "next": rest[1:]})
        return {"via": APP_ID, "reply": reply.json()}
    await client.publish("pubsub", body["topic"], {"from": APP_ID})
    return {"published_by": APP_ID}


async def traced(event: CloudEvent) -> None:
    record("traced")


app.add_topic("pubsub", f"to-{APP_ID}", traced)


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=PORT, access_log=False, log_level="warning")
