"""Declared metadata fields: the check itself, and that each built-in driver reads only what it declares."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tandem.sidecar.components.base import ComponentMetadata
from tandem.sidecar.components.fields import KIND_FIELDS, MetadataField, check_fields
from tandem.sidecar.plugins import component_registry, plugin_manager

DECLARED = (MetadataField("connectionString", required=True, aliases=("url",)), MetadataField("tableName"),
            MetadataField("legacyKnob", applied=False, description="kept for Dapr's files"))


def messages(kind: str, given: list[str]) -> list[tuple[str, str]]:
    return [(p.level, p.message) for p in check_fields(kind, DECLARED, given)]


def test_known_fields_in_any_case_and_kind_wide_fields_pass() -> None:
    assert messages("state", ["ConnectionString", "tablename", "keyPrefix", "actorStateStore"]) == []
    assert messages("state", ["url"]) == []  # an alias satisfies the required field


def test_an_unknown_field_is_a_warning_with_a_did_you_mean() -> None:
    assert messages("state", ["connectionString", "tableNmae"]) == [
        ("warning", "unknown metadata field 'tableNmae' (did you mean 'tableName'?): ignored")]
    assert messages("state", ["connectionString", "zzz"]) == [("warning", "unknown metadata field 'zzz': ignored")]
    assert messages("pubsub", ["connectionString", "keyPrefix"])[0][0] == "warning"  # a state field, not a pubsub one


def test_a_missing_required_field_is_an_error() -> None:
    assert messages("state", []) == [("error", "metadata field 'connectionString' is required")]


def test_a_field_accepted_but_not_applied_says_so() -> None:
    assert messages("state", ["connectionString", "legacyKnob"]) == [
        ("warning", "metadata field 'legacyKnob' is accepted but not applied: kept for Dapr's files")]


class _Recording(dict[str, str]):
    """Metadata properties that remember every field name a driver looked up."""

    def __init__(self, values: dict[str, str]) -> None:
        super().__init__(values)
        self.asked: set[str] = set()

    def __contains__(self, key: object) -> bool:
        self.asked.add(str(key))
        return super().__contains__(key)


def _required_values(tmp_path: Path) -> dict[str, dict[str, str]]:
    secrets = tmp_path / "secrets.json"
    secrets.write_text(json.dumps({"a": "b"}))
    return {
        "state.sqlite": {"connectionString": str(tmp_path / "s.db")},
        "pubsub.sqlite": {"connectionString": str(tmp_path / "p.db")},
        "placement.sqlite": {"connectionString": str(tmp_path / "pl.db")},
        "secretstores.local.file": {"secretsFile": str(secrets)},
        "bindings.cron": {"schedule": "@every 1h"},
        "bindings.http": {"url": "http://127.0.0.1:9"},
        "bindings.localstorage": {"rootPath": str(tmp_path / "files")},
        "nameresolution.local": {"runDirectory": str(tmp_path / "run")},
        "nameresolution.mdns": {"runDirectory": str(tmp_path / "run")},
    }


#: Read by bindings.http only to refuse them (mTLS is not supported): not offered in its table.
_REFUSED = {"mtlsrootca", "mtlsclientcert", "mtlsclientkey", "mtlsrenegotiation"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_every_builtin_driver_declares_every_field_it_reads(tmp_path: Path) -> None:
    registry = component_registry(plugin_manager(env={"TANDEM_DISABLE_PLUGIN_AUTOLOAD": "1"}))
    values = _required_values(tmp_path)
    for (ctype, version), factory in sorted(registry.factories.items()):
        assert factory.fields is not None, f"{ctype} declares no fields"
        props = _Recording(values.get(ctype, {}))
        driver = factory.create()
        await driver.init(ComponentMetadata(name="x", type=ctype, version=version, properties=props, app_id="a"))
        await driver.close()
        known: set[str] = {n.lower() for f in (*factory.fields, *KIND_FIELDS.get(ctype.split(".")[0], ()))
                           for n in (f.name, *f.aliases)}
        undeclared = {k for k in props.asked if k.lower() not in known | _REFUSED}
        assert not undeclared, f"{ctype} reads fields it does not declare: {sorted(undeclared)}"
        missing: Any = [f.name for f in factory.fields if f.required and f.name not in values.get(ctype, {})]
        assert not missing, f"{ctype}: the test gives no value for required {missing}"


@pytest.mark.parametrize("ctype", ["state.sqlite", "bindings.cron", "secretstores.local.file"])
def test_required_fields_are_really_required_by_the_driver(ctype: str) -> None:
    import asyncio

    from tandem.sidecar.components.base import MetadataError

    registry = component_registry(plugin_manager(env={"TANDEM_DISABLE_PLUGIN_AUTOLOAD": "1"}))
    factory = registry.lookup(ctype)
    assert factory.fields is not None and any(f.required for f in factory.fields)
    with pytest.raises(MetadataError, match="required"):
        asyncio.run(factory.create().init(ComponentMetadata(name="x", type=ctype)))
