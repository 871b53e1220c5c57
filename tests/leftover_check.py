"""A pytest plugin: the test run leaves no process behind.

At the end of the session (in the xdist controller only, once every worker is
down) it lists the processes started from the run's temporary folders (their
working directory or command line is under the base temp folder) or carrying one
of its ``TANDEM_HOME`` values, waits a little for those already on their way out,
then prints the rest, kills them and fails the run. Loaded by ``tests/conftest.py``.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import psutil
import pytest

__all__ = ["leftovers", "pytest_addoption", "pytest_configure", "pytest_sessionfinish"]

_RUN_HOME = pytest.StashKey[str]()


def _under(path: str | None, root: str) -> bool:
    return bool(path) and (path == root or str(path).startswith(root + os.sep))


def leftovers(roots: list[str], homes: list[str]) -> list[psutil.Process]:
    """Live processes (not this one, not zombies) under ``roots`` or with ``TANDEM_HOME`` in ``homes``/``roots``."""
    found = []
    for proc in psutil.process_iter(["cmdline", "cwd", "environ", "status"], ad_value=None):
        info = proc.info
        if proc.pid == os.getpid() or info["status"] == psutil.STATUS_ZOMBIE:
            continue
        home = (info["environ"] or {}).get("TANDEM_HOME")
        if (home in homes or any(_under(home, r) for r in roots) or any(_under(info["cwd"], r) for r in roots)
                or any(r + os.sep in arg or arg == r for arg in info["cmdline"] or () for r in roots)):
            found.append(proc)
    return found


def _describe(proc: psutil.Process) -> str:
    try:
        return f"pid {proc.pid}: {' '.join(proc.cmdline())} (cwd {proc.cwd()})"
    except psutil.Error:
        return f"pid {proc.pid}"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("leftover_grace", "Seconds the session-end check waits for processes still ending.", default="10")


def pytest_configure(config: pytest.Config) -> None:
    home = os.environ.get("TANDEM_HOME")  # the run's own, before any test changes the environment
    if home:
        config.stash[_RUN_HOME] = home


@pytest.hookimpl(trylast=True)  # after xdist has taken its workers down
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if hasattr(config, "workerinput"):
        return  # a worker: other workers may still be running tests
    basetemp = getattr(getattr(config, "_tmp_path_factory", None), "_basetemp", None)
    roots = sorted({str(Path(basetemp)), str(Path(basetemp).resolve())}) if basetemp is not None else []
    homes = [config.stash[_RUN_HOME]] if _RUN_HOME in config.stash else []
    if not roots and not homes:
        return
    deadline = time.monotonic() + float(config.getini("leftover_grace"))
    while (left := leftovers(roots, homes)) and time.monotonic() < deadline:
        time.sleep(0.1)
    if not left:
        return
    lines = [_describe(proc) for proc in left]
    for proc in left:
        try:
            proc.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(left, timeout=5)
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_sep("=", f"{len(left)} process(es) left behind by the tests (now killed)", red=True)
        for line in lines:
            reporter.write_line(line)
    if session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
