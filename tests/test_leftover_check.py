"""The session-end check (``leftover_check``): a run that leaves a process behind fails, and the process dies."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil

from support import wait_until

TESTS = Path(__file__).resolve().parent

LEAKY = '''
import subprocess, sys

def test_leaks_a_process(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"], cwd=tmp_path)
    open({pid_file!r}, "w").write(str(proc.pid))

def test_clean():
    pass
'''

CLEAN = '''
import subprocess, sys

def test_waits_for_its_process(tmp_path):
    subprocess.run([sys.executable, "-c", "pass"], cwd=tmp_path, check=True)

def test_clean():
    pass
'''


def run_inner(folder: Path, source: str) -> subprocess.CompletedProcess[str]:
    """pytest with two xdist workers on ``source``, with only the leftover check loaded."""
    folder.mkdir()
    ini = "[pytest]\naddopts = -p no:cacheprovider\nleftover_grace = 1\n"
    (folder / "pytest.ini").write_text(ini, encoding="utf-8")
    (folder / "test_inner.py").write_text(source, encoding="utf-8")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST_", "TANDEM_HOME")) and k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(TESTS)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "leftover_check", "-n", "2", "--basetemp", str(folder / "tmp"),
         str(folder)], cwd=folder, env=env, capture_output=True, text=True, timeout=120,
    )


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def test_a_process_left_behind_fails_the_run_is_named_and_killed(tmp_path: Path) -> None:
    pid_file = tmp_path / "leaked.pid"
    done = run_inner(tmp_path / "leaky", LEAKY.format(pid_file=str(pid_file)))
    pid = int(pid_file.read_text())
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "2 passed" in output
    assert "1 process(es) left behind by the tests (now killed)" in output
    assert f"pid {pid}: " in output
    wait_until(lambda: not alive(pid), "the leaked process to be gone", timeout=10)


def test_a_run_that_cleans_up_passes(tmp_path: Path) -> None:
    done = run_inner(tmp_path / "clean", CLEAN)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "left behind" not in output
