"""Start actor hosts for the e2e tests: ``tests/apps/actor_app.py`` beside a real ``tandemd``."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from support import Sidecar, SidecarLauncher, component_yaml, free_port, http, http_json, wait_until

APP = Path(__file__).parent.parent / "apps" / "actor_app.py"


@dataclass
class ActorHost:
    app: subprocess.Popen[bytes]
    app_port: int
    sidecar: Sidecar
    launcher: SidecarLauncher
    sidecar_args: tuple[str, ...]
    app_id: str

    @property
    def url(self) -> str:
        return self.sidecar.url

    def stats(self) -> dict[str, Any]:
        status, _, body = http("GET", f"http://127.0.0.1:{self.app_port}/stats")
        assert status == 200
        return dict(json.loads(body))

    def call(self, actor_type: str, actor_id: str, method: str, payload: Any = None,
             **kw: Any) -> tuple[int, Any]:
        return http_json("PUT", f"{self.url}/v1.0/actors/{actor_type}/{actor_id}/method/{method}", payload, **kw)

    def restart_sidecar(self, sig: int = signal.SIGKILL) -> None:
        """Kill the sidecar (the app keeps running) and start a new one on the same ports."""
        self.sidecar.stop(sig)
        self.sidecar = self.launcher.start(app_id=self.app_id, resources=self.sidecar.resources,
                                           args=self.sidecar_args)


StartHost = Callable[..., ActorHost]


def actor_components(db: Path) -> str:
    return component_yaml("statestore", "state.sqlite", {"connectionString": str(db), "actorStateStore": "true"})


@pytest.fixture
def actor_host(tmp_path: Path) -> Iterator[StartHost]:
    """Factory: ``actor_host(config, app_id=..., db=...)`` starts the app and its sidecar."""
    launcher = SidecarLauncher(tmp_path)
    apps: list[subprocess.Popen[bytes]] = []

    def start(config: dict[str, Any], *, app_id: str = "actors", db: Path | None = None,
              components: str | None = None, args: tuple[str, ...] = ()) -> ActorHost:
        app_port, http_port = free_port(), free_port()
        with open(tmp_path / f"app-{len(apps)}.log", "wb") as log:
            app = subprocess.Popen([sys.executable, str(APP), str(app_port), str(http_port), json.dumps(config)],
                                   stdout=log, stderr=subprocess.STDOUT)
        apps.append(app)
        args = ("--dapr-http-port", str(http_port), "--app-port", str(app_port), *args)
        text = components or actor_components(db or tmp_path / "actors.db")
        sidecar = launcher.start(text, app_id=app_id, args=args)
        host = ActorHost(app, app_port, sidecar, launcher, args, app_id)
        wait_until(lambda: _hosting(host), "the sidecar to host the app's actor types")
        return host

    yield start
    launcher.stop_all()
    for app in apps:
        app.terminate()
        try:
            app.wait(10)
        except subprocess.TimeoutExpired:
            app.kill()


def _hosting(host: ActorHost) -> bool:
    status, doc = http_json("GET", host.url + "/v1.0/metadata")
    return status == 200 and bool(doc.get("actorRuntime", {}).get("hostReady"))
