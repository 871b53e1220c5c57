"""``tandem invoke``: finds the app among running sidecars and calls it through the app's own sidecar.

The wire format is checked against a stand-in sidecar registered in the run folder (so
the exact request Dapr's CLI would send is visible); the rest runs a real app beside a
real sidecar under ``tandem run``.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli_support import CLI, FakeSidecar, Sandbox, free_port, wait_until
from tandem.sidecar.instances import Instance, register, unregister

pytestmark = pytest.mark.e2e

# A tiny app: echoes what it received as JSON; ``/status/<n>`` answers status n with body "nope".
ECHO_APP = '''\
import http.server, json, os

class Echo(http.server.BaseHTTPRequestHandler):
    def answer(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.startswith("/status/"):
            status, out, ctype = int(self.path.split("/")[2]), b"nope", "text/plain"
        else:
            status, ctype = 200, "application/json"
            out = json.dumps({"method": self.command, "path": self.path, "body": body.decode(),
                              "contentType": self.headers.get("Content-Type")}).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)
    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = answer
    def log_message(self, *args):
        pass

http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["APP_PORT"])), Echo).serve_forever()
'''


def invoke(sandbox: Sandbox, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``tandem invoke ARGS`` with stdout and stderr kept apart."""
    return subprocess.run([*CLI, "invoke", *args], env={**sandbox.env, **env}, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)


def body_of(stdout: str) -> str:
    """The reply's body: stdout without the success line Dapr's CLI adds after it."""
    assert stdout.endswith("App invoked successfully\n"), stdout
    return stdout[: -len("App invoked successfully\n")]


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def echo_app(sandbox: Sandbox) -> Iterator[str]:
    """``tandem run`` with the echo app as app id ``echo``; stopped with ``tandem stop`` afterwards."""
    script = sandbox.root / "echo_app.py"
    script.write_text(ECHO_APP, encoding="utf-8")
    app_port = free_port()
    proc = sandbox.start("run", "--app-id", "echo", "--app-port", str(app_port),
                         "--resources-path", str(sandbox.components()), "--", sys.executable, str(script))
    wait_until(lambda: port_open(app_port) or proc.poll() is not None, what="the echo app to listen")
    assert proc.poll() is None, sandbox.output()
    yield "echo"
    sandbox.tandem("stop", "--app-id", "echo")
    proc.wait(timeout=30)


def test_invoke_calls_a_running_app_and_prints_its_reply(sandbox: Sandbox, echo_app: str) -> None:
    done = invoke(sandbox, "--app-id", echo_app, "--method", "orders/new", "--data", '{"orderId": 1}')
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(body_of(done.stdout)) == {
        "method": "POST", "path": "/orders/new", "body": '{"orderId": 1}', "contentType": "application/json",
    }

    data_file = sandbox.root / "order.json"
    data_file.write_bytes(b'{"orderId": 2}')
    done = invoke(sandbox, "-a", echo_app, "-m", "orders?page=2", "-v", "put", "-f", str(data_file))
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(body_of(done.stdout)) == {
        "method": "PUT", "path": "/orders?page=2", "body": '{"orderId": 2}', "contentType": "application/json",
    }


@pytest.mark.parametrize("status", [404, 500])
def test_a_non_2xx_answer_is_printed_and_exits_1(sandbox: Sandbox, echo_app: str, status: int) -> None:
    done = invoke(sandbox, "--app-id", echo_app, "--method", f"status/{status}", "--verb", "GET")
    assert done.returncode == 1
    assert done.stdout == "nope\n"
    assert f"app 'echo' answered HTTP {status} to GET status/{status}" in done.stderr


def test_an_unknown_app_id_fails_clearly(sandbox: Sandbox) -> None:
    done = invoke(sandbox, "--app-id", "ghost", "--method", "neworder", "--data", "{}")
    assert done.returncode == 1
    assert done.stdout == ""
    assert "no running app with id 'ghost'; see `tandem list`" in done.stderr


def test_data_and_data_file_exclude_each_other(sandbox: Sandbox, tmp_path: Path) -> None:
    data_file = tmp_path / "d.json"
    data_file.write_text("{}")
    done = invoke(sandbox, "-a", "x", "-m", "m", "--data", "{}", "--data-file", str(data_file))
    assert done.returncode == 2
    assert "mutually exclusive" in done.stderr


# -- the exact request, against a stand-in sidecar ---------------------------------------------


def test_the_request_is_daprs_invoke_on_the_apps_own_sidecar(sandbox: Sandbox, fake_sidecar: FakeSidecar) -> None:
    done = invoke(sandbox, "-a", "fake", "-m", "/orders/7?x=1", "-v", "patch", "-d", "not json, sent raw",
                  DAPR_API_TOKEN="s3cret")
    assert (done.returncode, done.stdout) == (0, '{"ok":true}\nApp invoked successfully\n'), done.stderr
    seen = fake_sidecar.seen[0]
    assert (seen["method"], seen["path"], seen["body"]) == (
        "PATCH", "/v1.0/invoke/fake/method/orders/7?x=1", b"not json, sent raw",
    )
    assert seen["headers"]["content-type"] == "application/json"
    assert seen["headers"]["dapr-api-token"] == "s3cret"

    fake_sidecar.body = b""
    done = invoke(sandbox, "-a", "fake", "-m", "ping", "-v", "GET")
    assert (done.returncode, done.stdout) == (0, "App invoked successfully\n")
    assert "dapr-api-token" not in fake_sidecar.seen[1]["headers"]
    assert fake_sidecar.seen[1]["method"] == "GET"


def test_a_failed_invocation_is_told_apart_from_the_apps_answer(
    sandbox: Sandbox, fake_sidecar: FakeSidecar
) -> None:
    fake_sidecar.status = 500
    fake_sidecar.body = b'{"errorCode":"ERR_DIRECT_INVOKE","message":"failed to invoke, id: fake, err: gone"}'
    done = invoke(sandbox, "-a", "fake", "-m", "neworder")
    assert done.returncode == 1
    assert json.loads(done.stdout)["errorCode"] == "ERR_DIRECT_INVOKE"
    assert "the sidecar could not invoke app 'fake' (HTTP 500): failed to invoke, id: fake, err: gone" in done.stderr


def test_an_unreachable_sidecar_fails_clearly(sandbox: Sandbox) -> None:
    path = register(sandbox.home / "run", Instance(app_id="deaf", pid=os.getpid(), http_port=free_port()))
    try:
        done = invoke(sandbox, "-a", "deaf", "-m", "neworder")
    finally:
        unregister(path)
    assert done.returncode == 1
    assert "could not reach the sidecar of app 'deaf'" in done.stderr
