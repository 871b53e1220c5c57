"""``nameresolution.local``: every sidecar of one machine finds the others with nothing to start.

It reads the run directory that each ``tandemd`` writes its entry into (see
:mod:`tandem.sidecar.instances`); a crashed sidecar's entry is recognised as
stale (its pid is gone or belongs to another process) and removed, never used.
"""
from __future__ import annotations

import asyncio
from pathlib import Path

from ..components.base import ComponentMetadata
from ..components.nameresolution import Address, NameResolver, ResolveRequest
from ..home import run_dir
from ..instances import live_instances

__all__ = ["LocalResolver"]


class LocalResolver(NameResolver):
    """Resolution through ``$TANDEM_HOME/run`` (or the ``runDirectory`` metadata field)."""

    def __init__(self) -> None:
        self._folder: Path = run_dir()

    async def init(self, metadata: ComponentMetadata) -> None:
        folder = metadata.get("runDirectory")
        if folder:
            self._folder = Path(folder).expanduser()

    async def resolve(self, request: ResolveRequest) -> list[Address]:
        found = await asyncio.to_thread(live_instances, self._folder, request.app_id)
        return [
            Address(i.address if i.address not in ("0.0.0.0", "::") else "127.0.0.1", i.internal_port)
            for i in found
            if i.internal_port and (i.namespace or None) == (request.namespace or None)
        ]
