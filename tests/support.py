"""Test helpers: start real ``tandemd`` processes, tiny HTTP calls, component YAML."""
from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

_LISTENING = re.compile(r"listening on http://[^:]+:(\d+)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Sidecar:
    """A running ``tandemd`` process."""

    process: subprocess.Popen[bytes]
    http_port: int
    log_path: Path
    home: Path
    resources: Path
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def component_yaml(name: str, ctype: str, metadata: Mapping[str, Any] | None = None,
                   **extra: Any) -> str:
    """One Dapr component document as YAML text."""
    doc: dict[str, Any] = {
        "apiVersion": "dapr.io/v1alpha1", "kind": "Component", "metadata": {"name": name},
        "spec": {"type": ctype, "version": "v1",
                 "metadata": [{"name": k, "value": v} for k, v in (metadata or {}).items()]},
    }
    doc.update(extra)
    return yaml.safe_dump(doc, sort_keys=False)


def tandemd_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "tandem.sidecar", *args]


def http(method: str, url: str, body: bytes | None = None,
         headers: Mapping[str, str] | None = None, timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    """A tiny blocking HTTP call for tests that only need status, headers and body."""
    req = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(req, timeout=timeout) as reply:
            return reply.status, {k.lower(): v for k, v in reply.headers.items()}, reply.read()
    except urllib.error.HTTPError as err:
        return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read()


def http_json(method: str, url: str, payload: Any = None, **kw: Any) -> tuple[int, Any]:
    body = None if payload is None else json.dumps(payload).encode()
    status, _, data = http(method, url, body, {"content-type": "application/json", **kw.pop("headers", {})}, **kw)
    return status, (json.loads(data) if data else None)


def run_tandemd_until_exit(args: list[str], env: Mapping[str, str] | None = None,
                           timeout: float = 30) -> tuple[int, str]:
    """Run ``tandemd`` expecting it to stop by itself (bad configuration); return code and output."""
    proc = subprocess.run(tandemd_command(*args), capture_output=True, timeout=timeout,
                          env={**os.environ, **(env or {})})
    return proc.returncode, (proc.stdout + proc.stderr).decode(errors="replace")


class SidecarLauncher:
    """Starts ``tandemd`` processes under ``base`` (each on a free port) and stops them all."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.started: list[Sidecar] = []

    def start(self, components: str | Mapping[str, Any] | None = None, *, app_id: str = "testapp",
              env: Mapping[str, str] | None = None, args: tuple[str, ...] = (),
              home: Path | None = None, resources: Path | None = None) -> Sidecar:
        """``components`` is raw YAML, or ``{name: type}`` / ``{name: {"type": t, "metadata": {...}}}``."""
        n = len(self.started)
        if resources is None:
            resources = self.base / f"components-{n}"
            resources.mkdir()
            text = components if isinstance(components, str) else "---\n".join(
                component_yaml(name, spec) if isinstance(spec, str)
                else component_yaml(name, spec["type"], spec.get("metadata"))
                for name, spec in (components or {}).items()
            )
            (resources / "components.yaml").write_text(text)
        home = home or self.base / "home"
        log_path = self.base / f"tandemd-{n}.log"
        full_env = {**os.environ, "TANDEM_HOME": str(home), **(env or {})}
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                tandemd_command("--app-id", app_id, "--dapr-http-port", "0",
                                "--resources-path", str(resources), *args),
                stdout=log, stderr=subprocess.STDOUT, env=full_env,
            )
        sidecar = Sidecar(proc, 0, log_path, home, resources)
        self.started.append(sidecar)
        wait_healthy(sidecar)
        return sidecar

    def stop_all(self) -> None:
        for sidecar in self.started:
            sidecar.stop()


def json_lines(text: str) -> list[Any]:
    """The JSON documents of the *complete* lines of ``text``: a file another process is still
    appending to may end in half a line, which is left for the next read."""
    complete = text[:text.rfind("\n") + 1]
    return [json.loads(line) for line in complete.splitlines() if line.strip()]


def read_json_lines(path: Path) -> list[Any]:
    return json_lines(path.read_text(encoding="utf-8"))


def wait_until(check: Callable[[], Any], what: str, timeout: float = 30.0,
               explain: Callable[[], object] = lambda: "") -> Any:
    """Poll ``check`` until it returns something truthy, and return that; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what} {explain()}".rstrip())
        time.sleep(0.05)


def wait_healthy(sidecar: Sidecar, timeout: float = 30) -> None:
    """Wait for the "listening on" log line and a 204 from ``/v1.0/healthz/outbound``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sidecar.process.poll() is not None:
            raise RuntimeError(f"tandemd exited with {sidecar.process.returncode}:\n{sidecar.log()}")
        match = _LISTENING.search(sidecar.log())
        if match:
            sidecar.http_port = int(match.group(1))
            status, _, _ = http("GET", sidecar.url + "/v1.0/healthz/outbound")
            if status == 204:
                return
        time.sleep(0.02)
    raise RuntimeError(f"tandemd did not become healthy:\n{sidecar.log()}")


def processes_with_home(home: Path) -> list[Any]:
    """Live processes a test started: they carry its ``TANDEM_HOME`` in their environment."""
    import psutil

    found = []
    for proc in psutil.process_iter():
        try:
            if proc.pid != os.getpid() and proc.status() != psutil.STATUS_ZOMBIE \
                    and proc.environ().get("TANDEM_HOME") == str(home):
                found.append(proc)
        except psutil.Error:
            continue
    return found


@contextlib.contextmanager
def private_home(base: Path, *, init: bool) -> Iterator[dict[str, str]]:
    """An environment with its own ``TANDEM_HOME`` (``tandem init`` run in it when ``init``);
    whatever is still running with that home afterwards is killed."""
    import psutil

    home = base / "home"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DAPR_", "APP_", "FORCE_COLOR"))}
    environ = {**clean, "TANDEM_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    if init:
        done = subprocess.run([sys.executable, "-m", "tandem.sidecar.cli.main", "init"], env=environ,
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
    try:
        yield environ
    finally:
        for proc in processes_with_home(home):
            with contextlib.suppress(psutil.Error):
                proc.kill()
