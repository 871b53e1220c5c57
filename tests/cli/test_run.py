"""``tandem run`` with real tandemd and app processes: order, env, output, exit codes, no orphans."""
from __future__ import annotations

import signal
import sys

import psutil
import pytest

from cli_support import Sandbox, free_port

pytestmark = pytest.mark.e2e


def test_without_init_it_asks_for_tandem_init_and_starts_nothing(sandbox: Sandbox) -> None:
    result = sandbox.tandem("run", "--app-id", "a", "--", sys.executable, str(sandbox.app()))
    assert result.returncode != 0
    assert "tandem init" in result.stdout
    assert not sandbox.record_path.exists()


def test_dapr_style_flags_and_state_before_the_app_port_opens(sandbox: Sandbox) -> None:
    app_port, http_port = free_port(), free_port()
    result = sandbox.tandem(
        "run", "--app-id", "nodeapp", "--app-port", str(app_port), "--port", str(http_port),
        "--resources-path", str(sandbox.components()), sys.executable, str(sandbox.app()),
        APP_TEST_STATE="1",
    )
    assert result.returncode == 0, result.stdout
    record = sandbox.record()
    assert record["env"] == {
        "APP_ID": "nodeapp", "APP_PORT": str(app_port), "DAPR_HTTP_PORT": str(http_port),
        "DAPR_HTTP_ENDPOINT": f"http://127.0.0.1:{http_port}", "APP_CHANNEL_ADDRESS": "127.0.0.1",
        "APP_PROTOCOL": "http",
    }
    assert record["app_port_was_open"] is False
    assert record["save_status"] == 204
    assert record["state"] == {"hello": "world"}


def test_short_flags_with_dashes_keep_the_apps_own_flags(sandbox: Sandbox) -> None:
    app_port, http_port = free_port(), free_port()
    result = sandbox.tandem(
        "run", "-a", "pyapp", "-p", str(app_port), "-H", str(http_port), "-d", str(sandbox.components()),
        "--", sys.executable, str(sandbox.app()), "--some-flag", "-p", "1",
    )
    assert result.returncode == 0, result.stdout
    record = sandbox.record()
    assert record["argv"] == ["--some-flag", "-p", "1"]
    assert (record["env"]["APP_ID"], record["env"]["APP_PORT"]) == ("pyapp", str(app_port))
    assert record["env"]["DAPR_HTTP_PORT"] == str(http_port)


def test_output_is_tagged_per_process_without_colour_off_a_tty(sandbox: Sandbox) -> None:
    result = sandbox.tandem("run", "-a", "tagged", "-d", str(sandbox.components()),
                            "--", sys.executable, str(sandbox.app()))
    assert result.returncode == 0, result.stdout
    lines = result.stdout.splitlines()
    assert "[tagged app] hello from the app" in lines
    assert "[tagged app] a line on stderr" in lines
    assert any(line.startswith("[tagged sidecar] ") for line in lines)
    assert "\x1b[" not in result.stdout


def test_exits_with_the_apps_code_and_stops_the_sidecar(sandbox: Sandbox) -> None:
    result = sandbox.tandem("run", "-a", "quitter", "-d", str(sandbox.components()),
                            "--", sys.executable, str(sandbox.app()), APP_TEST_EXIT="3", APP_TEST_CHILD="1")
    assert result.returncode == 3, result.stdout
    assert "exited with code 3" in result.stdout
    sandbox.wait_all_gone()  # the sidecar and the child the app left behind
    assert not list((sandbox.home / "run").glob("*.json"))


def test_bad_components_fail_with_tandemds_message(sandbox: Sandbox) -> None:
    folder = sandbox.root / "broken"
    folder.mkdir()
    (folder / "bad.yaml").write_text("apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: s}\n"
                                     "spec: {version: v1}\n", encoding="utf-8")
    result = sandbox.tandem("run", "-a", "broken", "-d", str(folder), "--", sys.executable, str(sandbox.app()))
    assert result.returncode != 0
    assert "bad.yaml" in result.stdout and "spec.type" in result.stdout
    assert "before it was ready" in result.stdout
    assert not sandbox.record_path.exists()


def test_a_missing_app_command_stops_the_sidecar(sandbox: Sandbox) -> None:
    result = sandbox.tandem("run", "-a", "nocmd", "-d", str(sandbox.components()),
                            "--", str(sandbox.root / "no-such-program"))
    assert result.returncode == 127
    assert "cannot start the app" in result.stdout
    sandbox.wait_all_gone()


def test_when_the_sidecar_dies_the_app_is_stopped(sandbox: Sandbox) -> None:
    proc = sandbox.start("run", "-a", "orphan", "-p", str(free_port()), "-d", str(sandbox.components()),
                         "--", sys.executable, str(sandbox.app()), APP_TEST_SERVE="1", APP_TEST_CHILD="1")
    record = sandbox.record()
    sidecar = next(p for p in psutil.Process(proc.pid).children() if p.pid != record["pid"])
    sidecar.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) != 0
    assert "sidecar exited with code 137" in sandbox.output()
    sandbox.wait_all_gone()
