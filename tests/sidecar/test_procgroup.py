"""Ending a process group for sure, with real processes: SIGTERM first, SIGKILL for what ignores it."""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from support import wait_until
from tandem.sidecar.procgroup import end_group, members

# A leader that starts a child (same group), writes both pids, then waits; IGNORE=1 makes both ignore SIGTERM.
FAMILY = '''
import os, signal, subprocess, sys, time
if os.environ.get("IGNORE"):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
open(sys.argv[1] + ".tmp", "w").write(f"{os.getpid()} {child.pid}")
os.replace(sys.argv[1] + ".tmp", sys.argv[1])
time.sleep(300)
'''


Start = Callable[..., tuple[int, int]]


@pytest.fixture
def family(tmp_path: Path) -> Iterator[Start]:
    """Starts a family in its own group: returns (leader pid = group id, child pid); kills the group after."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(**env: str) -> tuple[int, int]:
        pids = tmp_path / f"pids-{len(procs)}"
        proc = subprocess.Popen([sys.executable, "-c", FAMILY, str(pids)], start_new_session=True,
                                env={**os.environ, **env})
        procs.append(proc)
        wait_until(pids.exists, "the family's pids")
        leader, child = map(int, pids.read_text().split())
        return leader, child

    yield start
    for proc in procs:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_a_group_that_obeys_sigterm_ends_with_its_children(family: Start) -> None:
    leader, child = family()
    assert {p.pid for p in members(leader)} == {leader, child}
    assert end_group(leader, grace=30) == []
    assert members(leader) == []


def test_a_group_that_ignores_sigterm_is_killed_after_the_grace(family: Start) -> None:
    leader, child = family(IGNORE="1")
    assert end_group(leader, grace=0.5) == []
    assert members(leader) == []


def test_an_empty_group_is_nothing_to_end() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"], start_new_session=True)
    proc.wait()
    assert members(proc.pid) == [] and end_group(proc.pid, grace=1) == []
