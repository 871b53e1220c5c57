"""Serving the dashboard with uvicorn: inside ``tandem run -f --dashboard``'s loop, or alone.

uvicorn normally takes over SIGINT/SIGTERM; here the owner of the loop keeps them
(``tandem run`` must stop its apps first), so the server only starts and stops on request.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Callable, Generator

import uvicorn

from .app import build_app

__all__ = ["DashboardServer", "serve"]


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # the loop's owner handles signals


class DashboardServer:
    """The dashboard on ``host:port`` (0: a free port) in the running event loop."""

    def __init__(self, host: str = "127.0.0.1", port: int = 8080) -> None:
        self.host, self.port = host, port
        self._server: _QuietServer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> str:
        """Bind and serve; returns the page's URL. Raises OSError when the port is taken."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        self._server = _QuietServer(uvicorn.Config(build_app(), loop="none", log_level=logging.WARNING,
                                                   access_log=False, timeout_graceful_shutdown=2))
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started and not self._task.done():
            await asyncio.sleep(0.02)
        if self._task.done():
            self._task.result()  # re-raise what stopped it
            raise OSError(f"the dashboard could not start on {self.host}:{self.port}")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await asyncio.gather(self._task, return_exceptions=True)


async def serve(host: str, port: int, on_ready: Callable[[str], None]) -> None:
    """Serve until SIGINT/SIGTERM (``tandem dashboard``); ``on_ready`` gets the page's URL."""
    server = DashboardServer(host, port)
    on_ready(await server.start())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await server.stop()
