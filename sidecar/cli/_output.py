"""Console output of ``tandem run``: child lines tagged by process, colour only on a TTY.

Everything goes through one :class:`Console` so the CLI's own notices and the
children's lines never interleave mid-line, and a closed stdout (``| head``)
does not stop the pipes from being drained. A multi-app run tags lines with an
aligned ``label  role | `` prefix (one colour per app) and may copy each child's
lines, untagged, into its log file.
"""
from __future__ import annotations

import asyncio
import os
import sys
from typing import BinaryIO

__all__ = ["Console", "pump_lines", "wants_color"]

_COLORS = {"app": "36", "sidecar": "33", "info": "32", "error": "31"}  # cyan, yellow, green, red
# One colour per app of a run file, in order: cyan, magenta, blue, yellow, green, then bright ones.
_PALETTE = ("36", "35", "34", "33", "32", "96", "95", "94", "93", "92")
_CHUNK = 64 * 1024


def wants_color(stream: BinaryIO, choice: str = "auto") -> bool:
    """``always``/``never`` win; ``auto`` honours NO_COLOR and FORCE_COLOR, else asks whether it is a TTY."""
    if choice != "auto":
        return choice == "always"
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
        self._color = wants_color(self._stream) if color is None else color
        self._broken = False

    def tag(self, text: str, role: str) -> bytes:
        """``[text] `` coloured for ``role`` (app, sidecar, info, error) when colour is on."""
        label = f"[{text}]"
        if self._color and role in _COLORS:
            label = f"\x1b[{_COLORS[role]}m{label}\x1b[0m"
        return (label + " ").encode()

    def aligned(self, label: str, role: str, width: int, index: int | None = None, alert: bool = False) -> bytes:
        """``label  role | `` padded to ``width``: the app's label in colour ``index`` of the palette (bold if None).

        The role (``app``, ``tandemd``, ``tandem``) is dimmed for the sidecar, so app lines
        stand out from the sidecar's; ``alert`` shows it in red.
        """
        left, right = label.ljust(width), role.ljust(7)
        if self._color:
            code = "1" if index is None else _PALETTE[index % len(_PALETTE)]
            left = f"\x1b[{code}m{left}\x1b[0m"
            if alert:
                right = f"\x1b[31m{right}\x1b[0m"
            elif role == "tandemd":
                right = f"\x1b[2m{right}\x1b[0m"
        return f"{left}  {right} | ".encode()

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


async def pump_lines(
    reader: asyncio.StreamReader, console: Console | None, prefix: bytes, log: BinaryIO | None = None
) -> None:
    """Copy ``reader`` line by line until EOF: to the console (if any) with ``prefix``, and as is to ``log``.

    Lines of any length; the last partial line is kept.
    """
    pending = b""

    def emit(line: bytes) -> None:
        if console is not None:
            console.line(prefix, line)
        if log is not None:
            try:
                log.write(line + b"\n")
                log.flush()
            except (OSError, ValueError):
                pass  # a full disk or a closed file must not stop the draining

    while True:
        chunk = await reader.read(_CHUNK)
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            emit(line)
    if pending:
        emit(pending)
