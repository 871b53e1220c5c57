"""``secretstores.local.file``: secrets from a JSON file, for development (Dapr's local file store).

The file is read once, at init. ``multiValued: false`` (the default) flattens the
whole document: ``{"db": {"user": "u"}}`` gives the secret ``db:user`` holding
``{"db:user": "u"}``. ``multiValued: true`` keeps the top level as secret names and
flattens what is below: the secret ``db`` holds ``{"user": "u"}``. Arrays flatten
with their indexes (``hosts:0``). A relative ``secretsFile`` is relative to the
sidecar's working directory, as in Dapr. Secret names from requests only look up
what was read; they never touch the file system.
"""
from __future__ import annotations

import errno
import json
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..components.base import ComponentMetadata, MetadataError
from ..components.secretstores import SecretNotFound, SecretStore, SecretStoreFeature

__all__ = ["LocalFileSecretStore", "flatten"]


def flatten(document: Any, separator: str) -> dict[str, str]:
    """Leaf values of a JSON object or array by their joined path; MetadataError when two collide."""
    out: dict[str, str] = {}

    def visit(value: Any, path: str) -> None:
        if isinstance(value, Mapping):
            children: list[tuple[str, Any]] = [(str(k), v) for k, v in value.items()]
        elif isinstance(value, list):
            children = [(str(i), v) for i, v in enumerate(value)]
        else:
            if path in out:
                raise MetadataError(f"secretsFile: the key {path!r} appears twice once flattened")
            out[path] = _text(value)
            return
        for key, child in children:
            visit(child, f"{path}{separator}{key}" if path else key)

    visit(document, "")
    return out


def _read_regular(path: Path) -> str:
    """The file's text, read through one handle that is checked to be a regular file.

    The file is the operator's choice (links followed, like Dapr) and is read once: no
    name from a request ever reaches the file system, so there is nothing to race.
    ``O_NONBLOCK`` and the check keep a FIFO or a device from hanging the start-up.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file", str(path))
    with os.fdopen(fd, "rb") as file:
        return file.read().decode("utf-8")


def _text(value: Any) -> str:
    """A JSON scalar as text: strings as they are, numbers and booleans as JSON writes them."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value)


class LocalFileSecretStore(SecretStore):
    def __init__(self) -> None:
        self._secrets: dict[str, dict[str, str]] = {}
        self._multi = False

    async def init(self, metadata: ComponentMetadata) -> None:
        path = Path(metadata.require("secretsFile"))
        separator = metadata.get("nestedSeparator") or ":"
        self._multi = metadata.get_bool("multiValued")
        try:
            document = json.loads(_read_regular(path))
        except OSError as exc:
            raise MetadataError(f"metadata field 'secretsFile': cannot read {str(path)!r}: "
                                f"{exc.strerror or exc}") from None
        except (ValueError, UnicodeDecodeError) as exc:
            # The decoder's message gives a position, never the file's content.
            raise MetadataError(f"metadata field 'secretsFile': {str(path)!r} is not valid JSON: {exc}") from None
        if not isinstance(document, dict):
            raise MetadataError(f"metadata field 'secretsFile': {str(path)!r} must hold a JSON object")
        if self._multi:
            self._secrets = {
                str(name): flatten(value, separator) if isinstance(value, (dict, list)) else {str(name): _text(value)}
                for name, value in document.items()
            }
        else:
            self._secrets = {key: {key: value} for key, value in flatten(document, separator).items()}

    async def get_secret(self, name: str, metadata: Mapping[str, str]) -> dict[str, str]:
        found = self._secrets.get(name)
        if found is None:
            raise SecretNotFound(f"secret {name} not found")
        return dict(found)

    async def bulk_get(self, metadata: Mapping[str, str]) -> dict[str, dict[str, str]]:
        return {name: dict(values) for name, values in self._secrets.items()}

    def features(self) -> frozenset[str]:
        return frozenset({SecretStoreFeature.MULTIPLE_KEY_VALUES_PER_SECRET.value}) if self._multi else frozenset()
