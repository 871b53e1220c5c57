"""An invocation to an app that is still starting waits for it (``--app-startup-wait``), real processes.

Each test makes sure the call is already waiting (the sidecar's debug line) before the target
appears, so the order is forced, not left to timing.
"""
from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support import Sidecar, SidecarLauncher, free_port, http, http_json, wait_until
from test_invoke import start_echo

pytestmark = pytest.mark.e2e


@pytest.fixture
def launcher(tmp_path: Path) -> Iterator[SidecarLauncher]:
    launcher = SidecarLauncher(tmp_path)
    yield launcher
    launcher.stop_all()


@pytest.fixture
def apps() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for app in started:
        app.terminate()
        app.wait()


class Call(threading.Thread):
    """One invocation made in the background; ``reply`` once it is answered."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.reply: tuple[int, Any] | None = None
        self.start()

    def run(self) -> None:
        self.reply = http_json("POST", self.url, {"order": 1}, timeout=120)

    def result(self) -> tuple[int, Any]:
        self.join(120)
        assert self.reply is not None, "the call never came back"
        return self.reply


def waiting(sidecar: Sidecar, what: str) -> None:
    wait_until(lambda: what in sidecar.log(), f"the sidecar to wait for {what}", explain=sidecar.log)


def test_a_call_to_an_app_id_not_registered_yet_waits_for_it(
        launcher: SidecarLauncher, apps: list[subprocess.Popen[bytes]]) -> None:
    a = launcher.start({}, app_id="caller", args=("--log-level", "debug", "--app-startup-wait", "60"))
    call = Call(f"{a.url}/v1.0/invoke/late/method/neworder")
    waiting(a, "app id late is not registered yet")
    app_port = free_port()
    apps.append(start_echo(app_port))
    launcher.start({}, app_id="late", args=("--app-port", str(app_port)))
    status, seen = call.result()
    assert status == 200 and seen["path"] == "/neworder" and json.loads(seen["body"]) == {"order": 1}


def test_a_call_to_an_app_not_listening_yet_waits_for_it(
        launcher: SidecarLauncher, apps: list[subprocess.Popen[bytes]]) -> None:
    app_port = free_port()
    b = launcher.start({}, app_id="late", args=("--app-port", str(app_port), "--log-level", "debug",
                                                "--app-startup-wait", "60"))
    a = launcher.start({}, app_id="caller")
    call = Call(f"{a.url}/v1.0/invoke/late/method/neworder")
    waiting(b, f"the app is not reachable on port {app_port} yet")
    apps.append(start_echo(app_port))
    status, seen = call.result()
    assert status == 200 and seen["headers"]["dapr-caller-app-id"] == "caller"


def test_after_the_bound_the_call_fails_as_without_waiting(launcher: SidecarLauncher) -> None:
    """An id that never appears, and an app that never opens its port: Dapr's error, as with no wait at all."""
    dead_port = free_port()
    waits = {"now": "0", "later": "0.5"}
    for name, wait in waits.items():
        launcher.start({}, app_id=f"silent-{name}", args=("--app-port", str(dead_port), "--app-startup-wait", wait))
    answers = []
    for name, wait in waits.items():
        a = launcher.start({}, app_id=f"caller-{name}", args=("--app-startup-wait", wait))
        ghost = http_json("GET", f"{a.url}/v1.0/invoke/ghost/method/x")
        silent = http_json("GET", f"{a.url}/v1.0/invoke/silent-{name}/method/x")
        answers.append((ghost, silent))
    (ghost_now, silent_now), (ghost_later, silent_later) = answers
    assert ghost_now == ghost_later == (500, {"errorCode": "ERR_DIRECT_INVOKE",
                                              "message": "failed to invoke, id: ghost, err: couldn't find service: "
                                                         "ghost"})
    assert silent_now[0] == silent_later[0] == 500
    for status, body in (silent_now, silent_later):
        assert body["errorCode"] == "ERR_DIRECT_INVOKE"
        assert f"err: the app is not reachable on port {dead_port}" in body["message"]


def test_an_app_that_was_up_and_is_gone_fails_at_once(
        launcher: SidecarLauncher, apps: list[subprocess.Popen[bytes]]) -> None:
    """Gone is not starting: no wait, whatever the bound."""
    app_port = free_port()
    apps.append(start_echo(app_port))
    b = launcher.start({}, app_id="b", args=("--app-port", str(app_port), "--log-level", "debug",
                                             "--app-startup-wait", "600"))
    a = launcher.start({}, app_id="a")
    assert http("GET", f"{a.url}/v1.0/invoke/b/method/x")[0] == 200
    gone = apps.pop()
    gone.terminate()
    gone.wait()
    status, body = http_json("GET", f"{a.url}/v1.0/invoke/b/method/x", timeout=120)
    assert status == 500 and "not reachable" in body["message"]
    assert "yet: waiting" not in b.log()
