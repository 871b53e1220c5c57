"""``tandem list`` / ``tandem stop`` and signals against a ``tandem run`` running in the background."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from typing import Any

import psutil
import pytest

from cli_support import Sandbox, alive, free_port, wait_until

pytestmark = pytest.mark.e2e


def listed(sandbox: Sandbox, app_id: str, token: str = "") -> dict[str, Any] | None:
    """The app's ``tandem list -o json`` entry once ``tandem run`` has published its pids."""
    result = sandbox.tandem("list", "-o", "json", DAPR_API_TOKEN=token)  # empty: no token sent
    assert result.returncode == 0, result.stdout
    entry = next((e for e in json.loads(result.stdout) if e["appId"] == app_id), None)
    return entry if entry and entry["cliPid"] else None


def start_app(sandbox: Sandbox, app_id: str) -> tuple[subprocess.Popen[bytes], dict[str, Any], list[int]]:
    """``tandem run`` with a serving app that has a child; returns the run, its list entry and every pid."""
    app_port, http_port = free_port(), free_port()
    proc = sandbox.start("run", "--app-id", app_id, "--app-port", str(app_port), "--dapr-http-port", str(http_port),
                         "--resources-path", str(sandbox.components()), sys.executable, str(sandbox.app()),
                         APP_TEST_SERVE="1", APP_TEST_CHILD="1")
    record = sandbox.record()
    entry = wait_until(lambda: listed(sandbox, app_id), what="tandem list to show the app")
    assert (entry["httpPort"], entry["appPort"]) == (http_port, app_port)
    pids = [proc.pid, entry["daprdPid"], record["pid"], record["child_pid"]]
    assert all(alive(pid) for pid in pids)
    return proc, entry, pids


def assert_all_gone(sandbox: Sandbox, proc: subprocess.Popen[bytes], pids: list[int]) -> None:
    assert proc.wait(timeout=30) == 0, sandbox.output()
    wait_until(lambda: not any(alive(pid) for pid in pids), 15, "all processes to end")
    sandbox.wait_all_gone()
    assert sandbox.tandem("list").stdout.strip() == "No Tandem instances found."


def test_list_shows_the_running_app_and_stop_ends_everything(sandbox: Sandbox) -> None:
    assert sandbox.tandem("list").stdout.strip() == "No Tandem instances found."
    proc, entry, pids = start_app(sandbox, "lister")
    record = sandbox.record()
    assert entry["cliPid"] == proc.pid
    assert entry["appPid"] == record["pid"]
    assert psutil.Process(entry["daprdPid"]).ppid() == proc.pid
    assert entry["command"].endswith("app.py") and entry["created"] and entry["age"].endswith("s")

    table = sandbox.tandem("list").stdout.splitlines()
    assert table[0].split("  ")[0] == "APP ID"
    for column in ("HTTP PORT", "APP PORT", "COMMAND", "AGE", "CREATED", "DAPRD PID", "CLI PID", "APP PID"):
        assert column in table[0]
    row = table[1].split()
    assert row[:3] == ["lister", str(entry["httpPort"]), str(entry["appPort"])]
    assert row[-3:] == [str(entry["daprdPid"]), str(proc.pid), str(record["pid"])]

    stopped = sandbox.tandem("stop", "--app-id", "lister")
    assert stopped.returncode == 0, stopped.stdout
    assert stopped.stdout.splitlines() == [
        f"app 'lister' stopped: app pid {record['pid']} (+1 more in its process group), "
        f"sidecar pid {entry['daprdPid']}, cli pid {proc.pid}",
        "app stopped successfully: lister",  # Dapr's line
    ]
    assert_all_gone(sandbox, proc, pids)
    output = sandbox.output()
    assert "[lister app] hello from the app" in output and "[lister sidecar] " in output
    assert "[tandem] You're up and running! Both Dapr and your app logs will appear here." in output.splitlines()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_to_tandem_run_ends_app_children_and_sidecar(sandbox: Sandbox, sig: signal.Signals) -> None:
    proc, _, pids = start_app(sandbox, f"sig{sig.value}")
    proc.send_signal(sig)
    assert_all_gone(sandbox, proc, pids)


def test_sigkill_of_tandem_run_takes_the_sidecar_the_app_and_its_child_along(sandbox: Sandbox) -> None:
    proc, _, pids = start_app(sandbox, "killed")
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    wait_until(lambda: not [pid for pid in pids if alive(pid)], 30, "the sidecar, the app and its child to end")
    sandbox.wait_all_gone()
    assert sandbox.tandem("list").stdout.strip() == "No Tandem instances found."


def test_stop_after_sigkill_of_tandem_run_ends_the_apps_group_and_a_frozen_sidecar(sandbox: Sandbox) -> None:
    """A sidecar that cannot act when its run dies (stopped, hung): `tandem stop` still ends everything."""
    proc, entry, pids = start_app(sandbox, "frozen")
    sidecar, child = entry["daprdPid"], sandbox.record()["child_pid"]
    os.kill(sidecar, signal.SIGSTOP)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    assert alive(child) and alive(sidecar)  # nothing could end the app's child but its frozen sidecar

    stopped = sandbox.tandem("stop", "--app-id", "frozen")
    assert stopped.returncode == 0, stopped.stdout
    assert f"sidecar pid {sidecar}" in stopped.stdout and "cli pid" not in stopped.stdout
    assert "app 'frozen' stopped: " in stopped.stdout and "app stopped successfully: frozen" in stopped.stdout
    assert not [pid for pid in pids if alive(pid)]  # gone by the time stop says so
    sandbox.wait_all_gone()


def test_a_sidecar_alone_runs_until_stopped(sandbox: Sandbox) -> None:
    """Also with DAPR_API_TOKEN set: the CLI's metadata calls must carry the token."""
    token = "t0ken"
    assert sandbox.tandem("init").returncode == 0
    http_port = free_port()
    proc = sandbox.start("run", "--app-id", "lonely", "--dapr-http-port", str(http_port), DAPR_API_TOKEN=token)
    entry = wait_until(lambda: listed(sandbox, "lonely", token), what="the sidecar to be listed")
    assert (entry["httpPort"], entry["appPort"], entry["appPid"], entry["command"]) == (http_port, 0, 0, "")
    status = subprocess.run(
        [sys.executable, "-c", f"import urllib.request as u; print(u.urlopen('http://127.0.0.1:{http_port}"
                               "/v1.0/healthz/outbound').status)"], capture_output=True, text=True, timeout=30)
    assert status.stdout.strip() == "204"

    assert sandbox.tandem("stop", "-a", "lonely", DAPR_API_TOKEN=token).returncode == 0
    assert_all_gone(sandbox, proc, [proc.pid, entry["daprdPid"]])
    assert "[tandem] You're up and running! Dapr logs will appear here." in sandbox.output().splitlines()


def test_stopping_an_unknown_app_fails_clearly(sandbox: Sandbox) -> None:
    result = sandbox.tandem("stop", "--app-id", "ghost")
    assert result.returncode != 0
    assert "ghost" in result.stdout and "no running" in result.stdout.lower()
