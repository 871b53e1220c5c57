"""The secrets building block: store lookup, secret scopes, Dapr's errors (spec §6.1, §7.2).

The Configuration's ``secrets.scopes`` limit what the app may read per store; the
rules are Dapr's ``SecretsScope.IsSecretAllowed``: a non-empty ``allowedSecrets``
list decides alone, else a name in ``deniedSecrets`` is refused, else
``defaultAccess`` (``allow`` unless it says ``deny``). Stores with no scope allow
everything. Scopes apply to the API only, not to ``secretKeyRef`` resolution,
as in Dapr.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..components.model import ComponentError
from ..components.secretstores import SecretStore, SecretStoreError
from ..components.wire import field as _field  # Dapr decodes the Configuration case-insensitively
from ..errors import DaprError
from .base import Block, LoadedComponent

__all__ = ["SecretScope", "SecretsBlock", "parse_scopes"]

log = logging.getLogger("tandem.sidecar.secrets")


@dataclass(frozen=True)
class SecretScope:
    """One ``secrets.scopes`` entry."""

    store: str
    default_allow: bool = True
    allowed: frozenset[str] = frozenset()
    denied: frozenset[str] = frozenset()

    def allows(self, key: str) -> bool:
        if self.allowed:
            return key in self.allowed
        if key in self.denied:
            return False
        return self.default_allow


def parse_scopes(configuration_spec: Mapping[str, Any], source: str = "") -> dict[str, SecretScope]:
    """The ``spec.secrets.scopes`` of a Configuration by store name; ComponentError when malformed."""
    where = source or "configuration"
    secrets = _field(configuration_spec, "secrets") or {}
    if not isinstance(secrets, Mapping):
        raise ComponentError(where, "spec.secrets must be a mapping")
    items = _field(secrets, "scopes") or []
    if not isinstance(items, list):
        raise ComponentError(where, "spec.secrets.scopes must be a list")
    scopes: dict[str, SecretScope] = {}
    for i, item in enumerate(items):
        at = f"spec.secrets.scopes[{i}]"
        if not isinstance(item, Mapping):
            raise ComponentError(where, f"{at} must be a mapping")
        store = _field(item, "storeName")
        if not isinstance(store, str) or not store:
            raise ComponentError(where, f"{at} needs a storeName")
        if store in scopes:
            raise ComponentError(where, f"{at}: storeName {store!r} is repeated in secrets configuration")
        access = _field(item, "defaultAccess") or "allow"
        if not isinstance(access, str) or access.lower() not in ("allow", "deny"):
            raise ComponentError(where, f"{at}: defaultAccess {access!r} can be either allow or deny")
        scopes[store] = SecretScope(
            store, access.lower() == "allow",
            _names(_field(item, "allowedSecrets"), where, f"{at}.allowedSecrets"),
            _names(_field(item, "deniedSecrets"), where, f"{at}.deniedSecrets"),
        )
    return scopes


class SecretsBlock(Block):
    """All secret stores of one sidecar, by component name, behind the Configuration's scopes."""

    contracts = (SecretStore,)

    def __init__(self, app_id: str, configuration_spec: Mapping[str, Any] | None = None, *,
                 source: str = "") -> None:
        self._app_id = app_id
        self._scopes = parse_scopes(configuration_spec or {}, source)
        self._stores: dict[str, SecretStore] = {}

    def add(self, component: LoadedComponent) -> None:
        assert isinstance(component.driver, SecretStore)
        self._stores[component.name] = component.driver

    def names(self) -> list[str]:
        return list(self._stores)

    @property
    def stores(self) -> Mapping[str, SecretStore]:
        """The initialised stores, for ``secretKeyRef`` resolution."""
        return dict(self._stores)

    def allowed(self, store: str, key: str) -> bool:
        scope = self._scopes.get(store)
        return scope is None or scope.allows(key)

    def store(self, name: str) -> SecretStore:
        if not self._stores:
            raise _logged(DaprError(500, "ERR_SECRET_STORES_NOT_CONFIGURED", "secret store is not configured"))
        found = self._stores.get(name)
        if found is None:
            # 401, not 400: what Dapr's source answers (spec §0.1).
            raise _logged(DaprError(401, "ERR_SECRET_STORE_NOT_FOUND", f"failed finding secret store with key {name}"))
        return found

    async def get(self, store: str, name: str, metadata: Mapping[str, str]) -> dict[str, str]:
        """The secret's keys and values; empty when the store returned no data (the API answers 204)."""
        driver = self.store(store)
        if not self.allowed(store, name):
            raise _logged(_denied(store, name))
        try:
            return dict(await driver.get_secret(name, metadata))
        except SecretStoreError as exc:
            raise _logged(DaprError(
                500, "ERR_SECRET_GET", f"failed getting secret with key {name} from secret store {store}: {exc}"
            )) from exc

    async def bulk(self, store: str, metadata: Mapping[str, str]) -> dict[str, dict[str, str]]:
        """Every secret the app may read; denied ones are left out silently, as Dapr does."""
        driver = self.store(store)
        try:
            found = await driver.bulk_get(metadata)
        except SecretStoreError as exc:
            raise _logged(DaprError(500, "ERR_SECRET_GET",
                                    f"failed getting secrets from secret store {store}: {exc}")) from exc
        allowed: dict[str, dict[str, str]] = {}
        for name, values in found.items():
            if self.allowed(store, name):
                allowed[name] = dict(values)
            else:
                _logged(_denied(store, name))
        return allowed




def _names(value: Any, where: str, at: str) -> frozenset[str]:
    if value is None:
        return frozenset()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ComponentError(where, f"{at} must be a list of secret names")
    return frozenset(value)


def _denied(store: str, name: str) -> DaprError:
    return DaprError(403, "ERR_PERMISSION_DENIED",
                     f"access denied by policy to get {_go_quote(name)} from {_go_quote(store)}")


def _logged(error: DaprError) -> DaprError:
    """Dapr logs each refused secrets request at debug level; names only, never a value."""
    log.debug("secrets: %s", error)
    return error


def _go_quote(text: str) -> str:
    """Go's ``%q`` for the names in Dapr's messages."""
    return json.dumps(text, ensure_ascii=False)
