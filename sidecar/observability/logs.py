"""``tandemd``'s logging: ``--log-level`` and ``--log-as-json``.

JSON lines carry daprd's fields (``time``, ``level``, ``type``, ``msg``,
``scope``, ``app_id``, ``instance``, ``ver``) so log pipelines set up for Dapr
read them unchanged; a record's ``extra={"fields": {...}}`` adds its own.
"""
from __future__ import annotations

import json
import logging
import socket
import sys
from datetime import datetime, timezone
from typing import Any, TextIO

__all__ = ["LEVELS", "JsonFormatter", "Throttle", "configure"]

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING, "warning": logging.WARNING,
          "error": logging.ERROR, "fatal": logging.CRITICAL}
_TEXT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
_LEVEL_NAMES = {logging.DEBUG: "debug", logging.INFO: "info", logging.WARNING: "warning", logging.ERROR: "error",
                logging.CRITICAL: "fatal"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record, with the sidecar's identity on every line."""

    def __init__(self, app_id: str, version: str) -> None:
        super().__init__()
        self._fixed = {"app_id": app_id, "instance": socket.gethostname(), "ver": version}

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="microseconds"),
            "level": _LEVEL_NAMES.get(record.levelno, record.levelname.lower()),
            "type": "log",
            "msg": record.getMessage(),
            "scope": record.name,
            **self._fixed,
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class Throttle(logging.Filter):
    """The OpenTelemetry SDK logs some troubles once per span (``Queue full, dropping Span.``):
    the same message from its loggers passes at most once a minute."""

    def __init__(self, every: float = 60.0) -> None:
        super().__init__()
        self.every = every
        self._last: dict[tuple[str, object], float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("opentelemetry"):
            return True
        key = (record.name, record.msg)
        last = self._last.get(key)
        if last is not None and record.created - last < self.every:
            return False
        self._last[key] = record.created
        return True


def configure(level: str, *, as_json: bool, app_id: str, version: str, stream: TextIO | None = None) -> None:
    """Send every log record to ``stream`` (stderr) at ``level``, as text or JSON lines."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(Throttle())
    handler.setFormatter(JsonFormatter(app_id, version) if as_json else logging.Formatter(_TEXT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(LEVELS[level.lower()])
