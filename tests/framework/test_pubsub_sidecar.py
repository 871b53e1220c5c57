"""Pub/sub through a real ``tandemd``: `Client.publish`/`bulk_publish` in, `@app.topic` handlers out.

A `tandem.App` runs in its own process beside the sidecar (``pubsub.in-memory``) and
records what each handler received, one JSON line per call; the test publishes with
the client and reads the record back.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from support import Sidecar, free_port, http, read_json_lines
from tandem import Client, SidecarError
from tandem.client import BulkPublishEntry

pytestmark = pytest.mark.e2e

COMPONENTS = {"pubsub": "pubsub.in-memory"}

APP = '''\
import base64, json, os, sys
import uvicorn
from tandem import App, CloudEvent, Drop, Retry

RECORD = sys.argv[1]
app = App()
attempts = {}

def record(route, evt):
    data = evt.data
    if isinstance(data, bytes):
        data = {"base64": base64.b64encode(data).decode()}
    with open(RECORD, "a") as f:
        f.write(json.dumps({"route": route, "id": evt.id, "source": evt.source, "type": evt.type,
                            "datacontenttype": evt.datacontenttype, "topic": evt.topic,
                            "kind": type(evt.data).__name__, "data": data}) + "\\n")

@app.topic("pubsub", "events")
async def events(evt: CloudEvent) -> None:
    record("events", evt)

@app.topic("pubsub", "raw", raw_payload=True)
async def raw(evt: CloudEvent) -> None:
    record("raw", evt)

@app.topic("pubsub", "flaky", dead_letter_topic="dead")
async def flaky(evt: CloudEvent) -> None:
    n = attempts[evt.id] = attempts.get(evt.id, 0) + 1
    action = evt.data["action"]
    if n == 1 and action == "retry":
        raise Retry()
    if n == 1 and action == "crash":
        raise RuntimeError("first attempt fails")
    if action == "drop":
        raise Drop()
    record("flaky", evt)

@app.topic("pubsub", "dead")
async def dead(evt: CloudEvent) -> None:
    record("dead", evt)

uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), access_log=False, log_level="warning")
'''


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def app_record(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """The recording app, listening on a free port; yields (record file, port)."""
    script, record, port = tmp_path / "app.py", tmp_path / "record.jsonl", free_port()
    script.write_text(APP, encoding="utf-8")
    proc = subprocess.Popen([sys.executable, str(script), str(record), str(port)], stdin=subprocess.DEVNULL)
    try:
        yield record, port
    finally:
        proc.terminate()
        proc.wait(timeout=15)


@pytest.fixture
def sidecar(app_record: tuple[Path, int], tandemd: Callable[..., Sidecar]) -> Sidecar:
    """The sidecar of the recording app, once it has subscribed to the app's four topics."""
    _, port = app_record
    car = tandemd(COMPONENTS, app_id="shop", args=("--app-port", str(port)))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status, _, body = http("GET", car.url + "/v1.0/metadata")
        if status == 200 and len(json.loads(body).get("subscriptions") or ()) == 4:
            return car
        time.sleep(0.05)
    raise AssertionError(f"the sidecar did not subscribe:\n{car.log()}")


def received(record: Path, count: int, timeout: float = 30) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        found = read_json_lines(record) if record.exists() else []
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


@pytest.mark.anyio
async def test_published_data_arrives_typed_by_content_type(sidecar: Sidecar, app_record: tuple[Path, int]) -> None:
    record, _ = app_record
    envelope = {"id": "ce-1", "source": "warehouse", "specversion": "1.0", "type": "order.shipped",
                "datacontenttype": "application/json", "data": {"orderId": 5}}
    async with Client(sidecar.url, api_token="") as client:
        await client.publish("pubsub", "events", {"orderId": 1})
        await client.publish("pubsub", "events", "two")
        await client.publish("pubsub", "events", b"\x00\x03")
        await client.publish_event("pubsub", "events", [4])
        await client.publish("pubsub", "events", envelope, content_type="application/cloudevents+json")
        await client.publish("pubsub", "raw", {"orderId": 6}, raw_payload=True)
    got = received(record, 6)
    by_kind = {(r["kind"], json.dumps(r["data"])): r for r in got}
    assert set(by_kind) == {
        ("dict", '{"orderId": 1}'), ("str", '"two"'), ("bytes", json.dumps({"base64": "AAM="})),
        ("list", "[4]"), ("dict", '{"orderId": 5}'),
        ("bytes", json.dumps({"base64": base64.b64encode(b'{"orderId":6}').decode()})),
    }, got
    first = by_kind[("dict", '{"orderId": 1}')]
    assert (first["source"], first["type"], first["topic"], first["datacontenttype"]) == (
        "shop", "com.dapr.event.sent", "events", "application/json",
    )
    assert by_kind[("str", '"two"')]["datacontenttype"] == "text/plain"
    assert by_kind[("bytes", json.dumps({"base64": "AAM="}))]["datacontenttype"] == "application/octet-stream"
    kept = by_kind[("dict", '{"orderId": 5}')]
    assert (kept["id"], kept["source"], kept["type"]) == ("ce-1", "warehouse", "order.shipped")
    raw = by_kind[("bytes", json.dumps({"base64": base64.b64encode(b'{"orderId":6}').decode()}))]
    assert (raw["route"], raw["datacontenttype"]) == ("raw", "application/octet-stream")


@pytest.mark.anyio
async def test_bulk_publish_delivers_each_entry(sidecar: Sidecar, app_record: tuple[Path, int]) -> None:
    record, _ = app_record
    async with Client(sidecar.url, api_token="") as client:
        failed = await client.bulk_publish("pubsub", "events", [
            {"orderId": 1}, "text", b"\x01", BulkPublishEntry({"orderId": 2}, entry_id="mine", metadata={"k": "v"}),
        ])
        assert failed == []
        with pytest.raises(SidecarError) as caught:
            await client.bulk_publish("nope", "events", [1])
        assert (caught.value.status, caught.value.error_code) == (404, "ERR_PUBSUB_NOT_FOUND")
    got = received(record, 4)
    assert sorted(json.dumps(r["data"]) for r in got) == sorted(
        ['{"orderId": 1}', '"text"', json.dumps({"base64": "AQ=="}), '{"orderId": 2}']
    )


@pytest.mark.anyio
async def test_retry_exception_and_drop_through_the_sidecar(sidecar: Sidecar, app_record: tuple[Path, int]) -> None:
    record, _ = app_record
    async with Client(sidecar.url, api_token="") as client:
        for action in ("retry", "crash", "drop"):
            await client.publish("pubsub", "flaky", {"action": action})
        with pytest.raises(SidecarError) as caught:
            await client.publish("nope", "flaky", {})
        assert caught.value.error_code == "ERR_PUBSUB_NOT_FOUND"
    got = received(record, 3)
    # Retry and an exception: delivered again, then handled; Drop: sent to the dead-letter topic.
    assert sorted((r["route"], r["data"]["action"]) for r in got) == [
        ("dead", "drop"), ("flaky", "crash"), ("flaky", "retry"),
    ]
