"""``tandem init`` writes loadable defaults into TANDEM_HOME and keeps existing files unless --force."""
from __future__ import annotations

from pathlib import Path

from cli_support import Sandbox
from click.testing import CliRunner
from tandem.sidecar.cli.init_cmd import write_defaults
from tandem.sidecar.cli.main import cli
from tandem.sidecar.components.loader import load_configuration, load_resources


def test_init_writes_a_sqlite_statestore_and_a_configuration(sandbox: Sandbox) -> None:
    result = sandbox.tandem("init")

    assert result.returncode == 0, result.stdout
    home = sandbox.home.resolve()
    (store,) = load_resources([home / "components"], app_id="any").components
    assert (store.name, store.type, store.version) == ("statestore", "state.sqlite", "v1")
    assert store.metadata == {"connectionString": str(home / "state.db"), "actorStateStore": "true"}
    config = load_configuration(home / "config.yaml")
    assert config.name == "daprConfig"
    assert result.stdout.count("created") == 2


def test_init_keeps_existing_files_unless_forced(sandbox: Sandbox) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["init"]).exit_code == 0
    config = sandbox.home / "config.yaml"
    config.write_text("# mine\n", encoding="utf-8")

    again = runner.invoke(cli, ["init"])
    assert again.exit_code == 0
    assert again.output.count("already exists, kept") == 2
    assert config.read_text(encoding="utf-8") == "# mine\n"

    forced = runner.invoke(cli, ["init", "--force"])
    assert forced.exit_code == 0
    assert forced.output.count("overwritten") == 2
    assert load_configuration(config).name == "daprConfig"


def test_paths_with_quotes_survive_the_yaml(tmp_path: Path) -> None:
    home = tmp_path / 'odd "home" : #1'
    steps = write_defaults(home)
    assert [s.action for s in steps] == ["created", "created"]
    (store,) = load_resources([home / "components"], app_id="x").components
    assert store.metadata["connectionString"] == str(home / "state.db")
