"""What ``tandem run`` does once its flags are parsed: supervise tandemd and the app.

Order, as in Dapr: the sidecar starts first; the app starts once the sidecar's own
APIs answer (``/v1.0/healthz/outbound``), so the app may use state etc. before it
opens its port. Both children get their own session, so a Ctrl-C on the terminal
reaches only this process, which then stops the app (its whole process group)
before the sidecar. The first of {app exits, sidecar exits, stop signal} ends the run.

Should this process die without that (SIGKILL, a closed IDE), nothing is left
behind: on Linux the kernel sends both children SIGTERM (parent-death signal), and
the sidecar, told our pid, sees us gone and ends the app's whole process group,
recorded in the run folder beside the sidecar's own file.

:class:`Pair` is that plumbing for one sidecar and its app; the multi-app run
(``_multi_runner``) drives one per replica with its own policy on top.
"""
from __future__ import annotations

import asyncio
import os
import shlex
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import psutil

from ..home import run_dir
from ..instances import record_app
from ..supervision import SUPERVISOR_ENV
from ._output import Console, pump_lines
from ._process import die_with_parent, exit_status, stop_group, wait_exit
from ._sidecar_http import outbound_ready, put_metadata, sidecar_url

__all__ = ["RunOptions", "Outlet", "Pair", "sidecar_argv", "app_env", "run", "STOP_SIGNALS"]

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


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
    internal_port: int | None = None
    enable_api_logging: bool = False
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
        ("--dapr-internal-port", opts.internal_port),
    ]
    for flag, value in optional:
        if value is not None:
            argv += [flag, str(value)]
    if opts.enable_api_logging:
        argv.append("--enable-api-logging")
    return argv


def app_env(opts: RunOptions, inherited: Mapping[str, str]) -> dict[str, str]:
    """The app's environment: the inherited one plus what Dapr's CLI gives an app."""
    env = {k: v for k, v in inherited.items() if k != SUPERVISOR_ENV}  # for the sidecar only
    env.update(
        APP_ID=opts.app_id,
        DAPR_HTTP_PORT=str(opts.http_port),
        DAPR_HTTP_ENDPOINT=opts.base_url,
        APP_CHANNEL_ADDRESS=opts.app_channel_address or "127.0.0.1",
        APP_PROTOCOL=opts.app_protocol or "http",
    )
    if opts.app_port is not None:
        env["APP_PORT"] = str(opts.app_port)
    if opts.metrics_port is not None:
        env["DAPR_METRICS_PORT"] = str(opts.metrics_port)
    # Python apps print through a block buffer when piped; lines would show up late.
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


@dataclass(frozen=True)
class Outlet:
    """Where one child's lines go: the console with ``prefix`` (if ``console``), and/or a log file."""

    prefix: bytes
    console: bool = True
    log_path: Path | None = None


@dataclass
class Pair:
    """One sidecar and its app: spawned with their output pumped, stopped app first.

    Process groups: each child leads its own, so stopping the app also ends what it
    started. Log files are opened once (append) and kept across restarts.
    """

    opts: RunOptions
    console: Console
    hurry: asyncio.Event
    sidecar_out: Outlet
    app_out: Outlet
    app_cwd: str | None = None
    app_env_extra: Mapping[str, str] = field(default_factory=dict)
    sidecar_env_extra: Mapping[str, str] = field(default_factory=dict)
    sidecar: asyncio.subprocess.Process | None = None
    app: asyncio.subprocess.Process | None = None
    _pumps: list[asyncio.Task[None]] = field(default_factory=list)
    _logs: dict[Path, BinaryIO] = field(default_factory=dict)

    async def start_sidecar(self) -> asyncio.subprocess.Process:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.sidecar_env_extra, SUPERVISOR_ENV: str(os.getpid())}
        self.sidecar = await self._spawn(sidecar_argv(self.opts), env, self.sidecar_out, None)
        return self.sidecar

    async def wait_ready(self, stop: asyncio.Event) -> str:
        """``ready``, ``exited``, ``stopped`` (``stop`` was set) or ``timeout``."""
        assert self.sidecar is not None
        deadline = time.monotonic() + self.opts.ready_timeout
        while True:
            if self.sidecar.returncode is not None:
                return "exited"
            if stop.is_set():
                return "stopped"
            if await asyncio.to_thread(outbound_ready, self.opts.base_url):
                return "ready"
            if time.monotonic() > deadline:
                return "timeout"
            await asyncio.sleep(0.05)

    async def start_app(self) -> asyncio.subprocess.Process:
        """Start the app command; raises OSError when it cannot be started."""
        env = {**app_env(self.opts, os.environ), **self.app_env_extra}
        self.app = await self._spawn(list(self.opts.command), env, self.app_out, self.app_cwd)
        if self.sidecar is not None:
            try:  # read by the sidecar and `tandem stop` if this process dies
                record_app(run_dir(), self.sidecar.pid, self.app.pid)
            except (OSError, psutil.Error) as exc:
                self.console.error(f"could not record the app's pid in {run_dir()}: {exc}")
        return self.app

    async def publish(self, items: Mapping[str, str]) -> list[str]:
        """Store ``items`` in the sidecar's metadata (``extended``); returns the keys it refused."""
        failed = []
        for key, value in items.items():
            if not await asyncio.to_thread(put_metadata, self.opts.base_url, key, value):
                failed.append(key)
        return failed

    def run_metadata(self) -> dict[str, str]:
        """What Dapr's CLI stores in its sidecar's metadata: who runs it and what the app is."""
        items = {"cliPID": str(os.getpid())}
        if self.app is not None:
            items["appPID"] = str(self.app.pid)
            items["appCommand"] = shlex.join(self.opts.command)
        return items

    async def stop_app(self) -> None:
        if self.app is not None:
            await stop_group(self.app, self.opts.grace, self.hurry)

    async def stop_sidecar(self) -> None:
        if self.sidecar is not None:
            await stop_group(self.sidecar, self.opts.grace, self.hurry)

    async def close(self) -> None:
        """Stop whatever still runs (app first), let the pumps finish, close the log files."""
        for proc in (self.app, self.sidecar):
            if proc is not None and proc.returncode is None:
                await stop_group(proc, self.opts.grace, self.hurry)
        await self.drain()
        for log in self._logs.values():
            log.close()
        self._logs.clear()

    async def drain(self) -> None:
        """Let the pipe readers copy what is left; a grandchild holding a pipe open must not hang us."""
        if self._pumps:
            _, pending = await asyncio.wait(self._pumps, timeout=2.0)
            for task in pending:
                task.cancel()
            await asyncio.gather(*self._pumps, return_exceptions=True)
            self._pumps.clear()

    def _log(self, path: Path | None) -> BinaryIO | None:
        if path is None:
            return None
        if path not in self._logs:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._logs[path] = open(path, "ab")  # kept open across restarts; close() closes it
        return self._logs[path]

    async def _spawn(
        self, argv: Sequence[str], env: Mapping[str, str], out: Outlet, cwd: str | None
    ) -> asyncio.subprocess.Process:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, env=dict(env), cwd=cwd, start_new_session=True,
            preexec_fn=die_with_parent(),
        )
        assert proc.stdout is not None
        self._pumps = [t for t in self._pumps if not t.done()]
        self._pumps.append(asyncio.create_task(pump_lines(
            proc.stdout, self.console if out.console else None, out.prefix, self._log(out.log_path))))
        return proc


def run(opts: RunOptions, console: Console | None = None) -> int:
    """Run sidecar and app until one ends or a stop signal arrives; returns the exit status."""
    return asyncio.run(_Run(opts, console or Console()).main())


class _Run:
    def __init__(self, opts: RunOptions, console: Console) -> None:
        self.opts = opts
        self.console = console
        self.stop = asyncio.Event()
        self.hurry = asyncio.Event()
        self.pair = Pair(opts, console, self.hurry,
                         sidecar_out=Outlet(console.tag(f"{opts.app_id} sidecar", "sidecar")),
                         app_out=Outlet(console.tag(f"{opts.app_id} app", "app")))

    def _on_signal(self) -> None:
        # First signal: orderly shutdown. A second one: skip the grace periods.
        if self.stop.is_set():
            self.hurry.set()
        self.stop.set()

    async def main(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, self._on_signal)
        try:
            return await self._main()
        finally:
            # Normally a no-op; after an unexpected error it keeps us from leaving orphans.
            await self.pair.close()
            for sig in STOP_SIGNALS:
                loop.remove_signal_handler(sig)

    async def _main(self) -> int:
        opts, console, pair = self.opts, self.console, self.pair
        console.info(f"starting sidecar for app id '{opts.app_id}' on {opts.base_url}")
        sidecar = await pair.start_sidecar()

        state = await pair.wait_ready(self.stop)
        if state == "exited":
            await pair.drain()
            code = exit_status(sidecar.returncode or 0)
            console.error(f"tandemd exited with code {code} before it was ready (see its output above)")
            return code or 1
        if state != "ready":
            if state == "timeout":
                console.error(f"tandemd did not become ready within {opts.ready_timeout:g}s; stopping it")
            await pair.stop_sidecar()
            return 1 if state == "timeout" else 0
        console.info(f"sidecar ready; DAPR_HTTP_ENDPOINT={opts.base_url}")

        app: asyncio.subprocess.Process | None = None
        if opts.command:
            try:
                app = await pair.start_app()
            except OSError as exc:
                console.error(f"cannot start the app {shlex.join(opts.command)!r}: {exc.strerror or exc}")
                await pair.stop_sidecar()
                return 127 if isinstance(exc, FileNotFoundError) else 126
            console.info(f"app started (pid {app.pid}): {shlex.join(opts.command)}")
            console.info("You're up and running! Both Dapr and your app logs will appear here.")  # as `dapr run`
        else:
            console.info("no app command given: the sidecar runs alone until Ctrl-C or `tandem stop`")
            console.info("You're up and running! Dapr logs will appear here.")

        publish = asyncio.create_task(self._publish_metadata())
        try:
            return await self._supervise(sidecar, app)
        finally:
            publish.cancel()
            await asyncio.gather(publish, return_exceptions=True)

    async def _publish_metadata(self) -> None:
        """Tell the sidecar who runs it, as Dapr's CLI does; ``tandem list``/``stop`` read it back."""
        for key in await self.pair.publish(self.pair.run_metadata()):
            self.console.error(f"could not store {key} in the sidecar's metadata")

    async def _supervise(self, sidecar: asyncio.subprocess.Process, app: asyncio.subprocess.Process | None) -> int:
        console, pair = self.console, self.pair
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
            await pair.stop_app()  # whatever the app left in its group
            await pair.stop_sidecar()
            return code
        if sidecar.returncode is not None:
            code = exit_status(sidecar.returncode)
            if app is not None:
                console.error(f"the sidecar exited with code {code}; stopping the app")
                await pair.stop_app()
            else:
                console.info(f"the sidecar exited with code {code}")
            return code
        console.info("stopping" + (" the app, then the sidecar" if app is not None else " the sidecar"))
        await pair.stop_app()
        await pair.stop_sidecar()
        return 0
