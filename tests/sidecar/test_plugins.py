"""Drivers are found through pluggy: built-ins via the same hook, third parties via entry points."""
from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from support import component_yaml, http_json, run_tandemd_until_exit
from tandem.sidecar import ComponentFactory, hookimpl
from tandem.sidecar.components.state import StateStore
from tandem.sidecar.plugins import (
    ComponentRegistry,
    PluginError,
    UnknownComponentType,
    component_registry,
    plugin_manager,
)

PLUGIN_SOURCE = textwrap.dedent('''
    from tandem.sidecar import ComponentFactory, hookimpl
    from tandem.sidecar.drivers.memory_state import MemoryStateStore

    class FakeStore(MemoryStateStore):
        """An in-memory store under another name, as a third-party plugin would ship."""

    @hookimpl
    def tandem_component_factories():
        return [ComponentFactory("state.fake", FakeStore)]
''')


@pytest.fixture
def installed_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A distribution ``tandem-fake`` with a ``tandem.plugins`` entry point, on sys.path."""
    (tmp_path / "tandem_fake.py").write_text(PLUGIN_SOURCE)
    info = tmp_path / "tandem_fake-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tandem-fake\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text("[tandem.plugins]\nfake = tandem_fake\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "tandem_fake", raising=False)
    return tmp_path


def test_builtin_drivers_come_through_the_hook() -> None:
    pm = plugin_manager(env={"TANDEM_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert pm.get_plugin("tandem.builtin") is not None
    registry = component_registry(pm)
    assert {"state.in-memory", "state.sqlite"} <= set(registry.types())
    assert isinstance(registry.lookup("state.sqlite", "v1").create(), StateStore)


def test_versions_v0_v1_and_empty_are_the_same() -> None:
    registry = component_registry(plugin_manager(env={"TANDEM_DISABLE_PLUGIN_AUTOLOAD": "1"}))
    assert registry.lookup("state.sqlite", "") is registry.lookup("state.sqlite", "v1")
    with pytest.raises(UnknownComponentType, match="no version 'v2'"):
        registry.lookup("state.sqlite", "v2")


def test_unknown_types_name_the_distribution_to_install() -> None:
    registry = component_registry(plugin_manager(env={"TANDEM_DISABLE_PLUGIN_AUTOLOAD": "1"}))
    with pytest.raises(UnknownComponentType, match="pip install tandem-redis"):
        registry.lookup("pubsub.redis")


def test_a_family_without_a_plugin_yet_says_so_and_points_to_the_guide() -> None:
    registry = component_registry(plugin_manager(env={"TANDEM_DISABLE_PLUGIN_AUTOLOAD": "1"}))
    with pytest.raises(UnknownComponentType) as caught:
        registry.lookup("state.postgresql")
    assert "not yet available" in str(caught.value) and "docs/plugins.md" in str(caught.value)
    assert "pip install" not in str(caught.value)  # no package to install exists
    with pytest.raises(UnknownComponentType, match="docs/plugins.md"):
        registry.lookup("state.nosuchthing")


def test_every_distribution_named_for_a_family_exists_in_this_repository() -> None:
    from tandem.sidecar.families import DISTRIBUTIONS

    plugins = Path(__file__).parents[2] / "plugins"
    shipped = {line.split("=", 1)[1].strip() for cfg in plugins.glob("*/setup.cfg")
               for line in cfg.read_text().splitlines() if line.startswith("name =")}
    named = {dist for dist in DISTRIBUTIONS.values() if dist is not None}
    assert named and named <= shipped


def test_an_entry_point_plugin_is_discovered(installed_plugin: Path) -> None:
    registry = component_registry(plugin_manager(env={}))
    assert "state.fake" in registry.types()
    assert registry.plugins["fake"] == "tandem-fake 1.2.3"


def test_autoload_can_be_switched_off(installed_plugin: Path) -> None:
    registry = component_registry(plugin_manager(env={"TANDEM_DISABLE_PLUGIN_AUTOLOAD": "1"}))
    assert "state.fake" not in registry.types()


def test_tandem_plugins_registers_named_modules(installed_plugin: Path) -> None:
    env = {"TANDEM_DISABLE_PLUGIN_AUTOLOAD": "1", "TANDEM_PLUGINS": "tandem_fake"}
    assert "state.fake" in component_registry(plugin_manager(env=env)).types()
    with pytest.raises(PluginError, match="no_such_module"):
        plugin_manager(env={"TANDEM_DISABLE_PLUGIN_AUTOLOAD": "1", "TANDEM_PLUGINS": "no_such_module"})


def test_two_plugins_claiming_one_type_are_refused() -> None:
    class Twin:
        @hookimpl
        def tandem_component_factories(self) -> list[ComponentFactory]:
            from tandem.sidecar.drivers.memory_state import MemoryStateStore

            return [ComponentFactory("state.in-memory", MemoryStateStore)]

    pm = plugin_manager(extra=[Twin()], env={"TANDEM_DISABLE_PLUGIN_AUTOLOAD": "1"})
    with pytest.raises(PluginError, match="state.in-memory"):
        component_registry(pm)


def test_registry_is_an_object_not_a_global() -> None:
    one, two = ComponentRegistry(), ComponentRegistry()
    from tandem.sidecar.drivers.memory_state import MemoryStateStore

    one.add(ComponentFactory("state.x", MemoryStateStore))
    assert two.types() == [] and one.types() == ["state.x"]


def test_the_sidecar_loads_a_component_from_an_entry_point_plugin(installed_plugin: Path, tandemd) -> None:  # type: ignore[no-untyped-def]
    sidecar = tandemd({"statestore": "state.fake"}, env={"PYTHONPATH": str(installed_plugin)})
    assert http_json("POST", sidecar.url + "/v1.0/state/statestore", [{"key": "k", "value": 1}])[0] == 204
    doc = http_json("GET", sidecar.url + "/v1.0/metadata")[1]
    assert {"name": "fake", "distribution": "tandem-fake 1.2.3"} in doc["plugins"]


def test_the_sidecar_honours_the_autoload_switch(installed_plugin: Path, tmp_path: Path) -> None:
    folder = tmp_path / "components"
    folder.mkdir()
    (folder / "fake.yaml").write_text(component_yaml("statestore", "state.fake"))
    code, output = run_tandemd_until_exit(
        ["--dapr-http-port", "0", "--resources-path", str(folder)],
        env={"PYTHONPATH": str(installed_plugin), "TANDEM_DISABLE_PLUGIN_AUTOLOAD": "1",
             "TANDEM_HOME": str(tmp_path)})
    assert code != 0 and "state.fake" in output


def test_hook_calls_go_through_pluggy_so_tracing_shows_them(capsys: pytest.CaptureFixture[str]) -> None:
    pm = plugin_manager(env={"TANDEM_DISABLE_PLUGIN_AUTOLOAD": "1", "TANDEM_PLUGIN_TRACE": "1"})
    component_registry(pm)
    trace = capsys.readouterr().err
    assert "tandem_component_factories" in trace and "finish tandem_component_factories" in trace


def test_a_hook_call_is_seen_by_pluggy_monitoring() -> None:
    pm = plugin_manager(env={"TANDEM_DISABLE_PLUGIN_AUTOLOAD": "1"})
    seen: list[str] = []
    pm.add_hookcall_monitoring(lambda name, impls, kwargs: seen.append(name), lambda *args: None)
    component_registry(pm)
    assert seen == ["tandem_component_factories"]


def test_a_misspelt_hook_is_refused_naming_the_plugin() -> None:
    class Typo:
        @hookimpl
        def tandem_componet_factories(self) -> list[ComponentFactory]:
            return []

    with pytest.raises(PluginError, match=r"tandem_componet_factories") as caught:
        plugin_manager(extra=[Typo()], env={"TANDEM_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert "Typo" in str(caught.value)


def test_a_misspelt_hook_in_an_entry_point_plugin_names_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "tandem_typo.py").write_text(
        "from tandem.sidecar import hookimpl\n\n@hookimpl\ndef tandem_component_factory():\n    return []\n")
    info = tmp_path / "tandem_typo-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tandem-typo\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[tandem.plugins]\ntypo = tandem_typo\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginError, match=r"plugin 'typo' is invalid.*tandem_component_factory"):
        plugin_manager(env={})


def test_a_plugin_can_be_disabled_by_name(installed_plugin: Path) -> None:
    registry = component_registry(plugin_manager(env={"TANDEM_DISABLE_PLUGINS": "other, fake"}))
    assert "state.fake" not in registry.types() and "fake" not in registry.plugins
    assert "state.in-memory" in registry.types()


def test_disabling_also_covers_named_modules_and_the_builtins(installed_plugin: Path) -> None:
    env = {"TANDEM_DISABLE_PLUGIN_AUTOLOAD": "1", "TANDEM_PLUGINS": "tandem_fake"}
    assert "state.fake" not in component_registry(plugin_manager(env=env, disabled=["tandem_fake"])).types()
    no_builtin = component_registry(plugin_manager(env={**env, "TANDEM_DISABLE_PLUGINS": "tandem.builtin"}))
    assert no_builtin.types() == ["state.fake"]
