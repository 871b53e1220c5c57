"""``secretstores.local.env``: the sidecar's environment variables as secrets, for development.

Each variable is a secret holding ``{NAME: value}``. ``prefix`` (Dapr's metadata)
limits the store to variables starting with it and strips it from the names:
with ``prefix: MYAPP_``, secret ``DB`` is variable ``MYAPP_DB``. As in Dapr,
``APP_API_TOKEN`` and every ``DAPR_*`` variable are never handed out. Unlike
Dapr, which answers a missing variable with an empty value, a missing variable
is "not found", so a ``secretKeyRef`` to it stops start-up instead of silently
configuring an empty value.
"""
from __future__ import annotations

import os
from collections.abc import Mapping

from ..components.base import ComponentMetadata
from ..components.secretstores import SecretNotFound, SecretStore

__all__ = ["EnvSecretStore"]


def _allowed(variable: str) -> bool:
    upper = variable.upper()
    return upper != "APP_API_TOKEN" and not upper.startswith("DAPR_")


class EnvSecretStore(SecretStore):
    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = environ
        self._prefix = ""

    @property
    def environ(self) -> Mapping[str, str]:
        """Read at each call: a variable set after start-up is seen, as Dapr's ``os.Getenv`` does."""
        return os.environ if self._environ is None else self._environ

    async def init(self, metadata: ComponentMetadata) -> None:
        self._prefix = metadata.get("prefix") or ""

    async def get_secret(self, name: str, metadata: Mapping[str, str]) -> dict[str, str]:
        variable = self._prefix + name
        value = self.environ.get(variable) if name and _allowed(variable) else None
        if value is None:
            raise SecretNotFound(f"secret {name} not found")
        return {name: value}

    async def bulk_get(self, metadata: Mapping[str, str]) -> dict[str, dict[str, str]]:
        found: dict[str, dict[str, str]] = {}
        for variable, value in self.environ.items():
            if len(variable) <= len(self._prefix) or not variable.startswith(self._prefix):
                continue
            if _allowed(variable):
                name = variable[len(self._prefix):]
                found[name] = {name: value}
        return found
