"""The sidecar's side of "die with ``tandem run``": notice the supervisor is gone, take the app along.

``tandem run`` passes its pid in ``TANDEM_SUPERVISOR_PID``. The parent-death signal
(Linux) stops the sidecar when that process dies, but only the app's leader gets it,
not the app's own children; and other systems have no such signal. So the sidecar
watches its parent itself: once it is no longer the supervisor (the sidecar was
re-parented), it stops, and on the way out ends the app's whole process group, as
recorded in the run folder by the supervisor.
"""
from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .instances import recorded_app
from .procgroup import end_group

__all__ = ["SUPERVISOR_ENV", "Supervision"]

SUPERVISOR_ENV = "TANDEM_SUPERVISOR_PID"

log = logging.getLogger("tandem.sidecar")


@dataclass(frozen=True)
class Supervision:
    """This sidecar was started by ``tandem run`` process ``supervisor_pid``."""

    supervisor_pid: int
    run_folder: Path
    grace: float = 5.0

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], run_folder: Path) -> Supervision | None:
        value = environ.get(SUPERVISOR_ENV, "").strip()
        return cls(int(value), run_folder) if value.isdigit() and int(value) > 1 else None

    def gone(self) -> bool:
        """Our parent is not the supervisor any more: it died and we were re-parented."""
        return os.getppid() != self.supervisor_pid

    async def watch(self, stop: Callable[[], None], interval: float = 0.25) -> None:
        """Call ``stop`` once the supervisor is gone."""
        while not self.gone():
            await asyncio.sleep(interval)
        log.warning("the tandem run that started this sidecar (pid %d) is gone: stopping the sidecar and its app",
                    self.supervisor_pid)
        stop()

    async def end_orphaned_app(self) -> None:
        """If the supervisor is gone, end the app's process group (it cannot do so any more)."""
        if not self.gone():
            return
        group = recorded_app(self.run_folder, os.getpid())
        if group is None or group.supervisor_pid != self.supervisor_pid:
            return
        left = await asyncio.to_thread(end_group, group.pid, self.grace)
        if left:
            log.error("could not end the app's process group %d: pids %s still run", group.pid,
                      ", ".join(str(p.pid) for p in left))
        else:
            log.info("ended the app's process group %d (its tandem run is gone)", group.pid)
