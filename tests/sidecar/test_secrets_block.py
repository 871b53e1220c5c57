"""The secrets block with a dictionary-backed store: Dapr's scope rules, errors and statuses."""
from __future__ import annotations

from collections.abc import Mapping

import pytest

from tandem.sidecar.blocks.base import LoadedComponent
from tandem.sidecar.blocks.secrets import SecretsBlock, SecretScope, parse_scopes
from tandem.sidecar.components.base import ComponentMetadata
from tandem.sidecar.components.model import ComponentError
from tandem.sidecar.components.secretstores import SecretNotFound, SecretStore, SecretStoreError
from tandem.sidecar.errors import DaprError

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class DictStore(SecretStore):
    """Secrets from a dictionary; the secret named ``broken`` fails like a lost connection."""

    def __init__(self, secrets: Mapping[str, dict[str, str]], fail_bulk: bool = False) -> None:
        self.secrets = dict(secrets)
        self.fail_bulk = fail_bulk
        self.seen: list[Mapping[str, str]] = []

    async def init(self, metadata: ComponentMetadata) -> None:
        pass

    async def get_secret(self, name: str, metadata: Mapping[str, str]) -> dict[str, str]:
        self.seen.append(metadata)
        if name == "broken":
            raise SecretStoreError("connection lost")
        if name not in self.secrets:
            raise SecretNotFound(f"secret {name} not found")
        return dict(self.secrets[name])

    async def bulk_get(self, metadata: Mapping[str, str]) -> dict[str, dict[str, str]]:
        if self.fail_bulk:
            raise SecretStoreError("connection lost")
        return {k: dict(v) for k, v in self.secrets.items()}


SECRETS = {name: {name: f"value of {name}"} for name in ("s1", "s2", "s3")} | {"empty": {}}


def secret_store(name: str, driver: SecretStore) -> LoadedComponent:
    return LoadedComponent(ComponentMetadata(name, "secretstores.test"), driver)


def block_with(*scopes: dict[str, object]) -> SecretsBlock:
    block = SecretsBlock("app", {"secrets": {"scopes": list(scopes)}}, source="config.yaml")
    block.add(secret_store("store", DictStore(SECRETS)))
    block.add(secret_store("other", DictStore(SECRETS)))
    return block


# The table of https://docs.dapr.io/operations/configuration/secret-scope/ ("Permission priority").
@pytest.mark.parametrize("scope,allowed", [
    ({"defaultAccess": "deny"}, set()),
    ({"defaultAccess": "allow"}, {"s1", "s2", "s3"}),
    ({}, {"s1", "s2", "s3"}),
    ({"defaultAccess": "deny", "allowedSecrets": ["s1"]}, {"s1"}),
    ({"defaultAccess": "allow", "deniedSecrets": ["s1"]}, {"s2", "s3"}),
    ({"defaultAccess": "allow", "allowedSecrets": ["s1"]}, {"s1"}),
    ({"defaultAccess": "deny", "deniedSecrets": ["s1"]}, set()),
    ({"defaultAccess": "deny", "allowedSecrets": ["s1"], "deniedSecrets": ["s2"]}, {"s1"}),
    ({"defaultAccess": "allow", "allowedSecrets": ["s1"], "deniedSecrets": ["s1"]}, {"s1"}),
    ({"defaultAccess": "DENY", "allowedSecrets": ["s2"]}, {"s2"}),
])
async def test_scope_rules(scope: dict[str, object], allowed: set[str]) -> None:
    block = block_with({"storeName": "store", **scope})
    for name in ("s1", "s2", "s3"):
        assert block.allowed("store", name) is (name in allowed)
        if name in allowed:
            assert await block.get("store", name, {}) == {name: f"value of {name}"}
        else:
            with pytest.raises(DaprError) as caught:
                await block.get("store", name, {})
            assert (caught.value.status, caught.value.code) == (403, "ERR_PERMISSION_DENIED")
            assert caught.value.message == f'access denied by policy to get "{name}" from "store"'
    assert set(await block.bulk("store", {})) - {"empty"} == allowed
    # A store without a scope is not limited.
    assert set(await block.bulk("other", {})) == set(SECRETS)


async def test_unknown_store_is_401_and_no_store_is_500() -> None:
    block = block_with()
    for call in (block.get("nope", "s1", {}), block.bulk("nope", {})):
        with pytest.raises(DaprError) as caught:
            await call
        assert (caught.value.status, caught.value.code) == (401, "ERR_SECRET_STORE_NOT_FOUND")
        assert caught.value.message == "failed finding secret store with key nope"
        assert caught.value.to_json() == {"errorCode": "ERR_SECRET_STORE_NOT_FOUND",
                                          "message": "failed finding secret store with key nope"}
    empty = SecretsBlock("app")
    with pytest.raises(DaprError) as caught:
        await empty.get("store", "s1", {})
    assert (caught.value.status, caught.value.code) == (500, "ERR_SECRET_STORES_NOT_CONFIGURED")
    assert caught.value.message == "secret store is not configured"


async def test_store_check_comes_before_scopes() -> None:
    block = block_with({"storeName": "nope", "defaultAccess": "deny"})
    with pytest.raises(DaprError) as caught:
        await block.get("nope", "s1", {})
    assert caught.value.status == 401


async def test_missing_secret_and_store_failures_are_500_secret_get() -> None:
    block = block_with()
    with pytest.raises(DaprError) as caught:
        await block.get("store", "absent", {})
    assert (caught.value.status, caught.value.code) == (500, "ERR_SECRET_GET")
    assert caught.value.message == (
        "failed getting secret with key absent from secret store store: secret absent not found")
    with pytest.raises(DaprError, match="connection lost") as caught:
        await block.get("store", "broken", {})
    assert caught.value.code == "ERR_SECRET_GET"
    failing = SecretsBlock("app")
    failing.add(secret_store("store", DictStore(SECRETS, fail_bulk=True)))
    with pytest.raises(DaprError) as caught:
        await failing.bulk("store", {})
    assert (caught.value.status, caught.value.code, caught.value.message) == (
        500, "ERR_SECRET_GET", "failed getting secrets from secret store store: connection lost")


async def test_metadata_reaches_the_store_and_empty_data_stays_empty() -> None:
    block = SecretsBlock("app")
    store = DictStore(SECRETS)
    block.add(secret_store("store", store))
    assert await block.get("store", "empty", {"version": "2"}) == {}
    assert store.seen == [{"version": "2"}]
    assert block.names() == ["store"] and dict(block.stores) == {"store": store}


def test_parse_scopes_reads_fields_case_insensitively() -> None:
    scopes = parse_scopes({"Secrets": {"Scopes": [
        {"storename": "a", "DefaultAccess": "Deny", "allowedsecrets": ["x"]},
        {"storeName": "b", "deniedSecrets": ["y"]},
    ]}})
    assert scopes == {
        "a": SecretScope("a", False, frozenset({"x"})),
        "b": SecretScope("b", True, frozenset(), frozenset({"y"})),
    }
    assert parse_scopes({}) == {} and parse_scopes({"secrets": None}) == {}


@pytest.mark.parametrize("secrets,problem", [
    ({"scopes": [{"storeName": "a"}, {"storeName": "a"}]}, "'a' is repeated"),
    ({"scopes": [{"storeName": "a", "defaultAccess": "maybe"}]}, "can be either allow or deny"),
    ({"scopes": [{"defaultAccess": "deny"}]}, "needs a storeName"),
    ({"scopes": [{"storeName": "a", "allowedSecrets": "s1"}]}, "allowedSecrets must be a list"),
    ({"scopes": [{"storeName": "a", "deniedSecrets": [1]}]}, "deniedSecrets must be a list"),
    ({"scopes": {"storeName": "a"}}, "scopes must be a list"),
    ({"scopes": ["a"]}, "scopes[0] must be a mapping"),
    ("deny", "spec.secrets must be a mapping"),
])
def test_malformed_scopes_are_refused_naming_the_file(secrets: object, problem: str) -> None:
    with pytest.raises(ComponentError) as caught:
        SecretsBlock("app", {"secrets": secrets}, source="config.yaml")
    assert "config.yaml" in str(caught.value) and problem in str(caught.value)
