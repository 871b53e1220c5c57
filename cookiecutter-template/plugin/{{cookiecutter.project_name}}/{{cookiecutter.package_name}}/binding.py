"""``{{ cookiecutter.component_type }}``: an output binding, here a key/value table in memory.

Replace the dictionary with calls to your outside system. Apps call it through their
sidecar (``POST /v1.0/bindings/<name>`` with ``{"operation", "data", "metadata"}``):

``create``  stores ``data`` under ``metadata.key`` (a new uuid when absent); answers ``{"key": ...}``
``get``     answers the data stored under ``metadata.key`` (fails when there is none)
``delete``  removes ``metadata.key`` (no answer)
``list``    answers the stored keys as a JSON array

Metadata (the component file's ``spec.metadata``):

``maxItems`` (optional, default 1000)
    ``create`` fails once this many keys are stored.
"""
from __future__ import annotations

import json
import uuid
from collections.abc import Sequence

from tandem.sidecar.components.base import ComponentMetadata
from tandem.sidecar.components.bindings import BindingError, InvokeRequest, InvokeResponse, OutputBinding

__all__ = ["MemoryBinding"]

OPERATIONS = ("create", "get", "delete", "list")


class MemoryBinding(OutputBinding):
    """In-memory output binding: create, get, delete and list keys."""

    def __init__(self) -> None:
        self._items: dict[str, bytes] = {}
        self._max_items = 1000

    async def init(self, metadata: ComponentMetadata) -> None:
        self._max_items = metadata.get_int("maxItems", 1000)

    def operations(self) -> Sequence[str]:
        return OPERATIONS

    async def invoke(self, request: InvokeRequest) -> InvokeResponse | None:
        key = request.metadata.get("key", "")
        if request.operation == "create":
            key = key or uuid.uuid4().hex
            if key not in self._items and len(self._items) >= self._max_items:
                raise BindingError(f"maxItems ({self._max_items}) reached")
            self._items[key] = request.data
            return InvokeResponse(json.dumps({"key": key}).encode(), {"key": key})
        if request.operation == "list":
            return InvokeResponse(json.dumps(sorted(self._items)).encode())
        if not key:
            raise BindingError(f"{request.operation}: metadata 'key' is required")
        if request.operation == "get":
            if key not in self._items:
                raise BindingError(f"no item {key!r}", {"key": key})
            return InvokeResponse(self._items[key], {"key": key})
        if request.operation == "delete":
            self._items.pop(key, None)
            return None
        raise BindingError(f"unsupported operation {request.operation!r}")
