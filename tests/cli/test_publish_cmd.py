"""``tandem publish``: finds the app among running sidecars and publishes through the app's own sidecar.

The wire format is checked against a stand-in sidecar registered in the run folder (the
exact request Dapr's CLI would send is visible); the rest runs a real subscriber beside a
real sidecar under ``tandem run`` and checks what it receives.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from cli_support import CLI, FakeSidecar, Sandbox, free_port, wait_until
from support import read_json_lines
from tandem.sidecar.instances import Instance, register, unregister

pytestmark = pytest.mark.e2e


def publish(sandbox: Sandbox, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``tandem publish ARGS`` with stdout and stderr kept apart."""
    return subprocess.run([*CLI, "publish", *args], env={**sandbox.env, **env}, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)


# -- the exact request, against a stand-in sidecar ---------------------------------------------


@pytest.fixture
def fake_sidecar(fake_sidecar: FakeSidecar) -> FakeSidecar:
    """The stand-in sidecar, answering a publish as Dapr does: 204, no body."""
    fake_sidecar.status, fake_sidecar.body = 204, b""
    return fake_sidecar


def test_the_request_is_daprs_publish_on_the_apps_own_sidecar(sandbox: Sandbox, fake_sidecar: FakeSidecar) -> None:
    done = publish(sandbox, "--publish-app-id", "fake", "--pubsub", "pubsub", "--topic", "orders",
                   "--data", '{"orderId": 1}', "--metadata", '{"ttlInSeconds": 60, "rawPayload": false, "k": "v"}',
                   DAPR_API_TOKEN="s3cret")
    assert (done.returncode, done.stdout) == (0, "Event published successfully\n"), done.stderr
    (seen,) = fake_sidecar.seen
    assert (seen["method"], seen["body"]) == ("POST", b'{"orderId": 1}')
    assert seen["path"] == "/v1.0/publish/pubsub/orders?metadata.k=v&metadata.rawPayload=false&metadata.ttlInSeconds=60"
    assert seen["headers"]["content-type"] == "application/json"
    assert seen["headers"]["dapr-api-token"] == "s3cret"


def test_a_cloudevent_payload_is_sent_as_a_cloudevent(sandbox: Sandbox, fake_sidecar: FakeSidecar) -> None:
    event = {"id": "e-1", "source": "shop", "specversion": "1.0", "type": "order.created", "data": {"n": 1}}
    data_file = sandbox.root / "event.json"
    data_file.write_text(json.dumps(event), encoding="utf-8")
    done = publish(sandbox, "-i", "fake", "-p", "pubsub", "-t", "eu/orders", "-f", str(data_file))
    assert done.returncode == 0, done.stderr
    # Without `data` it is not a CloudEvent for Dapr's CLI: the sidecar wraps it in one.
    not_quite = {k: v for k, v in event.items() if k != "data"}
    done = publish(sandbox, "-i", "fake", "-p", "pubsub", "-t", "orders", "-d", json.dumps(not_quite))
    assert done.returncode == 0, done.stderr
    # Not JSON at all: sent as it is, still as application/json (the sidecar keeps it as a string).
    done = publish(sandbox, "-i", "fake", "-p", "pubsub", "-t", "orders", "-d", "plain words")
    assert done.returncode == 0, done.stderr
    first, second, third = fake_sidecar.seen
    assert (first["path"], first["headers"]["content-type"]) == (
        "/v1.0/publish/pubsub/eu/orders", "application/cloudevents+json",
    )
    assert json.loads(first["body"]) == event
    assert second["headers"]["content-type"] == "application/json"
    assert "dapr-api-token" not in second["headers"]
    assert (third["body"], third["headers"]["content-type"]) == (b"plain words", "application/json")


def test_a_refusal_prints_the_sidecars_error_and_exits_1(sandbox: Sandbox, fake_sidecar: FakeSidecar) -> None:
    fake_sidecar.status = 404
    fake_sidecar.body = b'{"errorCode":"ERR_PUBSUB_NOT_FOUND","message":"pubsub nope is not found","details":[]}'
    done = publish(sandbox, "-i", "fake", "-p", "nope", "-t", "orders", "-d", "{}")
    assert done.returncode == 1
    assert done.stdout == ""
    assert ("publishing to topic 'orders' of pub/sub 'nope' failed: HTTP 404 ERR_PUBSUB_NOT_FOUND: "
            "pubsub nope is not found") in done.stderr

    fake_sidecar.status, fake_sidecar.body = 500, b"broker on fire"
    done = publish(sandbox, "-i", "fake", "-p", "pubsub", "-t", "orders")
    assert done.returncode == 1
    assert "HTTP 500 broker on fire" in done.stderr
    assert fake_sidecar.seen[-1]["body"] == b""


def test_an_unknown_app_id_fails_clearly(sandbox: Sandbox) -> None:
    done = publish(sandbox, "--publish-app-id", "ghost", "--pubsub", "pubsub", "--topic", "orders", "--data", "{}")
    assert done.returncode == 1
    assert done.stdout == ""
    assert "no running app with id 'ghost'; see `tandem list`" in done.stderr


def test_an_unreachable_sidecar_fails_clearly(sandbox: Sandbox) -> None:
    path = register(sandbox.home / "run", Instance(app_id="deaf", pid=os.getpid(), http_port=free_port()))
    try:
        done = publish(sandbox, "-i", "deaf", "-p", "pubsub", "-t", "orders")
    finally:
        unregister(path)
    assert done.returncode == 1
    assert "could not reach the sidecar of app 'deaf'" in done.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["--data", "{}", "--data-file", "FILE"], "mutually exclusive"),
    (["--metadata", "{not json"], "not valid JSON"),
    (["--metadata", "[1]"], "expected a JSON object"),
    (["--topic", ""], "must not be empty"),
])
def test_usage_errors_exit_2(sandbox: Sandbox, args: list[str], message: str) -> None:
    data_file = sandbox.root / "d.json"
    data_file.write_text("{}")
    args = [str(data_file) if a == "FILE" else a for a in args]
    base = ["-i", "x", "-p", "pubsub"] + ([] if "--topic" in args else ["-t", "orders"])
    done = publish(sandbox, *base, *args)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr


# -- end to end: a real subscriber beside a real sidecar ---------------------------------------

# Subscribes to pubsub/orders; appends every delivery (headers and CloudEvent) to RECORD, one JSON per line.
SUBSCRIBER = '''\
import http.server, json, os

RECORD = {record!r}

class Subscriber(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.reply(200, [{{"pubsubname": "pubsub", "topic": "orders", "route": "/orders"}}])
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with open(RECORD, "a") as f:
            f.write(json.dumps({{"path": self.path, "contentType": self.headers.get("Content-Type"),
                                "event": json.loads(body)}}) + "\\n")
        self.reply(200, {{"status": "SUCCESS"}})
    def reply(self, status, payload):
        out = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)
    def log_message(self, *args):
        pass

http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["APP_PORT"])), Subscriber).serve_forever()
'''

MEMORY_PUBSUB = """\
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: pubsub
spec:
  type: pubsub.in-memory
  version: v1
"""


def deliveries(record: Path) -> list[dict[str, Any]]:
    if not record.exists():
        return []
    return read_json_lines(record)


def subscribed(port: int) -> bool:
    """The sidecar on `port` lists its subscription to pubsub/orders."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"http://127.0.0.1:{port}/v1.0/metadata", timeout=2) as resp:
            metadata = json.loads(resp.read())
    except (OSError, ValueError):
        return False
    return any(s.get("topic") == "orders" for s in metadata.get("subscriptions") or ())


def test_a_published_event_reaches_a_subscriber(sandbox: Sandbox) -> None:
    components = sandbox.components()
    (components / "pubsub.yaml").write_text(MEMORY_PUBSUB, encoding="utf-8")
    record = sandbox.root / "deliveries.jsonl"
    script = sandbox.root / "subscriber.py"
    script.write_text(SUBSCRIBER.format(record=str(record)), encoding="utf-8")
    app_port, http_port = free_port(), free_port()
    proc = sandbox.start("run", "--app-id", "sub", "--app-port", str(app_port), "--dapr-http-port", str(http_port),
                         "--resources-path", str(components), "--", sys.executable, str(script))
    wait_until(lambda: subscribed(http_port) or proc.poll() is not None, what="the subscription")
    assert proc.poll() is None, sandbox.output()

    done = publish(sandbox, "--publish-app-id", "sub", "--pubsub", "pubsub", "--topic", "orders",
                   "--data", '{"orderId": 7}')
    assert (done.returncode, done.stdout) == (0, "Event published successfully\n"), done.stderr
    event = {"id": "my-id", "source": "shop", "specversion": "1.0", "type": "order.created", "data": {"orderId": 8}}
    done = publish(sandbox, "-i", "sub", "-p", "pubsub", "-t", "orders", "-d", json.dumps(event))
    assert done.returncode == 0, done.stderr
    wait_until(lambda: len(deliveries(record)) >= 2, what="both deliveries")

    by_order = {d["event"]["data"]["orderId"]: d for d in deliveries(record)}
    plain, cloud = by_order[7]["event"], by_order[8]["event"]
    assert by_order[7]["path"] == "/orders"
    assert by_order[7]["contentType"].startswith("application/cloudevents+json")
    assert (plain["source"], plain["type"], plain["datacontenttype"]) == ("sub", "com.dapr.event.sent",
                                                                        "application/json")
    assert (plain["topic"], plain["pubsubname"], plain["specversion"]) == ("orders", "pubsub", "1.0")
    # The CLI sent the CloudEvent as one: the sidecar kept its id, source and type.
    assert (cloud["id"], cloud["source"], cloud["type"]) == ("my-id", "shop", "order.created")

    missing = publish(sandbox, "-i", "sub", "-p", "nope", "-t", "orders", "-d", "{}")
    assert missing.returncode == 1
    assert "HTTP 404 ERR_PUBSUB_NOT_FOUND" in missing.stderr

    sandbox.tandem("stop", "--app-id", "sub")
    proc.wait(timeout=30)
