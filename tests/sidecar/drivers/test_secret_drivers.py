"""``secretstores.local.file`` and ``secretstores.local.env``, as Dapr's docs describe them."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tandem.sidecar.components.base import ComponentMetadata, MetadataError
from tandem.sidecar.components.secretstores import SecretNotFound
from tandem.sidecar.drivers.env_secrets import EnvSecretStore
from tandem.sidecar.drivers.localfile_secrets import LocalFileSecretStore, flatten
from tandem.sidecar.plugins import component_registry, plugin_manager

pytestmark = pytest.mark.anyio

# The example of https://docs.dapr.io/reference/components-reference/supported-secret-stores/file-secret-store/
DOCS_EXAMPLE = {
    "redisPassword": "your redis password",
    "connectionStrings": {"sql": "your sql connection string", "mysql": "your mysql connection string"},
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def meta(ctype: str, **properties: str) -> ComponentMetadata:
    return ComponentMetadata(name="secrets", type=ctype, properties=properties)


async def file_store(tmp_path: Path, document: Any, **properties: str) -> LocalFileSecretStore:
    path = tmp_path / "secrets.json"
    path.write_text(json.dumps(document))
    store = LocalFileSecretStore()
    await store.init(meta("secretstores.local.file", secretsFile=str(path), **properties))
    return store


async def test_single_valued_flattens_with_the_default_separator(tmp_path: Path) -> None:
    store = await file_store(tmp_path, DOCS_EXAMPLE)
    assert await store.get_secret("redisPassword", {}) == {"redisPassword": "your redis password"}
    assert await store.get_secret("connectionStrings:sql", {}) == {
        "connectionStrings:sql": "your sql connection string"}
    assert await store.bulk_get({}) == {
        "redisPassword": {"redisPassword": "your redis password"},
        "connectionStrings:sql": {"connectionStrings:sql": "your sql connection string"},
        "connectionStrings:mysql": {"connectionStrings:mysql": "your mysql connection string"},
    }
    with pytest.raises(SecretNotFound, match="secret connectionStrings not found"):
        await store.get_secret("connectionStrings", {})
    assert store.features() == frozenset()


async def test_multi_valued_keeps_the_top_level_as_secrets(tmp_path: Path) -> None:
    document = {**DOCS_EXAMPLE, "deep": {"a": {"b": "x"}, "list": ["p", "q"]}}
    store = await file_store(tmp_path, document, multiValued="true", nestedSeparator=".")
    assert await store.get_secret("connectionStrings", {}) == DOCS_EXAMPLE["connectionStrings"]
    assert await store.get_secret("redisPassword", {}) == {"redisPassword": "your redis password"}
    assert await store.get_secret("deep", {}) == {"a.b": "x", "list.0": "p", "list.1": "q"}
    assert set(await store.bulk_get({})) == {"redisPassword", "connectionStrings", "deep"}
    with pytest.raises(SecretNotFound):
        await store.get_secret("connectionStrings.sql", {})
    assert store.features() == frozenset({"MULTIPLE_KEY_VALUES_PER_SECRET"})


async def test_custom_separator_arrays_and_scalars(tmp_path: Path) -> None:
    document = {"db": {"port": 5432, "ssl": True, "ratio": 0.5, "none": None, "hosts": ["h1", {"x": "h2"}]}}
    store = await file_store(tmp_path, document, nestedSeparator="__")
    assert {k: v[k] for k, v in (await store.bulk_get({})).items()} == {
        "db__port": "5432", "db__ssl": "true", "db__ratio": "0.5", "db__none": "",
        "db__hosts__0": "h1", "db__hosts__1__x": "h2",
    }


def test_flatten_refuses_keys_that_collide() -> None:
    with pytest.raises(MetadataError, match="'a:b' appears twice"):
        flatten({"a:b": "1", "a": {"b": "2"}}, ":")


async def test_relative_path_is_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "s.json").write_text('{"k": "v"}')
    monkeypatch.chdir(tmp_path)
    store = LocalFileSecretStore()
    await store.init(meta("secretstores.local.file", secretsFile="s.json"))
    assert await store.get_secret("k", {}) == {"k": "v"}


@pytest.mark.parametrize("content,properties,problem", [
    (None, {}, "'secretsFile' is required"),
    (None, {"secretsFile": "missing.json"}, "cannot read 'missing.json'"),
    ('{"password": "hunter2"', {}, "is not valid JSON"),
    ('["hunter2"]', {}, "must hold a JSON object"),
    ('{"k": "hunter2"}', {"multiValued": "perhaps"}, "multiValued"),
])
async def test_bad_configuration_is_a_metadata_error_without_the_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str | None, properties: dict[str, str], problem: str
) -> None:
    monkeypatch.chdir(tmp_path)
    if content is not None:
        (tmp_path / "s.json").write_text(content)
        properties = {"secretsFile": "s.json", **properties}
    with pytest.raises(MetadataError, match=problem) as caught:
        await LocalFileSecretStore().init(meta("secretstores.local.file", **properties))
    assert "hunter2" not in str(caught.value)


async def test_a_secrets_file_that_is_no_regular_file_is_refused_not_waited_on(tmp_path: Path) -> None:
    """A FIFO would block the start-up forever on its open; a folder is no secrets file either."""
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "folder").mkdir()
    for name in ("fifo", "folder"):
        with pytest.raises(MetadataError, match="not a regular file"):
            await LocalFileSecretStore().init(meta("secretstores.local.file", secretsFile=str(tmp_path / name)))


ENV = {"PATH": "/bin", "MYAPP_DB": "db-pass", "MYAPP_": "bare", "DAPR_API_TOKEN": "t", "APP_API_TOKEN": "t",
       "MYAPP_DAPR_X": "ok"}


async def test_env_store_reads_variables_and_hides_dapr_ones() -> None:
    store = EnvSecretStore(ENV)
    await store.init(meta("secretstores.local.env"))
    assert await store.get_secret("PATH", {}) == {"PATH": "/bin"}
    for name in ("NOPE", "DAPR_API_TOKEN", "APP_API_TOKEN", "app_api_token", ""):
        with pytest.raises(SecretNotFound):
            await store.get_secret(name, {})
    bulk = await store.bulk_get({})
    assert bulk["MYAPP_DB"] == {"MYAPP_DB": "db-pass"}
    assert "DAPR_API_TOKEN" not in bulk and "APP_API_TOKEN" not in bulk


async def test_env_store_prefix_limits_and_is_stripped() -> None:
    store = EnvSecretStore(ENV)
    await store.init(meta("secretstores.local.env", prefix="MYAPP_"))
    assert await store.get_secret("DB", {}) == {"DB": "db-pass"}
    with pytest.raises(SecretNotFound):
        await store.get_secret("PATH", {})
    # As in Dapr, the DAPR_ rule looks at the full variable name, prefix included.
    assert await store.bulk_get({}) == {"DB": {"DB": "db-pass"}, "DAPR_X": {"DAPR_X": "ok"}}


async def test_env_store_sees_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TANDEM_TEST_SECRET", "s3cret")
    store = EnvSecretStore()
    await store.init(meta("secretstores.local.env"))
    assert await store.get_secret("TANDEM_TEST_SECRET", {}) == {"TANDEM_TEST_SECRET": "s3cret"}


def test_both_stores_are_registered() -> None:
    registry = component_registry(plugin_manager())
    assert isinstance(registry.lookup("secretstores.local.file", "v1").create(), LocalFileSecretStore)
    assert isinstance(registry.lookup("secretstores.local.env", "v1").create(), EnvSecretStore)
