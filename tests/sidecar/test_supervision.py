"""The sidecar's own watch on its ``tandem run`` (the fallback where no parent-death signal exists).

A stand-in supervisor starts ``tandemd`` and an app exactly as ``tandem run`` does, but
without the parent-death signal; killed with SIGKILL, its sidecar must notice, stop
itself and end the app's whole process group.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil

from support import wait_until
from tandem.sidecar.instances import AppGroup, record_app, recorded_app, unregister
from tandem.sidecar.supervision import SUPERVISOR_ENV, Supervision

SUPERVISOR = '''
import json, os, subprocess, sys, time
from tandem.sidecar.home import run_dir
from tandem.sidecar.instances import record_app

out, log = sys.argv[1], open(sys.argv[2], "wb")
sidecar = subprocess.Popen(
    [sys.executable, "-m", "tandem.sidecar", "--app-id", "watched", "--dapr-http-port", "0", "--metrics-port", "0",
     "--resources-path", sys.argv[3]],
    env={**os.environ, "TANDEM_SUPERVISOR_PID": str(os.getpid())}, stdout=log, stderr=subprocess.STDOUT,
    start_new_session=True)
app = subprocess.Popen([sys.executable, "-c", "import subprocess, sys, time; "
                        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)']); time.sleep(300)"],
                       start_new_session=True)
record_app(run_dir(), sidecar.pid, app.pid)
with open(out + ".tmp", "w") as f:
    json.dump({"sidecar": sidecar.pid, "app": app.pid}, f)
os.replace(out + ".tmp", out)
time.sleep(300)
'''


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def test_a_sidecar_whose_supervisor_was_killed_stops_and_ends_the_apps_group(tmp_path: Path) -> None:
    home, resources, pids_file, log = tmp_path / "home", tmp_path / "resources", tmp_path / "pids.json", \
        tmp_path / "sidecar.log"
    resources.mkdir()
    env = {**os.environ, "TANDEM_HOME": str(home)}
    supervisor = subprocess.Popen([sys.executable, "-c", SUPERVISOR, str(pids_file), str(log), str(resources)],
                                  env=env)
    try:
        pids = json.loads(wait_until(lambda: pids_file.exists() and pids_file.read_text(), "the supervisor's pids"))
        sidecar, app = pids["sidecar"], pids["app"]
        wait_until(lambda: (home / "run" / f"{sidecar}.json").exists(), "the sidecar to serve", timeout=60)
        child = wait_until(lambda: psutil.Process(app).children(), "the app's child")[0].pid

        supervisor.send_signal(signal.SIGKILL)
        supervisor.wait()
        wait_until(lambda: not [p for p in (sidecar, app, child) if alive(p)],
                   "the sidecar, the app and its child to end", timeout=60, explain=log.read_text)
        text = log.read_text()
        assert f"the tandem run that started this sidecar (pid {supervisor.pid}) is gone" in text
        assert f"ended the app's process group {app}" in text
        assert not list((home / "run").iterdir())  # its file and the app's record are gone
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
            supervisor.wait()


def test_a_sidecar_started_for_a_supervisor_that_is_not_its_parent_refuses_to_start(tmp_path: Path) -> None:
    """The supervisor died before the sidecar could watch it (its pid is no longer the parent)."""
    env = {**os.environ, "TANDEM_HOME": str(tmp_path / "home"), SUPERVISOR_ENV: str(os.getpid() + 100000)}
    done = subprocess.run([sys.executable, "-m", "tandem.sidecar", "--app-id", "late", "--dapr-http-port", "0",
                           "--metrics-port", "0"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert f"the tandem run that started this sidecar (pid {os.getpid() + 100000}) is gone" in done.stderr


def test_only_a_pid_names_a_supervisor(tmp_path: Path) -> None:
    assert Supervision.from_environ({SUPERVISOR_ENV: "1234"}, tmp_path) == Supervision(1234, tmp_path)
    for value in ("", "abc", "-5", "1", "0"):
        assert Supervision.from_environ({SUPERVISOR_ENV: value}, tmp_path) is None
    assert Supervision.from_environ({}, tmp_path) is None


def test_the_app_record_is_dropped_when_its_pid_names_another_process(tmp_path: Path) -> None:
    record_app(tmp_path, 4242, os.getpid())
    group = recorded_app(tmp_path, 4242)
    assert group is not None and (group.pid, group.supervisor_pid) == (os.getpid(), os.getpid())

    stale = AppGroup(os.getpid(), group.create_time - 1000, os.getpid())  # same pid, an older process
    (tmp_path / "4242.app").write_text(json.dumps(stale.__dict__))
    assert recorded_app(tmp_path, 4242) is None

    (tmp_path / "4242.json").write_text("{}")
    unregister(tmp_path / "4242.json")
    assert not list(tmp_path.iterdir())
