"""The sidecar in the test's own process and event loop: route tests in ten lines, app tests without processes.

:class:`InProcessSidecar` is the runtime plus the HTTP API on in-memory components
(or any given ones), with an optional app reached as an ASGI object; call its API
with :meth:`InProcessSidecar.http` (an ``httpx.AsyncClient`` over the ASGI app, no
port). :class:`TestSidecar` adds what an app's own code needs to reach it: the API
served on a loopback port of this event loop and ``DAPR_HTTP_ENDPOINT`` /
``DAPR_HTTP_PORT`` set while it runs, so ``tandem.Client()`` in a handler finds it.
It is the in-process twin of ``tandem.testing.ServiceHarness`` (real ``tandemd``
processes), as FastStream's ``TestBroker`` is of a real broker.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import uvicorn
import yaml
from starlette.types import ASGIApp

from .api.app import build_api
from .asgi_channel import AsgiChannel
from .config import RuntimeConfig
from .runtime import Runtime

if TYPE_CHECKING:
    from collections.abc import Generator

    import httpx

    from tandem.client import Client

__all__ = ["DEFAULT_COMPONENTS", "InProcessSidecar", "TestSidecar"]

#: ``statestore`` (in-memory, the actor state store) and ``pubsub`` (in-memory).
DEFAULT_COMPONENTS: Mapping[str, Any] = {
    "statestore": {"type": "state.in-memory", "metadata": {"actorStateStore": "true"}},
    "pubsub": "pubsub.in-memory",
}
Components = Mapping[str, Any] | str | Path | None


class InProcessSidecar:
    """``tandemd``'s runtime and HTTP API in this event loop; ``async with InProcessSidecar() as sidecar:``.

    ``app``: the app as an ASGI object (its lifespan runs), reached without a port;
    ``components``: ``{name: type}`` / ``{name: {"type": t, "metadata": {...}}}``, YAML text
    or a folder of component files (default :data:`DEFAULT_COMPONENTS`);
    ``configuration``: a Dapr ``Configuration`` document as YAML text.
    """

    def __init__(self, app: ASGIApp | None = None, *, app_id: str = "app", components: Components = None,
                 configuration: str | None = None) -> None:
        self.app = app
        self.app_id = app_id
        self._components = DEFAULT_COMPONENTS if components is None else components
        self._configuration = configuration
        self._folder: tempfile.TemporaryDirectory[str] | None = None
        self._runtime: Runtime | None = None
        self._api: ASGIApp | None = None

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            raise RuntimeError("the sidecar has not started (use `async with`)")
        return self._runtime

    @property
    def api(self) -> ASGIApp:
        """The sidecar's HTTP API as an ASGI app."""
        if self._api is None:
            raise RuntimeError("the sidecar has not started (use `async with`)")
        return self._api

    def http(self) -> httpx.AsyncClient:
        """An ``httpx.AsyncClient`` on the API (``base_url`` ``http://sidecar``); needs ``httpx``."""
        import httpx

        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.api), base_url="http://sidecar")

    async def start(self) -> None:
        """Load the components, start the runtime, and (with an app) wait until it found the app."""
        self._folder = tempfile.TemporaryDirectory(prefix="tandem-sidecar-")
        try:
            await self._start(Path(self._folder.name))
        except BaseException:
            await self.close()
            raise

    async def _start(self, folder: Path) -> None:
        config = RuntimeConfig(app_id=self.app_id, resources_paths=(self._resources(folder),),
                               config_path=self._config_file(folder), home=folder / "home",
                               enable_metrics=False, register_instance=False)
        channel = AsgiChannel(self.app) if self.app is not None else None
        self._runtime = Runtime(config, channel=channel)
        if channel is not None:
            await channel.wait_until_reachable()  # the app's lifespan: a failure surfaces here
        self._runtime.load()
        await self._runtime.start()
        self._api = build_api(self._runtime)
        # One host: every actor is placed here, so nothing is ever forwarded to this address.
        self._runtime.blocks.actors.serve_at("127.0.0.1:0")
        if self._runtime.app_connection is not None:
            await asyncio.shield(self._runtime.app_connection)  # raises what kept a block from starting

    async def close(self) -> None:
        if self._runtime is not None:
            await self._runtime.close()
            self._runtime = None
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None

    async def __aenter__(self) -> InProcessSidecar:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    def _resources(self, folder: Path) -> Path:
        given = self._components
        if isinstance(given, Path) or (isinstance(given, str) and "\n" not in given and Path(given).is_dir()):
            return Path(given)
        resources = folder / "components"
        resources.mkdir()
        if isinstance(given, str):
            text = given
        else:
            text = yaml.safe_dump_all([_component_document(name, spec) for name, spec in given.items()])
        (resources / "components.yaml").write_text(text)
        return resources

    def _config_file(self, folder: Path) -> Path | None:
        if self._configuration is None:
            return None
        path = folder / "config.yaml"
        path.write_text(self._configuration)
        return path


class TestSidecar(InProcessSidecar):
    """An app and its sidecar in the test's process and event loop, for app authors.

    ``async with TestSidecar(app) as sidecar:`` — the app's publish reaches its own
    ``@app.topic`` handlers, its state round-trips, and invoking its own methods works,
    all on in-memory components. The API also listens on a free loopback port, and
    ``DAPR_HTTP_ENDPOINT``, ``DAPR_HTTP_PORT`` and ``APP_ID`` point at it while the
    sidecar runs (restored afterwards), so the app's own ``tandem.Client`` reaches it.
    """

    __test__ = False  # not a test class, whatever pytest thinks of the name

    def __init__(self, app: ASGIApp, *, app_id: str = "app", components: Components = None,
                 configuration: str | None = None) -> None:
        super().__init__(app, app_id=app_id, components=components, configuration=configuration)
        self.url = ""
        self._server: uvicorn.Server | None = None
        self._serving: Any = None
        self._saved_env: dict[str, str | None] = {}

    def client(self) -> Client:
        """A ``tandem.Client`` bound to this sidecar; close it (or use ``async with``)."""
        from tandem.client import Client

        return Client(self.url, api_token="")

    async def start(self) -> None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self._set_env({"DAPR_HTTP_ENDPOINT": self.url, "DAPR_HTTP_PORT": str(port), "APP_ID": self.app_id})
        try:
            await super().start()
            self._server = _QuietServer(uvicorn.Config(self.api, lifespan="off", log_level="warning",
                                                       access_log=False))
            self._serving = asyncio.ensure_future(self._server.serve([sock]))
            while not self._server.started and not self._serving.done():
                await asyncio.sleep(0.005)
            if self._serving.done():
                self._serving.result()  # raises what stopped it
        except BaseException:
            sock.close()
            await self.close()
            raise

    async def close(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            with contextlib.suppress(Exception):
                await self._serving
            self._server = None
        await super().close()
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env.clear()

    async def __aenter__(self) -> TestSidecar:
        await self.start()
        return self

    def _set_env(self, values: Mapping[str, str]) -> None:
        for key, value in values.items():
            self._saved_env.setdefault(key, os.environ.get(key))
            os.environ[key] = value


class _QuietServer(uvicorn.Server):
    """uvicorn serving inside the test's loop: signals stay the test runner's."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def _component_document(name: str, spec: str | Mapping[str, Any]) -> dict[str, Any]:
    ctype, metadata = (spec, {}) if isinstance(spec, str) else (spec["type"], spec.get("metadata") or {})
    return {"apiVersion": "dapr.io/v1alpha1", "kind": "Component", "metadata": {"name": name},
            "spec": {"type": ctype, "version": "v1",
                     "metadata": [{"name": str(k), "value": str(v)} for k, v in metadata.items()]}}
