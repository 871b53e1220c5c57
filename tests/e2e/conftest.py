"""Fixtures of the end-to-end tests."""
from __future__ import annotations

from actor_support import actor_host

__all__ = ["actor_host"]
