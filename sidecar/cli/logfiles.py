"""The per-app log files of a multi-app run, for ``tandem logs`` and the dashboard.

``tandem run -f`` writes ``<appDir>/.tandem/logs/<label>_<kind>_<YYYYmmddHHMMSS>.log``,
``kind`` being ``app`` or ``tandemd`` and ``label`` the app id, or ``<app id>-<n>`` for
replica n of a replicated app (Dapr's layout, under ``.tandem`` instead of ``.dapr``).
A running sidecar also knows its files: ``appLogPath``/``daprdLogPath`` in its metadata.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LogFile", "newest_logs", "tail"]

_NAME = re.compile(r"^(?P<label>.+?)_(?P<kind>app|tandemd)_(?P<stamp>\d{14})\.log$")


@dataclass(frozen=True)
class LogFile:
    """One log file and the replica it belongs to (its label is what the console prefix shows)."""

    label: str
    path: Path


def newest_logs(log_dir: Path, app_id: str, kind: str) -> list[LogFile]:
    """The files of ``app_id`` (every replica) written by the most recent run, oldest label first."""
    if not log_dir.is_dir():
        return []
    found: list[tuple[str, str, Path]] = []
    for path in log_dir.glob("*.log"):
        match = _NAME.match(path.name)
        if not match or match["kind"] != kind:
            continue
        label = match["label"]
        if label == app_id or re.fullmatch(re.escape(app_id) + r"-\d+", label):
            found.append((match["stamp"], label, path))
    if not found:
        return []
    newest = max(stamp for stamp, _, _ in found)
    return [LogFile(label, path) for stamp, label, path in sorted(found, key=_order) if stamp == newest]


def _order(item: tuple[str, str, Path]) -> tuple[int, str]:
    label = item[1]
    number = label.rsplit("-", 1)[-1]
    return (int(number) if number.isdigit() else -1, label)


def tail(path: Path, lines: int | None, end: int | None = None, chunk: int = 64 * 1024) -> list[str]:
    """The last ``lines`` lines of a file (all when None) up to byte ``end``, read from the end, not whole."""
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell() if end is None else min(end, f.tell())
            if lines is None:
                f.seek(0)
                data = f.read(size)
            else:
                data, pos = b"", size
                while pos > 0 and data.count(b"\n") <= lines:
                    pos = max(0, pos - chunk)
                    f.seek(pos)
                    data = f.read(size - pos)
    except OSError:
        return []
    text = data.decode("utf-8", "replace").splitlines()
    return text if lines is None else text[-lines:] if lines else []
