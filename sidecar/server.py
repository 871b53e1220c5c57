"""Serve a :class:`Runtime` over HTTP with uvicorn (uvloop + httptools when present)."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from collections.abc import Generator
from dataclasses import replace

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from . import instances, internal_auth
from .api.app import PortDispatch, build_api, build_internal
from .components.nameresolution import Address
from .config import RuntimeConfig
from .home import RUN_DIR
from .http_timeouts import protocol_class
from .observability.metrics_server import MetricsApp
from .plugins import ComponentRegistry
from .runtime import Runtime, StartupError
from .supervision import Supervision

__all__ = ["serve", "run"]

log = logging.getLogger("tandem.sidecar")


class _Server(uvicorn.Server):
    """uvicorn's server, but a signal means "shut down gracefully, exit 0"."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        loop = asyncio.get_running_loop()
        installed = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self._on_signal)
                installed.append(sig)
            except (NotImplementedError, RuntimeError):  # not the main thread
                pass
        try:
            yield
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)

    def _on_signal(self) -> None:
        if self.should_exit:
            self.force_exit = True
        self.should_exit = True


def _reachable(address: str) -> str:
    """The address other sidecars use to reach one bound to ``address``."""
    if address in ("0.0.0.0", "::", ""):
        try:
            return socket.gethostbyname(socket.gethostname())
        except OSError:
            return "127.0.0.1"
    return address


def _bind_metrics(config: RuntimeConfig, runtime: Runtime) -> socket.socket | None:
    """The metrics port's socket; a port that is taken costs the metrics, never the API (one warning)."""
    if not runtime.observability.metrics_enabled:
        return None
    address = config.listen_addresses[0]
    try:
        return _bind(address, config.metrics_port)
    except StartupError as exc:
        log.warning("metrics are not served: %s (another process holds the port; pick a free one with "
                    "--metrics-port, or turn metrics off with --enable-metrics=false). The API serves as usual.",
                    exc)
        return None


class _WithMetrics:
    """The metrics port's requests go to the metrics app, everything else to the API."""

    def __init__(self, app: ASGIApp, metrics: ASGIApp, port: int) -> None:
        self.app = app
        self.metrics = metrics
        self.port = port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        server = scope.get("server")
        if server and server[1] == self.port:
            await self.metrics(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def _bind(address: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((address, port))
    except OSError as exc:
        sock.close()
        raise StartupError(f"cannot listen on {address}:{port}: {exc.strerror or exc}") from None
    sock.listen(2048)
    sock.setblocking(False)
    return sock


async def serve(config: RuntimeConfig, registry: ComponentRegistry | None = None) -> None:
    """Load, start and serve until asked to stop; raises :class:`StartupError`."""
    supervision = Supervision.from_environ(os.environ, config.home / RUN_DIR)
    if supervision is not None and supervision.gone():
        raise StartupError(f"the tandem run that started this sidecar (pid {supervision.supervisor_pid}) is gone")
    try:
        secret = internal_auth.resolve_secret(config.home, config.internal_secret, config.internal_secret_file)
    except internal_auth.SecretError as exc:
        raise StartupError(str(exc)) from None
    config = replace(config, internal_secret=secret)
    runtime = Runtime(config, registry)
    runtime.load()
    sockets = [_bind(address, config.http_port) for address in config.listen_addresses]
    internal = _bind(config.listen_addresses[0], config.internal_port)
    port = sockets[0].getsockname()[1]
    internal_port = internal.getsockname()[1]
    metrics = _bind_metrics(config, runtime)
    extra = [internal] if metrics is None else [internal, metrics]
    try:
        await runtime.start()
    except BaseException:
        for sock in [*sockets, *extra]:
            sock.close()
        await runtime.close()
        raise
    internal_app = internal_auth.RequireInternalSecret(build_internal(runtime), secret)
    app: ASGIApp = PortDispatch(build_api(runtime), internal_app, internal_port)
    if metrics is not None:
        app = _WithMetrics(app, MetricsApp(runtime.observability), metrics.getsockname()[1])
    server = _Server(uvicorn.Config(
        app, loop="none", lifespan="off", access_log=False, timeout_keep_alive=config.idle_timeout, log_config=None,
        http=protocol_class(config.read_header_timeout),  # httptools: Dapr's JSON errors, bounded header reads
        server_header=False, date_header=True,
        log_level=logging.DEBUG if config.log_level == "debug" else logging.WARNING,
        timeout_graceful_shutdown=10,
    ))
    runtime.on_shutdown_request(lambda: setattr(server, "should_exit", True))
    registered = None
    watching = None if supervision is None else \
        asyncio.ensure_future(supervision.watch(lambda: setattr(server, "should_exit", True)))
    try:
        serving = asyncio.ensure_future(server.serve([*sockets, *extra]))
        while not server.started and not serving.done():
            await asyncio.sleep(0.005)
        if server.started:
            log.info("tandemd %s: app id %r, HTTP API listening on %s (internal port %d)", runtime.version,
                     config.app_id, ", ".join(f"http://{a}:{port}" for a in config.listen_addresses),
                     internal_port)
            if metrics is not None:
                log.info("metrics served on http://%s:%d/metrics", config.listen_addresses[0],
                         metrics.getsockname()[1])
            await runtime.announce(Address(_reachable(config.listen_addresses[0]), internal_port), port)
            if config.register_instance:
                registered = instances.register(config.home / RUN_DIR, instances.Instance(
                    app_id=config.app_id, pid=os.getpid(), http_port=port,
                    address=config.listen_addresses[0], app_port=config.app_port,
                    resources_paths=tuple(str(p) for p in config.resources_paths),
                    config=str(config.config_path) if config.config_path else None,
                    internal_port=internal_port, namespace=config.namespace, run_file=config.run_file,
                ))
        await serving
    finally:
        if watching is not None and supervision is not None:
            watching.cancel()
            await supervision.end_orphaned_app()
        if registered is not None:
            instances.unregister(registered)
        await runtime.close()
        for sock in [*sockets, *extra]:
            sock.close()


def run(config: RuntimeConfig, registry: ComponentRegistry | None = None) -> int:
    """Blocking entry point for ``tandemd``; returns the process exit code."""
    try:
        import uvloop
    except ImportError:
        runner = asyncio.run
    else:
        runner = uvloop.run
    try:
        runner(serve(config, registry))
    except StartupError as exc:
        print(f"tandemd: error: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0
