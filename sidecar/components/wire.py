"""Dapr's wire rules as Go's ``encoding/json`` applies them, written once for the API layer, blocks and drivers.

* :func:`field`: a JSON object's field by name: an exact key wins, else a key
  equal to it ignoring case (Go's decoder matches struct fields that way, so a
  Dapr client may send ``pubsubName`` or ``PubSubName``).
* :func:`string_map`: a ``map[string]string`` (metadata, headers) from decoded
  JSON or YAML: a value that is not a string is kept as its JSON text, as Dapr's
  metadata decoding does; ``None`` for something that is not an object at all.
* :func:`compact_json`: bytes as Go's ``json.Marshal`` writes them: no spaces,
  UTF-8 kept as is.

Go durations are parsed by :func:`.values.parse_duration` / :func:`.values.go_duration_seconds`.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeVar

__all__ = ["compact_json", "field", "string_map"]

T = TypeVar("T")


def field(obj: Mapping[str, T], name: str, default: T | None = None) -> T | None:
    """``obj[name]``, else the first value whose key equals ``name`` ignoring case, else ``default``."""
    if name in obj:
        return obj[name]
    lowered = name.lower()
    for key, value in obj.items():
        if str(key).lower() == lowered:
            return value
    return default


def string_map(value: object) -> dict[str, str] | None:
    """A mapping as ``dict[str, str]`` (a non-string value as its JSON text); ``None`` if not a mapping."""
    if not isinstance(value, Mapping):
        return None
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in value.items()}


def compact_json(value: Any, *, sort_keys: bool = False) -> bytes:
    """``value`` encoded as Go's ``json.Marshal`` does (``sort_keys``: as it writes a map)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=sort_keys).encode()
