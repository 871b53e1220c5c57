"""Console output of ``tandem run``: child lines tagged by process, colour only on a TTY.

Everything goes through one :class:`Console` so the CLI's own notices and the
children's lines never interleave mid-line, and a closed stdout (``| head``)
does not stop the pipes from being drained.
"""
from __future__ import annotations

import asyncio
import os
import sys
from typing import BinaryIO

__all__ = ["Console", "pump_lines"]

_COLORS = {"app": "36", "sidecar": "33", "info": "32", "error": "31"}  # cyan, yellow, green, red
_CHUNK = 64 * 1024


def _wants_color(stream: BinaryIO) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Console:
    """Writes whole lines to stdout, each prefixed by a short tag."""

    def __init__(self, stream: BinaryIO | None = None, color: bool | None = None) -> None:
        self._stream = stream if stream is not None else sys.stdout.buffer
        self._color = _wants_color(self._stream) if color is None else color
        self._broken = False

    def tag(self, text: str, role: str) -> bytes:
        """``[text] `` coloured for ``role`` (app, sidecar, info, error) when colour is on."""
        label = f"[{text}]"
        if self._color and role in _COLORS:
            label = f"\x1b[{_COLORS[role]}m{label}\x1b[0m"
        return (label + " ").encode()

    def line(self, prefix: bytes, data: bytes) -> None:
        """One line of child output; ``data`` may or may not end with a newline."""
        if not data.endswith(b"\n"):
            data += b"\n"
        self._write(prefix + data)

    def info(self, message: str) -> None:
        self._write(self.tag("tandem", "info") + message.encode() + b"\n")

    def error(self, message: str) -> None:
        self._write(self.tag("tandem", "error") + message.encode() + b"\n")

    def _write(self, data: bytes) -> None:
        if self._broken:
            return
        try:
            self._stream.write(data)
            self._stream.flush()
        except (BrokenPipeError, ValueError, OSError):
            # Nobody reads our output any more; keep running and draining the children.
            self._broken = True


async def pump_lines(reader: asyncio.StreamReader, console: Console, prefix: bytes) -> None:
    """Copy ``reader`` to the console line by line until EOF; lines of any length, last partial line kept."""
    pending = b""
    while True:
        chunk = await reader.read(_CHUNK)
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            console.line(prefix, line)
    if pending:
        console.line(prefix, pending)
