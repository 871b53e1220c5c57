"""A small running system for the dashboard tests: ``tandem run -f … --dashboard`` with two apps.

``board`` subscribes to ``pubsub/orders`` (dead letters to ``orders-dead``) and prints
whatever is POSTed to its ``say`` method; ``quiet`` runs two replicas and serves nothing
but its port. Components are the embedded defaults of ``tandem init``.
"""
from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import yaml
from dashboard_support import APP, CLI, System

from support import private_home

_URL = re.compile(r"dashboard on (http://127\.0\.0\.1:\d+/)")


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    root = tmp_path_factory.mktemp("dashboard")
    with private_home(root, init=True) as env:
        for name in ("board", "quiet"):
            (root / name).mkdir()
            (root / name / "app.py").write_text(APP)
        run_file = root / "tandem.yaml"
        run_file.write_text(yaml.safe_dump({"version": 1, "apps": [
            {"appID": "board", "appDirPath": "board", "appPort": "auto", "env": {"ROLE": "board"},
             "command": [sys.executable, "app.py"]},
            {"appID": "quiet", "appDirPath": "quiet", "appPort": "auto", "replicas": 2, "env": {"ROLE": "quiet"},
             "command": [sys.executable, "app.py"]},
        ]}))
        output = root / "run.log"
        with open(output, "wb") as sink:
            proc = subprocess.Popen([*CLI, "run", "-f", str(run_file), "--dashboard", "--dashboard-port", "0"],
                                    env=env, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while "all 2 app(s) are up" not in output.read_text() or not _URL.search(output.read_text()):
                assert proc.poll() is None, output.read_text()
                assert time.monotonic() < deadline, output.read_text()
                time.sleep(0.05)
            match = _URL.search(output.read_text())
            assert match is not None
            yield System(match.group(1), env, root, output)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
