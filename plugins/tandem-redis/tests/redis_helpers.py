"""Helpers of the tandem-redis tests: the shared Redis's address, private servers, a tiny tandemd launcher."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import redis
import yaml

_LISTENING = re.compile(r"listening on http://[^:]+:(\d+)")


def shared_redis_address() -> tuple[str, int]:
    """``REDIS_URL`` (default ``redis://127.0.0.1:6379``) as host and port."""
    url = urlparse(os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379")
    return url.hostname or "127.0.0.1", url.port or 6379


def redis_host() -> str:
    """The shared Redis as a Dapr ``redisHost`` value."""
    host, port = shared_redis_address()
    return f"{host}:{port}"


def component_yaml(name: str, ctype: str, metadata: Mapping[str, str]) -> str:
    """One Dapr component document, as ``dapr init`` writes them."""
    return yaml.safe_dump({
        "apiVersion": "dapr.io/v1alpha1", "kind": "Component", "metadata": {"name": name},
        "spec": {"type": ctype, "version": "v1", "metadata": [{"name": k, "value": v} for k, v in metadata.items()]},
    }, sort_keys=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PrivateRedis:
    """A ``redis-server`` of one test, on its own port; killed by pid, restartable on the same port."""

    directory: Path
    persistent: bool = False
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed"
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if self.persistent else ["--appendonly", "no"]
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", *persistence,
             "--dir", str(self.directory), "--logfile", str(self.directory / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_timeout=1, socket_connect_timeout=1)
        deadline = time.monotonic() + 10
        try:
            while True:
                try:
                    if client.ping():
                        return
                except redis.RedisError:
                    if time.monotonic() > deadline or self.process.poll() is not None:
                        raise
                    time.sleep(0.02)
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL, as a crash or a pulled plug."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        self.process = None

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=2, socket_connect_timeout=2)


@dataclass
class Tandemd:
    """A ``tandemd`` process started by :func:`start_tandemd`."""

    process: subprocess.Popen[bytes]
    log_path: Path
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_tandemd(base: Path, app_id: str, components: str, timeout: float = 30,
                  args: tuple[str, ...] = (), env: dict[str, str] | None = None) -> Tandemd:
    """Start ``python -m tandem.sidecar`` with ``components`` (YAML) as its only resources path."""
    resources = base / f"resources-{app_id}"
    resources.mkdir()
    (resources / "components.yaml").write_text(components)
    log_path = base / f"tandemd-{app_id}.log"
    env = {**os.environ, "TANDEM_HOME": str(base / "home"), **(env or {})}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tandem.sidecar", "--app-id", app_id, "--dapr-http-port", "0",
             "--resources-path", str(resources), *args],
            stdout=log, stderr=subprocess.STDOUT, env=env,
        )
    sidecar = Tandemd(proc, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"tandemd exited with {proc.returncode}:\n{sidecar.log()}")
        match = _LISTENING.search(sidecar.log())
        if match:
            sidecar.port = int(match.group(1))
            if http("GET", sidecar.url + "/v1.0/healthz/outbound")[0] == 204:
                return sidecar
        time.sleep(0.05)
    sidecar.stop()
    raise RuntimeError(f"tandemd did not become healthy:\n{sidecar.log()}")


def http(method: str, url: str, payload: Any = None, timeout: float = 15) -> tuple[int, dict[str, str], bytes]:
    """A blocking JSON call: status, lower-cased headers, body."""
    body = None if payload is None else json.dumps(payload).encode()
    req = urllib.request.Request(url, data=body, method=method, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as reply:
            return reply.status, {k.lower(): v for k, v in reply.headers.items()}, reply.read()
    except urllib.error.HTTPError as err:
        return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read()
