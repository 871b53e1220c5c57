"""A plain HTTP app (no Tandem, no SDK) receiving input-binding events, for binding tests.

    python binding_app.py PORT RECORD_FILE [PROBE_STATUS] [EVENT_STATUS]

Every ``OPTIONS`` (the sidecar's probe) and ``POST`` (an event) is appended to
RECORD_FILE as one JSON line ``{"method", "path", "headers", "body"}``. Probes
are answered PROBE_STATUS (default 200), events EVENT_STATUS (default 200,
with the body ``{"ok":true}``); anything else gets 404.
"""
from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, RECORD = int(sys.argv[1]), sys.argv[2]
PROBE_STATUS = int(sys.argv[3]) if len(sys.argv) > 3 else 200
EVENT_STATUS = int(sys.argv[4]) if len(sys.argv) > 4 else 200
lock = threading.Lock()


class BindingApp(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _record(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        entry = {"method": self.command, "path": self.path, "body": body.decode("utf-8", "replace"),
                 "headers": {k.lower(): v for k, v in self.headers.items()}}
        with lock, open(RECORD, "a") as record:
            record.write(json.dumps(entry) + "\n")

    def do_OPTIONS(self) -> None:  # noqa: N802
        self._record()
        self._send(PROBE_STATUS, b"")

    def do_POST(self) -> None:  # noqa: N802
        self._record()
        self._send(EVENT_STATUS, b'{"ok":true}' if EVENT_STATUS < 300 else b"nope")

    def do_GET(self) -> None:  # noqa: N802
        self._send(404, b"")

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", PORT), BindingApp).serve_forever()
