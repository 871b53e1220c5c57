"""The one review behind the sidecar's start-up warnings and ``tandem doctor``."""
from __future__ import annotations

from pathlib import Path

from support import component_yaml
from tandem.sidecar.checks import configuration_not_applied, diagnose
from tandem.sidecar.components.loader import load_configuration
from tandem.sidecar.drivers.memory_state import MemoryStateStore
from tandem.sidecar.plugins import ComponentFactory, ComponentRegistry, component_registry, plugin_manager


def config_file(tmp_path: Path, spec: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(f"apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata: {{name: c}}\nspec:\n{spec}")
    return path


def test_honoured_sections_are_quiet_and_the_rest_is_named(tmp_path: Path) -> None:
    path = config_file(tmp_path, """\
  tracing: {samplingRate: "1", stdout: true, zipkin: {endpointAddress: "http://z:9411/api/v2/spans"}}
  metric: {enabled: true, rules: [{name: dapr_runtime_service_invocation_req_sent_total}]}
  logging: {apiLogging: {enabled: true}}
  secrets: {scopes: [{storeName: s, defaultAccess: deny}]}
  nameResolution: {component: local}
  features: [{name: ActorStateTTL, enabled: true}, {name: Disabled, enabled: false}]
  httpPipeline: {handlers: [{name: oauth, type: middleware.http.oauth2}]}
""")
    found = [(f.level, f.message) for f in configuration_not_applied(load_configuration(path))]
    assert found == [("warning", "spec.metric.rules: not applied (Tandem does not implement this setting)"),
                     ("warning", "spec.httpPipeline: not applied (Tandem does not implement this setting)")]


def test_a_configuration_the_sidecar_would_refuse_is_an_error(tmp_path: Path) -> None:
    registry = component_registry(plugin_manager(env={"TANDEM_DISABLE_PLUGIN_AUTOLOAD": "1"}))
    (tmp_path / "res").mkdir()
    path = config_file(tmp_path, '  tracing: {samplingRate: "lots"}\n  nameResolution: {component: consul}\n')
    errors = [f.message for f in diagnose([tmp_path / "res"], path, "a", registry) if f.level == "error"]
    assert any("tracing.samplingRate" in e for e in errors)
    assert any("spec.nameResolution" in e and "nameresolution.consul" in e for e in errors)


def test_a_type_that_declares_no_fields_is_noted_as_not_checked(tmp_path: Path) -> None:
    registry = ComponentRegistry()
    registry.add(ComponentFactory("state.undeclared", MemoryStateStore))
    (tmp_path / "res").mkdir()
    (tmp_path / "res" / "s.yaml").write_text(component_yaml("s", "state.undeclared", {"anything": "1"}))
    found = diagnose([tmp_path / "res"], None, "a", registry)
    assert [(f.level, f.message) for f in found] == [
        ("info", "component 's' (state.undeclared): fields not checked (its driver declares no metadata fields)")]


def test_a_bad_declarative_subscription_is_an_error(tmp_path: Path) -> None:
    registry = component_registry(plugin_manager(env={"TANDEM_DISABLE_PLUGIN_AUTOLOAD": "1"}))
    (tmp_path / "res").mkdir()
    (tmp_path / "res" / "sub.yaml").write_text(
        "apiVersion: dapr.io/v2alpha1\nkind: Subscription\nmetadata: {name: orders}\nspec: {topic: t}\n")
    found = diagnose([tmp_path / "res"], None, "a", registry)
    assert [f.level for f in found] == ["error"] and "orders" in found[0].message
