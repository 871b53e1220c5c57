"""``secretKeyRef`` resolution: values through the component's store, errors that name, never reveal."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest
import yaml

from tandem.sidecar.components.base import ComponentMetadata, MetadataError
from tandem.sidecar.components.loader import parse_component
from tandem.sidecar.components.model import ComponentError, ComponentSpec
from tandem.sidecar.components.secret_refs import init_order, resolve_secret_refs, with_secret_values
from tandem.sidecar.components.secretstores import SecretNotFound, SecretStore, SecretStoreError

pytestmark = pytest.mark.anyio

PASSWORD = "pa55-w0rd-value"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class DictStore(SecretStore):
    def __init__(self, secrets: Mapping[str, dict[str, str]]) -> None:
        self.secrets = secrets
        self.calls: list[tuple[str, Mapping[str, str]]] = []

    async def init(self, metadata: ComponentMetadata) -> None:
        pass

    async def get_secret(self, name: str, metadata: Mapping[str, str]) -> dict[str, str]:
        self.calls.append((name, metadata))
        if name == "broken":
            raise SecretStoreError("connection lost")
        if name not in self.secrets:
            raise SecretNotFound(f"secret {name} not found")
        return dict(self.secrets[name])

    async def bulk_get(self, metadata: Mapping[str, str]) -> dict[str, dict[str, str]]:
        return {k: dict(v) for k, v in self.secrets.items()}


STORES = {"localsecrets": DictStore({
    "redis-secret": {"password": PASSWORD, "user": "default"},
    "plain": {"plain": "single"},
    "empty": {"e": ""},
})}


def component(refs: dict[str, dict[str, str]], *, store: str | None = "localsecrets",
              ctype: str = "state.redis", name: str = "statestore", namespace: str | None = None) -> ComponentSpec:
    doc: dict[str, object] = {
        "apiVersion": "dapr.io/v1alpha1", "kind": "Component",
        "metadata": {"name": name, **({"namespace": namespace} if namespace else {})},
        "spec": {"type": ctype, "version": "v1", "metadata": [
            {"name": "redisHost", "value": "localhost:6379"},
            *({"name": k, "secretKeyRef": v} for k, v in refs.items()),
        ]},
    }
    if store:
        doc["auth"] = {"secretStore": store}
    return parse_component(yaml.safe_load(yaml.safe_dump(doc)), "/res/redis.yaml", {})


async def test_values_come_from_the_named_store_and_each_secret_is_read_once() -> None:
    store = DictStore(STORES["localsecrets"].secrets)
    spec = component({
        "redisPassword": {"name": "redis-secret", "key": "password"},
        "redisUsername": {"name": "redis-secret", "key": "user"},
        "other": {"name": "plain"},  # key defaults to the name
        "blank": {"name": "empty", "key": "e"},
    }, namespace="prod")
    resolved = await resolve_secret_refs(spec, {"localsecrets": store}, None)
    assert resolved == {"redisPassword": PASSWORD, "redisUsername": "default", "other": "single", "blank": ""}
    assert store.calls == [("redis-secret", {"namespace": "prod"}), ("plain", {"namespace": "prod"}),
                           ("empty", {"namespace": "prod"})]


async def test_a_component_without_refs_needs_no_store() -> None:
    assert await resolve_secret_refs(component({}, store=None), {}, None) == {}


async def test_the_default_store_applies_without_auth_secret_store() -> None:
    spec = component({"redisPassword": {"name": "redis-secret", "key": "password"}}, store=None)
    assert await resolve_secret_refs(spec, {"kubernetes": STORES["localsecrets"]}, "kubernetes") == {
        "redisPassword": PASSWORD}
    with pytest.raises(ComponentError) as caught:
        await resolve_secret_refs(spec, STORES, None)
    assert caught.value.component == "statestore"
    assert "auth.secretStore" in str(caught.value) and "'redisPassword'" in str(caught.value)


@pytest.mark.parametrize("refs,store,expected", [
    ({"redisPassword": {"name": "redis-secret", "key": "pasword"}}, "localsecrets",
     "metadata field 'redisPassword': secret 'redis-secret' key 'pasword' not found in secret store "
     "'localsecrets' (the secret's keys: password, user)"),
    ({"redisPassword": {"name": "nope", "key": "password"}}, "localsecrets",
     "metadata field 'redisPassword': secret 'nope' key 'password' not found in secret store 'localsecrets'"),
    ({"redisPassword": {"name": "redis-secret", "key": "password"}}, "vault",
     "metadata field 'redisUsername': secret 'redis-secret' cannot be read: secret store 'vault' "
     "(auth.secretStore) is not loaded (secret stores loaded: localsecrets)"),
    ({"redisPassword": {"name": "broken", "key": "password"}}, "localsecrets",
     "metadata field 'redisPassword': reading secret 'broken' from secret store 'localsecrets' failed: "
     "connection lost"),
])
async def test_errors_name_file_component_field_and_secret(
    refs: dict[str, dict[str, str]], store: str, expected: str
) -> None:
    spec = component({"redisUsername": {"name": "redis-secret", "key": "user"}, **refs}, store=store)
    with pytest.raises(ComponentError) as caught:
        await resolve_secret_refs(spec, STORES, None)
    assert caught.value.problem == expected
    assert str(caught.value) == f"/res/redis.yaml: component 'statestore': {expected}"
    assert PASSWORD not in str(caught.value)


def test_resolved_values_are_hidden_from_repr_and_errors() -> None:
    base = ComponentMetadata(name="s", type="state.redis", properties={"redisHost": "h:1"})
    merged = with_secret_values(base, {"redisPassword": PASSWORD, "redisDB": "not-a-number-" + PASSWORD})
    assert merged.get("redisPassword") == PASSWORD and merged.require("redisHost") == "h:1"
    assert merged.get("REDISPASSWORD") == PASSWORD
    assert PASSWORD not in repr(merged) and "'redisHost': 'h:1'" in repr(merged)
    assert merged == ComponentMetadata(name="s", type="state.redis", properties=dict(merged.properties))
    for read in (lambda: merged.get_int("redisdb", 0), lambda: merged.get_bool("redisDB"),
                 lambda: merged.get_duration("redisDB", 1.0), lambda: merged.get_size("redisDB", 1)):
        with pytest.raises(MetadataError) as caught:
            read()
        assert PASSWORD not in str(caught.value) and "'redisdb'" in str(caught.value).lower()
    with pytest.raises(MetadataError, match="not an integer: 'h:1'"):
        merged.get_int("redisHost", 0)  # plain values are still quoted, as before
    assert with_secret_values(base, {}) is base


def test_spec_repr_hides_merged_ref_values() -> None:
    spec = component({"redisPassword": {"name": "redis-secret", "key": "password"}})
    merged = ComponentSpec(**{**spec.__dict__, "metadata": {**spec.metadata, "redisPassword": PASSWORD}})
    assert PASSWORD not in repr(merged) and "redis-secret" in repr(merged)


def test_secret_stores_are_initialised_first() -> None:
    specs = [
        component({}, store=None, ctype="state.sqlite", name="a"),
        component({"x": {"name": "plain"}}, ctype="secretstores.local.env", name="b"),
        component({}, store=None, ctype="secretstores.local.file", name="c"),
        component({}, store=None, ctype="pubsub.sqlite", name="d"),
    ]
    assert [s.name for s in init_order(specs)] == ["c", "b", "a", "d"]

    class Loaded:
        def __init__(self, spec: ComponentSpec) -> None:
            self.spec = spec

    assert [x.spec.name for x in init_order([Loaded(s) for s in specs])] == ["c", "b", "a", "d"]
    assert init_order(["a", "c"], lambda n: next(s for s in specs if s.name == n)) == ["c", "a"]


def test_parse_reads_auth_secret_store_in_either_spelling(tmp_path: Path) -> None:
    doc = yaml.safe_load(
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: s}\n"
        "spec: {type: state.redis, metadata: [{name: p, secretKeyRef: {name: n}}]}\nauth: {secretstore: st}\n")
    spec = parse_component(doc, tmp_path / "c.yaml", {})
    assert (spec.secret_store, spec.secret_refs["p"].key) == ("st", "n")
