"""Process groups: who is still in one, and ending one for sure.

An app started by ``tandem run`` leads its own process group, so its workers and
helpers can be found again (and ended) by the group id alone, even once the app
itself is gone or its supervisor died. Both the CLI (``tandem stop``) and the
sidecar (when its ``tandem run`` is gone) end groups this way.
"""
from __future__ import annotations

import os
import signal
import time

import psutil

__all__ = ["signal_group", "members", "end_group"]


def signal_group(pgid: int, sig: int) -> bool:
    """Send ``sig`` to a whole process group; False if the group is already empty."""
    try:
        os.killpg(pgid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def members(pgid: int) -> list[psutil.Process]:
    """The live processes of group ``pgid``; zombies don't count (their reaper may be slow)."""
    if not signal_group(pgid, 0):
        return []
    found = []
    for proc in psutil.process_iter(["status"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (OSError, psutil.Error):
            continue
    return found


def end_group(pgid: int, grace: float) -> list[psutil.Process]:
    """SIGTERM (and SIGCONT, for a stopped one) to the group, SIGKILL after ``grace``; returns survivors."""
    if not members(pgid):
        return []
    signal_group(pgid, signal.SIGTERM)
    signal_group(pgid, signal.SIGCONT)  # a stopped process acts on SIGTERM only once it runs
    deadline = time.monotonic() + grace
    while members(pgid):
        if time.monotonic() >= deadline:
            signal_group(pgid, signal.SIGKILL)
            kill_deadline = time.monotonic() + 5.0
            while (left := members(pgid)) and time.monotonic() < kill_deadline:
                time.sleep(0.05)
            return left
        time.sleep(0.05)
    return []
