"""The internal (sidecar-to-sidecar) port with real sidecars: a local process that finds it cannot use it."""
from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from support import SidecarLauncher, free_port, http, http_json
from test_invoke import Pair, echo, start_echo

pytestmark = pytest.mark.e2e

HEADER = "x-tandem-internal-secret"


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    launcher = SidecarLauncher(tmp_path_factory.mktemp("internal"))
    pair = Pair(launcher)
    yield pair
    launcher.stop_all()
    pair.app.terminate()
    pair.app.wait()


def internal_port_of(pair: Pair, app_id: str) -> int:
    """What any local process finds in the run directory."""
    for path in (pair.b.home / "run").glob("*.json"):
        entry = json.loads(path.read_text())
        if entry["app_id"] == app_id:
            return int(entry["internal_port"])
    raise AssertionError(f"no run file for {app_id}")


@pytest.mark.parametrize("secret,status,code", [
    (None, 401, "ERR_UNAUTHENTICATED"),
    ("a-guess-that-is-long-enough", 403, "ERR_PERMISSION_DENIED"),
])
def test_a_forged_internal_call_is_refused_and_the_app_never_sees_it(
        pair: Pair, secret: str | None, status: int, code: str) -> None:
    before = pair.calls()
    forged = {"dapr-caller-app-id": "a", "dapr-callee-app-id": "b", "content-type": "application/json"}
    if secret is not None:
        forged[HEADER] = secret
    got, body = http_json("POST", f"http://127.0.0.1:{internal_port_of(pair, 'b')}/neworder", {"order": 1},
                          headers=forged)
    assert (got, body["errorCode"]) == (status, code)
    assert pair.calls() == before


def test_a_real_invocation_still_works_and_the_app_never_sees_the_secret(pair: Pair) -> None:
    before = pair.calls()
    status, _, data = http("POST", f"{pair.a.url}/v1.0/invoke/b/method/neworder", b"{}",
                           {HEADER: "an-app-cannot-pick-the-secret"})
    assert status == 200
    seen = echo((status, {}, data))["headers"]
    assert seen["dapr-caller-app-id"] == "a" and HEADER not in seen
    assert pair.calls() == before + 1


def test_the_secret_and_the_run_files_are_private(pair: Pair) -> None:
    home = pair.b.home
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (home / "run").iterdir()}
    assert modes and set(modes.values()) == {0o600}
    assert stat.S_IMODE((home / "run").stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "private").stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "private" / "internal-secret").stat().st_mode) == 0o600


def test_the_secret_itself_opens_the_port(pair: Pair) -> None:
    """The check is the secret and nothing else: the one in the home's private folder is let through."""
    secret = (pair.b.home / "private" / "internal-secret").read_text().strip()
    status, _, data = http("POST", f"http://127.0.0.1:{internal_port_of(pair, 'b')}/neworder", b"{}",
                           {"dapr-caller-app-id": "a", "dapr-callee-app-id": "b", HEADER: secret})
    assert status == 200 and HEADER not in echo((status, {}, data))["headers"]


def test_sidecars_of_two_homes_need_one_shared_secret(tmp_path: Path) -> None:
    """Like two hosts: each home has its own secret, so calls fail until both are given the same."""
    app_port = free_port()
    app = start_echo(app_port)
    launcher = SidecarLauncher(tmp_path)
    try:
        launcher.start({}, app_id="b", args=("--app-port", str(app_port)), home=tmp_path / "host-b")
        # Local resolution reads the run directory: host A is given B's, and shares nothing else.
        config = tmp_path / "resolve.yaml"
        config.write_text(json.dumps({
            "apiVersion": "dapr.io/v1alpha1", "kind": "Configuration", "metadata": {"name": "resolve"},
            "spec": {"nameResolution": {"component": "local",
                                        "configuration": {"runDirectory": str(tmp_path / "host-b" / "run")}}}}))
        resolve = ("--config", str(config))
        a = launcher.start({}, app_id="a", home=tmp_path / "host-a", args=resolve)
        status, body = http_json("GET", f"{a.url}/v1.0/invoke/b/method/x")
        assert (status, body["errorCode"]) == (403, "ERR_PERMISSION_DENIED")

        shared = {"TANDEM_INTERNAL_SECRET": "one-secret-for-every-host"}
        b2 = launcher.start({}, app_id="b2", args=("--app-port", str(app_port)), home=tmp_path / "host-b",
                            env=shared)
        a2 = launcher.start({}, app_id="a2", home=tmp_path / "host-a", env=shared, args=resolve)
        assert http("GET", f"{a2.url}/v1.0/invoke/b2/method/x")[0] == 200
        assert b2.process.poll() is None and os.path.isdir(tmp_path / "host-a" / "private")
    finally:
        launcher.stop_all()
        app.terminate()
        app.wait()
