"""The one error type the API layer turns into Dapr's error body.

Building blocks raise :class:`DaprError`; the API layer renders it as
``{"errorCode": "ERR_…", "message": "…"}`` (plus google.rpc ``details`` when a
``reason`` is given, like Dapr's "rich" kit errors) with the given status.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["DaprError"]


@dataclass
class DaprError(Exception):
    """An error with Dapr's wire shape: HTTP status, ``ERR_…`` code and message."""

    status: int
    code: str
    message: str
    reason: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"errorCode": self.code, "message": self.message}
        if self.reason:
            body["details"] = [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": self.reason,
                    "domain": "dapr.io",
                    "metadata": dict(self.metadata),
                }
            ]
        return body
