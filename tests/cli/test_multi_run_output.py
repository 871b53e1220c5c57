"""The multi-app console prefix and the per-app log file copy (no processes)."""
from __future__ import annotations

import asyncio
import io
from pathlib import Path

from tandem.sidecar.cli._output import Console, pump_lines, wants_color


def test_prefixes_are_aligned_and_coloured_only_when_asked() -> None:
    plain = Console(io.BytesIO(), color=False)
    assert plain.aligned("order-0", "app", 9, 0) == b"order-0    app     | "
    assert plain.aligned("order-0", "tandemd", 9, 0) == b"order-0    tandemd | "
    coloured = Console(io.BytesIO(), color=True)
    app, sidecar = coloured.aligned("api", "app", 3, 1), coloured.aligned("api", "tandemd", 3, 1)
    assert app == b"\x1b[35mapi\x1b[0m  app     | "  # one colour per app
    assert sidecar == b"\x1b[35mapi\x1b[0m  \x1b[2mtandemd\x1b[0m | "  # the sidecar's lines dimmed
    assert b"\x1b[31m" in coloured.aligned("api", "tandem", 3, 1, alert=True)
    assert wants_color(io.BytesIO(), "always") and not wants_color(io.BytesIO(), "never")
    assert not wants_color(io.BytesIO(), "auto")  # not a terminal


def test_lines_go_to_the_console_and_untagged_to_the_log_file(tmp_path: Path) -> None:
    out = io.BytesIO()
    console = Console(out, color=False)

    async def pump(to_console: bool) -> None:
        reader = asyncio.StreamReader()
        reader.feed_data(b"first\nsecond\npartial")
        reader.feed_eof()
        with open(tmp_path / "app.log", "ab") as log:
            await pump_lines(reader, console if to_console else None, b"svc  app | ", log)

    asyncio.run(pump(True))
    asyncio.run(pump(False))  # appLogDestination: file
    assert out.getvalue() == b"svc  app | first\nsvc  app | second\nsvc  app | partial\n"
    assert (tmp_path / "app.log").read_bytes() == b"first\nsecond\npartial\n" * 2
