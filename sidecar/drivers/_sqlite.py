"""What the SQLite drivers share: metadata helpers and one worker thread that owns one connection.

SQLite calls block and a connection belongs to the thread that made it, so
each driver instance runs every operation (a whole transaction included) as
one synchronous call in its own single worker thread. The helpers here keep
the drivers' connection-string, timeout and transaction semantics identical.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import math
import re
import sqlite3
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar
from urllib.parse import parse_qsl, quote, urlencode

from ..components.base import ComponentMetadata, MetadataError

__all__ = ["SqliteWorker", "identifier", "operation_timeout", "parse_connection_string", "seconds"]

T = TypeVar("T")

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PRAGMA = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\(\s*([A-Za-z0-9_.+-]*)\s*\))?\s*")


def identifier(md: ComponentMetadata, key: str, default: str) -> str:
    """Table names are interpolated into SQL, so only plain identifiers are allowed."""
    value = md.get(key) or default
    if not _IDENTIFIER.fullmatch(value):
        raise MetadataError(f"metadata field {key!r}: invalid table name {value!r} (use letters, digits, _)")
    return value


def seconds(md: ComponentMetadata, key: str, alias: str, default: float) -> float:
    """A Go duration, or a bare number of seconds; also read from Dapr's legacy ``...InSeconds`` alias."""
    return md.get_duration(key if md.get(key) not in (None, "") else alias, default, bare_unit=1.0)


def operation_timeout(md: ComponentMetadata) -> float:
    """The ``timeout`` bounding one operation, queueing included; Dapr's default and floor."""
    timeout = seconds(md, "timeout", "timeoutInSeconds", 20.0)
    if timeout < 1.0:
        raise MetadataError("metadata field 'timeout': must be at least 1s")
    return timeout


def parse_connection_string(text: str) -> tuple[str, bool, bool, tuple[str, ...]]:
    """Turn Dapr's connection string into an SQLite URI: ``(uri, memory, read_only, pragmas)``.

    Dapr's Go driver takes ``_pragma=name(value)`` and ``_txlock`` query options;
    pragmas are run after connecting, other ``_`` options are driver-specific and
    dropped (writes here always use ``BEGIN IMMEDIATE``). SQLite's own URI
    parameters (``mode``, ``immutable``, ``vfs`` ...) pass through.
    """
    base, _, query = text.strip().partition("?")
    lowered = base.lower()
    memory = lowered.startswith((":memory:", "file::memory:"))
    pragmas: list[str] = []
    params: list[tuple[str, str]] = []
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name == "_pragma":
            match = _PRAGMA.fullmatch(value)
            if not match:
                raise MetadataError(f"metadata field 'connectionString': unsupported _pragma {value!r}")
            pragma, arg = match.groups()
            pragmas.append(f"PRAGMA {pragma}" if arg is None else f"PRAGMA {pragma}({arg})")
        elif not name.startswith("_") and not (memory and name in ("cache", "mode")):
            params.append((name, value))
    read_only = ("mode", "ro") in params or ("immutable", "1") in params
    if memory:
        return "file::memory:", True, False, tuple(pragmas)
    path = base[5:] if lowered.startswith("file:") else quote(base, safe="/")
    uri = "file:" + path + ("?" + urlencode(params) if params else "")
    return uri, False, read_only, tuple(pragmas)


class SqliteWorker:
    """One worker thread owning one connection, with each call bounded by the operation timeout.

    ``error`` is the driver's error type and ``label`` names the driver in its
    messages, so callers see the same errors whichever driver they use.
    """

    def __init__(self, error: type[Exception], label: str) -> None:
        self._error = error
        self._label = label
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None  # used only from the worker thread
        self._deadline = math.inf  # of the operation running in the worker
        self._timeout = math.inf

    @property
    def open(self) -> bool:
        return self._executor is not None

    async def start(self, thread_name: str, timeout: float, setup: Callable[[], object]) -> None:
        """Start the thread and run ``setup`` (which calls :meth:`connect`) there; closed again if it fails."""
        self._timeout = timeout
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=thread_name)
        try:
            await self.run(setup)
        except BaseException:
            await self.close()
            raise

    def connect(self, uri: str, busy_timeout: float, pragmas: Sequence[str],
                prepare: Callable[[sqlite3.Connection], None]) -> sqlite3.Connection:
        """Open the connection (worker thread only): ``prepare`` (journal mode ...), then the user's pragmas."""
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=max(busy_timeout, 0.0),
                               cached_statements=64)
        self._conn = conn
        prepare(conn)
        for pragma in pragmas:
            conn.execute(pragma).fetchall()
        # Aborts a statement once its operation's deadline (``timeout``) has passed.
        conn.set_progress_handler(lambda: time.monotonic() > self._deadline, 10_000)
        return conn

    async def close(self) -> None:
        """Close the connection after any queued operation, in the thread that owns it."""
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.get_running_loop().run_in_executor(executor, self._close_connection)
            executor.shutdown(wait=False)

    def _close_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    def db(self) -> sqlite3.Connection:
        """The connection (worker thread only)."""
        if self._conn is None:
            raise self._error(f"{self._label} is closed")
        return self._conn

    async def run(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` in the worker thread, bounded by the ``timeout`` metadata."""
        executor = self._executor
        if executor is None:
            raise self._error(f"{self._label} is closed")
        deadline = time.monotonic() + self._timeout
        try:
            return await asyncio.get_running_loop().run_in_executor(executor, self._call, fn, deadline)
        except RuntimeError as exc:  # executor shut down under us
            raise self._error(f"{self._label} is closed: {exc}") from None

    def _call(self, fn: Callable[[], T], deadline: float) -> T:
        if time.monotonic() > deadline:
            raise self._error(f"{self._label}: timed out waiting for earlier operations")
        self._deadline = deadline
        try:
            return fn()
        except sqlite3.OperationalError as exc:
            if "interrupt" in str(exc):
                raise self._error(f"{self._label}: operation timed out") from None
            raise self._error(f"{self._label}: {exc}") from exc
        except sqlite3.Error as exc:
            raise self._error(f"{self._label}: {exc}") from exc
        finally:
            self._deadline = math.inf

    def write(self, body: Callable[[sqlite3.Connection], T]) -> T:
        """One ``BEGIN IMMEDIATE`` transaction (worker thread only): the write lock is held from the first read."""
        conn = self.db()
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = body(conn)
            self._deadline = math.inf  # never interrupt a COMMIT half-way
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise
        return result

    def start_cleanup(self, interval: float, cleanup: Callable[[], Awaitable[int]], logger: logging.Logger,
                      what: str, removed: str) -> asyncio.Task[None] | None:
        """A task calling ``cleanup`` every ``interval`` seconds (none if ``interval`` is 0); the caller cancels it."""
        if not interval > 0:  # 0 (or NaN) turns cleanup off
            return None
        return asyncio.get_running_loop().create_task(self._cleanup_loop(interval, cleanup, logger, what, removed))

    async def _cleanup_loop(self, interval: float, cleanup: Callable[[], Awaitable[int]], logger: logging.Logger,
                            what: str, removed: str) -> None:
        """A failed turn is logged only: the next one tries again."""
        while True:
            await asyncio.sleep(interval)
            try:
                count = await cleanup()
            except self._error as exc:
                logger.warning(f"{self._label}: {what} failed: %s", exc)
                continue
            if count > 0:
                logger.debug(f"{self._label}: removed %d {removed}", count)
