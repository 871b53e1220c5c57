"""`App.run()`: uvicorn on 127.0.0.1 and ``$APP_PORT``, the app's client opened and closed with it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from support import free_port, http, wait_until
from tandem import App

APP = '''
from tandem import App, Client

app = App()

@app.method
async def where(client: Client) -> dict:
    return {"sidecar": client.base_url}

if __name__ == "__main__":
    app.run()
'''


def answers(port: int) -> bool:
    try:
        return http("GET", f"http://127.0.0.1:{port}/healthz")[0] == 200
    except OSError:
        return False


@pytest.mark.e2e
def test_run_serves_on_app_port_as_a_real_process(tmp_path: Path) -> None:
    script = tmp_path / "service.py"
    script.write_text(APP)
    port, sidecar_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAPR_", "APP_"))}
    env.update(APP_PORT=str(port), DAPR_HTTP_PORT=str(sidecar_port))
    log = tmp_path / "app.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, str(script)], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: proc.poll() is not None or answers(port),
                   what="the app on APP_PORT")
        assert proc.poll() is None, log.read_text()
        status, _, body = http("POST", f"http://127.0.0.1:{port}/where")
        assert (status, json.loads(body)) == (200, {"sidecar": f"http://127.0.0.1:{sidecar_port}"})
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    # uvicorn re-raises SIGTERM after a graceful shutdown (as `uvicorn.run` does): -15 is a clean stop.
    assert code in (0, -signal.SIGTERM), log.read_text()
    assert "Application shutdown complete" in log.read_text() and "Traceback" not in log.read_text()


def test_the_server_config_reads_app_port_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    app = App()
    monkeypatch.setenv("APP_PORT", "6123")
    config = app.server_config()
    assert (config.app, config.host, config.port, config.access_log) == (app, "127.0.0.1", 6123, False)
    assert app.server_config(port=7000, host="0.0.0.0", log_level="debug").port == 7000  # noqa: S104
    monkeypatch.delenv("APP_PORT")
    assert app.server_config().port == 8000
    monkeypatch.setenv("APP_PORT", "eighty")
    with pytest.raises(ValueError, match="APP_PORT must be a port number, got 'eighty'"):
        app.server_config()
