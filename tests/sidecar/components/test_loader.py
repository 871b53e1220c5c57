"""Dapr component files load unchanged; scoping and validation follow daprd's loader."""
from __future__ import annotations

from pathlib import Path

import pytest
from tandem.sidecar.components.loader import load_configuration, load_resources
from tandem.sidecar.components.model import ComponentError

DAPR_INIT_STATESTORE = """\
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: statestore
spec:
  type: state.redis
  version: v1
  metadata:
  - name: redisHost
    value: localhost:6379
  - name: redisPassword
    value: ""
  - name: actorStateStore
    value: "true"
"""


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text)
    return folder


def test_a_file_written_by_dapr_init_loads_unchanged(tmp_path: Path) -> None:
    [spec] = load_resources([write(tmp_path / "c", "statestore.yaml", DAPR_INIT_STATESTORE)], "app").components
    assert (spec.name, spec.type, spec.version, spec.kind) == ("statestore", "state.redis", "v1", "state")
    assert spec.metadata == {"redisHost": "localhost:6379", "redisPassword": "", "actorStateStore": "true"}
    assert spec.source.endswith("statestore.yaml")


def test_several_documents_per_file_and_both_extensions(tmp_path: Path) -> None:
    folder = tmp_path / "c"
    write(folder, "a.yaml", DAPR_INIT_STATESTORE + "---\n" + DAPR_INIT_STATESTORE.replace("statestore", "second"))
    write(folder, "b.yml", DAPR_INIT_STATESTORE.replace("statestore", "third"))
    write(folder, "notes.txt", "not yaml: [")
    (folder / "sub").mkdir()
    write(folder / "sub", "deep.yaml", DAPR_INIT_STATESTORE.replace("statestore", "deep"))
    names = [c.name for c in load_resources([folder], "app").components]
    assert names == ["statestore", "second", "third"]


def test_several_resources_paths(tmp_path: Path) -> None:
    one = write(tmp_path / "one", "a.yaml", DAPR_INIT_STATESTORE)
    two = write(tmp_path / "two", "a.yaml", DAPR_INIT_STATESTORE.replace("statestore", "other"))
    assert [c.name for c in load_resources([one, two], "app").components] == ["statestore", "other"]


def test_a_duplicate_across_paths_is_refused(tmp_path: Path) -> None:
    one = write(tmp_path / "one", "a.yaml", DAPR_INIT_STATESTORE)
    two = write(tmp_path / "two", "b.yaml", DAPR_INIT_STATESTORE)
    with pytest.raises(ComponentError, match="duplicate component name") as err:
        load_resources([one, two], "app")
    assert "b.yaml" in str(err.value) and "a.yaml" in str(err.value)


def test_scopes_hide_a_component_from_other_apps(tmp_path: Path) -> None:
    folder = write(tmp_path / "c", "a.yaml", DAPR_INIT_STATESTORE + "scopes:\n- orders\n- billing\n")
    assert [c.name for c in load_resources([folder], "orders").components] == ["statestore"]
    assert load_resources([folder], "web").components == []


def test_namespace_filters_only_when_namespace_is_set(tmp_path: Path) -> None:
    text = DAPR_INIT_STATESTORE.replace("  name: statestore", "  name: statestore\n  namespace: prod")
    folder = write(tmp_path / "c", "a.yaml", text)
    assert len(load_resources([folder], "app").components) == 1
    assert len(load_resources([folder], "app", namespace="prod").components) == 1
    assert load_resources([folder], "app", namespace="dev").components == []


def test_values_of_any_yaml_type_become_strings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_HOST", "db.internal")
    text = """\
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: s}
spec:
  type: state.sqlite
  metadata:
  - {name: flag, value: true}
  - {name: count, value: 5}
  - {name: nothing}
  - {name: nested, value: {a: [1, 2]}}
  - {name: host, envRef: MY_HOST}
"""
    [spec] = load_resources([write(tmp_path / "c", "a.yaml", text)], "app").components
    assert spec.version == "v1"
    assert spec.metadata == {"flag": "true", "count": "5", "nothing": "", "nested": '{"a":[1,2]}',
                             "host": "db.internal"}


def test_secret_refs_and_auth_are_kept_for_the_runtime(tmp_path: Path) -> None:
    text = DAPR_INIT_STATESTORE.replace(
        '    value: ""', "    secretKeyRef:\n      name: redis\n      key: password"
    ) + "auth:\n  secretstore: vault\n"
    [spec] = load_resources([write(tmp_path / "c", "a.yaml", text)], "app").components
    assert spec.secret_refs["redisPassword"].name == "redis" and spec.secret_refs["redisPassword"].key == "password"
    assert spec.secret_store == "vault" and "redisPassword" not in spec.metadata


def test_other_kinds_are_kept_as_documents(tmp_path: Path) -> None:
    sub = "apiVersion: dapr.io/v2alpha1\nkind: Subscription\nmetadata: {name: s}\nspec: {topic: t}\n"
    folder = write(tmp_path / "c", "a.yaml", sub + "---\n" + DAPR_INIT_STATESTORE)
    loaded = load_resources([folder], "app")
    assert [d["metadata"]["name"] for _, d in loaded.documents["Subscription"]] == ["s"]
    assert len(loaded.components) == 1


@pytest.mark.parametrize("spec_line,problem", [
    ("  initTimeout: soon", "spec"),
    ("  ignoreErrors: maybe", "spec"),
    ("  version: 2", "spec.version"),
])
def test_bad_spec_fields(tmp_path: Path, spec_line: str, problem: str) -> None:
    text = DAPR_INIT_STATESTORE.replace("  version: v1", spec_line)
    with pytest.raises(ComponentError, match=problem):
        load_resources([write(tmp_path / "c", "a.yaml", text)], "app")


def test_configuration_features(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata: {name: daprConfig}\n"
                    "spec:\n  features:\n  - {name: ActorStateTTL, enabled: true}\n  - {name: Other, enabled: false}\n")
    config = load_configuration(path)
    assert config.name == "daprConfig" and config.feature("ActorStateTTL") and not config.feature("Other")
    with pytest.raises(ComponentError, match="not found"):
        load_configuration(tmp_path / "missing.yaml")
