"""API logging (``--enable-api-logging``, ``logging.apiLogging``): one line per call to the API.

The line carries the method, the path (with ids and keys left out when
``obfuscateURLs`` is set), the status, the duration and the trace id, so a
slow or failing call can be found in the trace. With ``--log-as-json`` the
same values are separate JSON fields.
"""
from __future__ import annotations

import logging

from .calls import Call
from .settings import ApiLoggingSettings

__all__ = ["ApiLog", "LOGGER"]

#: Its own logger, at INFO whatever ``--log-level`` says: asking for API logs means wanting them.
LOGGER = "tandem.sidecar.api"


class ApiLog:
    """Writes the per-call line; built only when API logging is on."""

    def __init__(self, settings: ApiLoggingSettings) -> None:
        self.settings = settings
        self._log = logging.getLogger(LOGGER)
        self._log.setLevel(logging.INFO)

    def record(self, method: str, path: str, call: Call, status: int, duration_ms: float, trace_id: str) -> None:
        if call.health and self.settings.omit_health_checks:
            return
        shown = (call.route or path) if self.settings.obfuscate_urls else path
        fields = {"method": method, "path": shown, "status": status, "duration_ms": round(duration_ms, 3),
                  "trace_id": trace_id}
        self._log.info("HTTP API Called: %s %s %d %.2fms trace_id=%s", method, shown, status, duration_ms,
                       trace_id, extra={"fields": fields})
