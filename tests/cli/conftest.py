"""Fixtures for the CLI tests: each test gets a :class:`Sandbox` with its own TANDEM_HOME."""
from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from cli_support import FakeSidecar, Sandbox
from tandem.sidecar.instances import Instance, register, unregister


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    home = tmp_path / "home"
    monkeypatch.setenv("TANDEM_HOME", str(home))  # for in-process helpers too
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAPR_", "APP_", "NO_COLOR", "FORCE_COLOR"))}
    env["TANDEM_HOME"] = str(home)
    box = Sandbox(tmp_path, env)
    try:
        yield box
    finally:
        box.cleanup()


# -- a stand-in sidecar registered in the run folder, to check the CLI's exact requests -----------


@pytest.fixture
def fake_sidecar(sandbox: Sandbox) -> Iterator[FakeSidecar]:
    """An HTTP server registered in the run folder as the sidecar of app ``fake`` (this process)."""
    fake = FakeSidecar()

    class Handler(BaseHTTPRequestHandler):
        def answer(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            fake.seen.append({"method": self.command, "path": self.path, "headers": headers, "body": body})
            self.send_response(fake.status)
            self.send_header("Content-Length", str(len(fake.body)))
            self.end_headers()
            self.wfile.write(fake.body)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = answer

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    path = register(sandbox.home / "run", Instance(app_id="fake", pid=os.getpid(), http_port=fake.port))
    try:
        yield fake
    finally:
        unregister(path)
        server.shutdown()
        server.server_close()
