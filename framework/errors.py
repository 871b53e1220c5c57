"""Exceptions of the framework.

One tree for everything that goes wrong talking to the sidecar, whatever the cause (an
error reply in Dapr's shape, a plain-text reply, no reply at all), plus the two signals a
topic handler raises to steer delivery::

    Exception
    ├── SidecarError            the sidecar (or the app behind it) answered non-2xx
    │   └── SidecarUnavailable  no answer at all: connection refused/reset, timeout
    ├── Retry                   topic handler: "redeliver this message later"
    └── Drop                    topic handler: "drop it" (to the dead-letter topic if any)

`SidecarError.error_code` is Dapr's ``errorCode`` when the reply carries one
(``ERR_STATE_STORE_NOT_FOUND``, ``ERR_STATE_SAVE`` ...). Replies that carry none (the 401
plain-text ``invalid api token``, an invoked app's own JSON, an HTML proxy page) get
``ERR_HTTP_<status>``, e.g. ``ERR_HTTP_401``. `SidecarUnavailable` has status 0 and
error code ``ERR_SIDECAR_UNAVAILABLE``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

__all__ = ["Drop", "Retry", "SidecarError", "SidecarUnavailable"]

_MAX_MESSAGE = 2000


class SidecarError(Exception):
    """A non-2xx reply from the sidecar's HTTP API."""

    def __init__(
        self,
        status: int,
        error_code: str,
        message: str,
        details: Sequence[Any] = (),
    ) -> None:
        super().__init__(f"{error_code} ({status}): {message}" if status else f"{error_code}: {message}")
        self.status = status
        self.error_code = error_code
        self.message = message
        self.details: list[Any] = list(details)

    @classmethod
    def from_response(cls, status: int, body: bytes) -> SidecarError:
        """Build the error from a reply, reading Dapr's ``{errorCode, message, details}``."""
        text = body.decode("utf-8", errors="replace")
        try:
            payload = json.loads(text) if text else None
        except ValueError:
            payload = None
        if isinstance(payload, dict) and isinstance(payload.get("errorCode"), str):
            details = payload.get("details")
            return cls(
                status,
                payload["errorCode"],
                str(payload.get("message", "")),
                details if isinstance(details, list) else (),
            )
        return cls(status, f"ERR_HTTP_{status}", text.strip()[:_MAX_MESSAGE])

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep the error picklable (multiprocessing, pytest-xdist) despite the custom __init__.
        return (type(self), (self.status, self.error_code, self.message, self.details))


class SidecarUnavailable(SidecarError):
    """The sidecar could not be reached, or did not answer in time."""

    def __init__(self, message: str) -> None:
        super().__init__(0, "ERR_SIDECAR_UNAVAILABLE", message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.message,))


class Retry(Exception):
    """Raise in a topic handler to ask the sidecar to redeliver the message later."""


class Drop(Exception):
    """Raise in a topic handler to drop the message (sent to its dead-letter topic if any)."""
