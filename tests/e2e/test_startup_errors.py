"""A bad resource stops ``tandemd`` at start-up, non-zero, naming the file and the problem."""
from __future__ import annotations

from pathlib import Path

import pytest
from support import component_yaml, run_tandemd_until_exit

pytestmark = pytest.mark.e2e


def start_with(tmp_path: Path, files: dict[str, str], *extra: str) -> tuple[int, str]:
    folder = tmp_path / "components"
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return run_tandemd_until_exit(["--app-id", "bad", "--dapr-http-port", "0",
                                   "--resources-path", str(folder), *extra],
                                  env={"TANDEM_HOME": str(tmp_path / "home")})


@pytest.mark.parametrize("text,problem", [
    ("apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: s}\nspec: {version: v1}\n",
     "spec.type"),
    ("apiVersion: dapr.io/v1alpha1\nkind: Component\nspec: {type: state.in-memory}\n", "metadata.name"),
    ("apiVersion: dapr.io/v9\nkind: Component\nmetadata: {name: s}\nspec: {type: state.in-memory}\n",
     "apiVersion"),
    ("apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: s}\n"
     "spec: {type: state.in-memory, metadata: {a: b}}\n", "spec.metadata must be a list"),
    ("apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: s}\n"
     "spec: {type: state.in-memory, metadata: [{value: x}]}\n", "spec.metadata[0]"),
    ("apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: s}\n"
     "spec: {type: stat.sqlite}\n", "unknown kind"),
    ("kind: Component\nmetadata: [unclosed\n", "invalid YAML"),
])
def test_a_malformed_component_names_file_and_field(tmp_path: Path, text: str, problem: str) -> None:
    code, output = start_with(tmp_path, {"broken.yaml": text})
    assert code != 0
    assert "broken.yaml" in output and problem in output
    assert "Traceback" not in output


def test_an_unknown_type_says_no_plugin_provides_it_yet(tmp_path: Path) -> None:
    code, output = start_with(tmp_path, {"pg.yaml": component_yaml(
        "statestore", "state.postgresql", {"connectionString": "host=localhost"})})
    assert code != 0
    assert "pg.yaml" in output and "'statestore'" in output
    assert "not yet available" in output and "docs/plugins.md" in output
    assert "pip install tandem-postgres" not in output  # no such package exists


def test_an_unknown_type_without_a_known_provider_lists_installed_types(tmp_path: Path) -> None:
    code, output = start_with(tmp_path, {"c.yaml": component_yaml("s", "state.nosuchthing")})
    assert code != 0 and "state.nosuchthing" in output and "state.sqlite" in output


def test_a_duplicate_name_is_refused_naming_both_files(tmp_path: Path) -> None:
    code, output = start_with(tmp_path, {
        "a.yaml": component_yaml("statestore", "state.in-memory"),
        "b.yml": component_yaml("statestore", "state.in-memory"),
    })
    assert code != 0
    assert "duplicate component name" in output and "a.yaml" in output and "b.yml" in output


def test_a_bad_metadata_value_is_named(tmp_path: Path) -> None:
    code, output = start_with(tmp_path, {"db.yaml": component_yaml(
        "statestore", "state.sqlite", {"connectionString": str(tmp_path / "x.db"), "tableName": "drop table;"})})
    assert code != 0 and "db.yaml" in output and "tableName" in output and "Traceback" not in output


def test_a_missing_required_field_is_named(tmp_path: Path) -> None:
    code, output = start_with(tmp_path, {"db.yaml": component_yaml("statestore", "state.sqlite")})
    assert code != 0 and "db.yaml" in output and "connectionString" in output


def test_a_secret_key_ref_without_a_secret_store_is_named(tmp_path: Path) -> None:
    text = component_yaml("s", "state.in-memory").replace(
        "metadata: []", "metadata:\n  - name: password\n    secretKeyRef: {name: db, key: pw}")
    code, output = start_with(tmp_path, {"c.yaml": text})
    assert code != 0 and "c.yaml" in output and "'s'" in output and "password" in output
    assert "Traceback" not in output


def test_two_actor_state_stores_are_refused(tmp_path: Path) -> None:
    code, output = start_with(tmp_path, {
        "a.yaml": component_yaml("one", "state.in-memory", {"actorStateStore": "true"}),
        "b.yaml": component_yaml("two", "state.in-memory", {"actorStateStore": "true"}),
    })
    assert code != 0 and "actorStateStore" in output


def test_a_missing_resources_path_is_refused(tmp_path: Path) -> None:
    code, output = run_tandemd_until_exit(["--resources-path", str(tmp_path / "nope")],
                                          env={"TANDEM_HOME": str(tmp_path)})
    assert code != 0 and "nope" in output


def test_ignore_errors_lets_the_sidecar_start_without_the_component(tandemd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    text = component_yaml("broken", "state.sqlite").replace("version: v1", "version: v1\n  ignoreErrors: true")
    sidecar = tandemd(text + "---\n" + component_yaml("good", "state.in-memory"))
    from support import http_json

    names = [c["name"] for c in http_json("GET", sidecar.url + "/v1.0/metadata")[1]["components"]]
    assert names == ["good"]


def test_a_port_in_use_is_reported(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, output = run_tandemd_until_exit(["--dapr-http-port", str(port)], env={"TANDEM_HOME": str(tmp_path)})
    assert code != 0 and str(port) in output and "Traceback" not in output
