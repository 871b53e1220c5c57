"""``tandem doctor`` / ``tandem check``: what the sidecar would refuse or ignore, listed before running it."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from support import component_yaml
from tandem.sidecar.cli.main import cli

RESILIENCY = "apiVersion: dapr.io/v1alpha1\nkind: Resiliency\nmetadata: {name: retries}\nspec: {policies: {}}\n"


def doctor(*args: str) -> Result:
    return CliRunner().invoke(cli, ["doctor", *args], catch_exceptions=False)


def folder(root: Path, name: str, **files: str) -> Path:
    path = root / name
    path.mkdir(parents=True)
    for file, text in files.items():
        (path / file).write_text(text)
    return path


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TANDEM_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_a_clean_folder_passes(tmp_path: Path) -> None:
    res = folder(tmp_path, "res", **{"state.yaml": component_yaml(
        "statestore", "state.sqlite", {"connectionString": "s.db", "actorStateStore": "true", "keyPrefix": "name"})})
    result = doctor("-d", str(res))
    assert result.exit_code == 0, result.output
    assert "no problems found" in result.output


def test_errors_warnings_and_the_exit_status(tmp_path: Path) -> None:
    res = folder(tmp_path, "res", **{
        "pg.yaml": component_yaml("orders", "state.postgresql", {"connectionString": "host=db"}),
        "sqlite.yaml": component_yaml("cache", "state.sqlite", {"tableNmae": "t"}),
        "resiliency.yaml": RESILIENCY,
    })
    config = tmp_path / "config.yaml"
    config.write_text("apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata: {name: c}\n"
                      "spec: {mtls: {enabled: true}}\n")
    result = doctor("-d", str(res), "-c", str(config))
    assert result.exit_code == 1
    lines = result.output.splitlines()

    def line(*parts: str) -> str:
        found = [ln for ln in lines if all(p in ln for p in parts)]
        assert len(found) == 1, (parts, result.output)
        return found[0]

    assert line("pg.yaml", "'orders'", "not yet available").startswith("error")
    assert line("sqlite.yaml", "'connectionString' is required").startswith("error")
    assert line("sqlite.yaml", "'tableNmae'", "did you mean 'tableName'").startswith("warning")
    assert line("resiliency.yaml", "Resiliency 'retries' is not applied").startswith("warning")
    assert line("config.yaml", "spec.mtls: not applied").startswith("warning")
    assert lines[-1] == "2 error(s), 3 warning(s), 0 note(s)"


def test_a_file_the_loader_refuses_is_an_error(tmp_path: Path) -> None:
    res = folder(tmp_path, "res", **{"bad.yaml": "kind: Component\nmetadata: [unclosed\n"})
    result = doctor("-d", str(res))
    assert result.exit_code == 1 and "bad.yaml" in result.output and "invalid YAML" in result.output


def test_without_a_folder_it_says_to_run_init(tmp_path: Path) -> None:
    result = doctor()
    assert result.exit_code == 1 and "tandem init" in result.output


def test_the_default_folder_and_config_are_those_of_tandem_run(home: Path) -> None:
    folder(home, "components", **{"r.yaml": RESILIENCY})
    (home / "config.yaml").write_text("apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata: {name: c}\n"
                                      "spec: {api: {allowed: []}}\n")
    result = doctor()
    assert result.exit_code == 0
    assert "Resiliency 'retries'" in result.output and "spec.api: not applied" in result.output


def test_a_run_file_is_checked_app_by_app(tmp_path: Path) -> None:
    for app in ("a", "b"):
        (tmp_path / app).mkdir()
    folder(tmp_path, "a/.dapr/resources", **{"s.yaml": component_yaml("s", "state.in-memory", {"cleanupIntervl": "2s"})})
    folder(tmp_path, "b/.dapr/resources", **{"c.yaml": component_yaml("cron", "bindings.cron")})
    (tmp_path / "tandem.yaml").write_text(yaml.safe_dump({"version": 1, "common": {"appMaxConcurrency": 2}, "apps": [
        {"appDirPath": "a", "command": ["true"]}, {"appDirPath": "b", "command": ["true"]}]}))
    result = doctor("-f", str(tmp_path / "tandem.yaml"))
    assert result.exit_code == 1, result.output
    out = result.output
    assert "common.appMaxConcurrency is accepted but not applied" in out
    assert "[a] " in out and "did you mean 'cleanupInterval'" in out
    assert "[b] " in out and "'schedule' is required" in out


def test_a_run_file_with_flags_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["doctor", "-f", "x.yaml", "-d", "res"])
    assert result.exit_code == 2 and "come from the file" in result.output


def test_check_is_the_same_command(tmp_path: Path) -> None:
    res = folder(tmp_path, "res", **{"r.yaml": RESILIENCY})
    checked = CliRunner().invoke(cli, ["check", "-d", str(res)])
    assert checked.exit_code == 0 and checked.output == doctor("-d", str(res)).output


def test_components_scoped_to_other_apps_are_noted(tmp_path: Path) -> None:
    text = component_yaml("s", "state.in-memory", scopes=["billing"])
    res = folder(tmp_path, "res", **{"s.yaml": text})
    result = doctor("-d", str(res), "-a", "orders")
    assert result.exit_code == 0 and "scoped to other apps" in result.output
    assert "scoped" not in doctor("-d", str(res), "-a", "billing").output


def test_the_redis_plugin_declares_its_fields(tmp_path: Path) -> None:
    res = folder(tmp_path, "res", **{"r.yaml": component_yaml(
        "cache", "state.redis", {"redisHost": "localhost:6379", "redisPasword": "x", "idleTimeout": "5m"})})
    out = doctor("-d", str(res)).output
    assert "did you mean 'redisPassword'" in out
    assert "'idleTimeout' is accepted but not applied" in out
    assert "fields not checked" not in out
