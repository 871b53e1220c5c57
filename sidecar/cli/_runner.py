"""What ``tandem run`` does once its flags are parsed: supervise tandemd and the app.

Order, as in Dapr: the sidecar starts first; the app starts once the sidecar's own
APIs answer (``/v1.0/healthz/outbound``), so the app may use state etc. before it
opens its port. Both children get their own session, so a Ctrl-C on the terminal
reaches only this process, which then stops the app (its whole process group)
before the sidecar. The first of {app exits, sidecar exits, stop signal} ends the run.
"""
from __future__ import annotations

import asyncio
import os
import shlex
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ._output import Console, pump_lines
from ._process import exit_status, stop_group, wait_exit
from ._sidecar_http import outbound_ready, put_metadata, sidecar_url

__all__ = ["RunOptions", "sidecar_argv", "app_env", "run"]

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@dataclass(frozen=True)
class RunOptions:
    """Everything ``tandem run`` needs; ``None`` means "tandemd's default"."""

    app_id: str
    http_port: int
    resources_paths: tuple[str, ...]
    command: tuple[str, ...] = ()
    app_port: int | None = None
    config: str | None = None
    log_level: str | None = None
    max_body_size: str | None = None
    app_channel_address: str | None = None
    app_protocol: str | None = None
    listen_addresses: str | None = None
    grpc_port: int | None = None
    metrics_port: int | None = None
    ready_timeout: float = 60.0
    grace: float = 5.0

    @property
    def base_url(self) -> str:
        """Where the CLI and the app reach the sidecar."""
        return sidecar_url(self.listen_addresses or "127.0.0.1", self.http_port)


def sidecar_argv(opts: RunOptions) -> list[str]:
    """The tandemd command line, in daprd's flag names."""
    argv = [sys.executable, "-m", "tandem.sidecar", "--app-id", opts.app_id, "--dapr-http-port", str(opts.http_port)]
    for path in opts.resources_paths:
        argv += ["--resources-path", path]
    optional: list[tuple[str, object]] = [
        ("--config", opts.config),
        ("--app-port", opts.app_port),
        ("--log-level", opts.log_level),
        ("--max-body-size", opts.max_body_size),
        ("--app-channel-address", opts.app_channel_address),
        ("--app-protocol", opts.app_protocol),
        ("--dapr-listen-addresses", opts.listen_addresses),
        ("--dapr-grpc-port", opts.grpc_port),
        ("--metrics-port", opts.metrics_port),
    ]
    for flag, value in optional:
        if value is not None:
            argv += [flag, str(value)]
    return argv


def app_env(opts: RunOptions, inherited: Mapping[str, str]) -> dict[str, str]:
    """The app's environment: the inherited one plus what Dapr's CLI gives an app."""
    env = dict(inherited)
    env.update(
        APP_ID=opts.app_id,
        DAPR_HTTP_PORT=str(opts.http_port),
        DAPR_HTTP_ENDPOINT=opts.base_url,
        APP_CHANNEL_ADDRESS=opts.app_channel_address or "127.0.0.1",
        APP_PROTOCOL=opts.app_protocol or "http",
    )
    if opts.app_port is not None:
        env["APP_PORT"] = str(opts.app_port)
    # Python apps print through a block buffer when piped; lines would show up late.
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def run(opts: RunOptions, console: Console | None = None) -> int:
    """Run sidecar and app until one ends or a stop signal arrives; returns the exit status."""
    return asyncio.run(_Run(opts, console or Console()).main())


class _Run:
    def __init__(self, opts: RunOptions, console: Console) -> None:
        self.opts = opts
        self.console = console
        self.stop = asyncio.Event()
        self.hurry = asyncio.Event()
        self.pumps: list[asyncio.Task[None]] = []
        self.procs: list[asyncio.subprocess.Process] = []

    def _on_signal(self) -> None:
        # First signal: orderly shutdown. A second one: skip the grace periods.
        if self.stop.is_set():
            self.hurry.set()
        self.stop.set()

    async def main(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in _STOP_SIGNALS:
            loop.add_signal_handler(sig, self._on_signal)
        try:
            return await self._main()
        finally:
            # Normally a no-op; after an unexpected error it keeps us from leaving orphans.
            for proc in reversed(self.procs):
                if proc.returncode is None:
                    await stop_group(proc, self.opts.grace, self.hurry)
            await self._drain()
            for sig in _STOP_SIGNALS:
                loop.remove_signal_handler(sig)

    async def _main(self) -> int:
        opts, console = self.opts, self.console
        console.info(f"starting sidecar for app id '{opts.app_id}' on {opts.base_url}")
        sidecar_env = dict(os.environ, PYTHONUNBUFFERED="1")
        sidecar = await self._spawn(sidecar_argv(opts), sidecar_env, f"{opts.app_id} sidecar", "sidecar")

        state = await self._wait_ready(sidecar)
        if state == "exited":
            await self._drain()
            code = exit_status(sidecar.returncode or 0)
            console.error(f"tandemd exited with code {code} before it was ready (see its output above)")
            return code or 1
        if state != "ready":
            if state == "timeout":
                console.error(f"tandemd did not become ready within {opts.ready_timeout:g}s; stopping it")
            await stop_group(sidecar, opts.grace, self.hurry)
            return 1 if state == "timeout" else 0
        console.info(f"sidecar ready; DAPR_HTTP_ENDPOINT={opts.base_url}")

        app: asyncio.subprocess.Process | None = None
        if opts.command:
            try:
                app = await self._spawn(list(opts.command), app_env(opts, os.environ), f"{opts.app_id} app", "app")
            except OSError as exc:
                console.error(f"cannot start the app {shlex.join(opts.command)!r}: {exc.strerror or exc}")
                await stop_group(sidecar, opts.grace, self.hurry)
                return 127 if isinstance(exc, FileNotFoundError) else 126
            console.info(f"app started (pid {app.pid}): {shlex.join(opts.command)}")
        else:
            console.info("no app command given: the sidecar runs alone until Ctrl-C or `tandem stop`")

        publish = asyncio.create_task(self._publish_metadata(app))
        try:
            return await self._supervise(sidecar, app)
        finally:
            publish.cancel()
            await asyncio.gather(publish, return_exceptions=True)

    async def _spawn(
        self, argv: Sequence[str], env: Mapping[str, str], tag: str, role: str
    ) -> asyncio.subprocess.Process:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, env=dict(env), start_new_session=True,
        )
        self.procs.append(proc)
        assert proc.stdout is not None
        self.pumps.append(asyncio.create_task(pump_lines(proc.stdout, self.console, self.console.tag(tag, role))))
        return proc

    async def _wait_ready(self, sidecar: asyncio.subprocess.Process) -> str:
        """``ready``, ``exited``, ``stopped`` (signal) or ``timeout``."""
        deadline = time.monotonic() + self.opts.ready_timeout
        while True:
            if sidecar.returncode is not None:
                return "exited"
            if self.stop.is_set():
                return "stopped"
            if await asyncio.to_thread(outbound_ready, self.opts.base_url):
                return "ready"
            if time.monotonic() > deadline:
                return "timeout"
            await asyncio.sleep(0.05)

    async def _publish_metadata(self, app: asyncio.subprocess.Process | None) -> None:
        """Tell the sidecar who runs it, as Dapr's CLI does; ``tandem list``/``stop`` read it back."""
        items = {"cliPID": str(os.getpid())}
        if app is not None:
            items["appPID"] = str(app.pid)
            items["appCommand"] = shlex.join(self.opts.command)
        for key, value in items.items():
            if not await asyncio.to_thread(put_metadata, self.opts.base_url, key, value):
                self.console.error(f"could not store {key} in the sidecar's metadata")

    async def _supervise(self, sidecar: asyncio.subprocess.Process, app: asyncio.subprocess.Process | None) -> int:
        opts, console = self.opts, self.console
        waits = {asyncio.create_task(wait_exit(sidecar)), asyncio.create_task(self.stop.wait())}
        app_done = asyncio.create_task(wait_exit(app)) if app is not None else None
        if app_done is not None:
            waits.add(app_done)
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for task in waits:
            task.cancel()
        await asyncio.gather(*waits, return_exceptions=True)

        if app is not None and app.returncode is not None:
            code = exit_status(app.returncode)
            console.info(f"app exited with code {code}; stopping the sidecar")
            await stop_group(app, opts.grace, self.hurry)  # whatever the app left in its group
            await stop_group(sidecar, opts.grace, self.hurry)
            return code
        if sidecar.returncode is not None:
            code = exit_status(sidecar.returncode)
            if app is not None:
                console.error(f"the sidecar exited with code {code}; stopping the app")
                await stop_group(app, opts.grace, self.hurry)
            else:
                console.info(f"the sidecar exited with code {code}")
            return code
        console.info("stopping" + (" the app, then the sidecar" if app is not None else " the sidecar"))
        if app is not None:
            await stop_group(app, opts.grace, self.hurry)
        await stop_group(sidecar, opts.grace, self.hurry)
        return 0

    async def _drain(self) -> None:
        """Let the pipe readers copy what is left; a grandchild holding a pipe open must not hang us."""
        if self.pumps:
            _, pending = await asyncio.wait(self.pumps, timeout=2.0)
            for task in pending:
                task.cancel()
            await asyncio.gather(*self.pumps, return_exceptions=True)
            self.pumps.clear()
