"""``bindings.localstorage``: files under one directory, as an output binding (Dapr's ``bindings.localstorage``).

Metadata: ``rootPath`` (created if missing; relative to the sidecar's working
directory; ``/proc``, ``/sys``, ``/boot`` and ``/var/run/secrets`` are refused).
Operations, with the request metadata ``fileName``:

* ``create`` — writes the data to ``fileName`` (a new UUID when absent; parent
  folders are made) and answers ``{"fileName": <path relative to rootPath>}``.
  As in Dapr, data that is a JSON string is stored unquoted, and data that is
  valid standard base64 is stored decoded (how binary files are sent);
* ``get`` — answers the file's bytes;
* ``list`` — answers a JSON array of the absolute paths of the files under
  ``fileName`` (a folder; ``rootPath`` when absent), as Dapr's source does;
* ``delete`` — removes the file; no answer (the app gets a 204).

Unlike Dapr, which silently clamps such names into ``rootPath``, a ``fileName``
that resolves outside ``rootPath`` — through ``..``, an absolute path elsewhere,
or a symbolic link pointing out — is refused with an error naming it.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import json
import os
import uuid
from collections.abc import Sequence
from pathlib import Path

from ..components.base import ComponentMetadata, MetadataError
from ..components.bindings import BindingError, InvokeRequest, InvokeResponse, OutputBinding

__all__ = ["LocalStorageBinding", "decode_create_data"]

_DISALLOWED_ROOTS = ("/proc", "/sys", "/boot", "/var/run/secrets")
_OPERATIONS = ("create", "get", "list", "delete")


def decode_create_data(data: bytes) -> bytes:
    """Dapr's ``create``: unquote a JSON string, then decode it if it is standard base64."""
    if len(data) >= 2 and data[:1] == b'"' and data[-1:] == b'"':
        try:
            text = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            text = None
        if isinstance(text, str):
            data = text.encode("utf-8", "surrogatepass")
    try:
        return base64.b64decode(data.replace(b"\r", b"").replace(b"\n", b""), validate=True)
    except (binascii.Error, ValueError):
        return data


def _prepare_root(value: str) -> str:
    root = os.path.realpath(os.path.abspath(value))
    for banned in _DISALLOWED_ROOTS:
        if root == banned or root.startswith(banned + os.sep):
            raise MetadataError(f"metadata field 'rootPath': {value!r} points to a disallowed location")
    if os.path.exists(root) and not os.path.isdir(root):
        raise MetadataError(f"metadata field 'rootPath': {value!r} is a file, not a directory")
    try:
        os.makedirs(root, exist_ok=True)
    except OSError as exc:
        raise MetadataError(f"metadata field 'rootPath': unable to create directory {root}: {exc}") from None
    return root


class LocalStorageBinding(OutputBinding):
    """Every file operation runs in a worker thread; paths are checked before any is touched."""

    def __init__(self) -> None:
        self._root = ""

    async def init(self, metadata: ComponentMetadata) -> None:
        self._root = await asyncio.to_thread(_prepare_root, metadata.require("rootPath"))

    def operations(self) -> Sequence[str]:
        return _OPERATIONS

    async def invoke(self, request: InvokeRequest) -> InvokeResponse | None:
        name = request.metadata.get("fileName", "")
        if request.operation == "create":
            return await asyncio.to_thread(self._create, name or str(uuid.uuid4()), request.data)
        if request.operation == "get":
            return await asyncio.to_thread(self._get, name)
        if request.operation == "list":
            return await asyncio.to_thread(self._list, name)
        if request.operation == "delete":
            await asyncio.to_thread(self._delete, name)
            return None
        raise BindingError(f"unsupported operation {request.operation}")

    def resolve(self, name: str, *, folder: bool = False) -> str:
        """The real path ``name`` stands for under rootPath; BindingError when it is outside, or is rootPath
        itself for a file operation."""
        if not name and not folder:
            raise BindingError("metadata fileName is required for this operation")
        try:
            resolved = os.path.realpath(os.path.join(self._root, name))
        except (ValueError, OSError) as exc:
            raise BindingError(f"invalid fileName {name!r}: {exc}") from None
        if resolved != self._root and not resolved.startswith(self._root + os.sep):
            raise BindingError(f"fileName {name!r} resolves to {resolved}, outside rootPath {self._root}; refused")
        if resolved == self._root and not folder:
            raise BindingError(f"fileName {name!r} names rootPath itself, not a file")
        return resolved

    def _create(self, name: str, data: bytes) -> InvokeResponse:
        path = self.resolve(name)
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            # O_NOFOLLOW: a link put there since resolve() is not followed out of rootPath.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o666)
            with os.fdopen(fd, "wb") as file:
                file.write(decode_create_data(data))
        except OSError as exc:
            raise BindingError(f"error creating file {path}: {exc.strerror or exc}") from None
        relative = os.path.relpath(path, self._root)
        return InvokeResponse(json.dumps({"fileName": relative}, separators=(",", ":")).encode())

    def _get(self, name: str) -> InvokeResponse:
        path = self.resolve(name)
        try:
            return InvokeResponse(Path(path).read_bytes())
        except FileNotFoundError:
            raise BindingError(f"file not found: {path}") from None
        except OSError as exc:
            raise BindingError(f"error reading file {path}: {exc.strerror or exc}") from None

    def _list(self, name: str) -> InvokeResponse:
        path = self.resolve(name, folder=True)
        if not os.path.exists(path):
            raise BindingError(f"error getting stats for path {path}: no such file or directory")
        if not os.path.isdir(path):
            raise BindingError(f"unable to list files as the file specified is not a directory: {path}")
        files: list[str] = []
        _walk(path, files)
        return InvokeResponse(json.dumps(files, separators=(",", ":"), ensure_ascii=False).encode())

    def _delete(self, name: str) -> None:
        path = self.resolve(name)
        try:
            os.remove(path)
        except OSError as exc:
            raise BindingError(f"error deleting file {path}: {exc.strerror or exc}") from None


def _walk(folder: str, found: list[str]) -> None:
    """Every non-folder under ``folder``, depth first in name order (Go's ``filepath.Walk``; links not followed)."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        raise BindingError(f"error listing files in the directory {folder}: {exc.strerror or exc}") from None
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            _walk(entry.path, found)
        else:
            found.append(entry.path)
