"""Subscriber 2, a plain HTTP app (Python standard library only): no SDK, just Dapr's contract.

    tandem run --app-id plain-subscriber --app-port 6002 -- python plain_subscriber.py

Two routes are all a subscriber needs:

* ``GET /dapr/subscribe``: the sidecar asks, once at startup, what the app subscribes to;
* ``POST /orders``: the sidecar delivers each event there, as a CloudEvent (JSON, the
  published order in ``data``); the answer ``{"status": "SUCCESS"}`` acknowledges it
  (``RETRY`` asks for it again later, ``DROP`` discards it).
"""
from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SUBSCRIPTIONS = [{"pubsubname": "pubsub", "topic": "orders", "route": "/orders"}]
# The sidecar delivers several orders at once, each on its own thread: one whole line at a time.
PRINT_LOCK = threading.Lock()


class Subscriber(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/dapr/subscribe":
            self._reply(200, SUBSCRIPTIONS)
        else:
            self._reply(404, {"error": "not found"})

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path != "/orders":
            self._reply(404, {"error": "not found"})
            return
        try:
            event = json.loads(body)
            order = event["data"]
            order_id = order["orderId"]
        except (ValueError, KeyError, TypeError):
            self._reply(200, {"status": "DROP"})  # not an order: redelivering will not help
            return
        with PRINT_LOCK:
            print(f"received order {order_id} (event {event.get('id')} from {event.get('source')})", flush=True)
        self._reply(200, {"status": "SUCCESS"})

    def _reply(self, status: int, payload: Any) -> None:
        out = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per order is printed above; no access log


if __name__ == "__main__":
    port = int(os.environ.get("APP_PORT", 6002))
    ThreadingHTTPServer(("127.0.0.1", port), Subscriber).serve_forever()
