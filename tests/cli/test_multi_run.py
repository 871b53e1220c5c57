"""``tandem run -f``: many apps from one file, with real sidecars and apps."""
from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest
from multi_run_support import (
    app_dir,
    copy_home_components,
    init,
    listed,
    records,
    wait_listed,
    wait_output,
    write_run_file,
)

from cli_support import Sandbox, alive, free_port, wait_until
from support import processes_with_home

pytestmark = pytest.mark.e2e


def test_three_apps_one_replicated_talk_to_each_other_and_stop_f_ends_everything(sandbox: Sandbox) -> None:
    init(sandbox)
    shop_record, audit_record = sandbox.root / "shop.jsonl", sandbox.root / "audit.jsonl"
    run_file = write_run_file(sandbox.root / "tandem.yaml", {
        "version": 1,
        "common": {"env": {"ROLE": "server"}},
        "apps": [
            {"appID": "orders", "appDirPath": "./orders", "appPort": "auto", "replicas": 2,
             "command": [sys.executable, "svc.py"]},
            {"appID": "audit", "appDirPath": "./audit", "appPort": "auto", "appHealthCheckPath": "/healthz",
             "command": [sys.executable, "svc.py"], "env": {"ROLE": "audit", "RECORD": str(audit_record)}},
            {"appID": "shop", "appDirPath": "./shop", "dependsOn": ["orders", "audit"],
             "command": [sys.executable, "svc.py"], "env": {"ROLE": "shop", "RECORD": str(shop_record)}},
        ],
    })
    for name in ("orders", "audit", "shop"):
        app_dir(sandbox, name)
    proc = sandbox.start("run", "-f", str(sandbox.root))

    entries = wait_listed(sandbox, 4)
    assert collections.Counter(e["appId"] for e in entries) == {"orders": 2, "audit": 1, "shop": 1}
    assert {e["cliPid"] for e in entries} == {proc.pid}
    assert {e["runTemplatePath"] for e in entries} == {str(run_file)}
    assert len({e["httpPort"] for e in entries}) == 4  # a free port for each sidecar

    # Invocation reached both replicas of one app id; pub/sub went from shop to audit.
    shop = wait_until(lambda: records(shop_record), 60, "the shop's calls")
    order_pids = {e["appPid"] for e in entries if e["appId"] == "orders"}
    assert set(shop[0]["pids"]) == order_pids
    wait_until(lambda: {r["order"] for r in records(audit_record)} == {0, 1, 2}, 60, "audit to get 3 orders")

    output = wait_output(sandbox, "audited order 2", proc=proc)
    lines = output.splitlines()
    assert any(line.startswith("orders-0  app     | order ") for line in lines), output
    assert any(line.startswith("orders-1  tandemd | ") for line in lines), output
    # dependsOn: the shop started only once audit answered its health path (its subscription is active).
    audit_up = lines.index(next(line for line in lines if line.startswith("audit     tandem  | app is up on port")))
    shop_started = lines.index(next(line for line in lines if line.startswith("shop      tandem  | app started")))
    assert audit_up < shop_started and "(/healthz answers)" in lines[audit_up]
    assert "\x1b[" not in output  # no colour off a terminal
    assert (sandbox.root / "orders" / ".tandem" / "logs").is_dir()

    every_pid = [proc.pid, *(e["daprdPid"] for e in entries), *(e["appPid"] for e in entries)]
    up = wait_output(sandbox, "You're up and running!", proc=proc).splitlines()
    assert any(line.startswith("tandem ") and line.endswith("| You're up and running! Both Dapr and your app logs "
                                                           "will appear here.") for line in up)
    stopped = sandbox.tandem("stop", "-f", str(run_file))
    assert stopped.returncode == 0, stopped.stdout
    assert "4 sidecar(s) of audit, orders, shop" in stopped.stdout
    assert stopped.stdout.splitlines()[1:] == [f"app stopped successfully: {a}" for a in ("audit", "orders", "shop")]
    assert proc.wait(timeout=30) == 0, sandbox.output()
    assert not [pid for pid in every_pid if alive(pid)]
    sandbox.wait_all_gone()
    assert not processes_with_home(sandbox.home)
    assert sandbox.tandem("list").stdout.strip() == "No Tandem instances found."


DAPR_YAML = """\
version: 1
common:
  resourcesPath: ./components
  env:
    DEBUG: true
apps:
  - appID: webapp
    appDirPath: ./webapp/
    configFilePath: .dapr/config.yaml
    appProtocol: http
    appPort: {web_port}
    appHealthCheckPath: "/healthz"
    command: ["{python}", "svc.py"]
    appLogDestination: file
    daprdLogDestination: file
    containerImage: ghcr.io/example/webapp:latest
    createService: true
  - appID: backend
    appDirPath: ./backend/
    appProtocol: http
    appPort: {backend_port}
    daprHTTPPort: {backend_http}
    env:
      ROLE: server
    command: ["{python}", "svc.py"]
"""


def test_a_dapr_yaml_written_as_dapr_documents_it_runs_unchanged(sandbox: Sandbox) -> None:
    """Dapr's keys, its default file name in a folder, its path rules and log destinations."""
    init(sandbox)
    web_port, backend_port, backend_http = free_port(), free_port(), free_port()
    (sandbox.root / "dapr.yaml").write_text(DAPR_YAML.format(
        python=sys.executable, web_port=web_port, backend_port=backend_port, backend_http=backend_http))
    copy_home_components(sandbox, sandbox.root / "components")
    webapp = app_dir(sandbox, "webapp")
    copy_home_components(sandbox, webapp / ".dapr" / "resources")
    (webapp / ".dapr" / "config.yaml").write_text(
        "apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata: {name: webconfig}\nspec: {}\n")
    app_dir(sandbox, "backend")
    proc = sandbox.start("run", "-f", str(sandbox.root), ROLE="server")  # webapp's role comes from outside

    entries = {e["appId"]: e for e in wait_listed(sandbox, 2)}
    assert (entries["webapp"]["appPort"], entries["backend"]["appPort"]) == (web_port, backend_port)
    assert entries["backend"]["httpPort"] == backend_http
    called = sandbox.tandem("invoke", "--app-id", "backend", "--method", "echo", "--data", '{"from": "cli"}')
    assert called.returncode == 0, called.stdout
    called = sandbox.tandem("invoke", "--app-id", "webapp", "--method", "echo", "--data", '{"from": "web"}')
    assert called.returncode == 0, called.stdout

    output = wait_output(sandbox, "echo {'from': 'cli'}", proc=proc)
    assert "backend  app     | echo {'from': 'cli'}" in output.splitlines()
    # appLogDestination/daprdLogDestination: file -> nothing of webapp's on the console, all in its files.
    assert not [line for line in output.splitlines() if line.startswith(("webapp   app", "webapp   tandemd"))]
    logged = sandbox.tandem("logs", "--app-id", "webapp")
    assert logged.returncode == 0, logged.stdout
    assert "echo {'from': 'web'}" in logged.stdout
    sidecar_log = sandbox.tandem("logs", "--app-id", "webapp", "--sidecar").stdout
    assert "app id 'webapp'" in sidecar_log and str(webapp / ".dapr" / "resources") not in output

    # The sidecars got Dapr's paths: webapp/.dapr/resources over common, common's for backend.
    proc_args = {e["appId"]: " ".join(psutil.Process(e["daprdPid"]).cmdline()) for e in entries.values()}
    assert f"--resources-path {webapp / '.dapr' / 'resources'}" in proc_args["webapp"]
    assert f"--config {webapp / '.dapr' / 'config.yaml'}" in proc_args["webapp"]
    assert f"--resources-path {sandbox.root / 'components'}" in proc_args["backend"]
    assert "--metrics-port" in proc_args["backend"]

    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 0, sandbox.output()
    sandbox.wait_all_gone()
    assert not processes_with_home(sandbox.home)
    # Once stopped, the run file still leads `tandem logs` to the files.
    after = sandbox.tandem("logs", "--app-id", "webapp", "-f", str(sandbox.root / "dapr.yaml"))
    assert "echo {'from': 'web'}" in after.stdout


def _two_services(sandbox: Sandbox, *extra: str) -> tuple[Path, subprocess.Popen[bytes], dict[str, dict[str, Any]]]:
    init(sandbox)
    run_file = write_run_file(sandbox.root / "tandem.yaml", {
        "version": 1,
        "common": {"env": {"ROLE": "server"}},
        "apps": [{"appID": name, "appDirPath": f"./{name}", "appPort": "auto", "command": [sys.executable, "svc.py"]}
                 for name in ("alpha", "beta")],
    })
    for name in ("alpha", "beta"):
        app_dir(sandbox, name)
    proc = sandbox.start("run", "-f", str(run_file), *extra)
    wait_output(sandbox, "all 2 app(s) are up", proc=proc)
    return run_file, proc, {e["appId"]: e for e in wait_listed(sandbox, 2)}


def test_a_killed_app_is_restarted_and_stop_app_id_ends_only_that_app(sandbox: Sandbox) -> None:
    _, proc, before = _two_services(sandbox)
    victim = before["alpha"]["appPid"]
    os.kill(victim, signal.SIGKILL)

    output = wait_output(sandbox, "app restarted (pid", proc=proc)
    assert "alpha   tandem  | app exited with code 137 (killed by SIGKILL); restarting it in 0.5s (restart 1)" \
        in output.splitlines()
    after = wait_until(lambda: (e := {x["appId"]: x for x in listed(sandbox)})["alpha"]["appPid"] not in (0, victim)
                       and e, 30, "the new app pid to be listed")
    assert after["beta"]["appPid"] == before["beta"]["appPid"]
    assert after["alpha"]["daprdPid"] == before["alpha"]["daprdPid"]  # the sidecar stayed
    called = sandbox.tandem("invoke", "--app-id", "alpha", "--method", "echo", "--data", '{"n": 1}')
    assert called.returncode == 0 and str(after["alpha"]["appPid"]) in called.stdout, called.stdout

    # `stop --app-id` in a run of many: that app's sidecar and app end, and are not restarted.
    stopped = sandbox.tandem("stop", "--app-id", "alpha")
    assert stopped.returncode == 0, stopped.stdout
    assert not alive(after["alpha"]["appPid"]) and not alive(after["alpha"]["daprdPid"])
    assert [e["appId"] for e in listed(sandbox)] == ["beta"] and proc.poll() is None
    assert "alpha   tandem  | tandemd was stopped; stopping the app" in sandbox.output().splitlines()


def test_sigkill_of_tandem_run_f_takes_every_sidecar_app_and_child_along(sandbox: Sandbox) -> None:
    """Also its dashboard: it is served by the run itself."""
    init(sandbox)
    sandbox.app()  # writes the record (its pid, its child's pid) and serves, as the env below asks
    app_dir(sandbox, "alpha")
    run_file = write_run_file(sandbox.root / "tandem.yaml", {"version": 1, "apps": [
        {"appID": "kid", "appDirPath": ".", "appPort": "auto", "command": [sys.executable, "app.py"],
         "env": {"APP_TEST_SERVE": "1", "APP_TEST_CHILD": "1"}},
        {"appID": "alpha", "appDirPath": "./alpha", "appPort": "auto", "command": [sys.executable, "svc.py"],
         "env": {"ROLE": "server"}},
    ]})
    proc = sandbox.start("run", "-f", str(run_file), "--dashboard", "--dashboard-port", "0")
    wait_output(sandbox, "You're up and running!", proc=proc)
    entries = wait_listed(sandbox, 2)
    pids = [proc.pid, *(e["daprdPid"] for e in entries), *(e["appPid"] for e in entries), sandbox.record()["child_pid"]]
    assert all(alive(pid) for pid in pids)

    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    wait_until(lambda: not [pid for pid in pids if alive(pid)], 30, "every sidecar, app and child to end")
    sandbox.wait_all_gone()
    assert sandbox.tandem("list").stdout.strip() == "No Tandem instances found."


def test_watch_restarts_only_the_app_whose_files_changed(sandbox: Sandbox) -> None:
    _, proc, before = _two_services(sandbox, "--watch")
    source = sandbox.root / "alpha" / "svc.py"
    source.write_text(source.read_text() + "\n# changed\n")

    output = wait_output(sandbox, "files changed (svc.py); restarting the app", proc=proc)
    assert "alpha   tandem  | files changed (svc.py); restarting the app" in output.splitlines()
    after = wait_until(lambda: (e := {x["appId"]: x for x in listed(sandbox)})["alpha"]["appPid"]
                       not in (0, before["alpha"]["appPid"]) and e, 30, "alpha's new pid")
    assert after["beta"]["appPid"] == before["beta"]["appPid"]
    assert after["alpha"]["daprdPid"] == before["alpha"]["daprdPid"]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    # Its own log files (written all along) never counted as a change.
    assert sandbox.output().count("restarting the app") == 1


def test_a_bad_run_file_is_refused_before_anything_starts(sandbox: Sandbox) -> None:
    init(sandbox)
    app_dir(sandbox, "one")
    write_run_file(sandbox.root / "tandem.yaml", {"version": 1, "apps": [
        {"appID": "one", "appDirPath": "./one", "appPort": 3000, "replicas": 2, "command": ["python", "svc.py"]}]})
    result = sandbox.tandem("run", "-f", str(sandbox.root))
    assert result.returncode == 1
    assert "apps[0].appPort: 3000 cannot be shared by 2 replicas" in result.stdout
    assert "Traceback" not in result.stdout

    write_run_file(sandbox.root / "tandem.yaml", {"version": 1, "apps": [
        {"appID": "one", "appDirPath": "./one", "command": [str(sandbox.root / "no-such-program")]}]})
    result = sandbox.tandem("run", "-f", str(sandbox.root))
    assert result.returncode == 127, result.stdout
    assert "one     tandem  | cannot start" in result.stdout and "stopping every app" in result.stdout
    sandbox.wait_all_gone()
