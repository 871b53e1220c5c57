"""Test helpers for Tandem services: a real ``tandemd`` beside the app under test.

`ServiceHarness` starts apps — an ASGI object served in-process by uvicorn on a
background thread, or a ``"module:attr"`` string served by a ``uvicorn``
subprocess — each with its own ``tandemd`` on free ports, and tears everything
down in `ServiceHarness.close`. The pytest plugin (``tandem.pytest_plugin``,
loaded automatically once ``tandem`` is installed) wraps it as the ``tandem_app``
fixture, and wraps :func:`tandem.sidecar.conformance.open_component` as
``tandem_component``.

`TestSidecar` runs an app and its sidecar in the test's own process and event loop
instead (in-memory components, no processes; :mod:`tandem.sidecar.testing`).

`wait_for` / `await_for` poll until something is true (a delivered message …);
`free_port` finds an unused TCP port. The conformance suites are re-exported
here (imported on first use, as they need pytest and anyio).
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

from .client import Client

if TYPE_CHECKING:
    from .sidecar.conformance.bindings import InputBindingConformance, OutputBindingConformance
    from .sidecar.conformance.lock import LockStoreConformance
    from .sidecar.conformance.pubsub import PubSubConformance
    from .sidecar.conformance.state import StateStoreConformance
    from .sidecar.testing import TestSidecar

__all__ = [
    "InputBindingConformance",
    "LockStoreConformance",
    "OutputBindingConformance",
    "PubSubConformance",
    "RunningService",
    "ServiceHarness",
    "StateStoreConformance",
    "TestSidecar",
    "await_for",
    "free_port",
    "wait_for",
]

T = TypeVar("T")
Components = None | str | Path | Mapping[str, Any]

_LISTENING = re.compile(r"listening on http://[^:\s]+:(\d+)")
_STOP_GRACE = 10.0
_APP_ENV = ("APP_PORT", "APP_ID", "DAPR_HTTP_PORT", "DAPR_HTTP_ENDPOINT", "DAPR_GRPC_PORT")

_CONFORMANCE = {
    "StateStoreConformance": "tandem.sidecar.conformance.state",
    "PubSubConformance": "tandem.sidecar.conformance.pubsub",
    "LockStoreConformance": "tandem.sidecar.conformance.lock",
    "OutputBindingConformance": "tandem.sidecar.conformance.bindings",
    "InputBindingConformance": "tandem.sidecar.conformance.bindings",
    "TestSidecar": "tandem.sidecar.testing",
}


def __getattr__(name: str) -> Any:
    """The conformance suites (they need pytest and anyio) and `TestSidecar` (the sidecar), imported lazily."""
    module = _CONFORMANCE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


# -- small helpers ---------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.05,
             what: str = "condition") -> T:
    """Call `predicate` until it returns something truthy, and return that; AssertionError after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


async def await_for(predicate: Callable[[], T | Awaitable[T]], timeout: float = 10.0, interval: float = 0.05,
                    what: str = "condition") -> T:
    """`wait_for` for async code: `predicate` may be sync or async; sleeps without blocking the loop."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if isinstance(value, Awaitable):
            value = await value
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        await asyncio.sleep(interval)


def _http(method: str, url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()
    except (OSError, urllib.error.URLError):
        return 0, b""


def _port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


def _component_yaml(name: str, ctype: str, metadata: Mapping[str, Any] | None = None) -> str:
    lines = ["apiVersion: dapr.io/v1alpha1", "kind: Component", "metadata:", f"  name: {json.dumps(name)}",
             "spec:", f"  type: {json.dumps(ctype)}", "  version: v1", "  metadata:"]
    items = (metadata or {}).items()
    lines += [f"    - name: {json.dumps(str(k))}\n      value: {json.dumps(str(v))}" for k, v in items]
    if not items:
        lines[-1] = "  metadata: []"
    return "\n".join(lines) + "\n"


def _declared_actor_types(app_port: int) -> set[str]:
    """The actor types the app lists in ``GET /dapr/config``."""
    status, body = _http("GET", f"http://127.0.0.1:{app_port}/dapr/config")
    try:
        entities = json.loads(body).get("entities") if status == 200 else None
    except (ValueError, AttributeError):
        entities = None
    return {str(e) for e in entities} if isinstance(entities, list) else set()


def _hosts_actors(metadata: Mapping[str, Any], actor_types: set[str]) -> bool:
    """Whether the sidecar's metadata shows it hosting `actor_types` (Dapr's ``actorRuntime``:
    ``activeActors`` lists each hosted type, ``hostReady`` turns true once placement has it).
    A sidecar that reports no actor runtime at all cannot be waited for: True."""
    if not actor_types:
        return True
    runtime = metadata.get("actorRuntime")
    listed = runtime.get("activeActors") if isinstance(runtime, dict) else metadata.get("actors")
    if not isinstance(listed, list):
        return not isinstance(runtime, dict)
    if isinstance(runtime, dict) and runtime.get("hostReady") is False:
        return False
    return actor_types <= {str(a.get("type")) for a in listed if isinstance(a, dict)}


# -- processes -------------------------------------------------------------------------


def _stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(_STOP_GRACE)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class _InProcessServer:
    """An ASGI app served by uvicorn on a background thread."""

    def __init__(self, app: Any, port: int) -> None:
        import uvicorn

        config = uvicorn.Config(app, host="127.0.0.1", port=port, loop="asyncio", lifespan="auto",
                                log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name=f"tandem-app-{port}", daemon=True)

    def start(self, timeout: float) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("the in-process app server stopped during start-up (see the log above)")
            if time.monotonic() >= deadline:
                raise RuntimeError("the in-process app server did not start in time")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(_STOP_GRACE)
        if self.thread.is_alive():
            self.server.force_exit = True
            self.thread.join(_STOP_GRACE)


@dataclass
class RunningService:
    """One app under test and its sidecar."""

    app_id: str
    app_port: int
    sidecar_url: str
    http_port: int
    log_path: Path
    sidecar: subprocess.Popen[bytes] = field(repr=False)
    app_process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    app_log_path: Path | None = None
    api_token: str = ""
    _server: _InProcessServer | None = field(default=None, repr=False)

    def client(self, *, timeout: float | None = 60.0) -> Client:
        """A new `Client` bound to this sidecar; close it (or use ``async with``)."""
        return Client(self.sidecar_url, api_token=self.api_token, timeout=timeout)

    def log(self) -> str:
        """Everything the sidecar wrote so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def app_log(self) -> str:
        """What a subprocess app wrote so far (empty for an in-process app)."""
        path = self.app_log_path
        return path.read_text(errors="replace") if path and path.exists() else ""

    def stop(self) -> None:
        """Stop the sidecar (SIGTERM, killed after 10 s), then the app; safe to call twice."""
        _stop_process(self.sidecar)
        if self.app_process is not None:
            _stop_process(self.app_process)
        if self._server is not None:
            self._server.stop()
            self._server = None


class ServiceHarness:
    """Starts apps with their sidecars under `base`; all share one ``TANDEM_HOME`` (so they resolve
    each other by app id) and, by default, one SQLite state store and pub/sub."""

    def __init__(self, base: Path) -> None:
        self.base = Path(base)
        self.home = self.base / "home"
        self.home.mkdir(parents=True, exist_ok=True)
        self.services: list[RunningService] = []
        self._saved_env: dict[str, str | None] = {}

    def start(self, app: Any, *, app_id: str = "app", components: Components = None,
              env: Mapping[str, str] | None = None, timeout: float = 30.0) -> RunningService:
        """Start `app` (ASGI object, or ``"module:attr"`` for a subprocess) beside a new ``tandemd``.

        `components`: None for the defaults (``statestore``: state.sqlite, actor state
        store; ``pubsub``: pubsub.sqlite), ``{name: type}`` /
        ``{name: {"type": t, "metadata": {...}}}``, a folder of component files, or YAML text.
        Returns once the sidecar is healthy and has found the app (and its subscriptions).
        """
        n = len(self.services)
        resources = self._resources(components, n)
        app_port = free_port()
        inherited = {k: v for k, v in os.environ.items() if k not in _APP_ENV}
        sidecar_env = {**inherited, **(env or {}), "TANDEM_HOME": str(self.home)}
        log_path = self.base / f"tandemd-{app_id}-{n}.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "tandem.sidecar", "--app-id", app_id, "--app-port", str(app_port),
                 "--dapr-http-port", "0", "--resources-path", str(resources)],
                stdout=log, stderr=subprocess.STDOUT, env=sidecar_env,
            )
        service = RunningService(app_id, app_port, "", 0, log_path, proc,
                                 api_token=sidecar_env.get("DAPR_API_TOKEN", ""))
        self.services.append(service)
        deadline = time.monotonic() + timeout
        self._wait_sidecar(service, deadline)
        app_env = {"APP_ID": app_id, "APP_PORT": str(app_port), "DAPR_HTTP_PORT": str(service.http_port),
                   "DAPR_HTTP_ENDPOINT": service.sidecar_url}
        if isinstance(app, str):
            service.app_log_path = self.base / f"app-{app_id}-{n}.log"
            with open(service.app_log_path, "wb") as app_log:
                service.app_process = self._spawn_app(app, app_port, {**inherited, **(env or {}), **app_env},
                                                      app_log)
        else:
            self._set_env(app_env)
            server = _InProcessServer(app, app_port)
            service._server = server
            server.start(max(deadline - time.monotonic(), 1.0))
        self._wait_app(service, deadline)
        return service

    def close(self) -> None:
        """Stop every service started here and restore the environment."""
        errors: list[BaseException] = []
        for service in reversed(self.services):
            try:
                service.stop()
            except Exception as exc:  # keep stopping the others
                errors.append(exc)
        self.services.clear()
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env.clear()
        if errors:
            raise errors[0]

    # -- internals ---------------------------------------------------------------------

    def _resources(self, components: Components, n: int) -> Path:
        if isinstance(components, Path):
            return components
        if isinstance(components, str) and "\n" not in components and Path(components).is_dir():
            return Path(components)
        folder = self.base / f"components-{n}"
        folder.mkdir()
        if components is None:
            text = "---\n".join([
                _component_yaml("statestore", "state.sqlite",
                                {"connectionString": str(self.base / "state.db"), "actorStateStore": "true"}),
                _component_yaml("pubsub", "pubsub.sqlite", {"connectionString": str(self.base / "pubsub.db")}),
            ])
        elif isinstance(components, str):
            text = components
        else:
            text = "---\n".join(
                _component_yaml(name, spec) if isinstance(spec, str)
                else _component_yaml(name, spec["type"], spec.get("metadata"))
                for name, spec in components.items()
            )
        (folder / "components.yaml").write_text(text)
        return folder

    @staticmethod
    def _spawn_app(target: str, port: int, env: dict[str, str], log: IO[bytes]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "uvicorn", target, "--port", str(port), "--host", "127.0.0.1",
             "--log-level", "warning"],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=os.getcwd(),
        )

    def _set_env(self, values: Mapping[str, str]) -> None:
        for key, value in values.items():
            self._saved_env.setdefault(key, os.environ.get(key))
            os.environ[key] = value

    @staticmethod
    def _fail(service: RunningService, why: str) -> RuntimeError:
        app_log = service.app_log()
        return RuntimeError(f"{why}\n--- tandemd log ---\n{service.log()}"
                            + (f"\n--- app log ---\n{app_log}" if app_log else ""))

    def _wait_sidecar(self, service: RunningService, deadline: float) -> None:
        while time.monotonic() < deadline:
            if service.sidecar.poll() is not None:
                raise self._fail(service, f"tandemd for {service.app_id!r} exited with {service.sidecar.returncode}")
            match = _LISTENING.search(service.log())
            if match:
                service.http_port = int(match.group(1))
                service.sidecar_url = f"http://127.0.0.1:{service.http_port}"
                if _http("GET", service.sidecar_url + "/v1.0/healthz/outbound")[0] == 204:
                    return
            time.sleep(0.02)
        raise self._fail(service, f"tandemd for {service.app_id!r} did not become healthy")

    def _wait_app(self, service: RunningService, deadline: float) -> None:
        """Until the app listens and the sidecar reports the subscriptions and actor types the app declares."""
        expected: set[str] | None = None
        actor_types: set[str] = set()
        while time.monotonic() < deadline:
            if service.sidecar.poll() is not None:
                raise self._fail(service, f"tandemd for {service.app_id!r} exited with {service.sidecar.returncode}")
            if service.app_process is not None and service.app_process.poll() is not None:
                raise self._fail(service, f"app {service.app_id!r} exited with {service.app_process.returncode}")
            if expected is None and _port_open(service.app_port):
                expected = self._declared_pubsubs(service)
                actor_types = _declared_actor_types(service.app_port)
            if expected is not None:
                if not expected and not actor_types:
                    return
                status, body = _http("GET", service.sidecar_url + "/v1.0/metadata")
                metadata = json.loads(body) if status == 200 else {}
                if (not expected or metadata.get("subscriptions")) and _hosts_actors(metadata, actor_types):
                    return
            time.sleep(0.05)
        raise self._fail(service, f"the sidecar of {service.app_id!r} did not finish discovering the app")

    @staticmethod
    def _declared_pubsubs(service: RunningService) -> set[str]:
        """Pub/sub components the sidecar has and the app subscribes on (none: nothing to wait for)."""
        status, body = _http("GET", f"http://127.0.0.1:{service.app_port}/dapr/subscribe")
        try:
            declared = json.loads(body) if status == 200 else []
        except ValueError:
            declared = []
        if not isinstance(declared, list) or not declared:
            return set()
        status, body = _http("GET", service.sidecar_url + "/v1.0/metadata")
        known = {c.get("name") for c in json.loads(body).get("components", [])} if status == 200 else set()
        return {str(d.get("pubsubname")) for d in declared if isinstance(d, dict)} & known
