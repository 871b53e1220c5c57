"""Reading run files (no processes): Dapr's keys and path rules, Tandem's extras, clear errors."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from tandem.sidecar.cli._watch import SourceFilter, changed_files
from tandem.sidecar.cli.main import cli
from tandem.sidecar.cli.runfile import AUTO_PORT, RunFileError, load_run_file


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Tandem home with the components folder ``tandem init`` makes."""
    home = tmp_path / "home"
    (home / "components").mkdir(parents=True)
    monkeypatch.setenv("TANDEM_HOME", str(home))
    return home


def write(path: Path, doc: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc), encoding="utf-8")
    return path


def folders(root: Path, *names: str) -> None:
    for name in names:
        (root / name).mkdir(parents=True, exist_ok=True)


DOCUMENTED = """\
version: 1
common:
  resourcesPath: ./app/components
  env:
    DEBUG: true
apps:
  - appID: webapp
    appDirPath: .dapr/webapp/
    resourcesPaths: .dapr/resources
    appChannelAddress: 127.0.0.1
    configFilePath: .dapr/config.yaml
    appProtocol: http
    appPort: 8080
    appHealthCheckPath: "/healthz"
    command: ["python3", "app.py"]
    appLogDestination: file
    daprdLogDestination: file
  - appID: backend
    appDirPath: .dapr/backend/
    appProtocol: grpc
    appPort: 3000
    unixDomainSocket: "/tmp/test-socket"
    env:
      DEBUG: false
    command: ["./backend"]
"""


def test_dapr_documented_template_with_its_paths_and_merges(tmp_path: Path, home: Path) -> None:
    text = DOCUMENTED.replace("appProtocol: grpc", "appProtocol: HTTP")  # Tandem speaks http to apps
    run_file = write(tmp_path / "dapr.yaml", text)
    folders(tmp_path, "app/components", ".dapr/webapp/.dapr/resources", ".dapr/backend")
    write(tmp_path / ".dapr/webapp/.dapr/config.yaml", "kind: Configuration\n")

    loaded = load_run_file(tmp_path)  # a folder: its dapr.yaml
    assert loaded.path == run_file
    # Dapr's own template loads; what it sets that Tandem does not apply is said, once.
    assert loaded.warnings == ("apps[1].unixDomainSocket is accepted but not applied: the sidecar listens on TCP only",)
    web, backend = loaded.apps
    assert (web.app_id, web.app_dir) == ("webapp", tmp_path / ".dapr" / "webapp")
    assert web.command == (sys.executable, "app.py") and web.app_port == 8080  # python: Tandem's own
    # An app's own paths are relative to its folder; common's to the run file's.
    assert web.resources_paths == (str(tmp_path / ".dapr/webapp/.dapr/resources"),)
    assert web.config == str(tmp_path / ".dapr/webapp/.dapr/config.yaml")
    assert backend.resources_paths == (str(tmp_path / "app" / "components"),)
    assert (web.app_log, web.sidecar_log) == ("file", "file")
    assert (backend.app_log, backend.sidecar_log) == ("fileAndConsole", "fileAndConsole")
    assert web.health_path == "/healthz" and backend.app_protocol == "http"
    assert web.env == {"DEBUG": "true"} and backend.env == {"DEBUG": "false"}  # the app's own env wins
    assert not web.enable_api_logging


def test_enable_api_logging_from_common_or_the_app(tmp_path: Path, home: Path) -> None:
    folders(tmp_path, "a", "b")
    write(tmp_path / "tandem.yaml", {"version": 1, "common": {"enableApiLogging": True},
                                     "apps": [{"appDirPath": "a"}, {"appDirPath": "b", "enableApiLogging": "false"}]})
    a, b = load_run_file(tmp_path / "tandem.yaml").apps
    assert (a.enable_api_logging, b.enable_api_logging) == (True, False)


def test_defaults_app_id_from_the_folder_dot_dapr_resources_then_home(tmp_path: Path, home: Path) -> None:
    folders(tmp_path, "svc/.dapr/resources", "other")
    write(home / "config.yaml", "kind: Configuration\n")
    write(tmp_path / "tandem.yaml", {"version": 1, "apps": [{"appDirPath": "svc"}, {"appDirPath": "./other"}]})
    svc, other = load_run_file(tmp_path / "tandem.yaml").apps
    assert (svc.app_id, other.app_id) == ("svc", "other")
    assert svc.resources_paths == (str(tmp_path / "svc/.dapr/resources"),)
    assert other.resources_paths == (str(home / "components"),)
    assert other.config == str(home / "config.yaml")
    assert other.command == () and other.app_port is None and other.replicas == 1
    assert other.log_dir == tmp_path / "other" / ".tandem" / "logs"


def test_tandem_extras(tmp_path: Path, home: Path) -> None:
    folders(tmp_path, "api", "worker")
    write(tmp_path / "tandem.yaml", {"version": 1, "common": {"restart": "always"}, "apps": [
        {"appID": "api", "appDirPath": "api", "appPort": "auto", "replicas": 3, "command": "python app.py --x 'a b'"},
        {"appID": "worker", "appDirPath": "worker", "dependsOn": "api", "restart": "never",
         "watch": ["*.py", "conf/*"], "resourcesPaths": [".", "../api"]},
    ]})
    write(tmp_path / "dapr.yaml", {"version": 1, "apps": []})  # tandem.yaml comes first in a folder
    api, worker = load_run_file(tmp_path).apps
    assert (api.app_port, api.replicas, api.restart) == (AUTO_PORT, 3, "always")
    assert api.command == (sys.executable, "app.py", "--x", "a b") and api.watch == ("*",)
    assert (worker.depends_on, worker.restart, worker.watch) == (("api",), "never", ("*.py", "conf/*"))
    assert worker.resources_paths == (str(tmp_path / "worker"), str(tmp_path / "api"))


def test_unknown_keys_are_warnings_with_a_hint(tmp_path: Path, home: Path) -> None:
    folders(tmp_path, "a")
    write(tmp_path / "tandem.yaml", {"version": 1, "common": {"appPort": 1}, "apps": [
        {"appId": "x", "appDirPath": "a", "containerImage": "img", "createService": True}]})
    loaded = load_run_file(tmp_path / "tandem.yaml")
    assert loaded.apps[0].app_id == "a"
    assert loaded.warnings == ("common.appPort applies to one app only; ignored in common",
                               "apps[0].appId is not a run-file key (did you mean appID?); ignored",
                               "apps[0].containerImage is accepted but not applied: Kubernetes only",
                               "apps[0].createService is accepted but not applied: Kubernetes only")


def test_dapr_keys_that_change_nothing_are_reported_once(tmp_path: Path, home: Path) -> None:
    folders(tmp_path, "a", "b")
    write(tmp_path / "tandem.yaml", {"version": 1, "common": {"appMaxConcurrency": 1}, "apps": [
        {"appDirPath": "a", "placementHostAddress": "localhost:50005"}, {"appDirPath": "b"}]})
    warnings = load_run_file(tmp_path / "tandem.yaml").warnings
    assert [w for w in warnings if "appMaxConcurrency" in w] == [
        "common.appMaxConcurrency is accepted but not applied: the sidecar does not limit concurrent calls to the app"]
    assert [w for w in warnings if "placementHostAddress" in w] == [
        "apps[0].placementHostAddress is accepted but not applied: actors are placed without a placement service"]


@pytest.mark.parametrize(("apps", "message"), [
    ([{"appID": "a"}], "apps[0]: appDirPath is required"),
    ([{"appDirPath": "missing"}], "apps[0].appDirPath: folder 'missing' does not exist"),
    ([{"appDirPath": "a", "appPort": "eighty"}], "apps[0].appPort: expected a port (1-65535) or auto, got 'eighty'"),
    ([{"appDirPath": "a", "daprHTTPPort": 70000}], "apps[0].daprHTTPPort: expected a port (1-65535), got 70000"),
    ([{"appDirPath": "a", "daprHTTPPort": 3500, "replicas": 2}],
     "apps[0].daprHTTPPort: 3500 cannot be shared by 2 replicas"),
    ([{"appDirPath": "a", "replicas": 0}], "apps[0].replicas: expected a whole number of at least 1, got 0"),
    ([{"appDirPath": "a"}, {"appDirPath": "./a/"}], "apps[1].appID: 'a' is also apps[0]'s id"),
    ([{"appDirPath": "a", "appPort": 4000}, {"appDirPath": "b", "daprHTTPPort": 4000}], "port 4000 is used twice"),
    ([{"appDirPath": "a", "dependsOn": ["nope"]}], "apps[0].dependsOn: no app with id 'nope'"),
    ([{"appDirPath": "a", "dependsOn": ["b"]}, {"appDirPath": "b", "dependsOn": ["a"]}],
     "dependsOn: the apps wait for each other in a cycle: a -> b -> a"),
    ([{"appDirPath": "a", "appLogDestination": "syslog"}],
     "apps[0].appLogDestination: expected one of file, console, fileAndConsole"),
    ([{"appDirPath": "a", "appProtocol": "grpc"}], "apps[0].appProtocol: expected one of http"),
    ([{"appDirPath": "a", "restart": "sometimes"}], "apps[0].restart: expected one of on-failure, always, never"),
    ([{"appDirPath": "a", "command": {"run": "x"}}], "apps[0].command: expected a list like"),
    ([{"appDirPath": "a", "env": ["A=1"]}], "apps[0].env: expected a mapping"),
    ([{"appDirPath": "a", "resourcesPaths": ["nowhere"]}], "apps[0].resourcesPaths: folder 'nowhere' does not exist"),
    ([{"appDirPath": "a", "appID": "a.b"}], "apps[0].appID: 'a.b' is not a valid app id"),
])
def test_bad_run_files_say_which_key_and_why(tmp_path: Path, home: Path, apps: list[object], message: str) -> None:
    folders(tmp_path, "a", "b")
    write(tmp_path / "tandem.yaml", {"version": 1, "apps": apps})
    with pytest.raises(RunFileError) as caught:
        load_run_file(tmp_path / "tandem.yaml")
    assert message in str(caught.value)


@pytest.mark.parametrize(("text", "message"), [
    ("version: 1\napps: []\n", "apps: expected a list with at least one app"),
    ("version: 2\napps: [{appDirPath: a}]\n", "version: only version 1 is supported"),
    ("apps: [\n", "is not valid YAML"),
    ("- just a list\n", "expected a mapping with 'version' and 'apps'"),
])
def test_bad_documents(tmp_path: Path, home: Path, text: str, message: str) -> None:
    folders(tmp_path, "a")
    with pytest.raises(RunFileError) as caught:
        load_run_file(write(tmp_path / "tandem.yaml", text))
    assert message in str(caught.value)


def test_missing_files_and_home(tmp_path: Path, home: Path) -> None:
    with pytest.raises(RunFileError, match="no run file in .*tandem.yaml, tandem.yml, dapr.yaml, dapr.yml"):
        load_run_file(tmp_path)
    with pytest.raises(RunFileError, match="does not exist"):
        load_run_file(tmp_path / "nope.yaml")
    (home / "components").rmdir()
    folders(tmp_path, "a")
    with pytest.raises(RunFileError, match="run `tandem init` first"):
        load_run_file(write(tmp_path / "tandem.yaml", {"version": 1, "apps": [{"appDirPath": "a"}]}))


def test_cli_refuses_mixed_flags_and_bad_files(tmp_path: Path, home: Path) -> None:
    runner = CliRunner()
    mixed = runner.invoke(cli, ["run", "-f", str(tmp_path), "--app-id", "x", "--", "python", "a.py"])
    assert mixed.exit_code == 2
    assert "set --app-id, the app command in the file instead" in mixed.output
    alone = runner.invoke(cli, ["run", "--watch", "--app-id", "x"])
    assert alone.exit_code == 2 and "--watch goes with -f <run file>" in alone.output
    bad = runner.invoke(cli, ["run", "-f", str(tmp_path / "missing.yaml")])
    assert bad.exit_code == 1 and "run file" in bad.output and "does not exist" in bad.output
    nothing = runner.invoke(cli, ["stop"])
    assert nothing.exit_code == 2 and "--app-id <id> (repeatable) or -f <run file>" in nothing.output
    none_running = runner.invoke(cli, ["stop", "-f", str(tmp_path)])
    assert none_running.exit_code == 1 and "no app started from" in none_running.output


def test_watch_patterns_and_what_never_counts_as_a_change(tmp_path: Path, home: Path) -> None:
    folders(tmp_path, "svc/lib", "svc/.tandem/logs")
    write(tmp_path / "tandem.yaml", {"version": 1, "apps": [
        {"appDirPath": "svc"}, {"appID": "py-only", "appDirPath": "svc", "watch": "*.py"}]})
    everything, python = load_run_file(tmp_path / "tandem.yaml").apps
    paths = [str(tmp_path / p) for p in ("svc/app.py", "svc/lib/util.py", "svc/conf.toml", "elsewhere/x.py")]
    assert changed_files(everything, paths) == ["app.py", "conf.toml", "lib/util.py"]
    assert changed_files(python, paths) == ["app.py", "lib/util.py"]
    ignored = SourceFilter()
    for path in ("svc/.tandem/logs/svc_app_20250101000000.log", "svc/state.db-wal", "svc/__pycache__/a.pyc",
                 "svc/.git/index", "svc/x.log"):
        assert not ignored(1, os.fspath(tmp_path / path)), path  # type: ignore[arg-type]
    assert ignored(1, os.fspath(tmp_path / "svc/app.py"))  # type: ignore[arg-type]
