"""Helpers for the CLI tests: a private TANDEM_HOME, the CLI as a real subprocess, a small app.

Every test gets its own home under ``tmp_path``; nothing touches the real ~/.tandem.
Processes are found again by ``tmp_path`` in their command line, so a test can
check that none survived, and teardown kills whatever a failed test left behind.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

CLI = [sys.executable, "-m", "tandem.sidecar.cli.main"]

# What the test app does is steered by env vars the CLI passes through:
#   APP_TEST_STATE=1  save + read state through the sidecar before opening APP_PORT
#   APP_TEST_CHILD=1  start a long-lived child process (same process group)
#   APP_TEST_SERVE=1  serve HTTP on APP_PORT until terminated
#   APP_TEST_EXIT=N   exit with N (when not serving)
APP = '''\
import http.server, json, os, socket, subprocess, sys, urllib.request

RECORD, MARKER = {record!r}, {marker!r}
keys = ("APP_ID", "APP_PORT", "DAPR_HTTP_PORT", "DAPR_HTTP_ENDPOINT", "APP_CHANNEL_ADDRESS", "APP_PROTOCOL")
record = {{"pid": os.getpid(), "argv": sys.argv[1:], "env": {{k: os.environ.get(k) for k in keys}}}}
base = "http://127.0.0.1:" + os.environ["DAPR_HTTP_PORT"]

if os.environ.get("APP_TEST_STATE"):
    with socket.socket() as s:
        record["app_port_was_open"] = s.connect_ex(("127.0.0.1", int(os.environ["APP_PORT"]))) == 0
    body = json.dumps([{{"key": "greeting", "value": {{"hello": "world"}}}}]).encode()
    req = urllib.request.Request(base + "/v1.0/state/statestore", data=body, method="POST",
                                 headers={{"Content-Type": "application/json"}})
    record["save_status"] = urllib.request.urlopen(req, timeout=10).status
    record["state"] = json.loads(urllib.request.urlopen(base + "/v1.0/state/statestore/greeting", timeout=10).read())

if os.environ.get("APP_TEST_CHILD"):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", MARKER])
    record["child_pid"] = child.pid

with open(RECORD + ".tmp", "w") as f:
    json.dump(record, f)
os.replace(RECORD + ".tmp", RECORD)
print("hello from the app", flush=True)
print("a line on stderr", file=sys.stderr, flush=True)

if os.environ.get("APP_TEST_SERVE"):
    class Quiet(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
        do_POST = do_PUT = do_DELETE = do_OPTIONS = do_GET
        def log_message(self, *args):
            pass
    http.server.HTTPServer(("127.0.0.1", int(os.environ["APP_PORT"])), Quiet).serve_forever()
sys.exit(int(os.environ.get("APP_TEST_EXIT", "0")))
'''

MEMORY_STORE = """\
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: statestore
spec:
  type: state.in-memory
  version: v1
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll ``predicate`` every 50 ms until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def alive(pid: int) -> bool:
    try:
        proc = psutil.Process(pid)
        return bool(proc.is_running()) and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


@dataclass
class Sandbox:
    """One test's world: its home, env, components folder, app script and started processes."""

    root: Path
    env: dict[str, str]
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def home(self) -> Path:
        return Path(self.env["TANDEM_HOME"])

    @property
    def record_path(self) -> Path:
        return self.root / "record.json"

    def components(self) -> Path:
        folder = self.root / "components"
        folder.mkdir(exist_ok=True)
        (folder / "statestore.yaml").write_text(MEMORY_STORE, encoding="utf-8")
        return folder

    def app(self) -> Path:
        script = self.root / "app.py"
        script.write_text(APP.format(record=str(self.record_path), marker=str(self.root)), encoding="utf-8")
        return script

    def record(self, timeout: float = 30.0) -> dict[str, Any]:
        wait_until(self.record_path.exists, timeout, "the app's record")
        data: dict[str, Any] = json.loads(self.record_path.read_text(encoding="utf-8"))
        return data

    def tandem(self, *args: str, timeout: float = 60.0, **env: str) -> subprocess.CompletedProcess[str]:
        """Run the CLI to completion; stdout and stderr captured together."""
        return subprocess.run([*CLI, *args], env={**self.env, **env}, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=timeout, stdin=subprocess.DEVNULL)

    def start(self, *args: str, **env: str) -> subprocess.Popen[bytes]:
        """Start the CLI in the background; its output goes to ``output.log``."""
        with open(self.root / "output.log", "wb") as out:
            proc = subprocess.Popen([*CLI, *args], env={**self.env, **env}, stdout=out,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.started.append(proc)
        return proc

    def output(self) -> str:
        return (self.root / "output.log").read_text(encoding="utf-8", errors="replace")

    def leftovers(self) -> list[psutil.Process]:
        """Live processes of this test: started in its folder, naming it, or carrying its TANDEM_HOME."""
        found = []
        root = str(self.root)
        for proc in psutil.process_iter(["cmdline", "cwd", "environ", "status"], ad_value=None):
            info = proc.info
            if proc.pid == os.getpid() or info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if (any(root in arg for arg in info["cmdline"] or ()) or (info["cwd"] or "").startswith(root + os.sep)
                    or (info["environ"] or {}).get("TANDEM_HOME") == str(self.home)):
                found.append(proc)
        return found

    def wait_all_gone(self, timeout: float = 15.0) -> None:
        wait_until(lambda: not self.leftovers(), timeout, "every process of the test to end")

    def cleanup(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            proc.wait()
        for proc in self.leftovers():
            try:
                proc.kill()
            except psutil.Error:
                pass


@dataclass
class FakeSidecar:
    """Records requests; answers with `status` and `body`."""

    port: int = 0
    status: int = 200
    body: bytes = b'{"ok":true}'
    seen: list[dict[str, Any]] = field(default_factory=list)
