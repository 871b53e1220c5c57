"""The plugin author guide keeps up with the code: every hook, contract and feature name is in it."""
from __future__ import annotations

import enum
import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

import tandem.sidecar.components as components_pkg
from tandem.sidecar import hookspecs
from tandem.sidecar.components.base import Component

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"


@pytest.fixture(scope="module")
def guide() -> str:
    return GUIDE.read_text(encoding="utf-8")


def _mentioned(name: str, text: str) -> bool:
    """``name`` appears as a whole word (not as part of a longer identifier)."""
    return re.search(rf"(?<![\w.]){re.escape(name)}(?!\w)", text) is not None


def _hook_names() -> list[str]:
    return sorted(
        name for name, obj in vars(hookspecs).items()
        if inspect.isfunction(obj) and hasattr(obj, f"{hookspecs.PROJECT}_spec")
    )


def _component_modules() -> list[object]:
    return [importlib.import_module(f"{components_pkg.__name__}.{info.name}")
            for info in pkgutil.iter_modules(components_pkg.__path__)]


def _contracts() -> list[type]:
    found = {
        obj for module in _component_modules() for obj in vars(module).values()
        if inspect.isclass(obj) and issubclass(obj, Component) and obj is not Component
        and obj.__module__ == module.__name__  # type: ignore[attr-defined]
    }
    return sorted(found, key=lambda c: c.__name__)


def _feature_enums() -> list[type[enum.Enum]]:
    found = {
        obj for module in _component_modules() for obj in vars(module).values()
        if inspect.isclass(obj) and issubclass(obj, enum.Enum) and obj.__name__.endswith("Feature")
        and obj.__module__ == module.__name__  # type: ignore[attr-defined]
    }
    return sorted(found, key=lambda c: c.__name__)


def test_the_discovery_finds_what_it_should() -> None:
    """Guards the checks below against passing vacuously."""
    assert "tandem_component_factories" in _hook_names()
    assert {"StateStore", "PubSub", "InputBinding", "OutputBinding", "LockStore", "SecretStore",
            "NameResolver"} <= {c.__name__ for c in _contracts()}
    assert {"StateFeature", "PubSubFeature", "BindingFeature", "SecretStoreFeature"} <= {
        e.__name__ for e in _feature_enums()}


def test_every_hook_is_documented(guide: str) -> None:
    missing = [name for name in _hook_names() if not _mentioned(name, guide)]
    assert not missing, f"hooks declared in sidecar/hookspecs.py but not in docs/plugins.md: {missing}"


def test_every_component_contract_is_documented(guide: str) -> None:
    missing = [c.__name__ for c in _contracts() if not _mentioned(c.__name__, guide)]
    assert not missing, f"component contracts not mentioned in docs/plugins.md: {missing}"


def test_every_feature_name_is_documented(guide: str) -> None:
    missing = [f"{e.__name__}.{m.name}" for e in _feature_enums() for m in e
               if not _mentioned(str(m.value), guide)]
    assert not missing, f"feature names not in docs/plugins.md: {missing}"
    absent = [e.__name__ for e in _feature_enums() if not _mentioned(e.__name__, guide)]
    assert not absent, f"feature enums not named in docs/plugins.md: {absent}"


@pytest.mark.parametrize("name", [
    "tandem.plugins", "TANDEM_DISABLE_PLUGIN_AUTOLOAD", "TANDEM_PLUGINS", "TANDEM_DEBUG_PLUGINS", "TANDEM_DISABLE_PLUGINS", "TANDEM_PLUGIN_TRACE",
    "StateStoreConformance", "PubSubConformance", "LockStoreConformance", "open_component", "build_component",
    "tandem components",
])
def test_the_guide_covers_discovery_and_testing(guide: str, name: str) -> None:
    assert name in guide
