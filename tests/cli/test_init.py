"""``tandem init`` writes loadable defaults into TANDEM_HOME and keeps existing files unless --force."""
from __future__ import annotations

import subprocess
from pathlib import Path

from click.testing import CliRunner

from cli_support import CLI, Sandbox
from tandem.sidecar.cli.init_cmd import write_defaults
from tandem.sidecar.cli.main import cli
from tandem.sidecar.components.loader import load_configuration, load_resources


def test_init_writes_a_sqlite_statestore_a_sqlite_pubsub_and_a_configuration(sandbox: Sandbox) -> None:
    result = sandbox.tandem("init")

    assert result.returncode == 0, result.stdout
    home = sandbox.home.resolve()
    components = load_resources([home / "components"], app_id="any").components
    by_name = {c.name: c for c in components}
    assert sorted(by_name) == ["pubsub", "statestore"]
    store, pubsub = by_name["statestore"], by_name["pubsub"]
    assert (store.type, store.version) == ("state.sqlite", "v1")
    assert store.metadata == {"connectionString": str(home / "state.db"), "actorStateStore": "true"}
    # One broker file for the whole machine: an absolute path, whatever the sidecar's working directory.
    assert (pubsub.type, pubsub.version) == ("pubsub.sqlite", "v1")
    assert pubsub.metadata == {"connectionString": str(home / "pubsub.db")}
    assert Path(pubsub.metadata["connectionString"]).is_absolute()
    config = load_configuration(home / "config.yaml")
    assert config.name == "daprConfig"
    assert result.stdout.count("created") == 3


def test_a_relative_home_still_gives_absolute_database_paths(sandbox: Sandbox) -> None:
    env = {**sandbox.env, "TANDEM_HOME": "relhome"}  # relative to the CLI's working directory
    result = subprocess.run([*CLI, "init"], cwd=sandbox.root, env=env, capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stdout + result.stderr
    home = (sandbox.root / "relhome").resolve()
    pubsub = {c.name: c for c in load_resources([home / "components"], app_id="x").components}["pubsub"]
    assert pubsub.metadata["connectionString"] == str(home / "pubsub.db")


def test_init_keeps_existing_files_unless_forced(sandbox: Sandbox) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["init"]).exit_code == 0
    config = sandbox.home / "config.yaml"
    config.write_text("# mine\n", encoding="utf-8")

    again = runner.invoke(cli, ["init"])
    assert again.exit_code == 0
    assert again.output.count("already exists, kept") == 3
    assert config.read_text(encoding="utf-8") == "# mine\n"

    forced = runner.invoke(cli, ["init", "--force"])
    assert forced.exit_code == 0
    assert forced.output.count("overwritten") == 3
    assert load_configuration(config).name == "daprConfig"


def test_paths_with_quotes_survive_the_yaml(tmp_path: Path) -> None:
    home = tmp_path / 'odd "home" : #1'
    steps = write_defaults(home)
    assert [s.action for s in steps] == ["created", "created", "created"]
    loaded = {c.name: c for c in load_resources([home / "components"], app_id="x").components}
    assert loaded["statestore"].metadata["connectionString"] == str(home / "state.db")
    assert loaded["pubsub"].metadata["connectionString"] == str(home / "pubsub.db")


def test_redis_components_like_dapr_init(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_defaults(home, redis_host="localhost:6379")
    loaded = {c.name: c for c in load_resources([home / "components"], app_id="x").components}
    assert (loaded["statestore"].type, loaded["pubsub"].type) == ("state.redis", "pubsub.redis")
    assert loaded["statestore"].metadata == {"redisHost": "localhost:6379", "redisPassword": "",
                                             "actorStateStore": "true"}
    assert loaded["pubsub"].metadata == {"redisHost": "localhost:6379", "redisPassword": ""}


def test_init_states_a_detected_redis_but_keeps_the_embedded_default(tmp_path: Path) -> None:
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]

    def answer() -> None:
        conn, _ = server.accept()
        conn.recv(64)
        conn.sendall(b"+PONG\r\n")
        conn.close()

    threading.Thread(target=answer, daemon=True).start()
    runner = CliRunner(env={"TANDEM_HOME": str(tmp_path / "home")})
    result = runner.invoke(cli, ["init", "--redis-host", f"127.0.0.1:{port}"])
    server.close()
    assert result.exit_code == 0
    assert f"A Redis answers on 127.0.0.1:{port}" in result.output
    loaded = {c.name: c for c in load_resources([tmp_path / "home" / "components"], app_id="x").components}
    assert loaded["statestore"].type == "state.sqlite"
