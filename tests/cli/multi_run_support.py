"""Helpers for the ``tandem run -f`` tests: one small app script, run files, and reading ``tandem list``.

The app's role comes from ``ROLE`` (set in the run file's ``env``):
  server   serves POST /neworder (prints the order, answers its pid) and /echo (prints the body)
  audit    subscribes to pubsub/orders (dead letters to ``poison``), records each event in RECORD,
           and is healthy (GET /healthz) only once its sidecar lists that subscription
  shop     invokes ``orders`` six times and publishes three orders, records what it saw, then idles
Every role prints ``<role> started (pid N)`` first.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from cli_support import Sandbox, wait_until
from support import read_json_lines

APP = r'''
import json, os, sys, time, urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROLE, RECORD = os.environ["ROLE"], os.environ.get("RECORD", "")
BASE = "http://127.0.0.1:" + os.environ["DAPR_HTTP_PORT"]


def call(method, path, payload=None):
    data = None if payload is None else json.dumps(payload).encode()
    req = urllib.request.Request(BASE + path, data=data, method=method, headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as reply:
        return reply.status, reply.read()


def record(obj):
    with open(RECORD, "a") as f:
        f.write(json.dumps(obj) + "\n")


class Handler(BaseHTTPRequestHandler):
    def reply(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/dapr/subscribe":
            subs = [{"pubsubname": "pubsub", "topic": "orders", "route": "/orders", "deadLetterTopic": "poison"}]
            return self.reply(200, subs if ROLE == "audit" else [])
        if self.path == "/healthz":
            meta = json.loads(call("GET", "/v1.0/metadata")[1])
            ok = any(s.get("topic") == "orders" for s in meta.get("subscriptions", []))
            return self.reply(200 if ok or ROLE != "audit" else 503, {})
        self.reply(404, {})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"null")
        if self.path.endswith("/neworder"):
            print(f"order {body['id']} taken by pid {os.getpid()}", flush=True)
            return self.reply(200, {"pid": os.getpid()})
        if self.path.endswith("/echo"):
            print(f"echo {body}", flush=True)
            return self.reply(200, {"pid": os.getpid()})
        if self.path == "/orders":
            record({"order": body["data"]["id"]})
            print(f"audited order {body['data']['id']}", flush=True)
            return self.reply(200, {"status": "SUCCESS"})
        self.reply(404, {})

    def log_message(self, *args):
        pass


print(f"{ROLE} started (pid {os.getpid()})", flush=True)
if ROLE == "shop":
    pids = [json.loads(call("POST", "/v1.0/invoke/orders/method/neworder", {"id": n})[1])["pid"] for n in range(6)]
    for n in range(3):
        call("POST", "/v1.0/publish/pubsub/orders", {"id": n})
    record({"pids": pids})
    print("shop done", flush=True)
    while True:
        time.sleep(60)
ThreadingHTTPServer(("127.0.0.1", int(os.environ["APP_PORT"])), Handler).serve_forever()
'''


def app_dir(sandbox: Sandbox, name: str) -> Path:
    """A folder holding the app script ``svc.py``."""
    folder = sandbox.root / name
    folder.mkdir(exist_ok=True)
    (folder / "svc.py").write_text(APP, encoding="utf-8")
    return folder


def write_run_file(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def init(sandbox: Sandbox) -> None:
    result = sandbox.tandem("init")
    assert result.returncode == 0, result.stdout


def copy_home_components(sandbox: Sandbox, folder: Path) -> Path:
    """The embedded defaults ``tandem init`` wrote, copied to ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for file in (sandbox.home / "components").glob("*.yaml"):
        shutil.copy(file, folder / file.name)
    return folder


def listed(sandbox: Sandbox) -> list[dict[str, Any]]:
    result = sandbox.tandem("list", "-o", "json")
    assert result.returncode == 0, result.stdout
    entries: list[dict[str, Any]] = json.loads(result.stdout)
    return entries


def wait_listed(sandbox: Sandbox, count: int, timeout: float = 60.0) -> list[dict[str, Any]]:
    """``tandem list`` once ``count`` app processes are listed with their pids published."""
    def ready() -> list[dict[str, Any]] | None:
        entries = [e for e in listed(sandbox) if e["appPid"]]
        return entries if len(entries) == count else None
    return wait_until(ready, timeout, f"{count} app processes in `tandem list`")  # type: ignore[no-any-return]


def wait_output(sandbox: Sandbox, text: str, timeout: float = 60.0, proc: subprocess.Popen[bytes] | None = None) -> str:
    """The run's console output once it contains ``text`` (fails early if the run ended)."""
    def seen() -> str | None:
        output = sandbox.output()
        if text in output:
            return output
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"tandem run ended ({proc.returncode}) before printing {text!r}:\n{output}")
        return None
    return wait_until(seen, timeout, repr(text))  # type: ignore[no-any-return]


def records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return read_json_lines(path)
