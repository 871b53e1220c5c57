"""``tandem components``: every component type, with the plugin and distribution providing it."""
from __future__ import annotations

import importlib.metadata
import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tandem.sidecar.cli.main import cli

PLUGIN_SOURCE = textwrap.dedent('''
    from tandem.sidecar import ComponentFactory, hookimpl
    from tandem.sidecar.drivers.memory_state import MemoryStateStore

    class ExtraStore(MemoryStateStore):
        """An in-memory store under another name."""

    @hookimpl
    def tandem_component_factories():
        return [ComponentFactory("state.extra", ExtraStore, version="v2", description="a test store")]
''')


def _run(*args: str, env: dict[str, str] | None = None) -> str:
    result = CliRunner().invoke(cli, ["components", *args], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def _json(env: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
    rows = json.loads(_run("-o", "json", env=env))
    return {row["type"]: row for row in rows}


def test_builtins_are_listed_with_tandem_as_distribution() -> None:
    rows = _json()
    version = importlib.metadata.version("tandem")
    for ctype in ("state.in-memory", "state.sqlite", "pubsub.sqlite", "lock.in-memory", "bindings.cron"):
        assert rows[ctype]["distribution"] == "tandem"
        assert rows[ctype]["distributionVersion"] == version
        assert rows[ctype]["plugin"] == "tandem.builtin"
    assert rows["state.sqlite"]["kind"] == "state"
    assert rows["state.sqlite"]["version"] == "v1"


def test_the_table_shows_type_kind_and_provider() -> None:
    out = _run()
    header, *lines = out.splitlines()
    assert header.split() == ["TYPE", "VERSION", "KIND", "PLUGIN", "DISTRIBUTION", "DESCRIPTION"]
    sqlite = next(line for line in lines if line.startswith("state.sqlite "))
    assert f"tandem {importlib.metadata.version('tandem')}" in sqlite
    assert sqlite.split()[:4] == ["state.sqlite", "v1", "state", "tandem.builtin"]


def test_tandem_redis_is_listed_with_its_distribution_and_version() -> None:
    try:
        version = importlib.metadata.version("tandem-redis")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("tandem-redis is not installed")
    row = _json()["state.redis"]
    assert (row["distribution"], row["distributionVersion"], row["kind"]) == ("tandem-redis", version, "state")
    assert f"tandem-redis {version}" in next(line for line in _run().splitlines() if line.startswith("state.redis "))


def test_autoload_switch_hides_entry_point_plugins() -> None:
    rows = _json(env={"TANDEM_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert "state.redis" not in rows
    assert {row["distribution"] for row in rows.values()} == {"tandem"}


def test_a_plugin_named_in_tandem_plugins_shows_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "tandem_extra_plugin.py").write_text(PLUGIN_SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "tandem_extra_plugin", raising=False)
    rows = _json(env={"TANDEM_PLUGINS": "tandem_extra_plugin", "TANDEM_DISABLE_PLUGIN_AUTOLOAD": "1"})
    row = rows["state.extra"]
    assert row["plugin"] == "tandem_extra_plugin"
    assert (row["version"], row["kind"], row["description"]) == ("v2", "state", "a test store")
    assert row["distribution"] is None  # a bare module on sys.path: no distribution holds it
    assert "state.extra" in _run(env={"TANDEM_PLUGINS": "tandem_extra_plugin", "TANDEM_DISABLE_PLUGIN_AUTOLOAD": "1"})


def test_a_failing_plugin_is_reported_not_a_traceback() -> None:
    result = CliRunner().invoke(cli, ["components"], env={"TANDEM_PLUGINS": "no_such_tandem_plugin_module"})
    assert result.exit_code != 0
    assert "no_such_tandem_plugin_module" in result.output
    assert "Traceback" not in result.output
