"""A plain HTTP subscriber (no Tandem, no SDK) for delivery tests.

    python subscriber_app.py PORT RECORD_FILE SUBSCRIPTIONS_JSON

``GET /dapr/subscribe`` answers SUBSCRIPTIONS_JSON. Every POST is appended to
RECORD_FILE as one JSON line ``{"path", "headers", "event"}``. The answer is
scripted by the event's data: ``{"answers": ["RETRY", "500", "SUCCESS"]}`` gives
the k-th delivery of that event id the k-th answer (the last one repeats);
SUCCESS/RETRY/DROP are 200 with that status, 404/500 those statuses, EMPTY a
bare 200. Without a script every delivery succeeds.
"""
from __future__ import annotations

import json
import sys
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, RECORD, SUBSCRIPTIONS = int(sys.argv[1]), sys.argv[2], sys.argv[3].encode()
seen: Counter[str] = Counter()
lock = threading.Lock()


class Subscriber(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802
        self._send(200, SUBSCRIPTIONS if self.path == "/dapr/subscribe" else b"{}")

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        event = json.loads(body)
        with lock:
            with open(RECORD, "a") as record:
                record.write(json.dumps({"path": self.path, "event": event,
                                         "headers": {k.lower(): v for k, v in self.headers.items()}}) + "\n")
            count = seen[event.get("id", "")]
            seen[event.get("id", "")] += 1
        data = event.get("data")
        answers = data.get("answers") if isinstance(data, dict) else None
        answer = answers[min(count, len(answers) - 1)] if answers else "SUCCESS"
        if answer in ("404", "500"):
            self._send(int(answer), b"nope")
        elif answer == "EMPTY":
            self._send(200, b"")
        else:
            self._send(200, json.dumps({"status": answer}).encode())

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", PORT), Subscriber).serve_forever()
