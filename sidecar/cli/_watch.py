"""``tandem run -f … --watch``: which app's files changed.

One watcher (``watchfiles``: inotify on Linux, no polling) over every app folder;
each batch of changes is matched against each app's ``watch`` patterns, relative to
its folder, so apps sharing a folder can still be told apart. Log files, databases,
caches and Tandem's own ``.tandem`` folder never count as a change.
"""
from __future__ import annotations

import asyncio
import fnmatch
from collections.abc import Callable, Sequence
from pathlib import Path

from watchfiles import DefaultFilter, awatch

from .runfile import AppSpec

__all__ = ["SourceFilter", "changed_files", "watch_apps"]


class SourceFilter(DefaultFilter):
    """watchfiles' defaults (VCS folders, caches, editor swap files) plus what a running app writes."""

    ignore_dirs = (*DefaultFilter.ignore_dirs, ".tandem", ".dapr", ".ruff_cache", "venv", "dist", "build")
    ignore_entity_patterns = (
        *DefaultFilter.ignore_entity_patterns,
        r"\.log$", r"\.db$", r"\.db-(wal|shm|journal)$", r"\.sqlite3?$", r"\.tmp$", r"\.pid$",
    )


def changed_files(app: AppSpec, paths: Sequence[str]) -> list[str]:
    """The paths (relative to the app's folder) among ``paths`` that match the app's watch patterns."""
    found = []
    for path in paths:
        try:
            relative = Path(path).relative_to(app.app_dir).as_posix()
        except ValueError:
            continue
        if any(fnmatch.fnmatch(relative, pattern) for pattern in app.watch):
            found.append(relative)
    return sorted(found)


async def watch_apps(
    apps: Sequence[AppSpec], on_change: Callable[[AppSpec, list[str]], None], stop: asyncio.Event
) -> None:
    """Call ``on_change(app, files)`` after each batch of changes, until ``stop`` is set."""
    watched = [a for a in apps if a.watch]
    folders = sorted({str(a.app_dir) for a in watched})
    if not folders:
        await stop.wait()
        return
    async for batch in awatch(*folders, watch_filter=SourceFilter(), debounce=300, step=50, stop_event=stop):
        paths = [path for _, path in batch]
        for app in watched:
            files = changed_files(app, paths)
            if files:
                on_change(app, files)
