"""What every example's ``run.py`` needs to start its apps with ``tandem run`` (not an example itself)."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
from typing import IO

__all__ = ["TANDEM", "echo", "free_port", "running"]

#: The ``tandem`` CLI of the Python running the example, whether or not its venv is activated.
TANDEM = [sys.executable, "-m", "tandem.sidecar.cli.main"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def running(app_id: str) -> bool:
    """Whether ``tandem list`` shows ``app_id`` already (a second copy would share its work)."""
    listed = subprocess.run([*TANDEM, "list", "-o", "json"], capture_output=True, text=True, check=False)
    try:
        return any(entry.get("appId") == app_id for entry in json.loads(listed.stdout or "[]"))
    except ValueError:
        return False


def echo(stream: IO[bytes]) -> None:
    """Copy a child's output to ours, line by line, until it closes."""
    for line in iter(stream.readline, b""):
        sys.stdout.buffer.write(line)
        sys.stdout.buffer.flush()
