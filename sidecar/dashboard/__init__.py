"""The Tandem dashboard: every running app and replica on one page, from the local registry
and each sidecar's metadata API, with a JSON API behind every view (``tandem dashboard``)."""
from __future__ import annotations

from .app import build_app

__all__ = ["build_app"]
