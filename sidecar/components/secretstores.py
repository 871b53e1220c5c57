"""The secret-store contract: what ``secretstores.*`` drivers implement (spec §6.1).

A secret is a name holding a small map of keys to values: a single-valued store
answers ``{name: value}``, a multi-valued one ``{key1: v1, key2: v2}``. The same
drivers serve the secrets API and the ``secretKeyRef`` values of other components.
"""
from __future__ import annotations

import abc
import enum
from collections.abc import Mapping

from .base import Component, DriverError

__all__ = ["SecretNotFound", "SecretStore", "SecretStoreError", "SecretStoreFeature"]


class SecretStoreError(DriverError):
    """The store could not answer. The message must never contain a secret value."""


class SecretNotFound(SecretStoreError):
    """The store holds no secret of that name."""


class SecretStoreFeature(str, enum.Enum):
    """Capability names as Dapr's metadata API reports them."""

    MULTIPLE_KEY_VALUES_PER_SECRET = "MULTIPLE_KEY_VALUES_PER_SECRET"


class SecretStore(Component):
    kind = "secretstores"

    @abc.abstractmethod
    async def get_secret(self, name: str, metadata: Mapping[str, str]) -> dict[str, str]:
        """The keys and values of secret ``name``; :class:`SecretNotFound` when there is none."""

    @abc.abstractmethod
    async def bulk_get(self, metadata: Mapping[str, str]) -> dict[str, dict[str, str]]:
        """Every secret the store holds, by name."""
