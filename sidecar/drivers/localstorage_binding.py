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
or a symbolic link pointing out — is refused with an error naming it. Paths are
opened one folder at a time below ``rootPath`` without following links (links
inside are followed by hand, within it): see :mod:`._beneath`, so a folder
swapped for a link while a call runs cannot lead out either.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import json
import os
import uuid
from collections.abc import Sequence

from ..components.base import ComponentMetadata, MetadataError
from ..components.bindings import BindingError, InvokeRequest, InvokeResponse, OutputBinding
from ._beneath import Beneath, OutsideRoot

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
    """Every file operation runs in a worker thread, confined to rootPath as it opens."""

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

    def _beneath(self) -> Beneath:
        return Beneath(self._root)

    def _check_name(self, name: str) -> None:
        if not name:
            raise BindingError("metadata fileName is required for this operation")

    def _folder_error(self, name: str, exc: IsADirectoryError) -> BindingError:
        if exc.filename == self._root:
            return BindingError(f"fileName {name!r} names rootPath itself, not a file")
        return BindingError(f"fileName {name!r} names a folder, not a file: {exc.filename}")

    def _create(self, name: str, data: bytes) -> InvokeResponse:
        self._check_name(name)
        try:
            path = self._beneath().write(name, decode_create_data(data))
        except OutsideRoot as exc:
            raise BindingError(f"{exc}; refused") from None
        except IsADirectoryError as exc:
            raise self._folder_error(name, exc) from None
        except OSError as exc:
            raise BindingError(f"error creating file {exc.filename or name}: {exc.strerror or exc}") from None
        relative = os.path.relpath(path, self._root)
        return InvokeResponse(json.dumps({"fileName": relative}, separators=(",", ":")).encode())

    def _get(self, name: str) -> InvokeResponse:
        self._check_name(name)
        try:
            data, _ = self._beneath().read(name)
        except OutsideRoot as exc:
            raise BindingError(f"{exc}; refused") from None
        except FileNotFoundError as exc:
            raise BindingError(f"file not found: {exc.filename or name}") from None
        except IsADirectoryError as exc:
            raise self._folder_error(name, exc) from None
        except OSError as exc:
            raise BindingError(f"error reading file {exc.filename or name}: {exc.strerror or exc}") from None
        return InvokeResponse(data)

    def _list(self, name: str) -> InvokeResponse:
        try:
            files = self._beneath().list(name)
        except OutsideRoot as exc:
            raise BindingError(f"{exc}; refused") from None
        except FileNotFoundError as exc:
            raise BindingError(f"error getting stats for path {exc.filename}: no such file or directory") from None
        except NotADirectoryError as exc:
            raise BindingError(f"unable to list files as the file specified is not a directory: {exc.filename}") \
                from None
        except OSError as exc:
            raise BindingError(f"error listing files in the directory {exc.filename or name}: "
                               f"{exc.strerror or exc}") from None
        return InvokeResponse(json.dumps(files, separators=(",", ":"), ensure_ascii=False).encode())

    def _delete(self, name: str) -> None:
        self._check_name(name)
        try:
            self._beneath().remove(name)
        except OutsideRoot as exc:
            raise BindingError(f"{exc}; refused") from None
        except IsADirectoryError as exc:
            raise self._folder_error(name, exc) from None
        except OSError as exc:
            raise BindingError(f"error deleting file {exc.filename or name}: {exc.strerror or exc}") from None
