"""The running system the dashboard tests look at (see ``conftest.system``)."""
from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

CLI = [sys.executable, "-m", "tandem.sidecar.cli.main"]

APP = r'''
import json, os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROLE = os.environ["ROLE"]
SUBS = [{"pubsubname": "pubsub", "topic": "orders", "route": "/orders", "deadLetterTopic": "orders-dead"}]


class Handler(BaseHTTPRequestHandler):
    def reply(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/dapr/config":  # the board also hosts an actor type
            return self.reply(200, {"entities": ["Board"] if ROLE == "board" else []})
        self.reply(200, SUBS if self.path == "/dapr/subscribe" and ROLE == "board" else [])

    def do_PUT(self):  # actor methods (Dapr's app contract)
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.reply(200, "ok")

    def do_DELETE(self):  # actor deactivation
        self.reply(200, "ok")

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length") or 0)).decode()
        if self.path == "/say":
            print(f"board says {body}", flush=True)
        self.reply(200, {"status": "SUCCESS"})

    def log_message(self, *args):
        pass


print(f"{ROLE} started", flush=True)
ThreadingHTTPServer(("127.0.0.1", int(os.environ["APP_PORT"])), Handler).serve_forever()
'''


@dataclass
class System:
    url: str
    env: dict[str, str]
    root: Path
    output: Path

    def tandem(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*CLI, *args], env=self.env, capture_output=True, text=True, timeout=60)
