"""Process plumbing shared by ``tandem run`` and ``tandem stop``: ports, groups, exit codes."""
from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import socket
import sys
import time
from collections.abc import Callable

import psutil

from ..procgroup import members, signal_group

__all__ = [
    "free_port", "exit_status", "signal_group", "group_alive", "wait_exit", "stop_group",
    "is_alive", "die_with_parent",
]

_PR_SET_PDEATHSIG = 1


def _load_prctl() -> Callable[..., int] | None:
    """libc's ``prctl``, resolved once here: a forked child must not load libraries."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    return prctl


_PRCTL = _load_prctl()


def die_with_parent(sig: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A ``preexec_fn`` (Linux) asking the kernel to send ``sig`` to the child when this process dies.

    Even a SIGKILL of ``tandem run`` then ends its children. If this process died
    between the fork and the ``prctl`` call, the request comes too late: the child
    sees its parent changed and exits at once. Elsewhere ``None``: the sidecar's own
    watch (``tandem.sidecar.supervision``) covers those systems.
    """
    prctl = _PRCTL
    if prctl is None:
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)

    return preexec


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def exit_status(returncode: int) -> int:
    """A shell-style exit status: ``-N`` (killed by signal N) becomes ``128 + N``."""
    return 128 - returncode if returncode < 0 else returncode


def group_alive(pgid: int) -> bool:
    """True while a member of the group runs; zombies don't count (their reaper may be slow)."""
    return bool(members(pgid))


async def wait_exit(proc: asyncio.subprocess.Process) -> int:
    """The exit code, as soon as the process has exited.

    Not ``proc.wait()``: before Python 3.12 that also waits for the pipes to close,
    which never happens while a child the process left behind holds them open.
    """
    while proc.returncode is None:
        await asyncio.sleep(0.05)
    return proc.returncode


async def stop_group(
    proc: asyncio.subprocess.Process, grace: float, hurry: asyncio.Event | None = None
) -> int:
    """End ``proc`` and everything left in its process group: SIGTERM, then SIGKILL after ``grace``.

    The children were started in their own session, so the group id is their pid.
    Waiting also covers the group's other members (an app's workers), so none is
    left orphaned. Setting ``hurry`` (a second Ctrl-C) skips the rest of the grace.
    """
    pgid = proc.pid
    signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and not (hurry is not None and hurry.is_set()):
        if proc.returncode is not None and not group_alive(pgid):
            break
        await asyncio.sleep(0.05)
    else:
        signal_group(pgid, signal.SIGKILL)
    return await wait_exit(proc)


def is_alive(proc: psutil.Process) -> bool:
    """Running and not a zombie (a zombie is dead; only its parent has not reaped it yet)."""
    try:
        return bool(proc.is_running()) and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
