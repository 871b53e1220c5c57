"""``examples/hello-world`` end to end: the order service (Python and Node.js) and its client.

Each variant runs under ``tandem run`` beside real sidecars, on the embedded default
(``tandem init``: SQLite in a private TANDEM_HOME): once through ``run.py`` (what
``make hello`` does) and once with the calls the example's README shows (the
``dapr-app-id`` header form, the ``/v1.0/invoke`` form and ``tandem invoke``).
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from support import free_port, http, private_home
from support import processes_with_home as ours

pytestmark = pytest.mark.e2e

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hello-world"
CLI = [sys.executable, "-m", "tandem.sidecar.cli.main"]


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(params=["python", "node"])
def variant(request: pytest.FixtureRequest) -> str:
    """Which order service; the Node.js one may be skipped only outside CI."""
    if request.param == "node" and shutil.which("node") is None:
        if in_ci():
            pytest.fail("`node` is not on PATH, but CI must run the Node.js order service of the hello-world")
        pytest.skip("`node` is not on PATH: the Node.js order service cannot run here")
    return str(request.param)


def wait_until(predicate: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)
    return value


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A private, initialised TANDEM_HOME; whatever a failed test left running is killed afterwards."""
    with private_home(tmp_path, init=True) as environ:
        yield environ


def run_example(env: dict[str, str], variant: str, log: Path, count: int = 3) -> str:
    """``python run.py [--node]``; returns its whole output (the services' prefixed lines included)."""
    args = [sys.executable, str(EXAMPLE / "run.py"), "--count", str(count), "--interval", "0.2"]
    args += ["--node"] if variant == "node" else []
    with open(log, "wb") as out:  # a file, not a pipe: a stray child cannot hold the test up
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            code = proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError("run.py did not finish in 90s:\n" + log.read_text(errors="replace")) from None
    output = log.read_text(errors="replace")
    assert code == 0, output
    return output


def client_lines(output: str) -> list[str]:
    return [line.split("] ", 1)[1] for line in output.splitlines() if line.startswith("[client app] ")]


def test_run_py_stores_each_order_and_reads_it_back(env: dict[str, str], variant: str, tmp_path: Path) -> None:
    home = Path(env["TANDEM_HOME"])
    first = run_example(env, variant, tmp_path / "first.log")
    assert client_lines(first) == [
        f'order {n} stored; order service says it holds {{"orderId": {n}}}' for n in (1, 2, 3)
    ], first
    assert [f"Got a new order! Order ID: {n}" in first for n in (1, 2, 3)] == [True] * 3
    assert "app 'order' stopped" in first
    wait_until(lambda: not ours(home), 15, "every process of the example to end")

    # A new order service process finds the last order in the store: it went through the sidecar.
    second = run_example(env, variant, tmp_path / "second.log", count=1)
    assert client_lines(second) == [
        'the order service already holds {"orderId": 3}; continuing from there',
        'order 4 stored; order service says it holds {"orderId": 4}',
    ], second
    assert (home / "state.db").is_file()
    wait_until(lambda: not ours(home), 15, "every process of the example to end")
    listed = subprocess.run([*CLI, "list", "-o", "json"], env=env, capture_output=True, text=True, timeout=30)
    assert json.loads(listed.stdout) == []


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_the_readme_calls_reach_the_order_service(env: dict[str, str], variant: str, tmp_path: Path) -> None:
    app_port, caller_port = free_port(), free_port()
    service = ["node", "node/app.js"] if variant == "node" else [sys.executable, "order_service.py"]
    procs = []
    for name, args in (
        ("order", ["--app-id", "order", "--app-port", str(app_port), "--", *service]),
        ("caller", ["--app-id", "caller", "--dapr-http-port", str(caller_port)]),
    ):
        with open(tmp_path / f"{name}.log", "wb") as out:
            procs.append(subprocess.Popen([*CLI, "run", *args], cwd=EXAMPLE, env=env, stdout=out,
                                          stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))

    def logs() -> str:
        return "\n".join((tmp_path / f"{n}.log").read_text(errors="replace") for n in ("order", "caller"))

    wait_until(lambda: port_open(app_port) and port_open(caller_port) or any(p.poll() is not None for p in procs),
               what="the order service and the caller's sidecar")
    assert all(p.poll() is None for p in procs), logs()
    sidecar = f"http://127.0.0.1:{caller_port}"

    # curl -X POST localhost:3500/neworder -H 'dapr-app-id: order' -d '{"data":{"orderId":1}}'
    status, _, _ = http("POST", f"{sidecar}/neworder", b'{"data":{"orderId":1}}', {"dapr-app-id": "order"})
    assert status == 204, logs()
    status, headers, body = http("GET", f"{sidecar}/v1.0/invoke/order/method/order")
    assert (status, json.loads(body)) == (200, {"orderId": 1}), logs()
    assert headers["content-type"].startswith("application/json")

    status, _, _ = http("POST", f"{sidecar}/v1.0/invoke/order/method/neworder", b'{"data":{"orderId":2}}',
                        {"content-type": "application/json"})
    assert status == 204, logs()
    status, _, body = http("GET", f"{sidecar}/order", headers={"dapr-app-id": "order"})
    assert (status, json.loads(body)) == (200, {"orderId": 2})

    # The app's own refusal comes back as it is (the Python one names the missing field 'data').
    status, _, body = http("POST", f"{sidecar}/v1.0/invoke/order/method/neworder", b'{"orderId":3}')
    assert status == 400 and (b'{"data": {"orderId": 1}}' in body or b"field 'data'" in body), body

    invoked = subprocess.run([*CLI, "invoke", "--app-id", "order", "--method", "order", "--verb", "GET"],
                             env=env, capture_output=True, text=True, timeout=60)
    body, said = invoked.stdout.rsplit("\n", 2)[:2]  # the body, then Dapr's success line
    assert (invoked.returncode, json.loads(body), said) == (0, {"orderId": 2}, "App invoked successfully"), \
        invoked.stdout + invoked.stderr

    stopped = subprocess.run([*CLI, "stop", "--app-id", "order", "--app-id", "caller"], env=env,
                             capture_output=True, text=True, timeout=60)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert [p.wait(timeout=30) for p in procs] == [0, 0], logs()
    assert f"Got a new order! Order ID: {2}" in logs()
